//! End-to-end tests of the sans-IO `wsgate::Server`: bytes in, bytes out, time as a number.
//!
//! Every test drives the server exactly as a transport does (`accept`, `feed`, `output` +
//! `consume`, `poll`, `wants_close`, `release`) and checks exact bytes on the wire: HTTP
//! status lines and bodies, frame headers, close codes, and the counters in `Stats`.

mod support;

use support::*;
use wsgate::connection::{SendError, Timeouts};
use wsgate::gateway::{Broadcast, ClientId, Gateway};
use wsgate::protocol::frame::OpCode;
use wsgate::protocol::http::SERVER_FULL_RESPONSE;
use wsgate::server::{Refused, ServerError};
use wsgate::{CloseCode, Config, Connection, Server, Stats};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// What the test gateway's hooks and handlers record.
#[derive(Default, Debug)]
struct State {
    disconnects: Vec<(ClientId, u16)>,
    send_errors: Vec<SendError>,
    broadcasts: Vec<Broadcast>,
}

type TestGateway = Gateway<State, 8>;

const TIMEOUTS: Timeouts = Timeouts {
    handshake_ms: 1_000,
    ping_interval_ms: 5_000,
    pong_timeout_ms: 2_000,
    close_timeout_ms: 1_500,
    message_ms: 10_000,
};

const CONFIG: Config = Config {
    timeouts: TIMEOUTS,
    max_head: 4096,
    ..Config::DEFAULT
};

/// A gateway at `path` with the handlers the tests use:
/// - `echo`: replies `{"event":"echo","data":<data>}`;
/// - `size`: `data` is a number n, sends a text frame of n `y` bytes;
/// - `bin`: `data` is a number n, sends a binary frame of n `b` bytes;
/// - `big`: replies with a 600-byte string (larger than a 512-byte TX), records the error;
/// - `shout`: broadcasts a 400-byte text frame, records the result.
fn gateway(path: &'static str) -> TestGateway {
    let mut g: TestGateway = Gateway::new(path, State::default());
    g.on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?))
        .unwrap();
    g.on("size", |_, cx, data| {
        let n: usize = data.parse()?;
        Ok(cx.send_text(&"y".repeat(n))?)
    })
    .unwrap();
    g.on("bin", |_, cx, data| {
        let n: usize = data.parse()?;
        Ok(cx.send_binary(&vec![b'b'; n])?)
    })
    .unwrap();
    g.on("big", |s, cx, _| {
        if let Err(e) = cx.reply("big", "x".repeat(600).as_str()) {
            s.send_errors.push(e);
        }
        Ok(())
    })
    .unwrap();
    g.on("shout", |s, cx, _| {
        let b = cx.broadcast_text(&"z".repeat(400));
        s.broadcasts.push(b);
        Ok(())
    })
    .unwrap();
    g.on_disconnect(|s, id, code| s.disconnects.push((id, code.as_u16())));
    g
}

type Small<'g> = Server<'g, 2, 512, 512>;

/// The close frame the server writes when it fails a connection.
fn fail_frame(code: u16) -> Vec<u8> {
    let reason: &[u8] = match code {
        1002 => b"protocol error",
        1007 => b"invalid UTF-8",
        1009 => b"message too big",
        _ => unreachable!(),
    };
    let mut f = vec![0x88, (2 + reason.len()) as u8];
    f.extend_from_slice(&code.to_be_bytes());
    f.extend_from_slice(reason);
    f
}

/// An unmasked server frame as the server writes it.
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=65535 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// The outcome of a session on a fresh small server.
struct Outcome {
    out: Vec<u8>,
    stats: Stats,
    wants_close: bool,
    disconnects: Vec<(ClientId, u16)>,
}

/// Connects a client to a fresh `Server<2, 512, 512>` and feeds it `chunks`, one `feed` each
/// (draining the output after each); the output is everything written after the 101.
fn session(chunks: &[&[u8]]) -> Outcome {
    let mut g = gateway("/");
    let (out, stats, wants_close) = {
        let mut server: Small<'_> = Server::new(CONFIG);
        server.add_gateway(&mut g).unwrap();
        server.init();
        let id = connect(&mut server, "/", 0);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(feed_all(&mut server, id, c, 10));
        }
        let wants_close = server.wants_close(id);
        if wants_close {
            server.release(id);
        }
        (out, *server.stats(), wants_close)
    };
    Outcome {
        out,
        stats,
        wants_close,
        disconnects: g.state().disconnects.clone(),
    }
}

/// Asserts that a session was failed with `code` (the server's last frame is the close frame
/// for it, the socket is to be closed, the gateway heard `code` once).
fn assert_failed(o: &Outcome, code: u16) {
    let frames = parse_frames(&o.out);
    let last = frames.last().expect("a close frame");
    assert_eq!(last.close_code(), Some(code), "frames: {frames:?}");
    assert!(o.out.ends_with(&fail_frame(code)), "exact close frame");
    assert!(o.wants_close, "the socket must be closed after a failure");
    assert_eq!(o.disconnects.len(), 1);
    assert_eq!(o.disconnects[0].1, code);
    assert_eq!(o.stats.dispatched, 0);
    let counted = match code {
        1002 => o.stats.closed_protocol_error,
        1007 => o.stats.closed_invalid_utf8,
        1009 => o.stats.closed_too_big,
        _ => unreachable!(),
    };
    assert_eq!(counted, 1, "{:?}", o.stats);
    assert_eq!(
        o.stats.closed_protocol_error + o.stats.closed_invalid_utf8 + o.stats.closed_too_big,
        1
    );
}

fn fails_with(chunks: &[&[u8]], code: u16) {
    let o = session(chunks);
    assert_failed(&o, code);
}

/// `prefix` (an unfinished JSON object) padded with spaces and closed to exactly `len` bytes.
fn padded(prefix: &str, len: usize) -> Vec<u8> {
    let mut m = prefix.as_bytes().to_vec();
    m.resize(len - 1, b' ');
    m.push(b'}');
    m
}

/// An HTTP refusal as wsgate writes it.
fn http(status: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------------------------

#[test]
fn exact_101_for_the_rfc_sample_key() {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    server.init();
    let id = server.accept(0).unwrap();
    let req = upgrade_request("/", SAMPLE_KEY);
    assert_eq!(server.feed(id, &req, 0), Ok(req.len()));
    assert_eq!(
        server.output(id),
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    assert_eq!(server.output(id), SAMPLE_101);
    let n = server.output(id).len();
    server.consume(id, n);
    assert!(!server.wants_close(id));
    assert_eq!(server.stats().accepted, 1);
    assert_eq!(server.stats().upgraded, 1);
    assert_eq!(
        wsgate::protocol::handshake::accept_key(SAMPLE_KEY.as_bytes()),
        *SAMPLE_ACCEPT.as_bytes()
    );
}

#[test]
fn firefox_connection_keep_alive_upgrade_is_accepted() {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = server.accept(0).unwrap();
    let req = request(
        "GET / HTTP/1.1",
        &[
            "Host: device.local",
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Connection: keep-alive, Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Extensions: permessage-deflate",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ],
    );
    assert_eq!(server.feed(id, &req, 0), Ok(req.len()));
    assert_eq!(drain(&mut server, id), SAMPLE_101);
    assert_eq!(server.stats().upgraded, 1);
}

/// Feeds one request to a fresh server (gateway at `/ws`, RX 8 KiB, head limit `max_head`)
/// and checks the exact response, the counter and `wants_close`.
fn refused(req: &[u8], max_head: usize, expected: &[u8], counter: fn(&Stats) -> u32) {
    let mut g = gateway("/ws");
    let mut server: Server<'_, 2, 8192, 1024> = Server::new(Config { max_head, ..CONFIG });
    server.add_gateway(&mut g).unwrap();
    server.init();
    let id = server.accept(0).unwrap();
    assert_eq!(server.feed(id, req, 0), Ok(req.len()));
    let out = server.output(id).to_vec();
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(expected)
    );
    assert!(!server.wants_close(id), "output not written yet");
    server.consume(id, out.len() - 1);
    assert!(!server.wants_close(id), "one byte still to write");
    server.consume(id, 1);
    assert!(server.output(id).is_empty());
    assert!(server.wants_close(id), "close after the refusal is written");
    let s = *server.stats();
    assert_eq!(counter(&s), 1, "{s:?}");
    let refusals = s.http_400
        + s.http_401_403
        + s.http_404
        + s.http_405
        + s.http_408
        + s.http_426
        + s.http_431
        + s.http_other;
    assert_eq!(refusals, 1, "exactly one refusal counted: {s:?}");
    assert_eq!(s.upgraded, 0);
    server.release(id);
    drop(server);
    assert!(
        g.state().disconnects.is_empty(),
        "no disconnect for a client that never upgraded"
    );
}

const H: &str = "Host: device.local";
const UP: &str = "Upgrade: websocket";
const CONN: &str = "Connection: Upgrade";
const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
const V13: &str = "Sec-WebSocket-Version: 13";

#[test]
fn refusal_400_missing_key() {
    refused(
        &request("GET /ws HTTP/1.1", &[H, UP, CONN, V13]),
        4096,
        &http(
            "400 Bad Request",
            "",
            "missing or invalid Sec-WebSocket-Key",
        ),
        |s| s.http_400,
    );
}

#[test]
fn refusal_400_bad_key() {
    for key in [
        "Sec-WebSocket-Key: AAAA",
        // 23 characters
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=",
        // 24 characters that are not base64
        "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==",
        // base64 of 17 bytes
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=",
    ] {
        refused(
            &request("GET /ws HTTP/1.1", &[H, UP, CONN, key, V13]),
            4096,
            &http(
                "400 Bad Request",
                "",
                "missing or invalid Sec-WebSocket-Key",
            ),
            |s| s.http_400,
        );
    }
}

#[test]
fn refusal_400_connection_without_upgrade_token() {
    refused(
        &request(
            "GET /ws HTTP/1.1",
            &[H, UP, "Connection: keep-alive", KEY, V13],
        ),
        4096,
        &http(
            "400 Bad Request",
            "",
            "Connection header lacks the upgrade token",
        ),
        |s| s.http_400,
    );
}

#[test]
fn refusal_400_missing_upgrade_header() {
    refused(
        &request("GET /ws HTTP/1.1", &[H, CONN, KEY, V13]),
        4096,
        &http(
            "400 Bad Request",
            "",
            "missing or wrong Upgrade header (expected websocket)",
        ),
        |s| s.http_400,
    );
}

#[test]
fn refusal_400_http_1_0_upgrade() {
    refused(
        &request("GET /ws HTTP/1.0", &[H, UP, CONN, KEY, V13]),
        4096,
        &http("400 Bad Request", "", "WebSocket needs HTTP/1.1"),
        |s| s.http_400,
    );
}

#[test]
fn refusal_404_unknown_path_upgrade() {
    refused(
        &request("GET /nope HTTP/1.1", &[H, UP, CONN, KEY, V13]),
        4096,
        &http("404 Not Found", "", "no WebSocket gateway at this path"),
        |s| s.http_404,
    );
    // A plain GET on an unknown path is a 404 too.
    refused(
        &request("GET /nope HTTP/1.1", &[H]),
        4096,
        &http("404 Not Found", "", "nothing at this path"),
        |s| s.http_404,
    );
}

#[test]
fn refusal_405_post() {
    refused(
        &request("POST /ws HTTP/1.1", &[H, UP, CONN, KEY, V13]),
        4096,
        &http(
            "405 Method Not Allowed",
            "Allow: GET\r\n",
            "WebSocket upgrade needs GET",
        ),
        |s| s.http_405,
    );
    refused(
        &request("POST /ws HTTP/1.1", &[H, "Content-Length: 0"]),
        4096,
        &http(
            "405 Method Not Allowed",
            "Allow: GET\r\n",
            "only GET is served here",
        ),
        |s| s.http_405,
    );
}

#[test]
fn refusal_426_version_8() {
    refused(
        &request(
            "GET /ws HTTP/1.1",
            &[H, UP, CONN, KEY, "Sec-WebSocket-Version: 8"],
        ),
        4096,
        &http(
            "426 Upgrade Required",
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            "unsupported WebSocket version (this server speaks 13)",
        ),
        |s| s.http_426,
    );
}

#[test]
fn refusal_426_plain_get_on_gateway_path() {
    refused(
        &request("GET /ws HTTP/1.1", &[H, "Accept: text/html"]),
        4096,
        &http(
            "426 Upgrade Required",
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            "this path is a WebSocket endpoint: send a WebSocket upgrade request",
        ),
        |s| s.http_426,
    );
}

#[test]
fn refusal_431_head_over_max_head() {
    let max_head = 1024;
    // A head of exactly `max_head` bytes is accepted...
    let mut req = upgrade_request("/ws", SAMPLE_KEY);
    let pad = max_head - req.len() - "X-Pad: \r\n".len();
    let line = format!("X-Pad: {}\r\n", "p".repeat(pad));
    req.splice(req.len() - 2..req.len() - 2, line.into_bytes());
    assert_eq!(req.len(), max_head);
    {
        let mut g = gateway("/ws");
        let mut server: Server<'_, 2, 8192, 1024> = Server::new(Config { max_head, ..CONFIG });
        server.add_gateway(&mut g).unwrap();
        let id = server.accept(0).unwrap();
        assert_eq!(server.feed(id, &req, 0), Ok(req.len()));
        assert_eq!(drain(&mut server, id), SAMPLE_101);
    }
    // ...one byte more is refused with 431.
    let req = {
        let mut r = upgrade_request("/ws", SAMPLE_KEY);
        let line = format!("X-Pad: {}\r\n", "p".repeat(pad + 1));
        r.splice(r.len() - 2..r.len() - 2, line.into_bytes());
        r
    };
    assert_eq!(req.len(), max_head + 1);
    refused(
        &req,
        max_head,
        &http(
            "431 Request Header Fields Too Large",
            "",
            "request head too large",
        ),
        |s| s.http_431,
    );
}

#[test]
fn refusal_431_two_hundred_headers() {
    let many: Vec<String> = (0..200).map(|i| format!("X-H{i}: v")).collect();
    let mut headers: Vec<&str> = vec![H, UP, CONN, KEY, V13];
    headers.extend(many.iter().map(String::as_str));
    let req = request("GET /ws HTTP/1.1", &headers);
    assert!(req.len() < 8192);
    refused(
        &req,
        8192,
        &http(
            "431 Request Header Fields Too Large",
            "",
            "too many header fields (max 32)",
        ),
        |s| s.http_431,
    );
}

#[test]
fn refusal_503_when_every_slot_is_taken() {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let a = server.accept(0).unwrap();
    let b = server.accept(0).unwrap();
    assert_ne!(a, b);
    assert_eq!(server.accept(0), Err(Refused::Full));
    assert_eq!(server.stats().refused_full, 1);
    assert_eq!(server.stats().accepted, 2);
    assert!(SERVER_FULL_RESPONSE.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
    assert_eq!(
        SERVER_FULL_RESPONSE,
        http(
            "503 Service Unavailable",
            "Retry-After: 1\r\n",
            "server full: no free connection slot"
        )
        .as_slice()
    );
    // A freed slot is given out again.
    server.release(a);
    let c = server.accept(0).unwrap();
    assert_eq!(c.index(), a.index());
}

#[test]
fn refusal_408_when_the_head_never_completes() {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = server.accept(100).unwrap();
    let req = upgrade_request("/", SAMPLE_KEY);
    let part = &req[..req.len() - 3];
    assert_eq!(server.feed(id, part, 200), Ok(part.len()));
    assert_eq!(server.next_deadline(id), Some(100 + 1_000));
    server.poll(id, 100 + 999);
    assert!(server.output(id).is_empty());
    assert!(!server.wants_close(id));
    server.poll(id, 100 + 1_000);
    assert_eq!(
        drain(&mut server, id),
        http(
            "408 Request Timeout",
            "",
            "request head not received in time"
        )
    );
    assert!(server.wants_close(id));
    assert_eq!(server.stats().http_408, 1);
    // The rest of the head arriving late changes nothing.
    assert_eq!(server.feed(id, &req[req.len() - 3..], 1_200), Ok(3));
    assert!(server.output(id).is_empty());
    assert_eq!(server.stats().upgraded, 0);
}

// ---------------------------------------------------------------------------------------------
// Frame sizes both ways
// ---------------------------------------------------------------------------------------------

#[test]
fn frame_lengths_both_ways() {
    big_stack(|| {
        let mut g = gateway("/");
        let mut server: Box<Server<'_, 1, 70_000, 140_000>> = Box::new(Server::new(CONFIG));
        server.add_gateway(&mut g).unwrap();
        server.init();
        let id = connect(&mut *server, "/", 0);

        // Client to server: echo messages of exactly these lengths, text and binary frames;
        // the reply is the same JSON, so the server's frame has the same length.
        for len in [125usize, 126, 65_535, 65_536] {
            let msg = echo_message(len);
            for opcode in [OpCode::Text, OpCode::Binary] {
                let f = frame(true, opcode, &msg);
                let hlen = match len {
                    0..=125 => 6,
                    126..=65_535 => 8,
                    _ => 14,
                };
                assert_eq!(f.len(), hlen + len);
                let out = feed_all(&mut *server, id, &f, 1);
                let header: &[u8] = match len {
                    0..=125 => &[0x81, len as u8],
                    126..=65_535 => &[0x81, 126, (len >> 8) as u8, len as u8],
                    _ => &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0],
                };
                assert_eq!(&out[..header.len()], header, "reply header for {len}");
                assert_eq!(&out[header.len()..], msg.as_slice(), "reply body for {len}");
                assert_eq!(out, server_frame(1, &msg));
            }
        }
        assert_eq!(server.stats().dispatched, 8);

        // An empty client frame is a message (not JSON: dropped, counted, no reply).
        for opcode in [OpCode::Text, OpCode::Binary] {
            let out = feed_all(&mut *server, id, &frame(true, opcode, b""), 2);
            assert!(out.is_empty());
        }
        assert_eq!(server.stats().messages, 10);
        assert_eq!(server.stats().dropped_invalid_json, 2);

        // Server to client: text and binary frames of exactly these lengths.
        for len in [0usize, 125, 126, 65_535, 65_536] {
            let out = feed_all(
                &mut *server,
                id,
                &text(format!(r#"{{"event":"size","data":{len}}}"#).as_bytes()),
                3,
            );
            assert_eq!(out, server_frame(1, &vec![b'y'; len]), "text of {len}");
            let out = feed_all(
                &mut *server,
                id,
                &text(format!(r#"{{"event":"bin","data":{len}}}"#).as_bytes()),
                3,
            );
            assert_eq!(out, server_frame(2, &vec![b'b'; len]), "binary of {len}");
        }
        assert!(!server.wants_close(id));
        assert_eq!(server.stats().send_failed, 0);
    });
}

// ---------------------------------------------------------------------------------------------
// Strictness (DESIGN §5)
// ---------------------------------------------------------------------------------------------

#[test]
fn unmasked_client_frame_is_1002() {
    fails_with(&[&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']], 1002);
}

#[test]
fn rsv_bits_are_1002() {
    for b0 in [0xC1u8, 0xA1, 0x91, 0xF1] {
        fails_with(&[&raw_frame(b0, br#"{"event":"echo"}"#)], 1002);
    }
}

#[test]
fn reserved_opcodes_are_1002() {
    for op in (3u8..=7).chain(11..=15) {
        fails_with(&[&raw_frame(0x80 | op, b"")], 1002);
        fails_with(&[&raw_frame(0x80 | op, b"abc")], 1002);
    }
}

#[test]
fn ping_with_126_bytes_is_1002() {
    fails_with(&[&frame(true, OpCode::Ping, &[b'p'; 126])], 1002);
    // Also when only the first two header bytes have arrived.
    let f = frame(true, OpCode::Ping, &[b'p'; 126]);
    fails_with(&[&f[..2]], 1002);
    // 125 is fine.
    let o = session(&[&frame(true, OpCode::Ping, &[b'p'; 125])]);
    assert_eq!(o.out, server_frame(0xA, &[b'p'; 125]));
    assert!(!o.wants_close);
}

#[test]
fn fragmented_ping_is_1002() {
    fails_with(&[&frame(false, OpCode::Ping, b"hi")], 1002);
    fails_with(
        &[&frame(false, OpCode::Close, &1000u16.to_be_bytes())],
        1002,
    );
    fails_with(&[&frame(false, OpCode::Pong, b"")], 1002);
}

#[test]
fn continuation_without_start_is_1002() {
    fails_with(&[&frame(true, OpCode::Continuation, b"abc")], 1002);
    fails_with(&[&frame(false, OpCode::Continuation, b"abc")], 1002);
}

#[test]
fn new_data_frame_inside_a_fragmented_message_is_1002() {
    let first = frame(false, OpCode::Text, br#"{"event":"ec"#);
    fails_with(&[&first, &text(br#"ho"}"#)], 1002);
    fails_with(&[&first, &frame(true, OpCode::Binary, b"x")], 1002);
    fails_with(&[&first, &frame(false, OpCode::Text, b"x")], 1002);
}

#[test]
fn length_with_high_bit_is_1002() {
    let mut f = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
    f.extend_from_slice(&MASK);
    fails_with(&[&f], 1002);
    // Fails as soon as the first length byte is in.
    fails_with(&[&f[..3]], 1002);
    fails_with(
        &[&[0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]],
        1002,
    );
}

#[test]
fn message_one_byte_over_the_limit_is_1009() {
    // RX and TX are 512: the largest message is 508, whose echo (with its 4-byte frame
    // header) fits the transmit buffer; 509 is closed with 1009 although it would fit RX.
    assert_eq!(wsgate::Connection::<512, 512>::MAX_MESSAGE, 508);
    let ok = padded(r#"{"event":"size","data":1"#, 508);
    let o = session(&[&text(&ok)]);
    assert_eq!(o.out, server_frame(1, b"y"));
    assert!(!o.wants_close);
    assert_eq!(o.stats.dispatched, 1);

    let over = padded(r#"{"event":"size","data":1"#, 509);
    let f = text(&over);
    fails_with(&[&f], 1009);
    // The close comes as soon as the header is in, before any payload byte.
    let o = session(&[&f[..8]]);
    assert_failed(&o, 1009);

    // Fragmented: 300 + 209 crosses the limit on the second fragment.
    let first = frame(false, OpCode::Text, &over[..300]);
    let second = frame(true, OpCode::Continuation, &over[300..]);
    let o = session(&[&first]);
    assert!(o.out.is_empty() && !o.wants_close);
    fails_with(&[&first, &second], 1009);
    // Fragmented exactly to the limit is fine.
    let first = frame(false, OpCode::Text, &ok[..300]);
    let second = frame(true, OpCode::Continuation, &ok[300..]);
    let o = session(&[&first, &second]);
    assert_eq!(o.out, server_frame(1, b"y"));
    // A 64-bit length far over the limit.
    let mut huge = vec![0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0];
    huge.extend_from_slice(&MASK);
    fails_with(&[&huge], 1009);
}

#[test]
fn invalid_utf8_text_is_1007() {
    fails_with(&[&text(b"{\"event\":\"echo\",\"data\":\"\xff\"}")], 1007);
    // Overlong encoding, surrogate, code point over U+10FFFF.
    fails_with(&[&text(b"\xc0\xaf")], 1007);
    fails_with(&[&text(b"\xed\xa0\x80")], 1007);
    fails_with(&[&text(b"\xf4\x90\x80\x80")], 1007);
    // A message that ends inside a code point.
    fails_with(&[&text(b"{\"event\":\"echo\",\"data\":\"\xe2\x82")], 1007);
    // Binary messages are not checked.
    let o = session(&[&frame(true, OpCode::Binary, b"\xff\xfe")]);
    assert!(o.out.is_empty() && !o.wants_close);
    assert_eq!(o.stats.dropped_invalid_json, 1);
}

#[test]
fn utf8_split_across_fragments() {
    // "€" = E2 82 AC cut after two bytes: valid.
    let msg = "{\"event\":\"echo\",\"data\":\"€\"}".as_bytes();
    let cut = msg.iter().position(|&b| b == 0xE2).unwrap() + 2;
    let o = session(&[
        &frame(false, OpCode::Text, &msg[..cut]),
        &frame(true, OpCode::Continuation, &msg[cut..]),
    ]);
    assert_eq!(o.out, server_frame(1, msg));
    assert!(!o.wants_close);
    // The same cut continued with a byte that is not a continuation byte: 1007.
    let mut bad = msg.to_vec();
    bad[cut] = b'(';
    fails_with(
        &[
            &frame(false, OpCode::Text, &bad[..cut]),
            &frame(true, OpCode::Continuation, &bad[cut..]),
        ],
        1007,
    );
}

#[test]
fn invalid_utf8_fails_fast() {
    // The bad byte is in the first fragment: the close is written before the final fragment
    // is sent.
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    let first = frame(false, OpCode::Text, b"{\"event\":\"echo\",\"data\":\"\xf8");
    assert_eq!(server.feed(id, &first, 1), Ok(first.len()));
    assert_eq!(drain(&mut server, id), fail_frame(1007));
    assert!(server.wants_close(id));
    assert_eq!(server.stats().closed_invalid_utf8, 1);
    // Input after the failure is swallowed.
    let last = frame(true, OpCode::Continuation, b"\"}");
    assert_eq!(server.feed(id, &last, 2), Ok(last.len()));
    assert!(server.output(id).is_empty());

    // Inside one frame: only part of the payload has arrived.
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    let mut payload = b"ab\xc0".to_vec();
    payload.extend_from_slice(&[b'a'; 100]);
    let f = text(&payload);
    assert_eq!(server.feed(id, &f[..6 + 3], 1), Ok(9));
    assert_eq!(drain(&mut server, id), fail_frame(1007));
    assert!(server.wants_close(id));
}

#[test]
fn close_payload_of_one_byte_is_1002() {
    fails_with(&[&frame(true, OpCode::Close, &[0x03])], 1002);
}

#[test]
fn close_codes_not_allowed_on_the_wire_are_1002() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let o = session(&[&close(code, b"")]);
        assert_failed(&o, 1002);
        let o = session(&[&close(code, b"bye")]);
        assert_failed(&o, 1002);
    }
}

#[test]
fn close_reason_not_utf8_is_1007() {
    fails_with(&[&close(1000, b"\xff")], 1007);
    fails_with(&[&close(1000, b"ok\xe2\x82")], 1007);
}

#[test]
fn valid_close_is_echoed() {
    for code in [1000u16, 1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999] {
        let mut g = gateway("/");
        let mut server: Small<'_> = Server::new(CONFIG);
        server.add_gateway(&mut g).unwrap();
        let id = connect(&mut server, "/", 0);
        let f = close(code, b"done");
        assert_eq!(server.feed(id, &f, 1), Ok(f.len()));
        assert!(!server.wants_close(id), "the echo is not written yet");
        let out = server.output(id).to_vec();
        // The whole close frame comes back, code and reason, as Node's `ws` answers.
        let mut echo = code.to_be_bytes().to_vec();
        echo.extend_from_slice(b"done");
        assert_eq!(out, server_frame(8, &echo), "echo of {code}");
        let frames = parse_frames(&out);
        assert_eq!(frames[0].close_code(), Some(code));
        assert_eq!(frames[0].close_reason(), "done");
        server.consume(id, out.len());
        assert!(server.wants_close(id));
        assert_eq!(server.stats().closed_by_peer, 1);
        server.release(id);
        drop(server);
        assert_eq!(g.state().disconnects, vec![(id, code)]);
    }
    // An empty close is answered with an empty close, and reported as 1005.
    let o = session(&[&frame(true, OpCode::Close, b"")]);
    assert_eq!(o.out, [0x88, 0x00]);
    assert!(o.wants_close);
    assert_eq!(o.disconnects[0].1, 1005);
    assert_eq!(o.stats.closed_by_peer, 1);
}

#[test]
fn ping_is_answered_with_the_same_payload() {
    let o = session(&[&frame(true, OpCode::Ping, b"hello")]);
    assert_eq!(o.out, [0x8A, 0x05, b'h', b'e', b'l', b'l', b'o']);
    assert!(!o.wants_close);
    let o = session(&[&frame(true, OpCode::Ping, b"")]);
    assert_eq!(o.out, [0x8A, 0x00]);
}

#[test]
fn ping_between_fragments() {
    let msg = echo_message(60);
    let o = session(&[
        &frame(false, OpCode::Text, &msg[..20]),
        &frame(true, OpCode::Ping, b"mid"),
        &frame(false, OpCode::Continuation, &msg[20..40]),
        &frame(true, OpCode::Pong, b"unsolicited"),
        &frame(true, OpCode::Continuation, &msg[40..]),
    ]);
    let mut expected = server_frame(0xA, b"mid");
    expected.extend(server_frame(1, &msg));
    assert_eq!(o.out, expected);
    assert!(!o.wants_close);
    assert_eq!(o.stats.messages, 1);
    assert_eq!(o.stats.dispatched, 1);
}

#[test]
fn unsolicited_pong_is_ignored() {
    let o = session(&[
        &frame(true, OpCode::Pong, b"whatever"),
        &frame(true, OpCode::Pong, b""),
        &text(&echo_message(30)),
    ]);
    assert_eq!(o.out, server_frame(1, &echo_message(30)));
    assert!(!o.wants_close);
}

// ---------------------------------------------------------------------------------------------
// Input split and pipelined
// ---------------------------------------------------------------------------------------------

#[test]
fn one_byte_per_feed() {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = server.accept(0).unwrap();
    let req = upgrade_request("/", SAMPLE_KEY);
    for (i, b) in req.iter().enumerate() {
        assert_eq!(server.feed(id, &[*b], i as u64), Ok(1), "byte {i}");
        if i + 1 < req.len() {
            assert!(server.output(id).is_empty(), "nothing before the head ends");
        }
    }
    assert_eq!(drain(&mut server, id), SAMPLE_101);
    let msg = echo_message(200); // a 4-byte length header
    let f = frame_with_mask(true, OpCode::Text, [0xde, 0xad, 0xbe, 0xef], &msg);
    for (i, b) in f.iter().enumerate() {
        assert_eq!(server.feed(id, &[*b], 1_000), Ok(1), "frame byte {i}");
        if i + 1 < f.len() {
            assert!(server.output(id).is_empty());
        }
    }
    assert_eq!(drain(&mut server, id), server_frame(1, &msg));
    // And a ping, a byte at a time.
    for b in frame(true, OpCode::Ping, b"hello") {
        assert_eq!(server.feed(id, &[b], 1_001), Ok(1));
    }
    assert_eq!(drain(&mut server, id), server_frame(0xA, b"hello"));
    assert_eq!(server.stats().dispatched, 1);
}

#[test]
fn request_and_first_frames_in_one_feed() {
    let mut g = gateway("/");
    // Reply room 400: with the 101 (129 bytes) unsent in the 512-byte TX, the first
    // message's 37 + 400 bytes do not fit.
    let mut server: Small<'_> = Server::new(Config {
        reply_room: 400,
        ..CONFIG
    });
    server.add_gateway(&mut g).unwrap();
    let id = server.accept(0).unwrap();
    let msg = br#"{"event":"echo","data":{"a":[1,2,3]}}"#;
    let mut bytes = upgrade_request("/", SAMPLE_KEY);
    bytes.extend(text(msg));
    bytes.extend(frame(true, OpCode::Ping, b"p"));
    bytes.extend(text(msg));
    // The 101 waits in the TX, so the first message waits for it to be written
    // (`reply_room`); a transport writes, resumes and feeds the rest.
    let first = server.feed(id, &bytes, 0).unwrap();
    assert!(first < bytes.len());
    let mut expected = SAMPLE_101.to_vec();
    expected.extend(server_frame(1, msg));
    expected.extend(server_frame(0xA, b"p"));
    expected.extend(server_frame(1, msg));
    let mut out = drain(&mut server, id);
    assert_eq!(server.resume(id, 0), Ok(true));
    out.extend(feed_all(&mut server, id, &bytes[first..], 0));
    assert_eq!(out, expected);
    assert_eq!(server.stats().dispatched, 2);
}

#[test]
fn a_message_waits_for_reply_room_and_no_reply_is_lost() {
    // TX 1024, reply_room 600: with 500 bytes unsent the next message waits.
    let mut g = gateway("/");
    let mut server: Server<'_, 1, 1024, 1024> = Server::new(Config {
        reply_room: 600,
        ..CONFIG
    });
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    let a = echo_message(480);
    let b = echo_message(480);
    let mut bytes = text(&a);
    bytes.extend(text(&b));
    // The first echo is dispatched; the second message is read whole but waits.
    assert_eq!(server.feed(id, &bytes, 1), Ok(bytes.len()));
    assert_eq!(server.stats().messages, 2);
    assert_eq!(server.stats().dispatched, 1);
    assert_eq!(drain(&mut server, id), server_frame(1, &a));
    // The next feed first dispatches the waiting message; the new one then waits in turn.
    assert_eq!(server.feed(id, &text(&a), 2), Ok(text(&a).len()));
    assert_eq!(server.stats().dispatched, 2);
    assert_eq!(drain(&mut server, id), server_frame(1, &b));
    assert_eq!(server.resume(id, 3), Ok(true));
    assert_eq!(server.stats().dispatched, 3);
    assert_eq!(drain(&mut server, id), server_frame(1, &a));
    assert_eq!(server.resume(id, 3), Ok(false), "nothing waits any more");
    assert_eq!(server.stats().send_failed, 0);
}

// ---------------------------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------------------------

#[test]
fn ping_after_silence_then_drop_without_pong() {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        server.add_gateway(&mut g).unwrap();
        let id = connect(&mut server, "/", 1_000);
        assert_eq!(server.next_deadline(id), Some(6_000));
        server.poll(id, 5_999);
        assert!(server.output(id).is_empty());
        assert_eq!(server.stats().pings_sent, 0);
        server.poll(id, 6_000);
        assert_eq!(drain(&mut server, id), server_frame(9, b"wsgate"));
        assert_eq!(server.stats().pings_sent, 1);
        assert_eq!(server.next_deadline(id), Some(8_000));
        server.poll(id, 7_999);
        assert!(!server.wants_close(id));
        server.poll(id, 8_000);
        assert!(
            server.output(id).is_empty(),
            "no close frame to a vanished peer"
        );
        assert!(server.wants_close(id));
        assert_eq!(server.stats().closed_idle, 1);
        // Polling again and releasing report nothing more.
        server.poll(id, 20_000);
        server.release(id);
        assert_eq!(server.stats().closed_peer_gone, 0);
        assert_eq!(server.stats().closed_idle, 1);
    }
    assert_eq!(g.state().disconnects.len(), 1);
    assert_eq!(g.state().disconnects[0].1, 1006);
}

#[test]
fn idle_timeout_drops_a_client_that_does_not_read() {
    // A vanished peer reads nothing: its output (here the ping itself and a broadcast) is
    // never written. The idle timeout must still end the connection: the socket is to be
    // closed now, whatever is left in the transmit buffer.
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        let gid = server.add_gateway(&mut g).unwrap();
        let id = connect(&mut server, "/", 0);
        server.broadcast_text(gid, "news");
        server.poll(id, 5_000);
        assert_eq!(server.stats().pings_sent, 1);
        assert!(!server.output(id).is_empty());
        server.poll(id, 7_000);
        assert_eq!(server.stats().closed_idle, 1);
        assert!(
            server.wants_close(id),
            "idle timeout: the socket must be closed even with unwritten output"
        );
        server.release(id);
    }
    assert_eq!(g.state().disconnects.len(), 1);
    assert_eq!(g.state().disconnects[0].1, 1006);
}

#[test]
fn close_timeout_drops_a_client_that_does_not_read() {
    // Our close frame is never written (the peer reads nothing); after close_timeout_ms the
    // connection is over and the socket is to be closed.
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        server.add_gateway(&mut g).unwrap();
        let id = connect(&mut server, "/", 0);
        server
            .close_client(id, CloseCode::NORMAL, "bye", 0)
            .unwrap();
        assert!(!server.output(id).is_empty());
        server.poll(id, 1_500);
        assert_eq!(server.stats().closed_close_timeout, 1);
        assert!(
            server.wants_close(id),
            "close timeout: the socket must be closed even with unwritten output"
        );
        server.release(id);
    }
    assert_eq!(g.state().disconnects.len(), 1);
    assert_eq!(g.state().disconnects[0].1, 1006);
}

#[test]
fn pong_in_time_keeps_the_client() {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    server.poll(id, 5_000);
    let ping = frames(&mut server, id);
    assert_eq!(ping.len(), 1);
    assert_eq!(ping[0].opcode, OpCode::Ping);
    let pong = frame(true, OpCode::Pong, &ping[0].payload);
    assert_eq!(server.feed(id, &pong, 6_999), Ok(pong.len()));
    server.poll(id, 7_000);
    server.poll(id, 9_000);
    assert!(!server.wants_close(id));
    assert!(server.output(id).is_empty());
    // Silence again: the next ping comes 5 s after the pong.
    server.poll(id, 11_998);
    assert!(server.output(id).is_empty());
    server.poll(id, 11_999);
    assert_eq!(drain(&mut server, id), server_frame(9, b"wsgate"));
    assert_eq!(server.stats().pings_sent, 2);
    // Any data frame also counts as a sign of life.
    let f = text(&echo_message(30));
    server.feed(id, &f, 13_000).unwrap();
    drain(&mut server, id);
    server.poll(id, 14_000);
    assert!(!server.wants_close(id));
    assert_eq!(server.stats().closed_idle, 0);
    assert_eq!(server.stats().dispatched, 1);
}

#[test]
fn server_close_waits_for_the_client_close() {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        server.add_gateway(&mut g).unwrap();
        let id = connect(&mut server, "/", 0);
        server
            .close_client(id, CloseCode::NORMAL, "bye", 100)
            .unwrap();
        let out = drain(&mut server, id);
        assert_eq!(out, server_frame(8, b"\x03\xe8bye"));
        assert!(!server.wants_close(id), "waits for the client's close");
        // Data from the client while closing is discarded.
        let f = text(&echo_message(30));
        assert_eq!(server.feed(id, &f, 200), Ok(f.len()));
        assert!(server.output(id).is_empty());
        assert_eq!(server.stats().dispatched, 0);
        let c = close(1000, b"");
        assert_eq!(server.feed(id, &c, 300), Ok(c.len()));
        assert!(server.output(id).is_empty(), "no second close frame");
        assert!(server.wants_close(id));
        assert_eq!(server.stats().closed_by_server, 1);
        server.release(id);
    }
    assert_eq!(g.state().disconnects.len(), 1);
    assert_eq!(g.state().disconnects[0].1, 1000);
}

#[test]
fn no_second_close_frame_after_ours() {
    // Once our close frame is out, a bad frame or a bad close from the peer ends the
    // connection (counted, reported) without a second close frame: one close each way.
    let bad_inputs: [(&[u8], u16); 3] = [
        (&close(1005, b""), 1002),
        (&close(1000, b"\xff"), 1007),
        (&[0x81, 0x00], 1002), // unmasked
    ];
    for (input, code) in bad_inputs {
        let mut g = gateway("/");
        {
            let mut server: Small<'_> = Server::new(CONFIG);
            server.add_gateway(&mut g).unwrap();
            let id = connect(&mut server, "/", 0);
            server
                .close_client(id, CloseCode::NORMAL, "bye", 0)
                .unwrap();
            assert_eq!(drain(&mut server, id), server_frame(8, b"\x03\xe8bye"));
            assert_eq!(server.feed(id, input, 1), Ok(input.len()));
            let after = drain(&mut server, id);
            assert!(
                after.is_empty(),
                "a second close frame after ours: {:?}",
                parse_frames(&after)
            );
            assert!(server.wants_close(id));
            server.release(id);
        }
        assert_eq!(g.state().disconnects.len(), 1);
        assert_eq!(g.state().disconnects[0].1, code);
    }
}

#[test]
fn server_close_times_out_without_the_client_close() {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        server.add_gateway(&mut g).unwrap();
        let id = connect(&mut server, "/", 0);
        server
            .close_client(id, CloseCode(4000), "kick", 100)
            .unwrap();
        assert_eq!(drain(&mut server, id), server_frame(8, b"\x0f\xa0kick"));
        assert_eq!(server.next_deadline(id), Some(1_600));
        server.poll(id, 1_599);
        assert!(!server.wants_close(id));
        server.poll(id, 1_600);
        assert!(server.wants_close(id));
        assert_eq!(server.stats().closed_close_timeout, 1);
        server.release(id);
        assert_eq!(server.stats().closed_peer_gone, 0);
    }
    assert_eq!(g.state().disconnects.len(), 1);
    assert_eq!(g.state().disconnects[0].1, 1006);
}

#[test]
fn server_close_sends_1001_and_503_and_refuses_accept() {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        server.add_gateway(&mut g).unwrap();
        let open = connect(&mut server, "/", 0);
        let mid = server.accept(0).unwrap();
        let req = upgrade_request("/", SAMPLE_KEY);
        server.feed(mid, &req[..20], 0).unwrap();
        server.close(50);
        assert!(server.is_closing());
        assert_eq!(
            drain(&mut server, open),
            server_frame(8, b"\x03\xe9server shutting down")
        );
        assert_eq!(
            drain(&mut server, mid),
            http(
                "503 Service Unavailable",
                "Retry-After: 1\r\n",
                "server shutting down"
            )
        );
        assert!(server.wants_close(mid));
        assert!(!server.wants_close(open));
        assert_eq!(server.stats().http_other, 1);
        assert_eq!(server.accept(60), Err(Refused::Closing));
        assert_eq!(server.stats().refused_full, 1);
        server.release(mid);
        // Still refused with a free slot.
        assert_eq!(server.accept(60), Err(Refused::Closing));
        let c = close(1001, b"");
        assert_eq!(server.feed(open, &c, 70), Ok(c.len()));
        assert!(server.output(open).is_empty());
        assert!(server.wants_close(open));
        assert_eq!(server.stats().closed_by_server, 1);
        server.release(open);
        assert_eq!(server.client_count(), 0);
    }
    assert_eq!(g.state().disconnects.len(), 1);
    assert_eq!(g.state().disconnects[0].1, 1001);
}

// ---------------------------------------------------------------------------------------------
// Backpressure
// ---------------------------------------------------------------------------------------------

#[test]
fn reply_larger_than_tx_is_an_error_the_handler_sees() {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        server.add_gateway(&mut g).unwrap();
        let id = connect(&mut server, "/", 0);
        let out = feed_all(&mut server, id, &text(br#"{"event":"big"}"#), 1);
        assert!(out.is_empty(), "nothing queued: {out:?}");
        assert_eq!(server.stats().send_failed, 1);
        assert_eq!(server.stats().frames_sent, 0);
        assert_eq!(server.stats().exceptions, 0);
        assert!(!server.wants_close(id));
        // The connection still works.
        let msg = echo_message(40);
        assert_eq!(
            feed_all(&mut server, id, &text(&msg), 2),
            server_frame(1, &msg)
        );
    }
    assert_eq!(g.state().send_errors, vec![SendError::Full]);
}

/// Leaves exactly `free` bytes free in the TX of `id` (TX bytes in all, output empty) with
/// broadcast frames, then has the handler send a text frame of `len` bytes; returns whether
/// the handler's frame was queued (checked byte for byte).
fn send_into<const RX: usize, const TX: usize>(
    server: &mut Server<'_, 1, RX, TX>,
    id: ClientId,
    free: usize,
    len: usize,
) -> bool {
    let gid = wsgate::gateway::GatewayId(0);
    assert!(server.output(id).is_empty());
    let mut pending = TX - free;
    let mut queued = Vec::new();
    while pending > 0 {
        // One frame of `pending` bytes if its header size allows, else a small one first.
        let take = match pending {
            n @ 2..=127 => n,
            n @ 130..=65_539 => n,
            n if n > 65_539 + 10 => 65_546,
            n => n.min(100).min(n - 2).max(2),
        };
        let payload_len = match take {
            n @ 2..=127 => n - 2,
            n @ 130..=65_539 => n - 4,
            n => n - 10,
        };
        let text = "p".repeat(payload_len);
        assert_eq!(
            server.broadcast_text(gid, &text),
            Broadcast {
                queued: 1,
                dropped: 0
            },
            "filler of {take}"
        );
        queued.extend(server_frame(1, text.as_bytes()));
        pending -= take;
    }
    let sent_before = server.stats().frames_sent;
    let msg = text(format!(r#"{{"event":"size","data":{len}}}"#).as_bytes());
    assert_eq!(server.feed(id, &msg, 1), Ok(msg.len()));
    let ok = server.stats().frames_sent == sent_before + 1;
    let out = drain(server, id);
    assert_eq!(out[..queued.len()], queued);
    let rest = parse_frames(&out[queued.len()..]);
    if ok {
        assert_eq!(out[queued.len()..], server_frame(1, &vec![b'y'; len]));
    } else {
        // The handler's `?` turned the error into an exception frame (when that fits).
        assert!(rest.len() <= 1);
        if let Some(f) = rest.first() {
            assert!(
                f.text().starts_with(r#"{"event":"exception","#),
                "{}",
                f.text()
            );
        }
    }
    ok
}

#[test]
fn a_short_frame_that_fits_exactly_is_queued() {
    // 125 bytes need 127: they fit in 127 and in 128 free bytes, not in 126.
    // `reply_room: 0` dispatches into a part-full buffer, which is what this measures.
    let mut g = gateway("/");
    let mut server: Server<'_, 1, 512, 256> = Server::new(Config {
        reply_room: 0,
        ..CONFIG
    });
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    assert!(
        !send_into(&mut server, id, 126, 125),
        "127 bytes do not fit in 126"
    );
    assert!(
        send_into(&mut server, id, 127, 125),
        "127 bytes in 127 free"
    );
    assert!(
        send_into(&mut server, id, 129, 125),
        "127 bytes in 129 free"
    );
    assert!(
        send_into(&mut server, id, 128, 125),
        "127 bytes (125 + 2-byte header) must fit in 128 free bytes"
    );
}

#[test]
fn a_long_frame_that_fits_exactly_is_queued() {
    // 65535 bytes need 65539: they fit in 65539 free bytes and more, not in 65538.
    big_stack(|| {
        let mut g = gateway("/");
        let mut server: Box<Server<'_, 1, 70_000, 70_000>> = Box::new(Server::new(CONFIG));
        server.add_gateway(&mut g).unwrap();
        let id = connect(&mut *server, "/", 0);
        assert!(!send_into(&mut *server, id, 65_538, 65_535));
        assert!(send_into(&mut *server, id, 65_539, 65_535));
        assert!(send_into(&mut *server, id, 65_546, 65_535));
        for free in 65_540..=65_545 {
            assert!(
                send_into(&mut *server, id, free, 65_535),
                "65539 bytes (65535 + 4-byte header) must fit in {free} free bytes"
            );
        }
    });
}

#[test]
fn broadcast_to_a_full_client_is_dropped_and_counted() {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        let gid = server.add_gateway(&mut g).unwrap();
        let a = connect(&mut server, "/", 0);
        let b = connect(&mut server, "/", 0);
        let shout = text(br#"{"event":"shout"}"#);
        let z = server_frame(1, &[b'z'; 400]);

        assert_eq!(server.feed(a, &shout, 1), Ok(shout.len()));
        assert_eq!(drain(&mut server, a), z);
        // b does not read: its TX holds 404 of 512 bytes.
        assert_eq!(server.output(b), z.as_slice());
        assert_eq!(server.feed(a, &shout, 2), Ok(shout.len()));
        assert_eq!(drain(&mut server, a), z);
        assert_eq!(server.output(b), z.as_slice(), "b got nothing more");
        assert_eq!(server.stats().broadcast_dropped, 1);

        // From outside a handler too.
        let r = server.broadcast_text(gid, &"z".repeat(400));
        assert_eq!(
            r,
            Broadcast {
                queued: 1,
                dropped: 1
            }
        );
        assert_eq!(server.stats().broadcast_dropped, 2);
        assert_eq!(drain(&mut server, a), z);
        assert_eq!(drain(&mut server, b), z);
        let r = server.broadcast_text(gid, "hi");
        assert_eq!(
            r,
            Broadcast {
                queued: 2,
                dropped: 0
            }
        );
    }
    assert_eq!(
        g.state().broadcasts,
        vec![
            Broadcast {
                queued: 2,
                dropped: 0
            },
            Broadcast {
                queued: 1,
                dropped: 1
            }
        ]
    );
}

#[test]
fn control_frames_wait_for_room_in_tx() {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    let gid = server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    // Fill TX to 506 of 512 bytes: no room for a 7-byte pong.
    let backlog_a = server_frame(1, &[b'z'; 400]);
    let backlog_b = server_frame(1, &[b'q'; 100]);
    assert_eq!(
        server.broadcast_text(gid, &"z".repeat(400)),
        Broadcast {
            queued: 1,
            dropped: 0
        }
    );
    assert_eq!(
        server.broadcast_text(gid, &"q".repeat(100)),
        Broadcast {
            queued: 1,
            dropped: 0
        }
    );
    let ping = frame(true, OpCode::Ping, b"hello");
    let msg = echo_message(30);
    let mut input = ping.clone();
    input.extend(text(&msg));
    // The ping is read, then the server stops: its pong must go out before more is read.
    assert_eq!(server.feed(id, &input, 1), Ok(ping.len()));
    let mut expected = backlog_a.clone();
    expected.extend(&backlog_b);
    assert_eq!(server.output(id), expected.as_slice());
    server.consume(id, 300);
    // Now there is room: the pong is queued behind the backlog.
    let mut behind = expected[300..].to_vec();
    behind.extend(server_frame(0xA, b"hello"));
    assert_eq!(server.output(id), behind.as_slice());
    server.consume(id, behind.len());
    assert_eq!(
        server.feed(id, &input[ping.len()..], 2),
        Ok(input.len() - ping.len())
    );
    assert_eq!(drain(&mut server, id), server_frame(1, &msg));

    // A failure while TX is full: the close frame is written after the backlog, and the
    // socket is closed only after it.
    server.broadcast_text(gid, &"z".repeat(400));
    server.broadcast_text(gid, &"q".repeat(100));
    let bad = [0x81u8, 0x00]; // unmasked
    assert_eq!(server.feed(id, &bad, 3), Ok(2));
    assert!(!server.wants_close(id));
    let n = server.output(id).len();
    assert_eq!(n, expected.len());
    server.consume(id, n);
    assert!(!server.wants_close(id), "the close frame is still owed");
    assert_eq!(drain(&mut server, id), fail_frame(1002));
    assert!(server.wants_close(id));
    assert_eq!(server.stats().closed_protocol_error, 1);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

#[test]
fn init_runs_after_init_once_however_often_it_is_called() {
    let mut first: Gateway<u32, 1> = Gateway::new("/", 0);
    first.on_init(|runs| *runs += 1);
    let mut second: Gateway<u32, 1> = Gateway::new("/two", 0);
    second.on_init(|runs| *runs += 1);
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        server.add_gateway(&mut first).unwrap();
        server.add_gateway(&mut second).unwrap();
        server.init();
        server.init();
        let id = connect(&mut server, "/", 0);
        server.init();
        assert!(!server.wants_close(id));
    }
    assert_eq!(*first.state(), 1);
    assert_eq!(*second.state(), 1);
}

// ---------------------------------------------------------------------------------------------
// Client ids
// ---------------------------------------------------------------------------------------------

#[test]
fn released_ids_are_not_reused() {
    let mut g = gateway("/");
    let mut server: Server<'_, 1, 512, 512> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let old = connect(&mut server, "/", 0);
    server.release(old);
    assert_eq!(server.stats().closed_peer_gone, 1);
    let new = connect(&mut server, "/", 0);
    assert_eq!(new.index(), old.index());
    assert_ne!(new.generation(), old.generation());
    assert_ne!(new, old);
    let f = text(&echo_message(30));
    assert_eq!(server.feed(old, &f, 1), Err(ServerError::UnknownClient));
    assert!(server.output(old).is_empty());
    assert!(server.wants_close(old));
    assert_eq!(
        server.close_client(old, CloseCode::NORMAL, "", 1),
        Err(ServerError::UnknownClient)
    );
    server.consume(old, 100);
    server.release(old); // no effect on the new client
    assert_eq!(server.client_count(), 1);
    assert_eq!(server.feed(new, &f, 1), Ok(f.len()));
    assert_eq!(drain(&mut server, new), server_frame(1, &echo_message(30)));
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

#[test]
fn size_of_state_types() {
    let conn = std::mem::size_of::<Connection<2048, 2048>>();
    let server = std::mem::size_of::<Server<'static, 16, 4096, 4096, 4>>();
    let state = conn - 2048 - 2048 - 125;
    println!("size_of::<Connection<2048, 2048>>() = {conn} ({state} bytes of state)");
    println!("size_of::<Server<'static, 16, 4096, 4096, 4>>() = {server}");
    // Measured on x86_64 (rustc 1.95, debug build):
    //   Connection<2048, 2048>             = 4368 bytes = 2048 + 2048 + 125 + 147 of state;
    //   Server<'static, 16, 4096, 4096, 4> = 136104 bytes = 8488 per slot + 296.
    assert!(state <= 160, "connection state {state} bytes");
    let per_slot = 4096 + 4096 + 125 + 160 + 16;
    assert!(
        server <= 16 * per_slot + 512,
        "server {server} bytes, {} per slot",
        server / 16
    );
}

// ---------------------------------------------------------------------------------------------
// Oracle: embedded-websocket 0.9.5 (DESIGN §7), where its behaviour is correct
// ---------------------------------------------------------------------------------------------

mod oracle {
    use super::*;
    use embedded_websocket as ew;

    /// A deterministic RNG for the oracle client's keys and masks (never all zero).
    struct Counter(u8);

    impl rand_core::RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for d in dest {
                self.0 = self.0.wrapping_mul(37).wrapping_add(11);
                *d = self.0;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    /// embedded-websocket's accept value for `key`, taken from its 101 response.
    fn oracle_accept(key: &str) -> String {
        let mut server = ew::WebSocketServer::new_server();
        let mut buf = [0u8; 1024];
        let n = server
            .server_accept(&ew::WebSocketKey::from(key), None, &mut buf)
            .unwrap();
        let response = std::str::from_utf8(&buf[..n]).unwrap();
        let line = response
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Accept: "))
            .unwrap();
        line.to_string()
    }

    #[test]
    fn accept_keys_agree() {
        for key in [
            SAMPLE_KEY,
            "Z7OY1UwHOx/nkSz38kfPwg==",
            "AAAAAAAAAAAAAAAAAAAAAA==",
            "/////////////////////w==",
            "x3JJHMbDL1EzLkh9GBhXDw==",
            "+/+/+/+/+/+/+/+/+/+/+w==",
        ] {
            let ours = wsgate::protocol::handshake::accept_key(key.as_bytes());
            let theirs = oracle_accept(key);
            assert_eq!(std::str::from_utf8(&ours).unwrap(), theirs, "key {key}");
        }
        assert_eq!(oracle_accept(SAMPLE_KEY), SAMPLE_ACCEPT);
        assert_eq!(
            oracle_accept("Z7OY1UwHOx/nkSz38kfPwg=="),
            "ptPnPeDOTo6khJlzmLhOZSh2tAY="
        );
    }

    #[test]
    fn masked_frames_agree() {
        // With the same key, embedded-websocket's client frames are byte for byte what
        // wsgate's encoder writes.
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut client = ew::WebSocketClient::new_client(Counter(7));
            client.state = ew::WebSocketState::Open;
            let mut theirs = vec![0u8; len + 14];
            let n = client
                .write(
                    ew::WebSocketSendMessageType::Binary,
                    true,
                    &payload,
                    &mut theirs,
                )
                .unwrap();
            theirs.truncate(n);
            let (h, hlen) = wsgate::protocol::frame::parse_header(&theirs, true)
                .unwrap()
                .unwrap();
            assert_eq!(h.payload_len, len as u64);
            let key = h.mask.unwrap();
            assert_ne!(key, [0; 4]);
            if len == 65_535 {
                // embedded-websocket writes 65535 with the 8-byte length (`count < 65535`),
                // which RFC 6455 §5.2 forbids (minimal encoding); wsgate writes the 2-byte
                // length and accepts the longer form from a client.
                assert_eq!(hlen, 14);
                assert_eq!(
                    frame_with_mask(true, OpCode::Binary, key, &payload)[8..],
                    theirs[14..]
                );
                continue;
            }
            assert_eq!(
                frame_with_mask(true, OpCode::Binary, key, &payload),
                theirs,
                "length {len}"
            );
        }
    }

    #[test]
    fn oracle_client_session() {
        big_stack(|| {
            let mut g = gateway("/");
            let mut server: Box<Server<'_, 1, 70_000, 140_000>> = Box::new(Server::new(CONFIG));
            server.add_gateway(&mut g).unwrap();
            server.init();

            // The oracle's upgrade request, and its check of our 101.
            let mut client = ew::WebSocketClient::new_client(Counter(3));
            let options = ew::WebSocketOptions {
                path: "/",
                host: "device.local",
                origin: "http://device.local",
                sub_protocols: None,
                additional_headers: None,
            };
            let mut buf = vec![0u8; 70_000];
            let (n, key) = client.client_connect(&options, &mut buf).unwrap();
            let id = server.accept(0).unwrap();
            assert_eq!(server.feed(id, &buf[..n], 0), Ok(n));
            let response = drain(&mut *server, id);
            let (used, protocol) = client.client_accept(&key, &response).unwrap();
            assert_eq!(used, response.len());
            assert_eq!(protocol, None);
            assert_eq!(client.state, ew::WebSocketState::Open);

            // Its masked text frames are the same messages to us; our replies read back.
            let mut to = vec![0u8; 70_000];
            for len in [125usize, 126, 65_535, 65_536] {
                let msg = echo_message(len);
                let mut out = vec![0u8; len + 14];
                let n = client
                    .write(ew::WebSocketSendMessageType::Text, true, &msg, &mut out)
                    .unwrap();
                assert_eq!(server.feed(id, &out[..n], 1), Ok(n));
                let reply = drain(&mut *server, id);
                assert_eq!(reply, server_frame(1, &msg));
                let r = client.read(&reply, &mut to).unwrap();
                assert_eq!(r.message_type, ew::WebSocketReceiveMessageType::Text);
                assert!(r.end_of_message);
                assert_eq!(r.len_from, reply.len());
                assert_eq!(&to[..r.len_to], msg.as_slice());
            }
            // An empty text message is a message (dropped: not JSON).
            let n = client
                .write(ew::WebSocketSendMessageType::Text, true, b"", &mut buf)
                .unwrap();
            assert_eq!(server.feed(id, &buf[..n], 2), Ok(n));
            assert!(server.output(id).is_empty());
            assert_eq!(server.stats().messages, 5);
            assert_eq!(server.stats().dropped_invalid_json, 1);

            // A fragmented message written by the oracle.
            let msg = echo_message(300);
            let mut wire = Vec::new();
            for (i, part) in msg.chunks(100).enumerate() {
                let n = client
                    .write(ew::WebSocketSendMessageType::Text, i == 2, part, &mut buf)
                    .unwrap();
                wire.extend_from_slice(&buf[..n]);
            }
            assert_eq!(server.feed(id, &wire, 3), Ok(wire.len()));
            assert_eq!(drain(&mut *server, id), server_frame(1, &msg));

            // A ping from the oracle, our pong read by it.
            let n = client
                .write(ew::WebSocketSendMessageType::Ping, true, b"hello", &mut buf)
                .unwrap();
            assert_eq!(server.feed(id, &buf[..n], 4), Ok(n));
            let pong = drain(&mut *server, id);
            let r = client.read(&pong, &mut to).unwrap();
            assert_eq!(r.message_type, ew::WebSocketReceiveMessageType::Pong);
            assert_eq!(&to[..r.len_to], b"hello");

            // The oracle closes; we echo its code.
            let n = client
                .close(ew::WebSocketCloseStatusCode::NormalClosure, None, &mut buf)
                .unwrap();
            assert_eq!(server.feed(id, &buf[..n], 5), Ok(n));
            let echo = drain(&mut *server, id);
            assert_eq!(echo, server_frame(8, &1000u16.to_be_bytes()));
            let r = client.read(&echo, &mut to).unwrap();
            assert_eq!(
                r.message_type,
                ew::WebSocketReceiveMessageType::CloseCompleted
            );
            assert!(server.wants_close(id));
            assert_eq!(server.stats().dispatched, 5);
            assert_eq!(server.stats().closed_by_peer, 1);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// UTF-8 validation against std, fail-fast (Autobahn 6.4.x)
// ---------------------------------------------------------------------------------------------

mod utf8_property {
    use super::*;
    use proptest::prelude::*;

    fn text_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                8 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
                1 => any::<u8>().prop_map(|b| vec![b]),
                1 => prop::sample::select(vec![
                    vec![0xED, 0xA0, 0x80], // surrogate
                    vec![0xC0, 0x80],       // overlong
                    vec![0xF4, 0x90, 0x80, 0x80],
                    vec![0xF0, 0x9F],       // cut 4-byte sequence
                    vec![0xE2, 0x82],       // cut 3-byte sequence
                ]),
            ],
            0..60,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn text_messages_are_checked_like_std(
            msg in text_bytes(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
            chunk in 1usize..9,
        ) {
            // Fragments at random cut points, each its own frame.
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(msg.len() + 1)).collect();
            points.sort_unstable();
            points.dedup();
            let mut bounds = vec![0];
            bounds.extend(points.into_iter().filter(|&p| p > 0 && p < msg.len()));
            bounds.push(msg.len());
            let mut wire = Vec::new();
            // payload bytes delivered once wire[..=i] has been fed
            let mut delivered = Vec::new();
            let pieces = bounds.len() - 1;
            for k in 0..pieces {
                let (a, b) = (bounds[k], bounds[k + 1]);
                let op = if k == 0 { OpCode::Text } else { OpCode::Continuation };
                let f = frame(k + 1 == pieces, op, &msg[a..b]);
                let hlen = f.len() - (b - a);
                delivered.extend(std::iter::repeat_n(a, hlen));
                delivered.extend(a + 1..=b);
                wire.extend(f);
            }
            let std_result = std::str::from_utf8(&msg);
            // Bytes after which a validator that fails fast must have failed.
            let must_fail_by = match std_result {
                Ok(_) => None,
                Err(e) => Some(match e.error_len() {
                    Some(n) => (e.valid_up_to() + n + 1).min(msg.len()),
                    None => msg.len(),
                }),
            };

            let mut g = gateway("/");
            let mut server: Small<'_> = Server::new(CONFIG);
            server.add_gateway(&mut g).unwrap();
            let id = connect(&mut server, "/", 0);
            let mut pos = 0;
            let mut out = Vec::new();
            let mut failed_at = None;
            while pos < wire.len() {
                let end = (pos + chunk).min(wire.len());
                let n = server.feed(id, &wire[pos..end], 1).unwrap();
                prop_assert_eq!(n, end - pos);
                pos = end;
                out.extend(drain(&mut server, id));
                if failed_at.is_none() && !out.is_empty() {
                    failed_at = Some(delivered[pos - 1]);
                }
                if let Some(bound) = must_fail_by {
                    prop_assert!(
                        delivered[pos - 1] < bound || failed_at.is_some(),
                        "not failed after {} of {} payload bytes (bound {})",
                        delivered[pos - 1],
                        msg.len(),
                        bound
                    );
                }
            }
            match std_result {
                Ok(_) => {
                    prop_assert!(out.is_empty(), "no frame for a valid text: {:?}", out);
                    prop_assert_eq!(server.stats().messages, 1);
                    prop_assert!(!server.wants_close(id));
                }
                Err(_) => {
                    prop_assert_eq!(out, fail_frame(1007));
                    prop_assert_eq!(server.stats().closed_invalid_utf8, 1);
                    prop_assert_eq!(server.stats().messages, 0);
                    prop_assert!(server.wants_close(id));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fairness and limits (issue 10): turns, reply room, the largest message, no silent loss,
// the message deadline, per-address limits, strict line ends
// ---------------------------------------------------------------------------------------------

/// A close frame the server starts (or fails with): code and reason.
fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    server_frame(8, &payload)
}

#[test]
fn a_turn_ends_after_messages_per_turn_messages() {
    let mut g = gateway("/");
    let mut server: Server<'_, 2, 512, 4096> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    let unknown = text(br#"{"event":"nope"}"#);
    let bytes: Vec<u8> = (0..20).flat_map(|_| unknown.clone()).collect();
    // One feed is one turn: 16 messages (the default), then the rest waits.
    assert_eq!(server.feed(id, &bytes, 1), Ok(16 * unknown.len()));
    assert_eq!(server.stats().messages, 16);
    assert_eq!(server.stats().dropped_unknown_event, 16);
    // The next turn takes the other four.
    assert_eq!(
        server.feed(id, &bytes[16 * unknown.len()..], 2),
        Ok(4 * unknown.len())
    );
    assert_eq!(server.stats().dropped_unknown_event, 20);
    // 0 means no limit.
    let mut g = gateway("/");
    let mut server: Server<'_, 2, 512, 4096> = Server::new(Config {
        messages_per_turn: 0,
        ..CONFIG
    });
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    assert_eq!(server.feed(id, &bytes, 1), Ok(bytes.len()));
    assert_eq!(server.stats().dropped_unknown_event, 20);
}

#[test]
fn a_turn_ends_when_its_broadcasts_took_the_share_of_the_others_buffers() {
    // `shout` broadcasts a 400-byte text frame (404 bytes with its header). With 1024 bytes
    // per turn (at most TX/2 = 2048 here), the third shout ends the turn: 1212 >= 1024.
    let mut g = gateway("/");
    let mut server: Server<'_, 3, 512, 4096> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let loud = connect(&mut server, "/", 0);
    let member = connect(&mut server, "/", 0);
    let shout = text(br#"{"event":"shout"}"#);
    let bytes: Vec<u8> = (0..10).flat_map(|_| shout.clone()).collect();
    assert_eq!(server.feed(loud, &bytes, 1), Ok(3 * shout.len()));
    let got = frames(&mut server, member);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|f| f.payload == "z".repeat(400).as_bytes()));
    // The member read its frames: the next turn goes on, three more at most.
    let _ = drain(&mut server, loud);
    assert_eq!(
        server.feed(loud, &bytes[3 * shout.len()..], 2),
        Ok(3 * shout.len())
    );
    assert_eq!(frames(&mut server, member).len(), 3);
    // Replies to oneself are not a share of the others' buffers: sixteen echoes in a turn.
    let echo = text(br#"{"event":"echo","data":1}"#);
    let bytes: Vec<u8> = (0..16).flat_map(|_| echo.clone()).collect();
    let _ = drain(&mut server, loud);
    assert_eq!(server.feed(loud, &bytes, 3), Ok(bytes.len()));
    assert_eq!(server.stats().broadcast_dropped, 0);
}

#[test]
fn reply_room_scales_with_the_message_and_no_reply_is_lost() {
    // TX 4096, reply room 256: each 1,500-byte echo needs 1,756 free bytes while output is
    // unsent. Six in one feed: two are dispatched, the third waits until the output is
    // written; every reply arrives, in order, and nothing is counted as failed.
    let mut g = gateway("/");
    let mut server: Server<'_, 1, 2048, 4096> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    let msgs: Vec<Vec<u8>> = (0..6).map(|_| echo_message(1500)).collect();
    let bytes: Vec<u8> = msgs.iter().flat_map(|m| text(m)).collect();
    let first = server.feed(id, &bytes, 1).unwrap();
    assert_eq!(server.stats().dispatched, 2);
    assert!(first < bytes.len());
    let mut out = drain(&mut server, id);
    assert_eq!(server.resume(id, 1), Ok(true));
    out.extend(feed_all(&mut server, id, &bytes[first..], 1));
    let expected: Vec<u8> = msgs.iter().flat_map(|m| server_frame(1, m)).collect();
    assert_eq!(out, expected);
    assert_eq!(server.stats().send_failed, 0);
}

#[test]
fn the_largest_message_is_one_whose_echo_fits_the_transmit_buffer() {
    // RX 4096, TX 4096: 4092 bytes plus a 4-byte header fill the transmit buffer exactly.
    assert_eq!(Connection::<4096, 4096>::MAX_MESSAGE, 4092);
    assert_eq!(Connection::<4096, 4112>::MAX_MESSAGE, 4096);
    assert_eq!(Connection::<128, 256>::MAX_MESSAGE, 128);
    assert_eq!(Connection::<512, 256>::MAX_MESSAGE, 252);
    assert_eq!(Connection::<100_000, 70_000>::MAX_MESSAGE, 69_990);
    assert_eq!(Connection::<100_000, 65_540>::MAX_MESSAGE, 65_535);
    let mut g = gateway("/");
    let mut server: Server<'_, 1, 4096, 4096> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    let largest = echo_message(4092);
    assert_eq!(
        feed_all(&mut server, id, &text(&largest), 1),
        server_frame(1, &largest)
    );
    let over = echo_message(4093);
    assert_eq!(feed_all(&mut server, id, &text(&over), 2), fail_frame(1009));
    assert_eq!(server.stats().closed_too_big, 1);
}

#[test]
fn an_exception_that_does_not_fit_goes_without_its_data_or_closes_with_1011() {
    let mut g: Gateway<(), 4> = Gateway::new("/", ());
    g.on("fail", |_, _, _| Err(wsgate::HandlerError::Ws("nope")))
        .unwrap();
    g.on("fill", |_, cx, _| {
        // Fills the transmit buffer with frames, then fails.
        while cx.send_text(&"f".repeat(100)).is_ok() {}
        Err(wsgate::HandlerError::Ws("nope"))
    })
    .unwrap();
    let mut server: Server<'_, 1, 1024, 1024> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    // The exception quoting 960 bytes of data would not fit 1,024 bytes: it goes without
    // `cause.data`, as NestJS writes it for a message without data.
    let data = "d".repeat(960);
    let msg = format!(r#"{{"event":"fail","data":"{data}"}}"#);
    let out = feed_all(&mut server, id, &text(msg.as_bytes()), 1);
    assert_eq!(
        parse_frames(&out)[0].text(),
        r#"{"event":"exception","data":{"status":"error","message":"nope","cause":{"pattern":"fail"}}}"#
    );
    // A small one still quotes its data.
    let out = feed_all(&mut server, id, &text(br#"{"event":"fail","data":[1]}"#), 1);
    assert_eq!(
        parse_frames(&out)[0].text(),
        r#"{"event":"exception","data":{"status":"error","message":"nope","cause":{"pattern":"fail","data":[1]}}}"#
    );
    assert_eq!(server.stats().exceptions, 2);
    // No room at all for the exception: the client is closed with 1011 and told why.
    let out = feed_all(&mut server, id, &text(br#"{"event":"fill"}"#), 2);
    let frames = parse_frames(&out);
    assert_eq!(frames.len(), 11, "ten 100-byte frames, then the close");
    let last = frames.last().unwrap();
    assert_eq!(last.close_code(), Some(1011));
    assert_eq!(last.close_reason(), "reply did not fit");
    assert_eq!(server.stats().closed_no_room, 1);
    assert_eq!(server.stats().exceptions, 3);
}

#[test]
fn a_message_that_trickles_in_is_failed_with_1008_at_its_deadline() {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(Config {
        timeouts: Timeouts {
            message_ms: 3_000,
            ..TIMEOUTS
        },
        ..CONFIG
    });
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    assert_eq!(server.next_deadline(id), Some(5_000), "the ping timer only");
    let msg = text(br#"{"event":"echo","data":1}"#);
    // One byte a second: each resets the idle timer, none the message deadline.
    for (t, b) in msg.iter().take(3).enumerate() {
        let now = 1_000 + 1_000 * t as u64;
        assert_eq!(server.feed(id, &[*b], now), Ok(1));
        assert_eq!(server.next_deadline(id), Some(4_000));
        server.poll(id, now);
        assert!(drain(&mut server, id).is_empty());
    }
    server.poll(id, 3_999);
    assert!(drain(&mut server, id).is_empty());
    server.poll(id, 4_000);
    assert_eq!(
        drain(&mut server, id),
        close_frame(1008, "message not received in time")
    );
    assert!(server.wants_close(id));
    assert_eq!(server.stats().closed_message_timeout, 1);
    drop(server);
    assert_eq!(g.state().disconnects.len(), 1);
    assert_eq!(g.state().disconnects[0].1, 1008);

    // A message that completes in time clears the deadline; fragments and control frames in
    // between do not restart it.
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(Config {
        timeouts: Timeouts {
            message_ms: 3_000,
            ..TIMEOUTS
        },
        ..CONFIG
    });
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    let part = frame(false, OpCode::Text, br#"{"event":"echo","#);
    assert_eq!(server.feed(id, &part, 100), Ok(part.len()));
    let ping = frame(true, OpCode::Ping, b"p");
    assert_eq!(server.feed(id, &ping, 2_000), Ok(ping.len()));
    assert_eq!(server.next_deadline(id), Some(3_100));
    let rest = frame(true, OpCode::Continuation, br#""data":2}"#);
    assert_eq!(server.feed(id, &rest, 3_000), Ok(rest.len()));
    assert_eq!(
        server.next_deadline(id),
        Some(8_000),
        "the ping timer again"
    );
    let mut expected = server_frame(0xA, b"p");
    expected.extend(server_frame(1, br#"{"event":"echo","data":2}"#));
    assert_eq!(drain(&mut server, id), expected);
    // 0 turns the deadline off.
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(Config {
        timeouts: Timeouts {
            message_ms: 0,
            ping_interval_ms: 0,
            ..TIMEOUTS
        },
        ..CONFIG
    });
    server.add_gateway(&mut g).unwrap();
    let id = connect(&mut server, "/", 0);
    assert_eq!(server.feed(id, &part[..1], 0), Ok(1));
    assert_eq!(server.next_deadline(id), None);
}

#[test]
fn each_address_holds_at_most_max_per_address_slots() {
    let mut g = gateway("/");
    let mut server: Server<'_, 4, 512, 512> = Server::new(Config {
        max_per_address: 2,
        ..CONFIG
    });
    server.add_gateway(&mut g).unwrap();
    let a: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    let mapped: std::net::IpAddr = "::ffff:192.0.2.7".parse().unwrap();
    let first = server.accept_from(a, 0).unwrap();
    server.accept_from(mapped, 0).unwrap();
    assert_eq!(server.accept_from(a, 0), Err(Refused::PerAddress));
    assert_eq!(
        Refused::PerAddress.response(),
        wsgate::protocol::http::TOO_MANY_FROM_ADDRESS_RESPONSE
    );
    assert_eq!(Refused::Full.response(), SERVER_FULL_RESPONSE);
    // Another address, and an unknown one, are not affected; a full server is still 503.
    server
        .accept_from("2001:db8::1".parse().unwrap(), 0)
        .unwrap();
    server.accept(0).unwrap();
    assert_eq!(
        server.accept_from("192.0.2.8".parse().unwrap(), 0),
        Err(Refused::Full)
    );
    // Releasing a slot lets the address in again.
    server.release(first);
    server.accept_from(a, 0).unwrap();
    let st = server.stats();
    assert_eq!((st.refused_per_address, st.refused_full), (1, 1));
}

#[test]
fn a_bare_lf_in_the_head_is_answered_with_400_at_once() {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = server.accept(0).unwrap();
    // The request line alone, ended by a bare LF: no need to wait for the blank line.
    assert_eq!(server.feed(id, b"GET / HTTP/1.1\n", 1), Ok(15));
    let reason = "bare LF in the request head: lines must end with CRLF";
    let expected = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{reason}\n",
        reason.len() + 1
    );
    assert_eq!(String::from_utf8(drain(&mut server, id)).unwrap(), expected);
    assert!(server.wants_close(id));
    assert_eq!(server.stats().http_400, 1);
}

#[test]
fn an_absolute_form_target_is_routed_by_its_path() {
    let mut g = gateway("/chat");
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    let id = server.accept(0).unwrap();
    let req = upgrade_request("http://device.local:8080/chat?x=1", SAMPLE_KEY);
    assert_eq!(server.feed(id, &req, 0), Ok(req.len()));
    assert_eq!(drain(&mut server, id), SAMPLE_101);
    let echo = br#"{"event":"echo","data":"hi"}"#;
    assert_eq!(
        feed_all(&mut server, id, &text(echo), 1),
        server_frame(1, echo)
    );
}

/// "No message" is a zero byte (`MessageKind` starts at 1), so a connection slot with no
/// message waiting is all zero bytes and a `static` server lands in `.bss`.
#[test]
fn no_message_kind_is_a_zero_byte() {
    use wsgate::connection::MessageKind;
    assert_eq!(std::mem::size_of::<Option<MessageKind>>(), 1);
    // SAFETY: `Option<MessageKind>` is one byte (checked above) and any byte is a `u8`.
    let none: u8 = unsafe { std::mem::transmute(None::<MessageKind>) };
    assert_eq!(none, 0);
    assert_eq!(MessageKind::Text as u8, 1);
    assert_eq!(MessageKind::Binary as u8, 2);
}

/// Every error type of the API is a `core::error::Error` with a message, and the wrapping
/// ones name the send error underneath as their source.
#[test]
fn errors_are_errors() {
    use core::error::Error;
    fn message(e: &dyn Error) -> String {
        e.to_string()
    }
    assert_eq!(message(&Refused::Full), "every connection slot is taken");
    assert_eq!(message(&Refused::Closing), "the server is closing");
    assert_eq!(
        message(&Refused::PerAddress),
        "this address holds its share of the slots already"
    );
    // The source is not repeated in the message, so a chain prints it once.
    assert_eq!(
        message(&ServerError::Send(SendError::Full)),
        "the frame could not be queued"
    );
    assert_eq!(
        message(&wsgate::HandlerError::Send(SendError::Full)),
        "a reply could not be queued"
    );
    let e = ServerError::Send(SendError::Full);
    assert_eq!(
        e.source().map(|s| s.to_string()),
        Some(SendError::Full.to_string())
    );
    assert!(ServerError::UnknownClient.source().is_none());
    let e = wsgate::HandlerError::Send(SendError::NotOpen);
    assert_eq!(
        e.source().map(|s| s.to_string()),
        Some(SendError::NotOpen.to_string())
    );
    fn is_error<E: Error>() {}
    is_error::<SendError>();
    is_error::<ServerError>();
    is_error::<Refused>();
    is_error::<wsgate::HandlerError>();
    is_error::<wsgate::gateway::RegisterError>();
    is_error::<wsgate::gateway::envelope::EnvelopeError>();
    is_error::<wsgate::json::JsonError>();
    is_error::<wsgate::protocol::http::HttpError>();
    is_error::<wsgate::protocol::frame::FrameError>();
    is_error::<wsgate::protocol::close::ClosePayloadError>();
    is_error::<wsgate::protocol::utf8::Utf8Error>();
}
