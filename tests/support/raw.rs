//! The harness of the real-socket tests of the tokio transport (`tests/hostile.rs`,
//! `tests/fairness.rs`): a raw TCP client speaking WebSocket by hand (every wait bounded by
//! [`WAIT`], every answer checked by the caller as exact bytes), the server run beside the
//! test's clients ([`drive`]), and bounded waits for a condition ([`eventually_within`]).

use super::{SAMPLE_101, SAMPLE_KEY, ServerFrame, text, upgrade_request};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsgate::protocol::frame::{OpCode, parse_header};
use wsgate::transport::tokio::TokioServer;
use wsgate::{Config, Timeouts};

/// The tests' short timers: 300 ms for the head, 200 ms for the pong and the close, the
/// default 10 s for a message. `ping_ms == 0` disables the server ping (and so the idle
/// timeout), for tests whose raw clients stay silent on purpose or for a while.
pub fn short_timers(ping_ms: u32) -> Config {
    Config {
        timeouts: Timeouts {
            handshake_ms: 300,
            ping_interval_ms: ping_ms,
            pong_timeout_ms: 200,
            close_timeout_ms: 200,
            message_ms: 10_000,
        },
        ..Config::DEFAULT
    }
}

/// Upper bound for any single wait of a [`Raw`] client.
pub const WAIT: Duration = Duration::from_secs(10);

/// Runs the server and `client` concurrently on this task, at most `limit`; returns what
/// `client` returns.
pub async fn drive<const N: usize, const RX: usize, const TX: usize, F: Future>(
    server: &TokioServer<N, RX, TX>,
    limit: Duration,
    client: F,
) -> F::Output {
    let srv = server.clone();
    tokio::time::timeout(limit, async move {
        tokio::select! {
            r = srv.run() => panic!("run() returned while clients were still working: {r:?}"),
            out = client => out,
        }
    })
    .await
    .expect("test did not finish in time")
}

/// Waits until `cond` holds, at most `limit`; the server keeps running meanwhile.
pub async fn eventually_within(limit: Duration, what: &str, cond: impl Fn() -> bool) {
    let ok = tokio::time::timeout(limit, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "never happened: {what}");
}

/// A raw TCP client speaking WebSocket by hand, on the test's tokio runtime.
pub struct Raw {
    /// The socket, for tests that need it directly (split it, set options).
    pub s: TcpStream,
    /// Bytes read but not yet returned.
    pub buf: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let s = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("tcp connect timed out")
            .expect("tcp connect");
        Raw { s, buf: Vec::new() }
    }

    /// Connects and completes a real upgrade on `/`; the exact 101 is checked and consumed.
    pub async fn upgrade(addr: SocketAddr) -> Raw {
        Raw::upgrade_with(addr, &upgrade_request("/", SAMPLE_KEY), SAMPLE_101).await
    }

    /// Connects, sends `request` and checks that the answer's head is exactly `expected`
    /// (consumed).
    pub async fn upgrade_with(addr: SocketAddr, request: &[u8], expected: &[u8]) -> Raw {
        let mut c = Raw::connect(addr).await;
        c.send(request).await;
        let head = c.read_head().await.expect("a response head");
        assert_eq!(
            String::from_utf8_lossy(&head),
            String::from_utf8_lossy(expected)
        );
        c
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.s.write_all(bytes))
            .await
            .expect("tcp write timed out")
            .expect("tcp write");
    }

    /// One read into `buf`; Ok(0) at EOF.
    pub async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(WAIT, self.s.read(&mut chunk))
            .await
            .expect("nothing to read within the wait")?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads up to the end of an HTTP head (`\r\n\r\n`) and returns it; whatever follows
    /// stays buffered. Err describes an early EOF or a read error.
    pub async fn read_head(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(self.buf.drain(..i + 4).collect());
            }
            match self.fill().await {
                Ok(0) => {
                    return Err(format!(
                        "EOF before the end of the head: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("read error before the end of the head: {e}")),
            }
        }
    }

    /// Everything until the server closes TCP. The close must be clean: a read returning 0,
    /// not a reset.
    pub async fn read_to_eof(&mut self) -> Vec<u8> {
        loop {
            match self.fill().await {
                Ok(0) => return std::mem::take(&mut self.buf),
                Ok(_) => {}
                Err(e) => panic!(
                    "expected a clean EOF, got {e} after {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Everything until the server closes TCP (read returns 0), parsed as server frames.
    pub async fn frames_to_eof(&mut self) -> Vec<ServerFrame> {
        super::parse_frames(&self.read_to_eof().await)
    }

    /// The next complete server frame (pings included).
    pub async fn next_frame(&mut self) -> ServerFrame {
        loop {
            if let Some((h, hlen)) = parse_header(&self.buf, false).expect("valid server frame") {
                let end = hlen + usize::try_from(h.payload_len).unwrap();
                if self.buf.len() >= end {
                    let f = ServerFrame {
                        fin: h.fin,
                        opcode: h.opcode,
                        payload: self.buf[hlen..end].to_vec(),
                        header: self.buf[..hlen].to_vec(),
                    };
                    self.buf.drain(..end);
                    return f;
                }
            }
            let n = self
                .fill()
                .await
                .expect("read error while a frame was expected");
            assert!(n > 0, "EOF while a frame was expected");
        }
    }

    /// The next frame that is not a server ping.
    pub async fn next_data_frame(&mut self) -> ServerFrame {
        loop {
            let f = self.next_frame().await;
            if f.opcode != OpCode::Ping {
                return f;
            }
        }
    }

    /// Sends an `echo` event and checks that the next frame is its reply.
    pub async fn echo(&mut self, tag: &str) {
        let msg = format!(r#"{{"event":"echo","data":"{tag}"}}"#);
        self.send(&text(msg.as_bytes())).await;
        let f = self.next_data_frame().await;
        assert_eq!(f.opcode, OpCode::Text, "{f:?}");
        assert_eq!(f.text(), msg);
    }
}
