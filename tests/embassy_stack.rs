//! The embassy-net transport end to end, with no root and no OS sockets: two embassy-net stacks
//! in this process (10.42.0.1, the server; 10.42.0.2, the clients) joined by
//! `embassy-net-driver-channel` and a few lines of "wire" task. The server stack runs
//! `EmbassyServer::run_slot` in `N + 1` tasks, as firmware does; the clients are embassy-net
//! `TcpSocket`s speaking WebSocket by hand (masked frames from `tests/support`, the 101 checked
//! byte for byte).
//!
//! The gateways are the ones every transport runs (`examples/shared/events.rs`), and
//! `same_gateways_same_frames_on_embassy_and_tokio` runs one exchange against both transports
//! with the same gateway constructors and asserts identical bytes.
//!
//! Every test has its own executor on its own thread and is bounded in time; every frame is
//! compared as exact bytes and every counter by its exact value.

#[path = "support/mod.rs"]
mod support;

#[path = "../examples/shared/events.rs"]
mod events;

#[path = "embassy_stack/harness.rs"]
mod harness;

use embassy_futures::join::join;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::Timer;
use embedded_io_async::Write;
use harness::{EmbassyIo, Io, Net, WsClient, eventually};
use std::cell::{Cell, RefCell};
use std::time::Duration;
use support::{MASK, SAMPLE_101, close, echo_message, frame, text};
use wsgate::connection::{Connection, Timeouts};
use wsgate::gateway::{ClientId, Gateway};
use wsgate::protocol::frame::OpCode;
use wsgate::protocol::http::{SERVER_FULL_RESPONSE, TOO_MANY_FROM_ADDRESS_RESPONSE};
use wsgate::transport::embassy::EmbassyServer;
use wsgate::{CloseCode, Config, WebSocketAdapter};

/// `N` slots, 1 KiB messages, 2 KiB transmit buffers, room for four gateways.
type Server<const N: usize = 2> = EmbassyServer<NoopRawMutex, N, 1024, 2048, 4>;

/// Bound of each test.
const LIMIT: Duration = Duration::from_secs(10);

/// The 101 for [`harness::KEY`] with the `chat.v1` subprotocol chosen.
const CHAT_101: &str = "HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat.v1\r\n\
\r\n";

/// Short timers for the tests that wait for them.
const QUICK: Timeouts = Timeouts {
    handshake_ms: 1_000,
    ping_interval_ms: 150,
    pong_timeout_ms: 150,
    close_timeout_ms: 150,
    message_ms: 10_000,
};

/// A server with the two shared gateways (`/` and `/chat`), leaked for the test. Returns it
/// and the chat gateway's id.
fn shared_gateways<const N: usize>(
    config: Config,
) -> (&'static Server<N>, wsgate::gateway::GatewayId) {
    let mut server = Server::<N>::new(harness::PORT, config);
    server
        .bind_message_handlers(Box::leak(Box::new(events::events_gateway())))
        .expect("room for /");
    let chat = server
        .bind_message_handlers(Box::leak(Box::new(events::chat_gateway())))
        .expect("room for /chat");
    (Box::leak(Box::new(server)), chat)
}

/// Connects to `path` and checks the 101 byte for byte.
async fn connect(net: &Net, path: &str) -> WsClient<EmbassyIo> {
    let mut c = WsClient::new(net.dial().await);
    assert_eq!(c.upgrade(path, None).await.as_bytes(), SAMPLE_101);
    c
}

/// Connects to `/chat` offering `chat.v1` and checks the 101 byte for byte.
async fn connect_chat(net: &Net) -> WsClient<EmbassyIo> {
    let mut c = WsClient::new(net.dial().await);
    assert_eq!(c.upgrade("/chat", Some("chat.v1")).await, CHAT_101);
    c
}

/// Sends an `echo` event; the very next frame must be its reply.
async fn echo<S: Io>(c: &mut WsClient<S>, tag: &str) {
    let msg = format!(r#"{{"event":"echo","data":"{tag}"}}"#);
    c.send(&text(msg.as_bytes())).await;
    assert_eq!(c.text().await, msg);
}

/// Client-initiated close with 1000: the server answers 1000, then ends the TCP connection.
async fn goodbye<S: Io>(c: &mut WsClient<S>) {
    c.send(&close(1000, b"bye")).await;
    let f = c.frame().await;
    assert_eq!(f.close_code(), Some(1000), "{f:?}");
    assert_eq!(c.rest().await, b"", "nothing after the close frame");
    c.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// 1. The NestJS sample exchange
// ---------------------------------------------------------------------------------------

#[test]
fn nestjs_sample_events_one_two_three() {
    let st = harness::run(LIMIT, |net| async move {
        let (server, _) = shared_gateways::<2>(Config::DEFAULT);
        net.serve(server);
        net.step("upgrade");
        let mut c = connect(&net, "/").await;
        net.step("events");
        c.send(&text(br#"{"event":"events","data":"test"}"#)).await;
        for i in 1..=3 {
            let f = c.frame().await;
            assert_eq!(f.header, [0x81, 27], "an unmasked final text frame");
            assert_eq!(f.text(), format!(r#"{{"event":"events","data":{i}}}"#));
        }
        net.step("close");
        goodbye(&mut c).await;
        eventually("the slot is released", || {
            server.with_server(|s| s.client_count()) == 0
        })
        .await;
        // A clean close handshake ends the TCP connection without a reset.
        Timer::after_millis(50).await;
        assert_eq!(net.server_resets(), 0, "TCP resets from the server");
        server.stats()
    });
    assert_eq!(st.accepted, 1);
    assert_eq!(st.upgraded, 1);
    assert_eq!(st.messages, 1);
    assert_eq!(st.dispatched, 1);
    assert_eq!(st.frames_sent, 3);
    assert_eq!(st.closed_by_peer, 1);
    assert_eq!(st.dropped(), 0);
    assert_eq!(st.exceptions, 0);
    assert_eq!(st.closed_peer_gone, 0);
}

// ---------------------------------------------------------------------------------------
// 2. Two gateways (and the control page) on one listener
// ---------------------------------------------------------------------------------------

#[test]
fn two_gateways_and_the_page_on_one_listener() {
    let (st, page) = harness::run(LIMIT, |net| async move {
        let (server, _) = shared_gateways::<2>(Config {
            pages: events::PAGES,
            ..Config::DEFAULT
        });
        net.serve(server);

        net.step("/ and /chat");
        let mut root = connect(&net, "/").await;
        let mut chat = connect_chat(&net).await;
        root.send(&text(br#"{"event":"sum","data":[1,2,39]}"#))
            .await;
        assert_eq!(root.text().await, r#"{"event":"sum","data":42}"#);
        // `message` is a /chat event: on / it is unknown, dropped silently.
        root.send(&text(br#"{"event":"message","data":"lost"}"#))
            .await;
        echo(&mut root, "after the drop").await;
        // ... and on /chat it is broadcast to /chat's clients only.
        chat.send(&text(br#"{"event":"message","data":"room"}"#))
            .await;
        assert_eq!(chat.text().await, r#"{"event":"message","data":"room"}"#);
        echo(&mut root, "nothing from /chat").await;
        // `echo` is a / event: on /chat it is unknown.
        chat.send(&text(br#"{"event":"echo","data":1}"#)).await;
        chat.send(&text(br#"{"event":"message","data":2}"#)).await;
        assert_eq!(chat.text().await, r#"{"event":"message","data":2}"#);
        goodbye(&mut root).await;
        goodbye(&mut chat).await;

        net.step("404");
        let mut nowhere = WsClient::new(net.dial().await);
        nowhere
            .send(&harness::upgrade_request("/nowhere", None))
            .await;
        let not_found = nowhere.rest().await;
        assert_eq!(
            String::from_utf8(not_found).unwrap(),
            "HTTP/1.1 404 Not Found\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 34\r\n\
             Connection: close\r\n\
             \r\n\
             no WebSocket gateway at this path\n"
        );
        nowhere.shutdown().await;

        net.step("plain GET /");
        let mut browser = WsClient::new(net.dial().await);
        browser
            .send(b"GET / HTTP/1.1\r\nHost: 10.42.0.1\r\n\r\n")
            .await;
        let page = browser.rest().await;
        browser.shutdown().await;

        eventually("every slot is released", || {
            server.with_server(|s| s.client_count()) == 0
        })
        .await;
        Timer::after_millis(50).await;
        assert_eq!(net.server_resets(), 0, "TCP resets from the server");
        (server.stats(), page)
    });
    let body = events::PAGES[0].body;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    assert!(body.len() > 2048, "the page is streamed through TX");
    assert_eq!(&page[..head.len()], head.as_bytes());
    assert!(page[head.len()..] == *body, "the page body, exactly");

    assert_eq!(st.accepted, 4);
    assert_eq!(st.upgraded, 2);
    assert_eq!(st.http_404, 1);
    assert_eq!(st.pages_served, 1);
    assert_eq!(st.messages, 7);
    assert_eq!(st.dispatched, 5);
    assert_eq!(st.dropped_unknown_event, 2);
    assert_eq!(st.frames_sent, 5);
    assert_eq!(st.closed_by_peer, 2);
}

// ---------------------------------------------------------------------------------------
// 3. Broadcast between two embassy clients, and from another task
// ---------------------------------------------------------------------------------------

#[test]
fn broadcast_between_two_embassy_clients() {
    let st = harness::run(LIMIT, |net| async move {
        let (server, chat_id) = shared_gateways::<2>(Config::DEFAULT);
        net.serve(server);
        let mut a = connect_chat(&net).await;
        let mut b = connect_chat(&net).await;

        net.step("a -> everyone");
        a.send(&text(
            br#"{"event":"message","data":{"from":"a","text":"hi b"}}"#,
        ))
        .await;
        let expected = r#"{"event":"message","data":{"from":"a","text":"hi b"}}"#;
        assert_eq!(a.text().await, expected);
        assert_eq!(b.text().await, expected);

        net.step("b -> everyone");
        b.send(&text(br#"{"event":"message","data":"hi a"}"#)).await;
        assert_eq!(b.text().await, r#"{"event":"message","data":"hi a"}"#);
        assert_eq!(a.text().await, r#"{"event":"message","data":"hi a"}"#);

        net.step("a broadcast from a task that serves no client");
        let sent = server.broadcast(chat_id, "notice", &"from a task");
        assert_eq!((sent.queued, sent.dropped), (2, 0));
        assert_eq!(a.text().await, r#"{"event":"notice","data":"from a task"}"#);
        assert_eq!(b.text().await, r#"{"event":"notice","data":"from a task"}"#);

        net.step("a leaves: the server closes it with 4000");
        a.send(&text(br#"{"event":"leave"}"#)).await;
        let f = a.frame().await;
        assert_eq!(f.close_code(), Some(4000), "{f:?}");
        assert_eq!(f.close_reason(), "left the chat");
        a.send(&close(4000, b"")).await;
        assert_eq!(a.rest().await, b"");
        a.shutdown().await;

        net.step("b alone in the room");
        b.send(&text(br#"{"event":"message","data":"anyone?"}"#))
            .await;
        assert_eq!(b.text().await, r#"{"event":"message","data":"anyone?"}"#);
        goodbye(&mut b).await;
        eventually("every slot is released", || {
            server.with_server(|s| s.client_count()) == 0
        })
        .await;
        server.stats()
    });
    assert_eq!(st.upgraded, 2);
    assert_eq!(st.messages, 4);
    assert_eq!(st.dispatched, 4);
    // 2 + 2 from the handlers, 2 from the task, 1 to b alone.
    assert_eq!(st.frames_sent, 7);
    assert_eq!(st.broadcast_dropped, 0);
    assert_eq!(st.closed_by_server, 1);
    assert_eq!(st.closed_by_peer, 1);
    assert_eq!(st.closed_peer_gone, 0);
}

// ---------------------------------------------------------------------------------------
// 4. A fragmented message with a ping between its fragments
// ---------------------------------------------------------------------------------------

#[test]
fn fragmented_message_with_an_injected_ping() {
    let st = harness::run(LIMIT, |net| async move {
        let (server, _) = shared_gateways::<2>(Config::DEFAULT);
        net.serve(server);
        let mut c = connect(&net, "/").await;

        net.step("first fragment + ping");
        let mut burst = frame(false, OpCode::Text, br#"{"event":"echo","da"#);
        burst.extend(frame(true, OpCode::Ping, b"mid-message"));
        c.send(&burst).await;
        // The pong comes while the message is still incomplete.
        let pong = c.frame().await;
        assert_eq!(pong.header, [0x8A, 11]);
        assert_eq!(pong.payload, b"mid-message");

        net.step("middle and final fragments");
        c.send(&frame(false, OpCode::Continuation, br#"ta":"frag"#))
            .await;
        c.send(&frame(true, OpCode::Continuation, br#"mented"}"#))
            .await;
        let reply = c.frame().await;
        assert_eq!(reply.header, [0x81, 36]);
        assert_eq!(reply.text(), r#"{"event":"echo","data":"fragmented"}"#);

        net.step("a ping and a message in one segment");
        let mut burst = frame(true, OpCode::Ping, b"");
        burst.extend(text(br#"{"event":"identity","data":0}"#));
        c.send(&burst).await;
        let pong = c.frame().await;
        assert_eq!(pong.header, [0x8A, 0]);
        assert_eq!(c.text().await, "0");
        goodbye(&mut c).await;
        server.stats()
    });
    assert_eq!(st.messages, 2);
    assert_eq!(st.dispatched, 2);
    assert_eq!(st.frames_sent, 2);
    assert_eq!(st.closed_protocol_error, 0);
}

// ---------------------------------------------------------------------------------------
// 5. A request head and a frame header split across TCP segments
// ---------------------------------------------------------------------------------------

#[test]
fn frame_header_split_across_tcp_segments() {
    let st = harness::run(LIMIT, |net| async move {
        let (server, _) = shared_gateways::<2>(Config::DEFAULT);
        net.serve(server);
        let mut c = WsClient::new(net.dial().await);

        // Each piece is written, flushed (embassy-net waits for the ACK) and followed by a
        // pause, so each one is a TCP segment of its own and a read of its own on the server.
        net.step("request head in three segments");
        let request = harness::upgrade_request("/", None);
        for piece in [&request[..5], &request[5..40], &request[40..]] {
            c.send(piece).await;
            Timer::after_millis(10).await;
        }
        assert_eq!(c.head().await.as_bytes(), SAMPLE_101);

        net.step("frame header in four segments");
        let message = echo_message(200);
        let bytes = frame(true, OpCode::Text, &message);
        // 0x81, 126 | MASK, length 200 in 16 bits, the masking key: an 8-byte header.
        assert_eq!(
            bytes[..8],
            [0x81, 0xFE, 0, 200, MASK[0], MASK[1], MASK[2], MASK[3]]
        );
        for piece in [&bytes[..1], &bytes[1..3], &bytes[3..6], &bytes[6..]] {
            c.send(piece).await;
            Timer::after_millis(10).await;
        }
        let reply = c.frame().await;
        assert_eq!(reply.header, [0x81, 126, 0, 200]);
        assert_eq!(reply.payload, message);

        net.step("a frame byte by byte");
        let bytes = text(br#"{"event":"sum","data":[2,3]}"#);
        for b in bytes.chunks(1) {
            c.send(b).await;
        }
        assert_eq!(c.text().await, r#"{"event":"sum","data":5}"#);
        goodbye(&mut c).await;
        server.stats()
    });
    assert_eq!(st.upgraded, 1);
    assert_eq!(st.messages, 2);
    assert_eq!(st.dispatched, 2);
    assert_eq!(st.http_400, 0);
    assert_eq!(st.closed_protocol_error, 0);
}

// ---------------------------------------------------------------------------------------
// 6. A message over the receive buffer: 1009
// ---------------------------------------------------------------------------------------

#[test]
fn message_over_the_limit_is_closed_with_1009() {
    // With RX = 1024 and TX = 2048 the receive buffer is the limit: the echo of a 1024-byte
    // message (a 1028-byte frame) fits the transmit buffer.
    const MAX: usize = Connection::<1024, 2048>::MAX_MESSAGE;
    assert_eq!(MAX, 1024);
    let st = harness::run(LIMIT, |net| async move {
        let (server, _) = shared_gateways::<2>(Config::DEFAULT);
        net.serve(server);
        let mut c = connect(&net, "/").await;

        net.step("exactly MAX_MESSAGE bytes is fine");
        let message = echo_message(MAX);
        c.send(&text(&message)).await;
        let reply = c.frame().await;
        assert_eq!(reply.header, [0x81, 126, 0x04, 0x00]);
        assert_eq!(reply.payload, message);

        net.step("MAX_MESSAGE + 1 bytes");
        c.send(&text(&echo_message(MAX + 1))).await;
        let f = c.frame().await;
        assert_eq!(f.header, [0x88, 17]);
        assert_eq!(f.close_code(), Some(1009));
        assert_eq!(f.close_reason(), "message too big");
        assert_eq!(
            c.rest().await,
            b"",
            "the server ends the connection after 1009"
        );
        c.shutdown().await;
        eventually("the slot is released", || {
            server.with_server(|s| s.client_count()) == 0
        })
        .await;

        net.step("the slot serves the next client");
        let mut next = connect(&net, "/").await;
        echo(&mut next, "next").await;
        goodbye(&mut next).await;
        // The rest of the big frame was read and discarded: no reset.
        Timer::after_millis(50).await;
        assert_eq!(net.server_resets(), 0, "TCP resets from the server");
        server.stats()
    });
    assert_eq!(st.closed_too_big, 1);
    assert_eq!(st.messages, 2);
    assert_eq!(st.dispatched, 2);
    assert_eq!(st.closed_peer_gone, 0);
    assert_eq!(st.closed_by_peer, 1);
}

/// With RX = TX = 2048 the transmit buffer is the limit: the echo of a message must fit TX
/// as one frame, so the largest message is 2048 - 4 (the 16-bit-length frame header).
#[test]
fn largest_message_is_bounded_by_the_transmit_buffer_too() {
    type Big = EmbassyServer<NoopRawMutex, 1, 2048, 2048, 4>;
    const MAX: usize = Connection::<2048, 2048>::MAX_MESSAGE;
    assert_eq!(MAX, 2044);
    let st = harness::run(LIMIT, |net| async move {
        let mut server = Big::new(harness::PORT, Config::DEFAULT);
        server
            .bind_message_handlers(Box::leak(Box::new(events::events_gateway())))
            .expect("room for /");
        let server: &'static Big = Box::leak(Box::new(server));
        net.serve(server);
        let mut c = connect(&net, "/").await;

        net.step("exactly MAX_MESSAGE bytes: its echo fills TX exactly");
        let message = echo_message(MAX);
        c.send(&text(&message)).await;
        let reply = c.frame().await;
        assert_eq!(reply.header, [0x81, 126, 0x07, 0xFC]);
        assert_eq!(reply.payload, message);
        assert_eq!(reply.header.len() + reply.payload.len(), 2048);

        net.step("MAX_MESSAGE + 1 bytes");
        c.send(&text(&echo_message(MAX + 1))).await;
        let f = c.frame().await;
        assert_eq!(f.header, [0x88, 17]);
        assert_eq!(f.close_code(), Some(1009));
        assert_eq!(f.close_reason(), "message too big");
        assert_eq!(
            c.rest().await,
            b"",
            "the server ends the connection after 1009"
        );
        c.shutdown().await;
        eventually("the slot is released", || {
            server.with_server(|s| s.client_count()) == 0
        })
        .await;

        net.step("the one slot serves the next client");
        let mut next = connect(&net, "/").await;
        echo(&mut next, "next").await;
        goodbye(&mut next).await;
        server.stats()
    });
    assert_eq!(st.closed_too_big, 1);
    assert_eq!(st.messages, 2);
    assert_eq!(st.dispatched, 2);
    assert_eq!(st.frames_sent, 2);
    assert_eq!(st.send_failed, 0);
    assert_eq!(st.exceptions, 0);
    assert_eq!(st.closed_by_peer, 1);
    assert_eq!(st.closed_peer_gone, 0);
}

// ---------------------------------------------------------------------------------------
// 7. Capacity + 1 clients: 503
// ---------------------------------------------------------------------------------------

#[test]
fn one_client_beyond_capacity_gets_503() {
    let st = harness::run(LIMIT, |net| async move {
        let (server, _) = shared_gateways::<2>(Config::DEFAULT);
        net.serve(server);
        let mut a = connect(&net, "/").await;
        let mut b = connect(&net, "/").await;

        net.step("the third client");
        let mut c = WsClient::new(net.dial().await);
        c.send(&harness::upgrade_request("/", None)).await;
        let refused = c.rest().await;
        assert_eq!(
            String::from_utf8_lossy(&refused),
            String::from_utf8_lossy(SERVER_FULL_RESPONSE)
        );
        c.shutdown().await;

        net.step("the first two are still served");
        echo(&mut a, "a").await;
        echo(&mut b, "b").await;

        net.step("a slot frees up and is reused");
        goodbye(&mut a).await;
        eventually("a's slot is released", || {
            server.with_server(|s| s.client_count()) == 1
        })
        .await;
        let mut d = connect(&net, "/").await;
        echo(&mut d, "d").await;
        goodbye(&mut b).await;
        goodbye(&mut d).await;
        // The 503 too ends with FINs both ways, not a reset.
        Timer::after_millis(50).await;
        assert_eq!(net.server_resets(), 0, "TCP resets from the server");
        server.stats()
    });
    assert_eq!(st.accepted, 3);
    assert_eq!(st.refused_full, 1);
    assert_eq!(st.upgraded, 3);
    assert_eq!(st.closed_by_peer, 3);
}

// ---------------------------------------------------------------------------------------
// 8. Clients that stop answering: the idle timeout
// ---------------------------------------------------------------------------------------

/// A `/` gateway that records each disconnect's close code.
type Recorder = Gateway<&'static RefCell<Vec<u16>>, 2>;

fn recorder(codes: &'static RefCell<Vec<u16>>) -> Recorder {
    let mut g: Recorder = Gateway::new("/", codes);
    g.on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?))
        .expect("room");
    g.on_disconnect(
        |codes: &mut &'static RefCell<Vec<u16>>, _: ClientId, code: CloseCode| {
            codes.borrow_mut().push(code.as_u16());
        },
    );
    g
}

/// A server with the recorder gateway and [`QUICK`] timers; `bind` binds more before it is
/// leaked.
fn quick_server(bind: impl FnOnce(&mut Server)) -> (&'static Server, &'static RefCell<Vec<u16>>) {
    let codes: &'static RefCell<Vec<u16>> = Box::leak(Box::new(RefCell::new(Vec::new())));
    let mut server = Server::new(
        harness::PORT,
        Config {
            timeouts: QUICK,
            ..Config::DEFAULT
        },
    );
    server
        .bind_message_handlers(Box::leak(Box::new(recorder(codes))))
        .expect("room");
    bind(&mut server);
    (Box::leak(Box::new(server)), codes)
}

/// `bind_client_connect` and `bind_client_disconnect` callbacks (plain `fn`s), bound by the
/// silent-client test only: what they saw, in order.
static ADAPTER_EVENTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn on_connect(_: ClientId, info: &wsgate::ConnectInfo<'_>) {
    ADAPTER_EVENTS
        .lock()
        .unwrap()
        .push(format!("connect {}", info.path()));
}

fn on_disconnect(_: ClientId, code: CloseCode) {
    ADAPTER_EVENTS
        .lock()
        .unwrap()
        .push(format!("disconnect {}", code.as_u16()));
}

/// The client's TCP stack is alive (it acknowledges everything) but it never answers the
/// server's ping.
#[test]
fn silent_client_is_dropped_after_the_pong_timeout() {
    let (st, codes) = harness::run(LIMIT, |net| async move {
        let (server, codes) = quick_server(|s| {
            s.bind_client_connect(on_connect);
            s.bind_client_disconnect(on_disconnect);
        });
        net.serve(server);
        let mut c = connect(&net, "/").await;
        echo(&mut c, "still here").await;

        net.step("waiting for the ping");
        let ping = c.frame().await;
        assert_eq!(ping.header, [0x89, 6]);
        assert_eq!(ping.payload, b"wsgate");

        net.step("saying nothing: the server must drop us (1006, no close frame)");
        assert_eq!(c.rest().await, b"");
        c.shutdown().await;
        eventually("the slot is released", || {
            server.with_server(|s| s.client_count()) == 0
        })
        .await;
        (server.stats(), codes.borrow().clone())
    });
    assert_eq!(st.pings_sent, 1);
    assert_eq!(st.closed_idle, 1);
    assert_eq!(st.closed_peer_gone, 0);
    assert_eq!(codes, [1006], "the disconnect hook, once, with 1006");
    assert_eq!(
        *ADAPTER_EVENTS.lock().unwrap(),
        ["connect /", "disconnect 1006"]
    );
}

/// The client vanishes from the network (its packets are lost both ways, as when a phone
/// walks out of Wi-Fi range): nothing acknowledges the server's ping. The server must still
/// drop it on time, and the task that served it must go back to accepting: afterwards two
/// clients are served and a third gets 503, as on a fresh server.
#[test]
fn vanished_client_is_dropped_and_its_task_accepts_again() {
    let (st, codes) = harness::run(LIMIT, |net| async move {
        let (server, codes) = quick_server(|_| {});
        net.serve(server);
        let mut gone = connect(&net, "/").await;
        echo(&mut gone, "about to vanish").await;

        net.step("the client vanishes");
        net.cut(gone.io.local_port());
        eventually(
            "the server drops the vanished client (pong timeout)",
            || server.stats().closed_idle == 1,
        )
        .await;
        assert_eq!(
            *codes.borrow(),
            [1006],
            "the disconnect hook, once, with 1006"
        );
        // The slot is free at once; the task that served it lingers on its socket for at most
        // the close timeout (waiting for a FIN that cannot come) before it accepts again.
        net.step("lingering");
        Timer::after_millis(u64::from(QUICK.close_timeout_ms) * 3).await;

        net.step("two clients are served again");
        let mut a = connect(&net, "/").await;
        let mut b = connect(&net, "/").await;
        echo(&mut a, "a").await;
        echo(&mut b, "b").await;

        net.step("a third one gets 503, so every slot task is accepting again");
        let mut c = WsClient::new(net.dial().await);
        c.send(&harness::upgrade_request("/", None)).await;
        assert_eq!(c.rest().await, SERVER_FULL_RESPONSE);
        c.shutdown().await;
        goodbye(&mut a).await;
        goodbye(&mut b).await;
        drop(gone);
        (server.stats(), codes.borrow().clone())
    });
    assert_eq!(st.closed_idle, 1);
    assert_eq!(st.refused_full, 1);
    assert_eq!(st.upgraded, 3);
    assert_eq!(codes, [1006, 1000, 1000]);
}

// ---------------------------------------------------------------------------------------
// 9. NestJS `close`: 1001 to every client, new clients refused
// ---------------------------------------------------------------------------------------

#[test]
fn shutdown_closes_every_client_with_1001_and_refuses_new_ones() {
    let (st, codes) = harness::run(LIMIT, |net| async move {
        let (server, codes) = quick_server(|_| {});
        net.serve(server);
        let mut a = connect(&net, "/").await;
        let mut b = connect(&net, "/").await;
        echo(&mut a, "a").await;

        net.step("shutdown from a task that serves no client");
        server.shutdown();
        for c in [&mut a, &mut b] {
            let f = c.frame().await;
            assert_eq!(f.close_code(), Some(1001), "{f:?}");
            assert_eq!(f.close_reason(), "server shutting down");
            c.send(&close(1001, b"")).await;
            assert_eq!(c.rest().await, b"");
            c.shutdown().await;
        }

        net.step("a client after the shutdown");
        let mut late = WsClient::new(net.dial().await);
        late.send(&harness::upgrade_request("/", None)).await;
        let answer = late.rest().await;
        assert!(
            answer.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
        late.shutdown().await;
        (server.stats(), codes.borrow().clone())
    });
    assert_eq!(st.closed_by_server, 2);
    assert_eq!(st.refused_full, 1);
    assert_eq!(st.upgraded, 2);
    assert_eq!(codes, [1001, 1001]);
}

// ---------------------------------------------------------------------------------------
// 10. The same gateways on both transports, the same bytes
// ---------------------------------------------------------------------------------------

/// One labelled piece of what the server sent.
type Transcript = Vec<(&'static str, Vec<u8>)>;

/// Opens client connections to the server under test.
trait Dial {
    type Io: Io;
    fn dial(&self) -> impl Future<Output = Self::Io>;
}

impl Dial for Net {
    type Io = EmbassyIo;
    async fn dial(&self) -> EmbassyIo {
        Net::dial(self).await
    }
}

/// A tokio connection through `embedded-io-adapters`, so the same client code runs over
/// tokio and embassy-net.
struct TokioIo(embedded_io_adapters::tokio_1::FromTokio<tokio::net::TcpStream>);

impl embedded_io_async::ErrorType for TokioIo {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for TokioIo {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).await
    }
}

impl embedded_io_async::Write for TokioIo {
    async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).await
    }
    async fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().await
    }
}

impl Io for TokioIo {
    async fn shutdown(&mut self) {
        use tokio::io::AsyncWriteExt;
        let _ = self.0.inner_mut().shutdown().await;
    }
}

struct TokioDial(std::net::SocketAddr);

impl Dial for TokioDial {
    type Io = TokioIo;
    async fn dial(&self) -> TokioIo {
        let s = tokio::net::TcpStream::connect(self.0)
            .await
            .expect("tcp connect");
        s.set_nodelay(true).expect("nodelay");
        TokioIo(embedded_io_adapters::tokio_1::FromTokio::new(s))
    }
}

/// Reads `n` frames and returns their exact bytes.
async fn frames<S: Io>(c: &mut WsClient<S>, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..n {
        let f = c.frame().await;
        out.extend_from_slice(&f.header);
        out.extend_from_slice(&f.payload);
    }
    out
}

/// The exchange both transports go through, with the gateways of `examples/shared/events.rs`.
async fn sample_exchange<D: Dial>(d: &D) -> Transcript {
    let mut t: Transcript = Vec::new();
    let mut a = WsClient::new(d.dial().await);
    t.push(("101 /", a.upgrade("/", None).await.into_bytes()));
    for (label, msg, n) in [
        ("events", &br#"{"event":"events","data":"test"}"#[..], 3),
        ("echo", br#"{"event":"echo","data":{"a": [1, 2]}}"#, 1),
        ("identity", br#"{"event":"identity","data":0}"#, 1),
        ("sum", br#"{"data":[1,2,3],"event":"sum"}"#, 1),
        ("sum exception", br#"{"event":"sum","data":"x"}"#, 1),
    ] {
        a.send(&text(msg)).await;
        t.push((label, frames(&mut a, n).await));
    }
    // Dropped without an answer: the next frame is the echo's.
    a.send(&text(br#"{"event":"nope","data":1}"#)).await;
    a.send(&text(br#"not json"#)).await;
    a.send(&text(br#"{"event":"echo","data":"after drops"}"#))
        .await;
    t.push(("after drops", frames(&mut a, 1).await));

    let mut b = WsClient::new(d.dial().await);
    t.push((
        "101 /chat b",
        b.upgrade("/chat", Some("chat.v1")).await.into_bytes(),
    ));
    let mut c = WsClient::new(d.dial().await);
    t.push((
        "101 /chat c",
        c.upgrade("/chat", Some("chat.v1")).await.into_bytes(),
    ));
    b.send(&text(br#"{"event":"message","data":"hello room"}"#))
        .await;
    t.push(("broadcast to b", frames(&mut b, 1).await));
    t.push(("broadcast to c", frames(&mut c, 1).await));
    c.send(&text(br#"{"event":"leave"}"#)).await;
    t.push(("leave", frames(&mut c, 1).await));
    c.send(&close(4000, b"")).await;
    t.push(("after leave", c.rest().await));
    c.shutdown().await;

    for (label, client) in [("close a", &mut a), ("close b", &mut b)] {
        client.send(&close(1000, b"done")).await;
        let mut bytes = frames(client, 1).await;
        bytes.extend(client.rest().await);
        t.push((label, bytes));
        client.shutdown().await;
    }
    t
}

/// What the shared gateways must send, on every transport.
fn expected_transcript() -> Transcript {
    let txt = |s: &str| {
        let mut f = match u16::try_from(s.len()).unwrap() {
            n @ 0..=125 => vec![0x81, n as u8],
            n => vec![0x81, 126, (n >> 8) as u8, n as u8],
        };
        f.extend_from_slice(s.as_bytes());
        f
    };
    let texts = |ss: &[&str]| ss.iter().flat_map(|s| txt(s)).collect::<Vec<u8>>();
    let close = |code: u16, reason: &str| {
        let mut f = vec![0x88, 2 + reason.len() as u8];
        f.extend_from_slice(&code.to_be_bytes());
        f.extend_from_slice(reason.as_bytes());
        f
    };
    vec![
        ("101 /", SAMPLE_101.to_vec()),
        (
            "events",
            texts(&[
                r#"{"event":"events","data":1}"#,
                r#"{"event":"events","data":2}"#,
                r#"{"event":"events","data":3}"#,
            ]),
        ),
        ("echo", txt(r#"{"event":"echo","data":{"a":[1,2]}}"#)),
        ("identity", txt("0")),
        ("sum", txt(r#"{"event":"sum","data":6}"#)),
        (
            "sum exception",
            txt(concat!(
                r#"{"event":"exception","data":{"status":"error","#,
                r#""message":"sum expects an array of at most 16 integers","#,
                r#""cause":{"pattern":"sum","data":"x"}}}"#
            )),
        ),
        (
            "after drops",
            txt(r#"{"event":"echo","data":"after drops"}"#),
        ),
        ("101 /chat b", CHAT_101.as_bytes().to_vec()),
        ("101 /chat c", CHAT_101.as_bytes().to_vec()),
        (
            "broadcast to b",
            txt(r#"{"event":"message","data":"hello room"}"#),
        ),
        (
            "broadcast to c",
            txt(r#"{"event":"message","data":"hello room"}"#),
        ),
        ("leave", close(4000, "left the chat")),
        ("after leave", Vec::new()),
        // The close code and reason come back as the client sent them.
        ("close a", close(1000, "done")),
        ("close b", close(1000, "done")),
    ]
}

#[test]
fn same_gateways_same_frames_on_embassy_and_tokio() {
    let on_embassy = harness::run(LIMIT, |net| async move {
        // Three clients at once: a, b and c.
        let (server, _) = shared_gateways::<3>(Config::DEFAULT);
        net.serve(server);
        sample_exchange(&net).await
    });

    let on_tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(async {
            use wsgate::transport::tokio::{TokioOptions, TokioServer};
            let mut server: TokioServer<4> =
                TokioServer::bind("127.0.0.1:0".parse().unwrap(), TokioOptions::default())
                    .expect("bind 127.0.0.1:0");
            server
                .bind_message_handlers(Box::new(events::events_gateway()))
                .expect("room for /");
            server
                .bind_message_handlers(Box::new(events::chat_gateway()))
                .expect("room for /chat");
            let dial = TokioDial(server.local_addr());
            let run = server.clone();
            tokio::time::timeout(LIMIT, async move {
                tokio::select! {
                    r = run.run() => panic!("the tokio server stopped: {r:?}"),
                    t = sample_exchange(&dial) => t,
                }
            })
            .await
            .expect("the tokio exchange did not finish in time")
        });

    let show = |t: &Transcript| {
        t.iter()
            .map(|(l, b)| format!("{l}: {}", b.escape_ascii()))
            .collect::<Vec<_>>()
    };
    assert_eq!(show(&on_embassy), show(&expected_transcript()));
    assert_eq!(show(&on_tokio), show(&on_embassy));
    assert_eq!(on_tokio, on_embassy, "byte for byte");
}

// ---------------------------------------------------------------------------------------
// 11. No client starves the others, and nothing is lost without a trace (issue 10)
// ---------------------------------------------------------------------------------------

/// A message no handler answers: the flooder sends it over and over.
const NOPE: &[u8] = br#"{"event":"nope"}"#;
/// `NOPE` frames per write of the flooder.
const FLOOD_BATCH: usize = 200;
/// The flooder gives up after this many batches (about 8.4 MiB), so a server that serves no
/// one else while it floods fails the test instead of hanging it.
const FLOOD_BATCHES: usize = 2_000;

/// One client streams messages that need no answer, as fast as its socket takes them. While
/// it does, another client's `echo` is answered and a new client upgrades and is answered
/// too: the flooder's turns end after its share, and the other tasks run between them.
#[test]
fn a_flooding_client_does_not_starve_the_others() {
    let (st, nopes) = harness::run(Duration::from_secs(30), |net| async move {
        let (server, _) = shared_gateways::<3>(Config::DEFAULT);
        net.serve(server);
        let mut other = connect(&net, "/").await;
        let mut flooder = connect(&net, "/").await;

        let batch: Vec<u8> = (0..FLOOD_BATCH).flat_map(|_| text(NOPE)).collect();
        assert_eq!(batch.len(), FLOOD_BATCH * (6 + NOPE.len()));
        // Batches written in full; the flood is over once this reaches FLOOD_BATCHES.
        let written = Cell::new(0usize);
        let stop = Cell::new(false);
        let flood = async {
            while !stop.get() && written.get() < FLOOD_BATCHES {
                flooder.io.write_all(&batch).await.expect("flood write");
                written.set(written.get() + 1);
            }
        };
        let still_flooding = || written.get() < FLOOD_BATCHES;
        let meanwhile = async {
            net.step("the flood starts");
            eventually("the flooder wrote 64 KiB", || {
                written.get() * batch.len() >= 64 << 10
            })
            .await;
            eventually("the server drops the flood's messages", || {
                server.stats().dropped_unknown_event > 0
            })
            .await;

            net.step("an echo during the flood");
            echo(&mut other, "during the flood").await;
            assert!(still_flooding(), "the echo came only after the flood ended");

            net.step("a new client during the flood");
            let mut late = connect(&net, "/").await;
            echo(&mut late, "late").await;
            assert!(
                still_flooding(),
                "the new client was served only after the flood"
            );
            echo(&mut other, "again").await;
            assert!(
                still_flooding(),
                "the second echo came only after the flood ended"
            );
            stop.set(true);
            late
        };
        let ((), mut late) = join(flood, meanwhile).await;

        net.step("the flooder says goodbye after its last batch");
        // The server reads every byte of the flood before the close frame.
        goodbye(&mut flooder).await;
        goodbye(&mut other).await;
        goodbye(&mut late).await;
        eventually("every slot is released", || {
            server.with_server(|s| s.client_count()) == 0
        })
        .await;
        (server.stats(), written.get() * FLOOD_BATCH)
    });
    assert!(nopes > 0);
    assert_eq!(st.dropped_unknown_event as usize, nopes);
    assert_eq!(st.messages as usize, nopes + 3);
    assert_eq!(st.dispatched, 3);
    assert_eq!(st.frames_sent, 3);
    assert_eq!(st.upgraded, 3);
    assert_eq!(st.closed_by_peer, 3);
    assert_eq!(st.closed_protocol_error, 0);
    assert_eq!(st.send_failed, 0);
}

/// A client that trickles a frame in, one byte every 100 ms, keeps its idle timer fresh
/// (the ping interval is shorter than the message deadline), but not the message deadline:
/// 300 ms after the frame's first byte it gets 1008, and its one slot serves the next client.
#[test]
fn a_trickled_message_gets_1008_at_its_deadline() {
    let st = harness::run(LIMIT, |net| async move {
        let (server, _) = shared_gateways::<1>(Config {
            timeouts: Timeouts {
                ping_interval_ms: 250,
                // A ping (if the trickle ever paused that long) must not end the connection
                // before the message deadline does.
                pong_timeout_ms: 1_000,
                message_ms: 300,
                ..QUICK
            },
            ..Config::DEFAULT
        });
        net.serve(server);
        let mut c = connect(&net, "/").await;
        echo(&mut c, "before").await;

        net.step("trickling a frame in");
        let bytes = text(&echo_message(100));
        // 106 bytes at 100 ms each would take 10 s: the deadline comes long before.
        for b in bytes.chunks(1) {
            if server.stats().closed_message_timeout > 0 {
                break;
            }
            // The server may already have closed: a failed write ends the trickle too.
            if c.io.write_all(b).await.is_err() || c.io.flush().await.is_err() {
                break;
            }
            Timer::after_millis(100).await;
        }
        net.step("the 1008");
        let mut f = c.frame().await;
        if f.opcode == OpCode::Ping {
            // Only if the trickle stalled past the ping interval (a loaded machine).
            f = c.frame().await;
        }
        assert_eq!(f.header, [0x88, 30]);
        assert_eq!(f.close_code(), Some(1008));
        assert_eq!(f.close_reason(), "message not received in time");
        assert_eq!(
            c.rest().await,
            b"",
            "the server ends the connection after 1008"
        );
        c.shutdown().await;
        eventually("the slot is released", || {
            server.with_server(|s| s.client_count()) == 0
        })
        .await;

        net.step("the one slot serves the next client");
        let mut next = connect(&net, "/").await;
        echo(&mut next, "next").await;
        goodbye(&mut next).await;
        server.stats()
    });
    assert_eq!(st.closed_message_timeout, 1);
    assert_eq!(st.closed_idle, 0);
    assert_eq!(st.upgraded, 2);
    assert_eq!(st.messages, 2);
    assert_eq!(st.dispatched, 2);
    assert_eq!(st.closed_by_peer, 1);
    assert_eq!(st.refused_full, 0);
}

/// Every client of the harness comes from 10.42.0.2. With `max_per_address: 2` and three
/// slots, the third connection gets 429 (not 503: a slot is free) and is closed; the first
/// two are served, and when one leaves the address may connect again.
#[test]
fn a_third_client_from_one_address_gets_429() {
    let st = harness::run(LIMIT, |net| async move {
        let (server, _) = shared_gateways::<3>(Config {
            max_per_address: 2,
            ..Config::DEFAULT
        });
        net.serve(server);
        let mut a = connect(&net, "/").await;
        let mut b = connect(&net, "/").await;

        net.step("the third client from 10.42.0.2");
        let mut c = WsClient::new(net.dial().await);
        c.send(&harness::upgrade_request("/", None)).await;
        let refused = c.rest().await;
        assert_eq!(
            String::from_utf8_lossy(&refused),
            "HTTP/1.1 429 Too Many Requests\r\n\
             Retry-After: 1\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 39\r\n\
             Connection: close\r\n\
             \r\n\
             too many connections from this address\n"
        );
        assert_eq!(refused, TOO_MANY_FROM_ADDRESS_RESPONSE);
        c.shutdown().await;
        assert_eq!(server.client_count(), 2, "a slot is still free");

        net.step("the first two are still served");
        echo(&mut a, "a").await;
        echo(&mut b, "b").await;

        net.step("one leaves: the address may connect again");
        goodbye(&mut a).await;
        eventually("a's slot is released", || server.client_count() == 1).await;
        let mut d = connect(&net, "/").await;
        echo(&mut d, "d").await;
        goodbye(&mut b).await;
        goodbye(&mut d).await;
        // The 429 ends with FINs both ways, not a reset.
        Timer::after_millis(50).await;
        assert_eq!(net.server_resets(), 0, "TCP resets from the server");
        server.stats()
    });
    assert_eq!(st.refused_per_address, 1);
    assert_eq!(st.refused_full, 0);
    assert_eq!(st.accepted, 3);
    assert_eq!(st.upgraded, 3);
    assert_eq!(st.closed_by_peer, 3);
}

/// Six 700-byte echoes in one write: their replies (6 × 704 bytes) are twice the 2 KiB
/// transmit buffer. The messages whose replies do not fit wait for room instead of being
/// dropped: every reply comes, exactly, in order.
#[test]
fn a_burst_of_replies_larger_than_tx_loses_none() {
    const COUNT: usize = 6;
    const LEN: usize = 700;
    let st = harness::run(LIMIT, |net| async move {
        let (server, _) = shared_gateways::<2>(Config::DEFAULT);
        net.serve(server);
        let mut c = connect(&net, "/").await;

        let messages: Vec<Vec<u8>> = (0..COUNT)
            .map(|i| {
                let mut m = echo_message(LEN);
                // `{"event":"echo","data":"` is 24 bytes: number the messages.
                m[24] = b'0' + i as u8;
                m
            })
            .collect();
        let burst: Vec<u8> = messages.iter().flat_map(|m| text(m)).collect();
        // The replies overflow TX twice over (checked at compile time).
        const { assert!(COUNT * (LEN + 4) > 2 * 2048) };

        net.step("the burst, in one write");
        c.send(&burst).await;
        for (i, m) in messages.iter().enumerate() {
            net.step(&format!("reply {i}"));
            let reply = c.frame().await;
            assert_eq!(reply.header, [0x81, 126, 0x02, 0xBC], "reply {i}");
            assert!(reply.payload == *m, "reply {i}, exactly");
        }
        echo(&mut c, "nothing else came").await;
        goodbye(&mut c).await;
        server.stats()
    });
    assert_eq!(st.messages as usize, COUNT + 1);
    assert_eq!(st.dispatched as usize, COUNT + 1);
    assert_eq!(st.frames_sent as usize, COUNT + 1);
    assert_eq!(st.send_failed, 0);
    assert_eq!(st.closed_no_room, 0);
    assert_eq!(st.exceptions, 0);
    assert_eq!(st.dropped(), 0);
}
