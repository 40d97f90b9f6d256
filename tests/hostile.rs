//! Hostile input over real TCP against the tokio transport (DESIGN §4-§6).
//!
//! Every case runs its own `TokioServer` on 127.0.0.1:0 and drives it with raw `TcpStream`s:
//! broken handshakes, broken frames, floods, slow readers, vanished and dropped peers. Each
//! case checks the exact outcome on the wire (status line and reason, close code, TCP EOF)
//! AND the counter in `wsgate::Stats` that moved (and that no other one did).
//!
//! Timers are short (handshake 300 ms, close 200 ms; ping/pong 200 ms where a test needs
//! them), nothing asserts on durations, and every wait is bounded so a bug fails instead of
//! hanging.

mod support;

use futures_util::future::join_all;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};
use support::raw::{Raw, short_timers};
use support::{SAMPLE_101, SAMPLE_KEY, frame, raw_frame, request, text, upgrade_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgate::gateway::{Context, Data, Gateway, HandlerResult};
use wsgate::protocol::frame::OpCode;
use wsgate::protocol::http::SERVER_FULL_RESPONSE;
use wsgate::transport::tokio::{TokioOptions, TokioServer};
use wsgate::{CloseCode, Config, Stats, WebSocketAdapter};

/// No counter of the group moved.
const NONE: [(&str, u32); 0] = [];

/// Upper bound for any single wait.
const WAIT: Duration = Duration::from_secs(5);

/// The close codes the gateway's `on_disconnect` hook saw, in order.
type Codes = Rc<RefCell<Vec<u16>>>;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn echo(_: &mut Codes, cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
    Ok(cx.reply_raw("echo", data.json())?)
}

/// A server with one gateway at `/` (an `echo` handler, an `on_disconnect` hook recording
/// codes). Returns the server and the hook's record.
fn server<const N: usize, const RX: usize, const TX: usize>(
    config: Config,
) -> (TokioServer<N, RX, TX>, Codes) {
    let codes: Codes = Rc::default();
    let mut g: Gateway<Codes, 4> = Gateway::new("/", codes.clone());
    g.on("echo", echo).unwrap();
    g.on("kick", |_, cx, _| {
        cx.close(CloseCode(4000), "kicked");
        Ok(())
    })
    .unwrap();
    g.on_disconnect(|codes, _, code| codes.borrow_mut().push(code.0));
    let mut server = TokioServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        TokioOptions {
            config,
            ..TokioOptions::default()
        },
    )
    .expect("bind 127.0.0.1:0");
    server.bind_message_handlers(Box::new(g)).unwrap();
    (server, codes)
}

/// Runs the server and `client` concurrently on this task; returns what `client` returns.
async fn drive<const N: usize, const RX: usize, const TX: usize, F: Future>(
    server: &TokioServer<N, RX, TX>,
    client: F,
) -> F::Output {
    support::raw::drive(server, Duration::from_secs(10), client).await
}

/// Waits (bounded) until `cond` holds; the server keeps running meanwhile.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    support::raw::eventually_within(WAIT, what, cond).await;
}

/// The HTTP refusal counters that are not zero, by name.
fn http_counts(st: &Stats) -> Vec<(&'static str, u32)> {
    [
        ("http_400", st.http_400),
        ("http_401_403", st.http_401_403),
        ("http_404", st.http_404),
        ("http_405", st.http_405),
        ("http_408", st.http_408),
        ("http_426", st.http_426),
        ("http_431", st.http_431),
        ("http_other", st.http_other),
    ]
    .into_iter()
    .filter(|(_, n)| *n != 0)
    .collect()
}

/// The connection-end counters that are not zero, by name.
fn close_counts(st: &Stats) -> Vec<(&'static str, u32)> {
    [
        ("closed_by_peer", st.closed_by_peer),
        ("closed_by_server", st.closed_by_server),
        ("closed_protocol_error", st.closed_protocol_error),
        ("closed_invalid_utf8", st.closed_invalid_utf8),
        ("closed_too_big", st.closed_too_big),
        ("closed_idle", st.closed_idle),
        ("closed_close_timeout", st.closed_close_timeout),
        ("closed_peer_gone", st.closed_peer_gone),
    ]
    .into_iter()
    .filter(|(_, n)| *n != 0)
    .collect()
}

/// Deterministic pseudo-random bytes (xorshift32), skipping the bytes in `avoid`.
fn noise(len: usize, seed: u32, avoid: &[u8]) -> Vec<u8> {
    let mut x = seed;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let b = (x >> 24) as u8;
        if !avoid.contains(&b) {
            out.push(b);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// 1. Handshake refusals: exact status line, the reason in the body, the counter
// ---------------------------------------------------------------------------------------

/// Sends `request` on a fresh connection to a fresh server, reads the answer until the
/// server closes TCP, and checks the status line, the reason body and `extra` header lines.
/// Returns the server's counters.
async fn refused(request: &[u8], status_line: &str, reason: &str, extra: &[&str]) -> Stats {
    let (server, codes) = server::<2, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    let resp = drive(&server, async {
        let mut c = Raw::connect(addr).await;
        c.send(request).await;
        let resp = c.read_to_eof().await;
        drop(c);
        eventually("the refused connection is released", || {
            server.client_count() == 0
        })
        .await;
        resp
    })
    .await;
    let resp = String::from_utf8(resp).expect("an HTTP answer in UTF-8");
    let (head, body) = resp.split_once("\r\n\r\n").expect("a complete response");
    assert_eq!(head.lines().next(), Some(status_line), "{resp}");
    assert_eq!(body, format!("{reason}\n"), "{resp}");
    assert!(head.contains("\r\nConnection: close"), "{resp}");
    assert!(
        head.contains(&format!("\r\nContent-Length: {}", body.len())),
        "{resp}"
    );
    for line in extra {
        assert!(head.contains(&format!("\r\n{line}")), "no {line:?}: {resp}");
    }
    assert!(codes.borrow().is_empty(), "no WebSocket, no disconnect");
    let st = server.stats();
    assert_eq!((st.accepted, st.upgraded, st.refused_full), (1, 0, 0));
    st
}

const HOST: &str = "Host: device.local";
const UPGRADE: &str = "Upgrade: websocket";
const CONNECTION: &str = "Connection: Upgrade";
const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
const VERSION: &str = "Sec-WebSocket-Version: 13";
const BAD_KEY: &str = "missing or invalid Sec-WebSocket-Key";

#[tokio::test(flavor = "current_thread")]
async fn handshake_missing_key_is_400() {
    let req = request("GET / HTTP/1.1", &[HOST, UPGRADE, CONNECTION, VERSION]);
    let st = refused(&req, "HTTP/1.1 400 Bad Request", BAD_KEY, &[]).await;
    assert_eq!(http_counts(&st), [("http_400", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_malformed_key_is_400() {
    // 24 bytes, like a real key, but not base64.
    let key = "Sec-WebSocket-Key: not a base64 key at all!";
    let req = request("GET / HTTP/1.1", &[HOST, UPGRADE, CONNECTION, key, VERSION]);
    let st = refused(&req, "HTTP/1.1 400 Bad Request", BAD_KEY, &[]).await;
    assert_eq!(http_counts(&st), [("http_400", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_key_of_100_bytes_is_400() {
    let key = format!("Sec-WebSocket-Key: {}", "QUFB".repeat(25));
    let req = request(
        "GET / HTTP/1.1",
        &[HOST, UPGRADE, CONNECTION, &key, VERSION],
    );
    let st = refused(&req, "HTTP/1.1 400 Bad Request", BAD_KEY, &[]).await;
    assert_eq!(http_counts(&st), [("http_400", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_8k_header_line_is_431() {
    let big = format!("X-Big: {}", "a".repeat(8192));
    let req = request(
        "GET / HTTP/1.1",
        &[HOST, UPGRADE, CONNECTION, &big, KEY, VERSION],
    );
    let st = refused(
        &req,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "request head too large",
        &[],
    )
    .await;
    assert_eq!(http_counts(&st), [("http_431", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_200_headers_is_431() {
    let many: Vec<String> = (0..200).map(|i| format!("X-H{i}: v")).collect();
    let mut headers = vec![HOST, UPGRADE, CONNECTION, KEY, VERSION];
    headers.extend(many.iter().map(String::as_str));
    let req = request("GET / HTTP/1.1", &headers);
    assert!(req.len() < 4096, "the head itself fits max_head");
    let st = refused(
        &req,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "too many header fields (max 32)",
        &[],
    )
    .await;
    assert_eq!(http_counts(&st), [("http_431", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_version_8_is_426_with_version_13() {
    let v8 = "Sec-WebSocket-Version: 8";
    let req = request("GET / HTTP/1.1", &[HOST, UPGRADE, CONNECTION, KEY, v8]);
    let st = refused(
        &req,
        "HTTP/1.1 426 Upgrade Required",
        "unsupported WebSocket version (this server speaks 13)",
        &["Sec-WebSocket-Version: 13\r\n", "Upgrade: websocket\r\n"],
    )
    .await;
    assert_eq!(http_counts(&st), [("http_426", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_post_is_405() {
    let req = request(
        "POST / HTTP/1.1",
        &[HOST, UPGRADE, CONNECTION, KEY, VERSION],
    );
    let st = refused(
        &req,
        "HTTP/1.1 405 Method Not Allowed",
        "WebSocket upgrade needs GET",
        &["Allow: GET\r\n"],
    )
    .await;
    assert_eq!(http_counts(&st), [("http_405", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_http_1_0_upgrade_is_400() {
    let req = request("GET / HTTP/1.0", &[HOST, UPGRADE, CONNECTION, KEY, VERSION]);
    let st = refused(
        &req,
        "HTTP/1.1 400 Bad Request",
        "WebSocket needs HTTP/1.1",
        &[],
    )
    .await;
    assert_eq!(http_counts(&st), [("http_400", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_garbage_with_terminator_is_400() {
    let mut req = noise(64, 0x9E37_79B9, b"\r\n");
    req.extend_from_slice(b"\r\n\r\n");
    let st = refused(
        &req,
        "HTTP/1.1 400 Bad Request",
        "malformed HTTP request",
        &[],
    )
    .await;
    assert_eq!(http_counts(&st), [("http_400", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_binary_garbage_over_max_head_is_431() {
    // No '\r' and no '\n' at all, so no line end: the head only grows, past max_head (4096).
    let req = noise(5000, 0xDEAD_BEEF, b"\r\n");
    let st = refused(
        &req,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "request head too large",
        &[],
    )
    .await;
    assert_eq!(http_counts(&st), [("http_431", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn handshake_that_never_finishes_is_408_and_frees_the_slot() {
    // One slot: the stalled request holds it until the handshake timeout.
    let (server, codes) = server::<1, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut stalled = Raw::connect(addr).await;
        stalled.send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgr").await;
        let resp = String::from_utf8(stalled.read_to_eof().await).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").expect("a complete response");
        assert_eq!(
            head.lines().next(),
            Some("HTTP/1.1 408 Request Timeout"),
            "{resp}"
        );
        assert_eq!(body, "request head not received in time\n");
        let st = server.stats();
        assert_eq!(http_counts(&st), [("http_408", 1)]);
        assert_eq!((st.accepted, st.refused_full), (1, 0));

        // EOF came after the slot was released: a new client takes it at once.
        let mut next = Raw::upgrade(addr).await;
        next.echo("after-408").await;
    })
    .await;
    let st = server.stats();
    assert_eq!((st.accepted, st.upgraded, st.refused_full), (2, 1, 0));
    assert_eq!(http_counts(&st), [("http_408", 1)]);
    assert!(codes.borrow().is_empty(), "{:?}", codes.borrow());
}

// ---------------------------------------------------------------------------------------
// 2. Broken frames after a real upgrade: the exact close code, then TCP EOF
// ---------------------------------------------------------------------------------------

/// Server receive buffer (= largest message) for the frame cases.
const RX: usize = 1024;

/// Upgrades by hand, sends `bytes`, and expects the server's close frame with `code` and
/// then a clean TCP close. Checks the hook saw `code` exactly once and that exactly one
/// close counter moved: `counter`, to 1.
async fn failed_with(bytes: &[u8], code: u16, counter: &'static str) {
    let (server, codes) = server::<2, RX, 1024>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::upgrade(addr).await;
        c.echo("before").await;
        c.send(bytes).await;
        let frames = c.frames_to_eof().await;
        let frames: Vec<_> = frames
            .into_iter()
            .filter(|f| f.opcode != OpCode::Ping)
            .collect();
        assert_eq!(frames.len(), 1, "one close frame, then EOF: {frames:?}");
        assert_eq!(frames[0].opcode, OpCode::Close, "{frames:?}");
        assert_eq!(frames[0].close_code(), Some(code), "{frames:?}");
        drop(c);
        eventually("the slot is released", || server.client_count() == 0).await;
    })
    .await;
    assert_eq!(
        *codes.borrow(),
        [code],
        "on_disconnect: exactly once, {code}"
    );
    let st = server.stats();
    assert_eq!(close_counts(&st), [(counter, 1)]);
    assert_eq!(st.upgraded, 1);
    assert_eq!(st.messages, 1, "only the echo before the bad frame");
    assert_eq!(http_counts(&st), NONE);
}

#[tokio::test(flavor = "current_thread")]
async fn frame_unmasked_is_1002() {
    failed_with(&[0x81, 0x02, b'h', b'i'], 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_rsv1_is_1002() {
    failed_with(&raw_frame(0xC1, b"hi"), 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_reserved_opcode_3_is_1002() {
    failed_with(&raw_frame(0x83, b"hi"), 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_ping_of_126_bytes_is_1002() {
    let ping = frame(true, OpCode::Ping, &[b'p'; 126]);
    assert_eq!(&ping[..4], &[0x89, 0x80 | 126, 0, 126]);
    failed_with(&ping, 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_fragmented_ping_is_1002() {
    let ping = frame(false, OpCode::Ping, b"frag");
    assert_eq!(ping[0], 0x09);
    failed_with(&ping, 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_continuation_without_start_is_1002() {
    let cont = frame(true, OpCode::Continuation, b"orphan");
    failed_with(&cont, 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_64_bit_length_of_2_pow_63_is_1002() {
    // Binary, MASK + 127, length 0x8000_0000_0000_0000, masking key; no payload follows.
    let mut f = vec![0x82, 0xFF];
    f.extend_from_slice(&(1u64 << 63).to_be_bytes());
    f.extend_from_slice(&support::MASK);
    failed_with(&f, 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_message_one_byte_over_the_limit_is_1009() {
    failed_with(
        &frame(true, OpCode::Text, &[b'x'; RX + 1]),
        1009,
        "closed_too_big",
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_fragmented_message_one_byte_over_the_limit_is_1009() {
    let mut bytes = frame(false, OpCode::Text, &[b'x'; RX / 2]);
    bytes.extend(frame(true, OpCode::Continuation, &[b'y'; RX / 2 + 1]));
    failed_with(&bytes, 1009, "closed_too_big").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_invalid_utf8_split_across_fragments_is_1007() {
    // "caf" + the first byte of a 2-byte sequence: a valid prefix so far...
    let mut bytes = frame(false, OpCode::Text, b"caf\xC3");
    // ...then '(' where a continuation byte must come.
    bytes.extend(frame(true, OpCode::Continuation, b"(x"));
    failed_with(&bytes, 1007, "closed_invalid_utf8").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_utf8_truncated_at_the_last_fragment_is_1007() {
    let mut bytes = frame(false, OpCode::Text, b"euro \xE2\x82");
    bytes.extend(frame(true, OpCode::Continuation, b""));
    failed_with(&bytes, 1007, "closed_invalid_utf8").await;
}

#[tokio::test(flavor = "current_thread")]
async fn close_with_code_1005_is_1002() {
    failed_with(&support::close(1005, b""), 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn close_with_code_999_is_1002() {
    failed_with(&support::close(999, b""), 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn close_with_code_5000_is_1002() {
    failed_with(&support::close(5000, b"x"), 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn close_with_a_1_byte_payload_is_1002() {
    failed_with(
        &frame(true, OpCode::Close, &[0x03]),
        1002,
        "closed_protocol_error",
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn close_with_a_reason_that_is_not_utf8_is_1007() {
    failed_with(
        &support::close(1000, b"bye \xFF"),
        1007,
        "closed_invalid_utf8",
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn new_message_inside_a_fragmented_one_is_1002() {
    let mut bytes = frame(false, OpCode::Text, b"first half");
    bytes.extend(frame(true, OpCode::Text, b"not a continuation"));
    failed_with(&bytes, 1002, "closed_protocol_error").await;
}

#[tokio::test(flavor = "current_thread")]
async fn frame_length_2_pow_63_minus_1_is_1009_before_any_payload() {
    // A legal 64-bit length, far over the limit: refused from the header alone.
    let mut f = vec![0x82, 0xFF];
    f.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    f.extend_from_slice(&support::MASK);
    failed_with(&f, 1009, "closed_too_big").await;
}

// ---------------------------------------------------------------------------------------
// 3. Awkward but legal input over TCP, and peers that stall
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn message_exactly_at_the_limit_is_accepted() {
    let (server, codes) = server::<1, RX, 2048>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::upgrade(addr).await;
        let msg = support::echo_message(RX);
        c.send(&text(&msg)).await;
        let f = c.next_data_frame().await;
        assert_eq!(f.opcode, OpCode::Text);
        assert_eq!(f.payload, msg);
        c.echo("after-full-size").await;
    })
    .await;
    let st = server.stats();
    assert_eq!((st.messages, st.dispatched), (2, 2));
    assert_eq!(close_counts(&st), NONE);
    assert!(codes.borrow().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn upgrade_and_frames_in_one_write_with_a_ping_between_fragments() {
    let (server, codes) = server::<1, RX, 1024>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::connect(addr).await;
        let mut burst = upgrade_request("/", SAMPLE_KEY);
        burst.extend(frame(false, OpCode::Text, br#"{"event":"echo","#));
        burst.extend(frame(true, OpCode::Ping, b"mid"));
        burst.extend(frame(true, OpCode::Continuation, br#""data":[1,2]}"#));
        c.send(&burst).await;
        let head = c.read_head().await.expect("a response head");
        assert_eq!(head, SAMPLE_101);
        let pong = c.next_frame().await;
        assert_eq!(
            (pong.opcode, pong.payload.as_slice()),
            (OpCode::Pong, &b"mid"[..])
        );
        let reply = c.next_frame().await;
        assert_eq!(reply.text(), r#"{"event":"echo","data":[1,2]}"#);
    })
    .await;
    let st = server.stats();
    assert_eq!((st.upgraded, st.messages, st.dispatched), (1, 1, 1));
    assert_eq!(close_counts(&st), NONE);
    assert!(codes.borrow().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn one_byte_per_tcp_write() {
    let (server, codes) = server::<1, RX, 1024>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::connect(addr).await;
        c.s.set_nodelay(true).unwrap();
        let mut bytes = upgrade_request("/", SAMPLE_KEY);
        bytes.extend(frame(false, OpCode::Text, br#"{"event":"ec"#));
        bytes.extend(frame(true, OpCode::Continuation, br#"ho","data":"slow"}"#));
        for b in &bytes {
            c.send(std::slice::from_ref(b)).await;
            tokio::task::yield_now().await;
        }
        let head = c.read_head().await.expect("a response head");
        assert_eq!(head, SAMPLE_101);
        let reply = c.next_data_frame().await;
        assert_eq!(reply.text(), r#"{"event":"echo","data":"slow"}"#);
    })
    .await;
    let st = server.stats();
    assert_eq!((st.upgraded, st.messages, st.dispatched), (1, 1, 1));
    assert!(codes.borrow().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn slowloris_trickling_a_head_still_gets_408() {
    // A byte every 20 ms keeps the socket busy, but the handshake deadline counts from the
    // accept, not from the last byte.
    let (server, codes) = server::<1, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let c = Raw::connect(addr).await;
        let (mut rd, mut wr) = c.s.into_split();
        let done = std::cell::Cell::new(false);
        let trickle = async {
            let line = b"GET / HTTP/1.1\r\nX-Slow: "
                .iter()
                .chain(std::iter::repeat(&b'a'));
            for b in line.take(500) {
                if done.get() || wr.write_all(std::slice::from_ref(b)).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let read = async {
            let mut resp = Vec::new();
            let r = tokio::time::timeout(WAIT, rd.read_to_end(&mut resp)).await;
            done.set(true);
            r.expect("no EOF within the wait").expect("a clean EOF");
            resp
        };
        let ((), resp) = tokio::join!(trickle, read);
        let resp = String::from_utf8(resp).unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{resp}"
        );
        assert!(
            resp.ends_with("\r\n\r\nrequest head not received in time\n"),
            "{resp}"
        );
    })
    .await;
    let st = server.stats();
    assert_eq!(http_counts(&st), [("http_408", 1)]);
    assert!(codes.borrow().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn peer_ignoring_our_close_is_dropped_after_the_close_timeout() {
    let (server, codes) = server::<1, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::upgrade(addr).await;
        c.send(&text(br#"{"event":"kick"}"#)).await;
        // It reads our close frame but never answers it, and keeps TCP open.
        let frames = c.frames_to_eof().await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0].close_code(), Some(4000));
        eventually("the slot is released", || server.client_count() == 0).await;
        // The only slot is free again.
        let mut next = Raw::upgrade(addr).await;
        next.echo("after-close-timeout").await;
    })
    .await;
    assert_eq!(*codes.borrow(), [1006], "on_disconnect: exactly once");
    let st = server.stats();
    assert_eq!(close_counts(&st), [("closed_close_timeout", 1)]);
}

// ---------------------------------------------------------------------------------------
// 4. Connections: flood, slow reader, vanished peer, dropped peer
// ---------------------------------------------------------------------------------------

enum Outcome {
    Upgraded(Raw),
    Full,
    Other(String),
}

#[tokio::test(flavor = "current_thread")]
async fn capacity_plus_20_clients_at_once() {
    const N: usize = 8;
    const EXTRA: usize = 20;
    let (server, codes) = server::<N, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let attempts = (0..N + EXTRA).map(|_| async move {
            let mut c = Raw::connect(addr).await;
            // A refused client may see its socket closed before or while it writes.
            if let Err(e) = c.s.write_all(&upgrade_request("/", SAMPLE_KEY)).await {
                return Outcome::Other(format!("write failed: {e}"));
            }
            let head = match c.read_head().await {
                Ok(h) => h,
                Err(e) => return Outcome::Other(e),
            };
            if head == SAMPLE_101 {
                return Outcome::Upgraded(c);
            }
            let mut all = head;
            all.extend(c.read_to_eof().await);
            if all == SERVER_FULL_RESPONSE {
                Outcome::Full
            } else {
                Outcome::Other(String::from_utf8_lossy(&all).into_owned())
            }
        });
        let outcomes = join_all(attempts).await;
        let mut upgraded = Vec::new();
        let mut full = 0;
        let mut other = Vec::new();
        for o in outcomes {
            match o {
                Outcome::Upgraded(c) => upgraded.push(c),
                Outcome::Full => full += 1,
                Outcome::Other(e) => other.push(e),
            }
        }
        assert_eq!(
            (upgraded.len(), full, other.as_slice()),
            (N, EXTRA, &[][..]),
            "{N} upgrades and {EXTRA} exact 503s expected"
        );
        assert_eq!(server.stats().refused_full, EXTRA as u32);
        // The upgraded ones still work after the refusals.
        for (i, c) in upgraded.iter_mut().enumerate() {
            c.echo(&format!("survivor-{i}")).await;
        }
        assert_eq!(server.client_count(), N);
    })
    .await;
    let st = server.stats();
    assert_eq!(st.refused_full, EXTRA as u32);
    assert_eq!((st.accepted, st.upgraded), (N as u32, N as u32));
    assert_eq!(st.messages, N as u32);
    assert_eq!(http_counts(&st), NONE);
    assert!(codes.borrow().is_empty(), "{:?}", codes.borrow());
}

#[tokio::test(flavor = "current_thread")]
async fn slow_reader_gets_drops_while_the_others_get_everything() {
    // TX of 1 KiB: one 1000-byte broadcast frame (1004 bytes on the wire) fills it.
    const TX: usize = 1024;
    const PAYLOAD: usize = 1000;
    /// Broadcasts sent after the first drop, to show the reader still gets them all.
    const AFTER_DROP: u32 = 200;
    const MAX_BROADCASTS: u32 = 50_000;
    let (server, _codes) = server::<4, 1024, TX>(short_timers(0));
    let addr = server.local_addr();
    let gateway = wsgate::gateway::GatewayId(0);
    let payload = |i: u32| {
        let mut s = format!("{i:08}");
        s.push_str(&"x".repeat(PAYLOAD - s.len()));
        s
    };

    let (sent, dropped) = drive(&server, async {
        // Never reads a byte after its upgrade: the kernel buffers fill, then its TX.
        let slow = Raw::upgrade(addr).await;
        let mut reader = Raw::upgrade(addr).await;
        let started = Instant::now();
        let mut sent = 0u32;
        let mut dropped = 0u32;
        let mut after_drop = 0u32;
        while after_drop < AFTER_DROP {
            assert!(
                sent < MAX_BROADCASTS && started.elapsed() < Duration::from_secs(8),
                "no broadcast was dropped for the slow reader after {sent} broadcasts"
            );
            let b = server.broadcast_text(gateway, &payload(sent));
            // The reader drained every frame before this one, so it always has room.
            assert_eq!(b.queued + b.dropped, 2, "{b:?}");
            assert!(b.queued >= 1 && b.dropped <= 1, "{b:?}");
            let f = reader.next_data_frame().await;
            assert_eq!(f.opcode, OpCode::Text);
            assert_eq!(f.text(), payload(sent), "broadcast {sent} in order");
            sent += 1;
            dropped += u32::from(b.dropped);
            if dropped > 0 {
                after_drop += 1;
            }
        }
        // The server keeps serving: the reader, and a newcomer.
        reader.echo("after-flood").await;
        let mut newcomer = Raw::upgrade(addr).await;
        newcomer.echo("newcomer").await;
        assert_eq!(server.client_count(), 3);
        drop(slow);
        (sent, dropped)
    })
    .await;

    assert!(dropped > 0);
    let st = server.stats();
    assert_eq!(st.broadcast_dropped, dropped);
    // Queued broadcasts (two per broadcast minus the drops) plus the two echo replies.
    assert_eq!(st.frames_sent, 2 * sent - dropped + 2);
    assert_eq!(st.messages, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn non_reading_client_stuck_in_a_write_is_still_reaped_by_its_timers() {
    // The server's write to this client blocks (its socket buffers are full); its ping and
    // idle timers must still run and free the slot.
    const TX: usize = 1024;
    const MAX_BROADCASTS: u32 = 50_000;
    let (server, codes) = server::<1, 1024, TX>(short_timers(200));
    let addr = server.local_addr();
    let gateway = wsgate::gateway::GatewayId(0);
    let payload = "y".repeat(1000);
    let sent = drive(&server, async {
        let mut c = Raw::upgrade(addr).await;
        let pong = frame(true, OpCode::Pong, b"");
        let started = Instant::now();
        let mut sent = 0u32;
        loop {
            assert!(
                sent < MAX_BROADCASTS && started.elapsed() < Duration::from_secs(8),
                "no broadcast was dropped after {sent} broadcasts"
            );
            // Not silent while its buffers fill (the server reads these while it can write),
            // so the idle countdown starts only once the server is stuck writing.
            c.send(&pong).await;
            let b = server.broadcast_text(gateway, &payload);
            sent += 1;
            if b.dropped > 0 {
                assert_eq!((b.queued, b.dropped), (0, 1));
                break;
            }
            assert_eq!((b.queued, b.dropped), (1, 0));
            tokio::task::yield_now().await;
        }
        // Now silent and not reading: pinged (the ping cannot even be queued), then reaped.
        eventually("the stuck client is reaped", || server.client_count() == 0).await;
        let st = server.stats();
        assert_eq!(close_counts(&st), [("closed_idle", 1)]);
        assert_eq!(*codes.borrow(), [1006]);
        drop(c);
        let mut next = Raw::upgrade(addr).await;
        next.echo("after-stuck").await;
        sent
    })
    .await;
    assert_eq!(*codes.borrow(), [1006], "on_disconnect: exactly once");
    let st = server.stats();
    assert_eq!(close_counts(&st), [("closed_idle", 1)]);
    assert_eq!(
        st.broadcast_dropped, 1,
        "only the last broadcast was dropped"
    );
    assert_eq!(
        st.frames_sent,
        (sent - 1) + 1,
        "the queued broadcasts and one echo"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn tcp_reset_mid_frame_is_1006_peer_gone() {
    let (server, codes) = server::<1, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::upgrade(addr).await;
        let f = frame(false, OpCode::Text, br#"{"event":"echo","data":"#);
        c.send(&f[..5]).await;
        // SO_LINGER 0: dropping the socket sends RST instead of FIN.
        c.s.set_zero_linger().unwrap();
        drop(c);
        eventually("the reset client is released", || {
            server.client_count() == 0
        })
        .await;
        let mut next = Raw::upgrade(addr).await;
        next.echo("after-reset").await;
    })
    .await;
    assert_eq!(*codes.borrow(), [1006], "on_disconnect: exactly once");
    let st = server.stats();
    assert_eq!(close_counts(&st), [("closed_peer_gone", 1)]);
    assert_eq!(st.messages, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn half_closed_client_still_gets_its_reply() {
    // A message, then FIN (shutdown of the client's write side) in the same breath.
    let (server, codes) = server::<1, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::upgrade(addr).await;
        c.send(&text(br#"{"event":"echo","data":"last words"}"#))
            .await;
        c.s.shutdown().await.unwrap();
        let frames = c.frames_to_eof().await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0].text(), r#"{"event":"echo","data":"last words"}"#);
        eventually("the slot is released", || server.client_count() == 0).await;
    })
    .await;
    assert_eq!(*codes.borrow(), [1006], "no close handshake: 1006, once");
    let st = server.stats();
    assert_eq!(close_counts(&st), [("closed_peer_gone", 1)]);
    assert_eq!((st.messages, st.frames_sent), (1, 1));
}

#[tokio::test(flavor = "current_thread")]
async fn close_then_fin_gets_the_close_echoed_then_eof() {
    let (server, codes) = server::<1, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::upgrade(addr).await;
        c.send(&support::close(1000, b"done")).await;
        c.s.shutdown().await.unwrap();
        let frames = c.frames_to_eof().await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0].close_code(), Some(1000));
        eventually("the slot is released", || server.client_count() == 0).await;
    })
    .await;
    assert_eq!(*codes.borrow(), [1000], "on_disconnect: exactly once");
    let st = server.stats();
    assert_eq!(close_counts(&st), [("closed_by_peer", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn ping_flood_without_reading_is_bounded_and_reaped() {
    // Pong amplification: the client floods 125-byte pings and never reads the pongs. The
    // server may only hold one TX of pongs, stops reading when it cannot queue the next one,
    // and its timers reap the client.
    const MAX_BYTES: usize = 256 << 20;
    let (server, codes) = server::<1, 1024, 1024>(short_timers(200));
    let addr = server.local_addr();
    drive(&server, async {
        let c = Raw::upgrade(addr).await;
        let ping = frame(true, OpCode::Ping, &[b'p'; 125]);
        let batch: Vec<u8> = ping
            .iter()
            .copied()
            .cycle()
            .take(ping.len() * 512)
            .collect();
        let started = Instant::now();
        let mut written = 0usize;
        let mut off = 0usize;
        // Write without blocking until the socket is full both ways.
        loop {
            assert!(
                written < MAX_BYTES && started.elapsed() < Duration::from_secs(8),
                "the server kept reading pings it could not answer: {written} bytes"
            );
            match c.s.try_write(&batch[off..]) {
                Ok(n) => {
                    written += n;
                    off = (off + n) % batch.len();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Let the server run; stop once it no longer takes anything.
                    let before = written;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    match c.s.try_write(&batch[off..]) {
                        Ok(n) => {
                            written += n;
                            off = (off + n) % batch.len();
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            if written == before {
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                }
                Err(_) => break,
            }
        }
        eventually("the flooding client is reaped", || {
            server.client_count() == 0
        })
        .await;
        drop(c);
        let mut next = Raw::upgrade(addr).await;
        next.echo("after-ping-flood").await;
    })
    .await;
    assert_eq!(*codes.borrow(), [1006], "on_disconnect: exactly once");
    let st = server.stats();
    assert_eq!(close_counts(&st), [("closed_idle", 1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn client_gone_right_after_its_request_is_1006_peer_gone() {
    let (server, codes) = server::<1, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::connect(addr).await;
        c.send(&upgrade_request("/", SAMPLE_KEY)).await;
        c.s.shutdown().await.unwrap();
        // The 101 still arrives, then the server lets go.
        let head = c.read_head().await.expect("a response head");
        assert_eq!(head, SAMPLE_101);
        assert_eq!(c.read_to_eof().await, b"");
        eventually("the slot is released", || server.client_count() == 0).await;
        let mut next = Raw::upgrade(addr).await;
        next.echo("after-gone").await;
    })
    .await;
    assert_eq!(*codes.borrow(), [1006], "on_disconnect: exactly once");
    let st = server.stats();
    assert_eq!(close_counts(&st), [("closed_peer_gone", 1)]);
    assert_eq!(st.upgraded, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn vanished_client_is_pinged_then_reaped_and_its_slot_freed() {
    // One slot, ping after 200 ms of silence, pong due within 200 ms.
    let (server, codes) = server::<1, 4096, 4096>(short_timers(200));
    let addr = server.local_addr();
    drive(&server, async {
        // Upgrades, then neither sends nor reads, but keeps TCP open.
        let mut gone = Raw::upgrade(addr).await;
        eventually("the silent client is reaped", || {
            server.stats().closed_idle == 1 && server.client_count() == 0
        })
        .await;
        let st = server.stats();
        assert_eq!(st.pings_sent, 1);
        assert_eq!(close_counts(&st), [("closed_idle", 1)]);
        assert_eq!(*codes.borrow(), [1006]);
        // What it was sent meanwhile: the ping, then TCP was closed.
        let frames = gone.frames_to_eof().await;
        assert_eq!(
            frames.first().map(|f| f.opcode),
            Some(OpCode::Ping),
            "{frames:?}"
        );

        // The only slot is free again.
        let mut next = Raw::upgrade(addr).await;
        next.echo("after-idle").await;
    })
    .await;
    assert_eq!(*codes.borrow(), [1006], "on_disconnect: exactly once");
    let st = server.stats();
    assert_eq!(close_counts(&st), [("closed_idle", 1)]);
    assert_eq!((st.accepted, st.upgraded, st.refused_full), (2, 2, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn tcp_dropped_mid_frame_is_1006_peer_gone() {
    let (server, codes) = server::<1, 4096, 4096>(short_timers(0));
    let addr = server.local_addr();
    drive(&server, async {
        let mut c = Raw::upgrade(addr).await;
        let msg = format!(r#"{{"event":"echo","data":"{}"}}"#, "z".repeat(200));
        let f = text(msg.as_bytes());
        c.send(&f[..f.len() / 2]).await;
        drop(c);
        eventually("the dropped client is released", || {
            server.client_count() == 0
        })
        .await;
        assert_eq!(*codes.borrow(), [1006]);
        // The only slot is free again.
        let mut next = Raw::upgrade(addr).await;
        next.echo("after-drop").await;
    })
    .await;
    assert_eq!(*codes.borrow(), [1006], "on_disconnect: exactly once");
    let st = server.stats();
    assert_eq!(close_counts(&st), [("closed_peer_gone", 1)]);
    assert_eq!(st.messages, 1, "the half message never became one");
}
