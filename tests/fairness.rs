//! Regression tests for issue 10, "No client can starve the others, and no message is lost
//! without a trace", over real TCP on 127.0.0.1 against an in-process `TokioServer`.
//!
//! One test per defect of the issue:
//! 1. a client flooding frames that need no answer does not freeze the server (the others are
//!    answered while the flood goes on);
//! 2. replies to pipelined requests are never lost to a full transmit buffer;
//! 3. the largest accepted message gets its echo, one byte more gets 1009, a failing
//!    handler's exception always reaches the client (without `cause.data`, or as 1011);
//! 4. sockets lingering after an HTTP answer are bounded (`TokioOptions::max_lingering`);
//! 5. a slot cannot be held by a trickled message (1008), nor by many sockets of one address
//!    (429);
//! 6. one member cannot silence a chat room;
//! 7. bare-LF heads are refused at once (400, not 408), absolute-form targets upgrade.
//!
//! Attackers that must not wait for the server (flooders) run on OS threads of their own with
//! blocking `std::net::TcpStream`s, while the server runs on the test's tokio runtime. Every
//! check is on exact bytes, close codes and counters; nothing asserts a duration, and every
//! wait is bounded so a bug fails instead of hanging. The tests of this file run one at a time
//! (they take [`serial`]): the floods are CPU-heavy and one test counts the process's open
//! descriptors.

mod support;

#[allow(dead_code)]
#[path = "../examples/shared/events.rs"]
mod events;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::raw::{Raw, drive, eventually_within, short_timers};
use support::{SAMPLE_101, SAMPLE_KEY, ServerFrame, close, echo_message, frame, text};
use wsgate::connection::{Connection, Timeouts};
use wsgate::gateway::{Context, Data, Gateway, HandlerError, HandlerResult};
use wsgate::protocol::frame::{OpCode, parse_header};
use wsgate::protocol::http::TOO_MANY_FROM_ADDRESS_RESPONSE;
use wsgate::transport::tokio::{TokioOptions, TokioServer};
use wsgate::{Config, Stats, WebSocketAdapter};

/// Upper bound for any single wait.
const WAIT: Duration = Duration::from_secs(10);

/// A flood ends by itself after this long, or this many bytes, whatever happens to the test.
const FLOOD_MAX_TIME: Duration = Duration::from_secs(20);
const FLOOD_MAX_BYTES: u64 = 1 << 30;

/// The 101 for [`SAMPLE_KEY`] with the `chat.v1` subprotocol.
const CHAT_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat.v1\r\n\
\r\n";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The tests of this file run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs one test: alone (see [`serial`]), on a current-thread runtime of its own that drives
/// the server and the test's clients.
fn run<F: Future>(test: F) -> F::Output {
    let _serial = serial();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(test)
}

fn echo(_: &mut (), cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
    Ok(cx.reply_raw("echo", data.json())?)
}

/// Fails like `throw new WsException("nope")`.
fn fail(_: &mut (), _: &mut Context<'_>, _: Data<'_>) -> HandlerResult {
    Err(HandlerError::Ws("nope"))
}

/// Fills the transmit buffer to the last byte with text frames (halving their size when one
/// does not fit, down to empty frames), then fails: not even the shortest exception frame fits.
fn fill_then_fail(_: &mut (), cx: &mut Context<'_>, _: Data<'_>) -> HandlerResult {
    let mut size = 1024;
    loop {
        if cx.send_text(&"y".repeat(size)).is_ok() {
            continue;
        }
        if size == 0 {
            return Err(HandlerError::Ws("nope"));
        }
        size /= 2;
    }
}

/// A server with one gateway at `/`: `echo`, `fail` and `fill` (see the functions above).
fn server<const N: usize, const RX: usize, const TX: usize>(
    options: TokioOptions,
) -> TokioServer<N, RX, TX> {
    let mut g: Gateway<(), 4> = Gateway::new("/", ());
    g.on("echo", echo).unwrap();
    g.on("fail", fail).unwrap();
    g.on("fill", fill_then_fail).unwrap();
    let mut server = TokioServer::bind("127.0.0.1:0".parse().unwrap(), options).expect("bind");
    server.bind_message_handlers(Box::new(g)).unwrap();
    server
}

fn options(config: Config) -> TokioOptions {
    TokioOptions {
        config,
        ..TokioOptions::default()
    }
}

/// A server with the sample's gateways (`/` events, `/chat`).
fn sample_server<const N: usize, const RX: usize, const TX: usize>(
    config: Config,
) -> TokioServer<N, RX, TX> {
    let mut server = TokioServer::bind("127.0.0.1:0".parse().unwrap(), options(config))
        .expect("bind 127.0.0.1:0");
    server
        .bind_message_handlers(Box::new(events::events_gateway()))
        .unwrap();
    server
        .bind_message_handlers(Box::new(events::chat_gateway()))
        .unwrap();
    server
}

/// Waits (bounded) until `cond` holds; the server keeps running meanwhile.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    eventually_within(WAIT, what, cond).await;
}

/// The exact bytes of a server close frame.
fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut f = vec![0x88, u8::try_from(2 + reason.len()).unwrap()];
    f.extend_from_slice(&code.to_be_bytes());
    f.extend_from_slice(reason.as_bytes());
    f
}

/// The exact bytes of one of the server's plain-text HTTP refusals.
fn http_error(status_line: &str, reason: &str) -> Vec<u8> {
    format!(
        "{status_line}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{reason}\n",
        reason.len() + 1
    )
    .into_bytes()
}

/// A well-formed upgrade request for `/chat` asking for `chat.v1`.
fn chat_request() -> Vec<u8> {
    support::request(
        "GET /chat HTTP/1.1",
        &[
            "Host: device.local",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Protocol: chat.v1",
        ],
    )
}

/// The complete frames at the start of `buf`, removed from it.
fn take_frames(buf: &mut Vec<u8>) -> Vec<ServerFrame> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((h, hlen)) = parse_header(&buf[at..], false).expect("valid server frame") {
        let end = at + hlen + usize::try_from(h.payload_len).unwrap();
        if buf.len() < end {
            break;
        }
        out.push(ServerFrame {
            fin: h.fin,
            opcode: h.opcode,
            payload: buf[at + hlen..end].to_vec(),
            header: buf[at..at + hlen].to_vec(),
        });
        at = end;
    }
    buf.drain(..at);
    out
}

/// Descriptors open in this process now.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// A blocking client on its own thread: connects to `addr` and checks the exact head.
fn blocking_upgrade(addr: SocketAddr, request: &[u8], expected: &[u8]) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect_timeout(&addr, WAIT).expect("tcp connect");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    s.write_all(request).expect("write the request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte: nothing after the head may be taken from the stream here.
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read the response head");
        assert_eq!(n, 1, "EOF in the response head: {head:?}");
        head.push(byte[0]);
    }
    assert_eq!(
        String::from_utf8_lossy(&head),
        String::from_utf8_lossy(expected)
    );
    s
}

// ---------------------------------------------------------------------------------------
// The flooder: its own OS thread, a blocking socket, a large pre-encoded buffer
// ---------------------------------------------------------------------------------------

/// How a flood ended.
#[derive(Debug)]
struct FloodEnd {
    /// Bytes written, a whole number of `unit`s.
    bytes: u64,
    /// Units (frames) written.
    units: u64,
    /// Why it stopped: "stopped", "time bound", "byte bound" or a write error.
    why: String,
    /// Whether the server answered the flooder's own `echo` sent after the last unit (so it
    /// had consumed the whole flood).
    confirmed: bool,
    /// Bytes the flooder's reader took and dropped (with `discard`).
    received: u64,
}

/// A flooder thread and its shared state.
struct Flood {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    handle: Option<JoinHandle<FloodEnd>>,
}

impl Flood {
    /// Connects (`request`, expecting exactly `head`), then writes `unit` over and over, as
    /// fast as the socket takes it, until told to stop or a bound is reached; always stops
    /// on a unit boundary. With `discard`, a second thread reads and drops everything the
    /// server sends (the flooder is then never blocked by its own copies) and nothing is
    /// confirmed; without it, the flooder ends with an `echo` and waits for its reply.
    fn start(
        addr: SocketAddr,
        request: Vec<u8>,
        head: &'static [u8],
        unit: Vec<u8>,
        discard: bool,
    ) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (stop2, sent2, done2) = (stop.clone(), sent.clone(), done.clone());
        let handle = std::thread::spawn(move || {
            let end = flood_thread(addr, &request, head, &unit, discard, &stop2, &sent2);
            done2.store(true, Ordering::SeqCst);
            end
        });
        Flood {
            stop,
            sent,
            done,
            handle: Some(handle),
        }
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    fn running(&self) -> bool {
        !self.done.load(Ordering::SeqCst)
    }

    /// Stops the flood and waits (bounded; the server keeps running meanwhile) for its end.
    async fn finish(mut self) -> FloodEnd {
        self.stop.store(true, Ordering::SeqCst);
        let done = self.done.clone();
        eventually("the flooder stops", || done.load(Ordering::SeqCst)).await;
        self.handle.take().unwrap().join().expect("flooder thread")
    }
}

impl Drop for Flood {
    /// A failing test still stops its flooder.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Reads and drops everything until EOF or an error; returns the bytes read.
fn discard_all(mut s: std::net::TcpStream) -> u64 {
    let _ = s.set_read_timeout(Some(FLOOD_MAX_TIME + WAIT));
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n as u64,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn flood_thread(
    addr: SocketAddr,
    request: &[u8],
    head: &[u8],
    unit: &[u8],
    discard: bool,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> FloodEnd {
    let mut s = blocking_upgrade(addr, request, head);
    let reader = discard.then(|| {
        let r = s.try_clone().expect("clone the socket");
        std::thread::spawn(move || discard_all(r))
    });
    // Short write timeouts: the flags and bounds are checked even while the server is not
    // reading (as it did not, for the others, before the fix).
    s.set_write_timeout(Some(Duration::from_millis(50)))
        .expect("write timeout");
    let per = (64 * 1024 / unit.len()).max(1);
    let buf: Vec<u8> = unit.repeat(per);
    let start = Instant::now();
    let mut off = 0usize;
    let mut bytes = 0u64;
    let why = loop {
        if off == 0 {
            if stop.load(Ordering::SeqCst) {
                break "stopped".to_string();
            }
            if start.elapsed() > FLOOD_MAX_TIME {
                break "time bound".to_string();
            }
            if bytes >= FLOOD_MAX_BYTES {
                break "byte bound".to_string();
            }
        }
        match s.write(&buf[off..]) {
            Ok(0) => break "write returned 0".to_string(),
            Ok(n) => {
                off = (off + n) % buf.len();
                bytes += n as u64;
                sent.store(bytes, Ordering::SeqCst);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if start.elapsed() > FLOOD_MAX_TIME + WAIT {
                    break format!("stuck in a write: {e}");
                }
            }
            Err(e) => break format!("write error: {e}"),
        }
    };
    let units = bytes / unit.len() as u64;
    let mut confirmed = false;
    if off == 0 && !discard {
        // The server consumed the whole flood when it answers what follows it.
        let msg = br#"{"event":"echo","data":"flood-end"}"#;
        let _ = s.set_write_timeout(Some(WAIT));
        if s.write_all(&text(msg)).is_ok() {
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = s.read(&mut chunk) {
                got.extend_from_slice(&chunk[..n]);
                let frames = take_frames(&mut got);
                if frames.iter().any(|f| f.payload == msg) {
                    confirmed = true;
                    break;
                }
            }
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    // The server closes once it has read our FIN: the reader sees EOF.
    let received = reader.map_or(0, |r| r.join().expect("the flooder's reader"));
    FloodEnd {
        bytes,
        units,
        why,
        confirmed,
        received,
    }
}

// ---------------------------------------------------------------------------------------
// 1. A flooder does not freeze the server
// ---------------------------------------------------------------------------------------

/// What the probes saw: the flooder's byte count when each answer came.
#[derive(Debug)]
struct Probes {
    at_start: u64,
    at_echo: u64,
    at_101: u64,
    at_408: u64,
    after: u64,
    /// The server's `dropped_unknown_event` when the flood was under way and at the 408.
    dropped_at_start: u32,
    dropped_at_408: u32,
}

/// One client floods `unit` (frames that need no answer); meanwhile another, connected
/// before, gets its echo, a new connection gets its 101, and a half head gets its 408. Each
/// answer must come while the flood is still going. Returns the flood's end, the probes and
/// the final counters.
async fn answered_during_a_flood(unit: Vec<u8>) -> (FloodEnd, Probes, Stats) {
    let server = server::<4, 4096, 4096>(options(short_timers(0)));
    let addr = server.local_addr();
    let (end, probes) = drive(&server, Duration::from_secs(60), async {
        let mut other = Raw::upgrade(addr).await;
        other.echo("before-the-flood").await;

        let flood = Flood::start(
            addr,
            support::upgrade_request("/", SAMPLE_KEY),
            SAMPLE_101,
            unit,
            false,
        );
        // More than the socket buffers on both sides hold: the server is reading the flood.
        eventually_within(Duration::from_secs(20), "the flood is under way", || {
            flood.sent() >= 48 << 20
        })
        .await;
        let at_start = flood.sent();
        let dropped_at_start = server.stats().dropped_unknown_event;
        assert!(flood.running());

        other.echo("during-the-flood").await;
        let at_echo = flood.sent();
        assert!(flood.running(), "the flood ended before the echo came");

        let mut newcomer = Raw::upgrade(addr).await;
        let at_101 = flood.sent();
        assert!(flood.running(), "the flood ended before the 101 came");
        newcomer.echo("newcomer").await;

        let mut slow = Raw::connect(addr).await;
        slow.send(b"GET / HTTP/1.1\r\nHost: dev").await;
        let answer = slow.read_to_eof().await;
        let at_408 = flood.sent();
        let dropped_at_408 = server.stats().dropped_unknown_event;
        assert!(flood.running(), "the flood ended before the 408 came");
        assert_eq!(
            String::from_utf8_lossy(&answer),
            String::from_utf8_lossy(&http_error(
                "HTTP/1.1 408 Request Timeout",
                "request head not received in time"
            ))
        );

        // The flood went on after the answers.
        eventually("the flood goes on after the answers", || {
            flood.sent() > at_408 + (1 << 20)
        })
        .await;
        let after = flood.sent();
        assert!(flood.running());
        other.echo("still-there").await;

        let end = flood.finish().await;
        (
            end,
            Probes {
                at_start,
                at_echo,
                at_101,
                at_408,
                after,
                dropped_at_start,
                dropped_at_408,
            },
        )
    })
    .await;
    assert_eq!(end.why, "stopped", "{end:?}");
    assert!(end.confirmed, "the server answered the flooder's last echo");
    assert!(
        probes.at_start <= probes.at_echo
            && probes.at_echo <= probes.at_101
            && probes.at_101 <= probes.at_408
            && probes.at_408 < probes.after
            && probes.after <= end.bytes,
        "{probes:?}"
    );
    let st = server.stats();
    assert_eq!(st.http_408, 1);
    assert_eq!((st.accepted, st.upgraded), (4, 3));
    assert_eq!(st.send_failed, 0);
    eprintln!("flood: {end:?}, probes (flooder's bytes at each answer): {probes:?}");
    (end, probes, st)
}

#[test]
fn flood_of_unknown_events_does_not_freeze_the_server() {
    run(async {
        let unit = text(br#"{"event":"nope"}"#);
        assert_eq!(unit.len(), 22);
        let (end, probes, st) = answered_during_a_flood(unit).await;
        // Every unit of the flood was a message dropped for its unknown event.
        assert!(end.units > 1_000_000, "{end:?}");
        assert_eq!(u64::from(st.dropped_unknown_event), end.units);
        // The echoes: three by `other`, one by the newcomer, the flooder's last one.
        assert_eq!(u64::from(st.messages), end.units + 5);
        assert_eq!(st.dispatched, 5);
        // The server went on reading the flood while it answered the others.
        assert!(
            probes.dropped_at_start < probes.dropped_at_408
                && probes.dropped_at_408 < st.dropped_unknown_event,
            "{probes:?}"
        );
    });
}

#[test]
fn flood_of_empty_pongs_does_not_freeze_the_server() {
    run(async {
        let unit = frame(true, OpCode::Pong, b"");
        assert_eq!(unit.len(), 6);
        let (end, _, st) = answered_during_a_flood(unit).await;
        assert!(end.units > 1_000_000, "{end:?}");
        assert_eq!((st.messages, st.dispatched), (5, 5));
        assert_eq!(st.dropped(), 0);
    });
}

// ---------------------------------------------------------------------------------------
// 2. Replies are never lost to a full buffer
// ---------------------------------------------------------------------------------------

#[test]
fn eight_pipelined_echoes_of_1500_bytes_all_get_their_reply() {
    run(async {
        let server = sample_server::<2, 4096, 4096>(Config::DEFAULT);
        let addr = server.local_addr();
        let messages: Vec<Vec<u8>> = (0..8u8)
            .map(|i| {
                let mut m = echo_message(1500);
                // `{"event":"echo","data":"` is 24 bytes: make each payload distinct.
                m[24] = b'0' + i;
                m
            })
            .collect();
        drive(&server, WAIT * 2, async {
            let mut c = Raw::upgrade(addr).await;
            let burst: Vec<u8> = messages.iter().flat_map(|m| text(m)).collect();
            c.send(&burst).await;
            for m in &messages {
                let f = c.next_data_frame().await;
                assert_eq!(f.opcode, OpCode::Text);
                assert_eq!(f.header, [0x81, 126, 0x05, 0xdc], "a 1500-byte text frame");
                assert_eq!(f.payload, *m, "the replies come in order, exact");
            }
            c.echo("after").await;
        })
        .await;
        let st = server.stats();
        assert_eq!((st.messages, st.dispatched), (9, 9));
        assert_eq!(st.send_failed, 0);
        assert_eq!(st.exceptions, 0);
        assert_eq!(st.frames_sent, 9);
    });
}

// ---------------------------------------------------------------------------------------
// 3. The largest accepted message gets its answer; one byte more gets 1009
// ---------------------------------------------------------------------------------------

/// Upgrades, sends `bytes`, and expects exactly `expected` (the server's frames up to its
/// close frame), then EOF once the close timeout passed. Returns the final counters.
async fn closed_after(bytes: &[u8], expected: &[u8]) -> Stats {
    let server = server::<2, 4096, 4096>(options(short_timers(0)));
    let addr = server.local_addr();
    drive(&server, WAIT * 2, async {
        let mut c = Raw::upgrade(addr).await;
        c.echo("before").await;
        c.send(bytes).await;
        let got = c.read_to_eof().await;
        assert_eq!(
            got.len(),
            expected.len(),
            "{:?}",
            support::parse_frames(&got)
        );
        assert!(got == expected, "{:?}", support::parse_frames(&got));
        drop(c);
        eventually("the slot is released", || server.client_count() == 0).await;
    })
    .await;
    server.stats()
}

#[test]
fn largest_message_gets_its_echo_and_one_byte_more_is_1009() {
    run(async {
        const MAX: usize = Connection::<4096, 4096>::MAX_MESSAGE;
        assert_eq!(MAX, 4092);
        let server = server::<2, 4096, 4096>(options(short_timers(0)));
        let addr = server.local_addr();
        drive(&server, WAIT * 2, async {
            let mut c = Raw::upgrade(addr).await;
            let msg = echo_message(MAX);
            c.send(&text(&msg)).await;
            let f = c.next_data_frame().await;
            // 4092 bytes of payload and a 4-byte header: exactly the transmit buffer.
            assert_eq!(f.header, [0x81, 126, 0x0f, 0xfc]);
            assert_eq!(f.payload, msg);
            c.echo("after-the-largest").await;
        })
        .await;
        let st = server.stats();
        assert_eq!((st.messages, st.dispatched, st.send_failed), (2, 2, 0));

        let st = closed_after(
            &text(&echo_message(MAX + 1)),
            &close_frame(1009, "message too big"),
        )
        .await;
        assert_eq!(st.closed_too_big, 1);
        assert_eq!((st.messages, st.dispatched, st.send_failed), (1, 1, 0));
    });
}

#[test]
fn failing_handler_on_4000_bytes_of_data_gets_the_exception_without_its_data() {
    run(async {
        let server = server::<2, 4096, 4096>(options(short_timers(0)));
        let addr = server.local_addr();
        let mut msg = br#"{"event":"fail","data":""#.to_vec();
        msg.extend(std::iter::repeat_n(b'd', 3998));
        msg.extend_from_slice(br#""}"#);
        // `data` is 4000 bytes of JSON (a string of 3998 characters and its quotes).
        assert_eq!(msg.len(), 23 + 4000 + 1);
        drive(&server, WAIT * 2, async {
            let mut c = Raw::upgrade(addr).await;
            c.send(&text(&msg)).await;
            let f = c.next_data_frame().await;
            assert_eq!(
                f.text(),
                r#"{"event":"exception","data":{"status":"error","message":"nope","cause":{"pattern":"fail"}}}"#
            );
            c.echo("after-the-exception").await;
        })
        .await;
        let st = server.stats();
        assert_eq!((st.messages, st.dispatched, st.exceptions), (2, 2, 1));
        // The frame quoting the data did not fit: counted once, then sent without it.
        assert_eq!(st.send_failed, 1);
        assert_eq!((st.closed_no_room, st.closed_by_server), (0, 0));
    });
}

#[test]
fn handler_that_fills_its_buffer_then_fails_is_closed_1011() {
    run(async {
        // The replies `fill_then_fail` queues into an empty 4096-byte transmit buffer: three of
        // 1024 + 4 bytes, then halving: 512 + 4 does not fit the 1012 left... computed here the
        // same way, so the test says exactly which frames come before the close.
        let mut expected = Vec::new();
        let (mut room, mut size) = (4096usize, 1024usize);
        loop {
            let len = size + if size <= 125 { 2 } else { 4 };
            if len <= room {
                room -= len;
                expected.extend(support::parse_frames(&{
                    let mut f = vec![0x81];
                    if size <= 125 {
                        f.push(size as u8);
                    } else {
                        f.push(126);
                        f.extend_from_slice(&(size as u16).to_be_bytes());
                    }
                    f.extend(std::iter::repeat_n(b'y', size));
                    f
                }));
                continue;
            }
            if size == 0 {
                break;
            }
            size /= 2;
        }
        assert!(room < 2, "not even an empty frame fits");
        let mut wire: Vec<u8> = expected
            .iter()
            .flat_map(|f| [f.header.clone(), f.payload.clone()].concat())
            .collect();
        wire.extend(close_frame(1011, "reply did not fit"));
        let st = closed_after(&text(br#"{"event":"fill"}"#), &wire).await;
        assert_eq!(st.closed_no_room, 1);
        assert_eq!(st.exceptions, 1);
        assert_eq!((st.messages, st.dispatched), (2, 2));
    });
}

// ---------------------------------------------------------------------------------------
// 4. Lingering sockets are bounded
// ---------------------------------------------------------------------------------------

#[test]
fn lingering_sockets_are_bounded() {
    run(async {
        const SOCKETS: usize = 60;
        const MAX_LINGERING: usize = 8;
        // The close timeout is also how long a socket lingers: long enough that none of the
        // first eight stops lingering before the test is over (checked below), so exactly
        // eight linger and the other 52 are closed at once.
        const LINGER: Duration = Duration::from_secs(20);
        let mut cfg = short_timers(0);
        cfg.timeouts.close_timeout_ms = LINGER.as_millis() as u32;
        let server = server::<4, 4096, 4096>(TokioOptions {
            config: cfg,
            max_lingering: MAX_LINGERING,
            ..TokioOptions::default()
        });
        let addr = server.local_addr();
        let (base, during, after) = drive(&server, Duration::from_secs(60), async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let base = open_fds();
            let start = Instant::now();
            let mut clients = Vec::new();
            for i in 0..SOCKETS {
                let mut c = Raw::connect(addr).await;
                c.send(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").await;
                // Never read, never closed (yet): wait until the server is done with it.
                eventually("the 404 is written and the socket let go", || {
                    let st = server.stats();
                    st.http_404 as usize == i + 1
                        && server.client_count() == 0
                        && server.lingering() + server.closed_at_once() as usize == i + 1
                })
                .await;
                clients.push(c);
            }
            let during = open_fds();
            assert!(
                start.elapsed() < LINGER,
                "the lingering sockets would have expired"
            );
            assert_eq!(server.lingering(), MAX_LINGERING);
            assert_eq!(server.closed_at_once(), (SOCKETS - MAX_LINGERING) as u64);
            // The server's share of the descriptors: the 60 client sockets are ours.
            assert!(
                during <= base + SOCKETS + MAX_LINGERING,
                "base {base}, during {during}"
            );

            // A legitimate client still upgrades and echoes.
            let mut ok = Raw::upgrade(addr).await;
            ok.echo("legit").await;

            // Every one of the 60 got exactly its 404, then EOF (lingering or not).
            let expected = http_error("HTTP/1.1 404 Not Found", "nothing at this path");
            for c in &mut clients {
                let got = c.read_to_eof().await;
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&expected)
                );
            }
            drop(clients);
            eventually("the lingering sockets see the clients' close", || {
                server.lingering() == 0
            })
            .await;
            let after = open_fds();
            (base, during, after)
        })
        .await;
        eprintln!("descriptors: base {base}, during {during}, after {after}");
        // 60 clients and 8 lingering server sockets.
        assert_eq!(during, base + SOCKETS + MAX_LINGERING);
        // One socket left besides the base: the legitimate client's... and its server side.
        assert_eq!(after, base + 2);
        let st = server.stats();
        assert_eq!(st.http_404, SOCKETS as u32);
        assert_eq!((st.accepted, st.upgraded), (SOCKETS as u32 + 1, 1));
        assert_eq!(server.closed_at_once(), (SOCKETS - MAX_LINGERING) as u64);
    });
}

// ---------------------------------------------------------------------------------------
// 5. A slot cannot be held by a trickle, nor by one address
// ---------------------------------------------------------------------------------------

#[test]
fn trickled_message_is_closed_1008_and_frees_its_slot() {
    run(async {
        let cfg = Config {
            timeouts: Timeouts {
                handshake_ms: 300,
                ping_interval_ms: 200,
                pong_timeout_ms: 200,
                close_timeout_ms: 200,
                message_ms: 300,
            },
            ..Config::DEFAULT
        };
        let server = server::<1, 4096, 4096>(options(cfg));
        let addr = server.local_addr();
        let trickled = drive(&server, WAIT * 2, async {
            let mut c = Raw::upgrade(addr).await;
            c.echo("before").await;
            assert_eq!(server.client_count(), 1);
            let f = text(br#"{"event":"echo","data":"a trickle, one byte every 100 ms"}"#);
            let mut sent = 0;
            let close = loop {
                assert!(
                    sent < f.len(),
                    "the whole frame went through without a close"
                );
                c.send(&f[sent..sent + 1]).await;
                sent += 1;
                // The pause between two bytes, and a look for the server's answer.
                match tokio::time::timeout(Duration::from_millis(100), c.next_frame()).await {
                    Ok(frame) if frame.opcode == OpCode::Ping => {
                        panic!("pinged: the idle timer fired, so the trickle did not reset it")
                    }
                    Ok(frame) => break frame,
                    Err(_) => {}
                }
            };
            assert_eq!(
                [close.header.clone(), close.payload.clone()].concat(),
                close_frame(1008, "message not received in time")
            );
            // Nothing after the close frame; the server closes TCP after its close timeout.
            assert_eq!(c.read_to_eof().await, b"");
            drop(c);
            eventually("the slot is freed", || server.client_count() == 0).await;
            let mut next = Raw::upgrade(addr).await;
            next.echo("the-next-one").await;
            sent
        })
        .await;
        eprintln!("trickled {trickled} bytes before the 1008");
        let st = server.stats();
        assert_eq!(st.closed_message_timeout, 1);
        assert_eq!(
            (st.closed_idle, st.closed_close_timeout, st.closed_peer_gone),
            (0, 0, 0)
        );
        assert_eq!((st.upgraded, st.messages), (2, 2));
    });
}

#[test]
fn third_connection_from_one_address_is_429_until_one_leaves() {
    run(async {
        let server = server::<4, 4096, 4096>(options(Config {
            max_per_address: 2,
            ..short_timers(0)
        }));
        let addr = server.local_addr();
        drive(&server, WAIT * 2, async {
            let mut a = Raw::upgrade(addr).await;
            let mut b = Raw::upgrade(addr).await;
            let mut third = Raw::connect(addr).await;
            third.send(&support::upgrade_request("/", SAMPLE_KEY)).await;
            assert_eq!(
                String::from_utf8_lossy(&third.read_to_eof().await),
                String::from_utf8_lossy(TOO_MANY_FROM_ADDRESS_RESPONSE)
            );
            assert_eq!(server.stats().refused_per_address, 1);
            a.echo("a").await;
            b.echo("b").await;

            // `a` leaves with a close handshake: its slot and its share of the address go.
            a.send(&close(1000, b"bye")).await;
            let rest = a.read_to_eof().await;
            assert_eq!(rest, close_frame(1000, "bye"));
            eventually("a's slot is freed", || server.client_count() == 1).await;
            let mut c = Raw::upgrade(addr).await;
            c.echo("c").await;
            b.echo("b-again").await;
        })
        .await;
        let st = server.stats();
        assert_eq!(st.refused_per_address, 1);
        assert_eq!(st.refused_full, 0);
        assert_eq!((st.accepted, st.upgraded), (3, 3));
        assert_eq!(st.closed_by_peer, 1);
    });
}

// ---------------------------------------------------------------------------------------
// 6. One member cannot silence a room
// ---------------------------------------------------------------------------------------

/// Honest members of the room, and what each sends.
const MEMBERS: usize = 3;
const PER_MEMBER: usize = 100;

fn honest(member: usize, i: usize) -> String {
    format!(r#"{{"event":"message","data":"h{member}-{i}"}}"#)
}

/// What one honest member received.
#[derive(Debug, Default)]
struct Received {
    /// For each member, the indices of its messages in the order they came.
    honest: Vec<Vec<usize>>,
    /// The flooder's messages.
    flood: u64,
    /// Anything else (other than pings), in full.
    other: Vec<String>,
    eof: bool,
}

/// One honest member: upgrades on `/chat` (the caller's thread), then a reader thread reads
/// continuously until it has every honest message or the wait ends; the writer waits for
/// `go`, then sends its messages one every 2 ms.
fn member(
    addr: SocketAddr,
    me: usize,
    ready: Arc<AtomicUsize>,
    go: Arc<AtomicBool>,
    flood_seen: Arc<AtomicU64>,
) -> JoinHandle<Received> {
    std::thread::spawn(move || {
        let mut s = blocking_upgrade(addr, &chat_request(), CHAT_101);
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        let mut r = s.try_clone().expect("clone");
        let reader = std::thread::spawn(move || {
            let mut got = Received {
                honest: vec![Vec::new(); MEMBERS],
                ..Received::default()
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            let want = MEMBERS * PER_MEMBER;
            let mut have = 0;
            while have < want && Instant::now() < deadline {
                match r.read(&mut chunk) {
                    Ok(0) => {
                        got.eof = true;
                        break;
                    }
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => {
                        got.other.push(format!("read error: {e}"));
                        break;
                    }
                }
                for f in take_frames(&mut buf) {
                    if f.opcode == OpCode::Ping {
                        continue;
                    }
                    let t = String::from_utf8_lossy(&f.payload).into_owned();
                    if f.opcode == OpCode::Text && t == FLOOD_MESSAGE {
                        got.flood += 1;
                        flood_seen.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    let parsed = t
                        .strip_prefix(r#"{"event":"message","data":"h"#)
                        .and_then(|rest| rest.strip_suffix(r#""}"#))
                        .and_then(|rest| rest.split_once('-'))
                        .and_then(|(m, i)| Some((m.parse::<usize>().ok()?, i.parse().ok()?)));
                    match parsed {
                        Some((m, i)) if m < MEMBERS && honest(m, i) == t => {
                            got.honest[m].push(i);
                            have += 1;
                        }
                        _ => got.other.push(format!("{:?} {t}", f.opcode)),
                    }
                }
            }
            got
        });
        ready.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + WAIT;
        while !go.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        s.set_write_timeout(Some(WAIT)).expect("write timeout");
        for i in 0..PER_MEMBER {
            s.write_all(&text(honest(me, i).as_bytes()))
                .expect("an honest member's write");
            std::thread::sleep(Duration::from_millis(2));
        }
        let got = reader.join().expect("member reader");
        let _ = s.shutdown(Shutdown::Both);
        got
    })
}

const FLOOD_MESSAGE: &str = r#"{"event":"message","data":"flood"}"#;

#[test]
fn one_member_cannot_silence_a_chat_room() {
    run(async {
        let server = sample_server::<8, 4096, 4096>(Config::DEFAULT);
        let addr = server.local_addr();
        let (received, flood_end) = drive(&server, Duration::from_secs(90), async {
            let ready = Arc::new(AtomicUsize::new(0));
            let go = Arc::new(AtomicBool::new(false));
            let flood_seen = Arc::new(AtomicU64::new(0));
            let members: Vec<_> = (0..MEMBERS)
                .map(|m| member(addr, m, ready.clone(), go.clone(), flood_seen.clone()))
                .collect();
            eventually("the members are in", || {
                ready.load(Ordering::SeqCst) == MEMBERS
            })
            .await;
            let flood = Flood::start(
                addr,
                chat_request(),
                CHAT_101,
                text(FLOOD_MESSAGE.as_bytes()),
                true,
            );
            eventually("the members get the flood", || {
                flood_seen.load(Ordering::SeqCst) >= 1000 * MEMBERS as u64
            })
            .await;
            go.store(true, Ordering::SeqCst);
            eventually_within(Duration::from_secs(45), "the members are done", || {
                members.iter().all(JoinHandle::is_finished)
            })
            .await;
            assert!(
                flood.running(),
                "the flood went on all through the exchange"
            );
            let received: Vec<Received> = members
                .into_iter()
                .map(|m| m.join().expect("member thread"))
                .collect();
            let end = flood.finish().await;
            (received, end)
        })
        .await;
        let st = server.stats();
        eprintln!(
            "flood: {flood_end:?}; members got {:?} flood messages; \
             broadcast_dropped {}",
            received.iter().map(|r| r.flood).collect::<Vec<_>>(),
            st.broadcast_dropped
        );
        assert_eq!(flood_end.why, "stopped", "{flood_end:?}");
        assert!(flood_end.received > 0, "the flooder got its own copies");
        let all: Vec<usize> = (0..PER_MEMBER).collect();
        for (me, r) in received.iter().enumerate() {
            assert!(r.other.is_empty(), "member {me}: {:?}", r.other);
            for (m, got) in r.honest.iter().enumerate() {
                assert_eq!(
                    *got,
                    all,
                    "member {me} got {} of member {m}'s {PER_MEMBER} messages (in order)",
                    got.len()
                );
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// 7. Request heads: bare LF, absolute form
// ---------------------------------------------------------------------------------------

#[test]
fn bare_lf_head_is_400_at_once_not_408() {
    run(async {
        let server = server::<2, 4096, 4096>(options(short_timers(0)));
        let addr = server.local_addr();
        drive(&server, WAIT * 2, async {
            let mut c = Raw::connect(addr).await;
            c.send(b"GET / HTTP/1.1\nHost: x\n\n").await;
            assert_eq!(
                String::from_utf8_lossy(&c.read_to_eof().await),
                String::from_utf8_lossy(&http_error(
                    "HTTP/1.1 400 Bad Request",
                    "bare LF in the request head: lines must end with CRLF"
                ))
            );
        })
        .await;
        let st = server.stats();
        assert_eq!((st.http_400, st.http_408), (1, 0));
        assert_eq!(st.upgraded, 0);
    });
}

#[test]
fn absolute_form_target_upgrades_and_echoes() {
    run(async {
        let server = server::<2, 4096, 4096>(options(short_timers(0)));
        let addr = server.local_addr();
        let req = support::request(
            "GET http://127.0.0.1/ HTTP/1.1",
            &[
                "Host: 127.0.0.1",
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13",
            ],
        );
        drive(&server, WAIT * 2, async {
            let mut c = Raw::upgrade_with(addr, &req, SAMPLE_101).await;
            c.echo("absolute").await;
        })
        .await;
        let st = server.stats();
        assert_eq!((st.upgraded, st.dispatched), (1, 1));
        assert_eq!((st.http_400, st.http_404), (0, 0));
    });
}
