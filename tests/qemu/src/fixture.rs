//! The test gateway (the handlers of `tests/sans_io.rs` and `tests/wire_contract.rs`), the
//! server settings, and a one-client session on a fresh small server.

use crate::check::{Failure, Outcome};
use crate::client::{Bytes, connect, fail_frame, feed_all, parse_close_code};
use wsgate::connection::{SendError, Timeouts};
use wsgate::gateway::{Broadcast, ClientId, DropReason, Gateway, HandlerError};
use wsgate::{Config, Server, Stats};

/// What the test gateway's hooks and handlers record.
#[derive(Default, Debug)]
pub struct State {
    pub disconnects: heapless::Vec<(ClientId, u16), 16>,
    pub send_errors: heapless::Vec<SendError, 8>,
    pub broadcasts: heapless::Vec<Broadcast, 8>,
    pub drops: heapless::Vec<DropReason, 8>,
    pub events_calls: u32,
}

pub type TestGateway = Gateway<State, 16>;

pub const TIMEOUTS: Timeouts = Timeouts {
    handshake_ms: 1_000,
    ping_interval_ms: 5_000,
    pong_timeout_ms: 2_000,
    close_timeout_ms: 1_500,
    message_ms: 10_000,
};

pub const CONFIG: Config = Config {
    timeouts: TIMEOUTS,
    max_head: 4096,
    ..Config::DEFAULT
};

/// Payloads the `size`, `bin` and `shout` handlers send (in flash).
pub static YS: [u8; 65_536] = [b'y'; 65_536];
pub static BS: [u8; 65_536] = [b'b'; 65_536];
static ZS: [u8; 400] = [b'z'; 400];

fn ascii(bytes: &'static [u8]) -> &'static str {
    core::str::from_utf8(bytes).unwrap_or("")
}

/// A gateway at `path` with the handlers the tests use:
/// - `echo`: replies `{"event":"echo","data":<data>}`;
/// - `events`: replies `{"event":"events","data":1}`, 2, 3 (the NestJS sample);
/// - `size`: `data` is a number n, sends a text frame of n `y` bytes;
/// - `bin`: `data` is a number n, sends a binary frame of n `b` bytes;
/// - `big`: replies with a 600-byte string (larger than a 512-byte TX), records the error;
/// - `shout`: broadcasts a 400-byte text frame, records the result;
/// - `login`, `boom`, `obj`: fail with `Ws("Invalid credentials")`, `Internal`, `WsObject`.
pub fn gateway(path: &'static str) -> TestGateway {
    let mut g: TestGateway = Gateway::new(path, State::default());
    let handlers: [(&'static str, wsgate::gateway::Handler<State>); 9] = [
        ("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?)),
        ("events", |s, cx, _| {
            s.events_calls += 1;
            for i in 1..=3 {
                cx.reply("events", &i)?;
            }
            Ok(())
        }),
        ("size", |_, cx, data| {
            let n: usize = data.parse()?;
            let text = YS.get(..n).ok_or(HandlerError::InvalidData)?;
            Ok(cx.send_text(core::str::from_utf8(text).unwrap_or(""))?)
        }),
        ("bin", |_, cx, data| {
            let n: usize = data.parse()?;
            Ok(cx.send_binary(BS.get(..n).ok_or(HandlerError::InvalidData)?)?)
        }),
        ("big", |s, cx, _| {
            if let Err(e) = cx.reply("big", ascii(&YS[..600])) {
                let _ = s.send_errors.push(e);
            }
            Ok(())
        }),
        ("shout", |s, cx, _| {
            let b = cx.broadcast_text(ascii(&ZS));
            let _ = s.broadcasts.push(b);
            Ok(())
        }),
        ("login", |_, _, _| {
            Err(HandlerError::Ws("Invalid credentials"))
        }),
        ("boom", |_, _, _| Err(HandlerError::Internal)),
        ("obj", |_, _, _| {
            Err(HandlerError::WsObject(r#"{"code":42}"#))
        }),
    ];
    for (event, handler) in handlers {
        g.on(event, handler).expect("room for the test handlers");
    }
    g.on_disconnect(|s, id, code| {
        let _ = s.disconnects.push((id, code.as_u16()));
    });
    g.on_drop(|s, _, reason| {
        let _ = s.drops.push(reason);
    });
    g
}

/// Two slots of 512-byte buffers: the server most tests use.
pub type Small<'g> = Server<'g, 2, 512, 512>;

/// The outcome of a session on a fresh small server.
pub struct Session {
    pub out: Bytes,
    pub stats: Stats,
    pub wants_close: bool,
    pub disconnects: heapless::Vec<(ClientId, u16), 16>,
}

/// Connects a client to a fresh `Server<2, 512, 512>` and feeds it `chunks`, one
/// `feed_all` each; the output is everything written after the 101.
pub fn session(chunks: &[&[u8]]) -> Result<Session, Failure> {
    let mut g = gateway("/");
    let (out, stats, wants_close) = {
        let mut server: Small<'_> = Server::new(CONFIG);
        check!(server.add_gateway(&mut g).is_ok());
        server.init();
        let id = connect(&mut server, "/", 0)?;
        let mut out = Bytes::new();
        for c in chunks {
            let more = feed_all(&mut server, id, c, 10)?;
            check!(out.extend_from_slice(&more).is_ok());
        }
        let wants_close = server.wants_close(id);
        if wants_close {
            server.release(id);
        }
        (out, *server.stats(), wants_close)
    };
    Ok(Session {
        out,
        stats,
        wants_close,
        disconnects: g.state().disconnects.clone(),
    })
}

/// Checks that a session was failed with `code`: the server's last frame is exactly the
/// close frame for it, the socket is to be closed, the gateway heard `code` once, and the
/// one matching counter moved.
pub fn check_failed(s: &Session, code: u16) -> Outcome {
    let expected = fail_frame(code);
    check_eq!(parse_close_code(&s.out), Some(code));
    check_bytes!(
        s.out
            .get(s.out.len().saturating_sub(expected.len())..)
            .unwrap_or(&[]),
        expected
    );
    check!(s.wants_close);
    check_eq!(s.disconnects.len(), 1);
    check_eq!(s.disconnects.first().map(|d| d.1), Some(code));
    check_eq!(s.stats.dispatched, 0);
    let counted = match code {
        1002 => s.stats.closed_protocol_error,
        1007 => s.stats.closed_invalid_utf8,
        1009 => s.stats.closed_too_big,
        _ => u32::MAX,
    };
    check_eq!(counted, 1);
    check_eq!(
        s.stats.closed_protocol_error + s.stats.closed_invalid_utf8 + s.stats.closed_too_big,
        1
    );
    Ok(())
}

/// A session of `chunks` must fail with `code`.
pub fn fails_with(chunks: &[&[u8]], code: u16) -> Outcome {
    check_failed(&session(chunks)?, code)
}
