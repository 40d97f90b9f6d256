//! The wire contract (DESIGN §2-§5) end to end: a real `TokioServer` on 127.0.0.1, driven by
//! `tokio-tungstenite` (an independent WebSocket client) and by plain TCP for the HTTP side.
//!
//! Every frame is compared as exact text, every refusal by its exact status line, every
//! counter by its exact value. Every wait is bounded, so a bug fails instead of hanging.

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wsgate::gateway::{
    Broadcast, ClientId, ConnectInfo, Context, Data, DropReason, Gateway, GatewayId, HandlerError,
    HandlerResult,
};
use wsgate::protocol::http::{HttpError, SERVER_FULL_RESPONSE, Status};
use wsgate::transport::tokio::{TokioOptions, TokioServer};
use wsgate::{CloseCode, Config, Page, WebSocketAdapter};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upper bound for any single wait.
const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn bind<const N: usize>(config: Config) -> TokioServer<N> {
    TokioServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        TokioOptions {
            config,
            ..TokioOptions::default()
        },
    )
    .expect("bind 127.0.0.1:0")
}

/// Runs the server and `client` concurrently on this task; returns what `client` returns.
/// The server must keep running for the whole client part.
async fn drive<const N: usize, F: Future>(server: &TokioServer<N>, client: F) -> F::Output {
    let srv = server.clone();
    tokio::time::timeout(Duration::from_secs(8), async move {
        tokio::select! {
            r = srv.run() => panic!("run() returned while clients were still working: {r:?}"),
            out = client => out,
        }
    })
    .await
    .expect("test did not finish in time")
}

async fn connect(addr: SocketAddr, path: &str) -> Ws {
    let url = format!("ws://{addr}{path}");
    let (ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url.as_str()))
        .await
        .unwrap_or_else(|_| panic!("connect to {url} timed out"))
        .unwrap_or_else(|e| panic!("connect to {url} failed: {e:?}"));
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

/// Connects and expects the handshake to be refused with an HTTP status; returns it.
async fn connect_refused(addr: SocketAddr, path: &str) -> u16 {
    let url = format!("ws://{addr}{path}");
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url.as_str()))
        .await
        .unwrap_or_else(|_| panic!("connect to {url} timed out"))
    {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("connect to {url}: expected an HTTP refusal, got {e:?}"),
        Ok(_) => panic!("connect to {url}: expected an HTTP refusal, got 101"),
    }
}

async fn next_msg(ws: &mut Ws) -> Message {
    match tokio::time::timeout(WAIT, ws.next()).await {
        Err(_) => panic!("no frame within {WAIT:?}"),
        Ok(None) => panic!("stream ended while a frame was expected"),
        Ok(Some(Err(e))) => panic!("read error while a frame was expected: {e:?}"),
        Ok(Some(Ok(m))) => m,
    }
}

/// The next frame, which must be a text frame.
async fn next_text(ws: &mut Ws) -> String {
    match next_msg(ws).await {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The next frame, which must be a close frame; returns (code, reason).
async fn next_close(ws: &mut Ws) -> (u16, String) {
    match next_msg(ws).await {
        Message::Close(Some(f)) => (u16::from(f.code), f.reason.as_str().to_owned()),
        other => panic!("expected a close frame with a code, got {other:?}"),
    }
}

/// Reads until the stream ends (this also flushes tungstenite's close reply).
async fn drain(ws: &mut Ws) {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Err(_) => panic!("stream did not end within {WAIT:?}"),
            Ok(None) | Ok(Some(Err(_))) => return,
            Ok(Some(Ok(m))) => assert!(
                matches!(m, Message::Close(_)),
                "unexpected frame after close: {m:?}"
            ),
        }
    }
}

async fn send_text(ws: &mut Ws, text: &str) {
    tokio::time::timeout(WAIT, ws.send(Message::text(text)))
        .await
        .expect("send timed out")
        .expect("send failed");
}

/// Sends an `echo` event and checks that the very next frame is its reply: proof that
/// nothing was queued before it.
async fn echo_roundtrip(ws: &mut Ws, tag: &str) {
    send_text(ws, &format!(r#"{{"event":"echo","data":"{tag}"}}"#)).await;
    assert_eq!(
        next_text(ws).await,
        format!(r#"{{"event":"echo","data":"{tag}"}}"#)
    );
}

/// Writes `request` on a fresh TCP connection and reads the answer until EOF.
async fn raw_http(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    tokio::time::timeout(WAIT, async {
        let mut s = TcpStream::connect(addr).await.expect("tcp connect");
        s.write_all(request).await.expect("tcp write");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("tcp read");
        out
    })
    .await
    .expect("no EOF within the wait")
}

/// Writes `request` and reads up to the end of the response head (`\r\n\r\n`).
async fn raw_head(addr: SocketAddr, request: &[u8]) -> String {
    tokio::time::timeout(WAIT, async {
        let mut s = TcpStream::connect(addr).await.expect("tcp connect");
        s.write_all(request).await.expect("tcp write");
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        let end = loop {
            if let Some(i) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut buf).await.expect("tcp read");
            assert!(n > 0, "EOF before the end of the response head: {out:?}");
            out.extend_from_slice(&buf[..n]);
        };
        // Frames may follow the head in the same read; keep the head only.
        out.truncate(end);
        String::from_utf8(out).expect("response head is UTF-8")
    })
    .await
    .expect("no response head within the wait")
}

/// Waits (bounded) until `cond` holds; the server keeps running meanwhile.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let ok = tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "never happened: {what}");
}

fn echo<S>(_: &mut S, cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
    Ok(cx.reply_raw("echo", data.json())?)
}

// ---------------------------------------------------------------------------------------
// 1. The NestJS sample
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn nestjs_sample_events_replies_one_two_three() {
    fn events(calls: &mut u32, cx: &mut Context<'_>, _: Data<'_>) -> HandlerResult {
        *calls += 1;
        for i in 1..=3 {
            cx.reply("events", &i)?;
        }
        Ok(())
    }
    let mut g: Gateway<u32, 4> = Gateway::new("/", 0);
    g.on("events", events).unwrap();
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let mut ws = connect(addr, "/").await;
        send_text(&mut ws, r#"{"event":"events","data":"test"}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"event":"events","data":1}"#);
        assert_eq!(next_text(&mut ws).await, r#"{"event":"events","data":2}"#);
        assert_eq!(next_text(&mut ws).await, r#"{"event":"events","data":3}"#);
    })
    .await;

    let st = server.stats();
    assert_eq!(st.upgraded, 1);
    assert_eq!(st.messages, 1);
    assert_eq!(st.dispatched, 1);
    assert_eq!(st.frames_sent, 3);
    assert_eq!(st.dropped(), 0);
    assert_eq!(st.exceptions, 0);
}

// ---------------------------------------------------------------------------------------
// 2. WsResponse with structured data, raw echo, identity
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn structured_reply_raw_echo_and_identity() {
    #[derive(Serialize)]
    struct Device<'a> {
        name: &'a str,
        online: bool,
        temps: [i16; 2],
        load: Option<u8>,
    }
    fn status(_: &mut (), cx: &mut Context<'_>, _: Data<'_>) -> HandlerResult {
        let d = Device {
            name: "probe \"7\"",
            online: true,
            temps: [-4, 21],
            load: None,
        };
        Ok(cx.reply("status", &d)?)
    }
    fn identity(_: &mut (), cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
        Ok(cx.send_raw_json(data.json())?)
    }
    let mut g: Gateway<(), 4> = Gateway::new("/", ());
    g.on("status", status).unwrap();
    g.on("echo", echo).unwrap();
    g.on("identity", identity).unwrap();
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let mut ws = connect(addr, "/").await;
        send_text(&mut ws, r#"{"event":"status"}"#).await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"status","data":{"name":"probe \"7\"","online":true,"temps":[-4,21],"load":null}}"#
        );
        // Python's json.dumps puts spaces after ':' and ','; the reply is compact.
        send_text(&mut ws, r#"{"event": "echo", "data": {"a": [1, 2]}}"#).await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"echo","data":{"a":[1,2]}}"#
        );
        // Key order free, extra keys ignored, whitespace inside strings kept.
        send_text(
            &mut ws,
            "{ \"extra\" : 1 ,\n \"data\" : { \"s\" : \"a b\" , \"n\" : [ true , null ] } , \"event\" : \"echo\" }",
        )
        .await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"echo","data":{"s":"a b","n":[true,null]}}"#
        );
        // An escaped event name is the same name (JSON.parse would unescape it).
        send_text(&mut ws, r#"{"event":"ec\u0068o","data":"x"}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"event":"echo","data":"x"}"#);
        send_text(&mut ws, r#"{"event": "identity", "data": {"x": [1, {"y": "z"}]}}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"x":[1,{"y":"z"}]}"#);
    })
    .await;

    let st = server.stats();
    assert_eq!(st.messages, 5);
    assert_eq!(st.dispatched, 5);
    assert_eq!(st.frames_sent, 5);
    assert_eq!(st.send_failed, 0);
}

// ---------------------------------------------------------------------------------------
// 3. Falsy values are sent; no value, no frame
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn falsy_values_are_sent_and_no_value_sends_no_frame() {
    let mut g: Gateway<(), 8> = Gateway::new("/", ());
    g.on("zero", |_, cx, _| Ok(cx.reply("x", &0)?)).unwrap();
    g.on("false", |_, cx, _| Ok(cx.reply("x", &false)?))
        .unwrap();
    g.on("empty", |_, cx, _| Ok(cx.reply("x", "")?)).unwrap();
    g.on("zero_raw", |_, cx, _| Ok(cx.send_json(&0)?)).unwrap();
    g.on("nothing", |_, _, _| Ok(())).unwrap();
    g.on("echo", echo).unwrap();
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let mut ws = connect(addr, "/").await;
        send_text(&mut ws, r#"{"event":"zero"}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"event":"x","data":0}"#);
        send_text(&mut ws, r#"{"event":"false"}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"event":"x","data":false}"#);
        send_text(&mut ws, r#"{"event":"empty"}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"event":"x","data":""}"#);
        send_text(&mut ws, r#"{"event":"zero_raw"}"#).await;
        assert_eq!(next_text(&mut ws).await, "0");
        // A handler that sends nothing: the very next frame is the following event's reply.
        send_text(&mut ws, r#"{"event":"nothing","data":0}"#).await;
        echo_roundtrip(&mut ws, "after-nothing").await;
    })
    .await;

    let st = server.stats();
    assert_eq!(st.messages, 6);
    assert_eq!(st.dispatched, 6);
    assert_eq!(st.frames_sent, 5);
}

// ---------------------------------------------------------------------------------------
// 4. The exception frame, byte for byte
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn exception_frames_byte_for_byte() {
    let mut g: Gateway<(), 8> = Gateway::new("/", ());
    g.on("login", |_, _, _| {
        Err(HandlerError::Ws("Invalid credentials"))
    })
    .unwrap();
    g.on("boom", |_, _, _| Err(HandlerError::Internal)).unwrap();
    g.on("obj", |_, _, _| {
        Err(HandlerError::WsObject(r#"{"code":42}"#))
    })
    .unwrap();
    g.on("echo", echo).unwrap();
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let mut ws = connect(addr, "/").await;
        send_text(&mut ws, r#"{"event":"login","data":{"user":"a"}}"#).await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"exception","data":{"status":"error","message":"Invalid credentials","cause":{"pattern":"login","data":{"user":"a"}}}}"#
        );
        // The cause's data is the client's data, compacted.
        send_text(&mut ws, r#"{"event": "login", "data": {"user": "a"}}"#).await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"exception","data":{"status":"error","message":"Invalid credentials","cause":{"pattern":"login","data":{"user":"a"}}}}"#
        );
        send_text(&mut ws, r#"{"event":"boom","data":[1,2]}"#).await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"exception","data":{"status":"error","message":"Internal server error","cause":{"pattern":"boom","data":[1,2]}}}"#
        );
        // data absent: the cause has only the pattern.
        send_text(&mut ws, r#"{"event":"login"}"#).await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"exception","data":{"status":"error","message":"Invalid credentials","cause":{"pattern":"login"}}}"#
        );
        send_text(&mut ws, r#"{"event":"obj","data":1}"#).await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"exception","data":{"code":42}}"#
        );
        // The connection stays open after exceptions.
        echo_roundtrip(&mut ws, "still-open").await;
    })
    .await;

    let st = server.stats();
    assert_eq!(st.exceptions, 5);
    assert_eq!(st.dispatched, 6);
    assert_eq!(st.messages, 6);
    assert_eq!(st.frames_sent, 1, "exception frames are not handler sends");
    assert_eq!(st.send_failed, 0);
}

// ---------------------------------------------------------------------------------------
// 5. Drops: no frame, the right counter, the on_drop hook
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn drops_send_nothing_and_are_counted_and_reported() {
    type Seen = Rc<RefCell<Vec<DropReason>>>;
    let seen: Seen = Rc::default();
    let mut g: Gateway<Seen, 4> = Gateway::new("/", seen.clone());
    g.on("echo", echo).unwrap();
    g.on_drop(|seen, _, reason| seen.borrow_mut().push(reason));
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let mut ws = connect(addr, "/").await;

        send_text(&mut ws, r#"{"event":"echo","data":"#).await;
        echo_roundtrip(&mut ws, "1").await;
        let st = server.stats();
        assert_eq!(
            (
                st.dropped_invalid_json,
                st.dropped_not_object,
                st.dropped_no_event,
                st.dropped_unknown_event
            ),
            (1, 0, 0, 0)
        );

        send_text(&mut ws, r#"["echo","x"]"#).await;
        echo_roundtrip(&mut ws, "2").await;
        let st = server.stats();
        assert_eq!(
            (
                st.dropped_invalid_json,
                st.dropped_not_object,
                st.dropped_no_event,
                st.dropped_unknown_event
            ),
            (1, 1, 0, 0)
        );

        send_text(&mut ws, r#"{"data":1}"#).await;
        echo_roundtrip(&mut ws, "3").await;
        let st = server.stats();
        assert_eq!(
            (
                st.dropped_invalid_json,
                st.dropped_not_object,
                st.dropped_no_event,
                st.dropped_unknown_event
            ),
            (1, 1, 1, 0)
        );

        send_text(&mut ws, r#"{"event":"nope","data":1}"#).await;
        echo_roundtrip(&mut ws, "4").await;
        let st = server.stats();
        assert_eq!(
            (
                st.dropped_invalid_json,
                st.dropped_not_object,
                st.dropped_no_event,
                st.dropped_unknown_event
            ),
            (1, 1, 1, 1)
        );
    })
    .await;

    assert_eq!(
        *seen.borrow(),
        [
            DropReason::InvalidJson,
            DropReason::NotAnObject,
            DropReason::NoEvent,
            DropReason::UnknownEvent
        ]
    );
    let st = server.stats();
    assert_eq!(st.dropped(), 4);
    assert_eq!(st.messages, 8);
    assert_eq!(st.dispatched, 4);
    assert_eq!(st.frames_sent, 4);
    assert_eq!(st.exceptions, 0);
}

// ---------------------------------------------------------------------------------------
// 6. A binary frame holding JSON is dispatched like text
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn binary_frame_with_json_is_dispatched_and_answered_in_text() {
    fn kind(_: &mut (), cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
        Ok(cx.reply("kind", &data.is_binary())?)
    }
    let mut g: Gateway<(), 4> = Gateway::new("/", ());
    g.on("echo", echo).unwrap();
    g.on("kind", kind).unwrap();
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let mut ws = connect(addr, "/").await;
        ws.send(Message::binary(
            br#"{"event":"echo","data":{"bin":[1,2,3]}}"#.to_vec(),
        ))
        .await
        .unwrap();
        match next_msg(&mut ws).await {
            Message::Text(t) => {
                assert_eq!(t.as_str(), r#"{"event":"echo","data":{"bin":[1,2,3]}}"#)
            }
            other => panic!("the reply to a binary message must be a text frame, got {other:?}"),
        }
        ws.send(Message::binary(br#"{"event":"kind"}"#.to_vec()))
            .await
            .unwrap();
        assert_eq!(next_text(&mut ws).await, r#"{"event":"kind","data":true}"#);
        send_text(&mut ws, r#"{"event":"kind"}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"event":"kind","data":false}"#);
    })
    .await;

    assert_eq!(server.stats().dispatched, 3);
}

// ---------------------------------------------------------------------------------------
// 7. Two gateways on two paths; unknown path 404
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn two_gateways_route_by_path_and_unknown_path_is_404() {
    let mut root: Gateway<(), 4> = Gateway::new("/", ());
    root.on("who", |_, cx, _| Ok(cx.reply("who", "root")?))
        .unwrap();
    root.on("echo", echo).unwrap();
    let mut chat: Gateway<(), 4> = Gateway::new("/chat", ());
    chat.on("who", |_, cx, _| Ok(cx.reply("who", "chat")?))
        .unwrap();
    // Room for the three clients plus refused connections still lingering.
    let mut server = bind::<8>(Config::DEFAULT);
    assert_eq!(
        server.bind_message_handlers(Box::new(root)).unwrap(),
        GatewayId(0)
    );
    assert_eq!(
        server.bind_message_handlers(Box::new(chat)).unwrap(),
        GatewayId(1)
    );
    let addr = server.local_addr();

    drive(&server, async {
        let mut a = connect(addr, "/").await;
        let mut b = connect(addr, "/chat").await;
        // The query is ignored for routing.
        let mut c = connect(addr, "/chat?x=1").await;
        send_text(&mut a, r#"{"event":"who"}"#).await;
        send_text(&mut b, r#"{"event":"who"}"#).await;
        send_text(&mut c, r#"{"event":"who"}"#).await;
        assert_eq!(next_text(&mut a).await, r#"{"event":"who","data":"root"}"#);
        assert_eq!(next_text(&mut b).await, r#"{"event":"who","data":"chat"}"#);
        assert_eq!(next_text(&mut c).await, r#"{"event":"who","data":"chat"}"#);
        // "/chat" has no echo handler: dropped as unknown, not routed to "/".
        send_text(&mut b, r#"{"event":"echo","data":1}"#).await;
        send_text(&mut b, r#"{"event":"who"}"#).await;
        assert_eq!(next_text(&mut b).await, r#"{"event":"who","data":"chat"}"#);

        assert_eq!(connect_refused(addr, "/nope").await, 404);
        assert_eq!(connect_refused(addr, "/chat/more").await, 404);
    })
    .await;

    let st = server.stats();
    assert_eq!(st.upgraded, 3);
    assert_eq!(st.http_404, 2);
    assert_eq!(st.dropped_unknown_event, 1);
}

// ---------------------------------------------------------------------------------------
// 8. Broadcast within a gateway, from a handler and from outside
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn broadcast_reaches_the_gateway_only() {
    type Results = Rc<RefCell<Vec<Broadcast>>>;
    fn message(results: &mut Results, cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
        let b = cx.broadcast_raw("message", data.json());
        results.borrow_mut().push(b);
        Ok(())
    }
    let results: Results = Rc::default();
    let mut root: Gateway<(), 4> = Gateway::new("/", ());
    root.on("echo", echo).unwrap();
    let mut chat: Gateway<Results, 4> = Gateway::new("/chat", results.clone());
    chat.on("message", message).unwrap();
    let mut server = bind::<8>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(root)).unwrap();
    let chat_id = server.bind_message_handlers(Box::new(chat)).unwrap();
    assert_eq!(chat_id, GatewayId(1));
    let addr = server.local_addr();

    drive(&server, async {
        let mut c1 = connect(addr, "/chat").await;
        let mut c2 = connect(addr, "/chat").await;
        let mut c3 = connect(addr, "/chat").await;
        let mut r = connect(addr, "/").await;

        send_text(&mut c2, r#"{"event": "message", "data": "hi"}"#).await;
        for ws in [&mut c1, &mut c2, &mut c3] {
            assert_eq!(next_text(ws).await, r#"{"event":"message","data":"hi"}"#);
        }
        echo_roundtrip(&mut r, "root-1").await;
        assert_eq!(
            *results.borrow(),
            [Broadcast {
                queued: 3,
                dropped: 0
            }]
        );

        let b = server.broadcast(GatewayId(1), "tick", &5);
        assert_eq!(
            b,
            Broadcast {
                queued: 3,
                dropped: 0
            }
        );
        for ws in [&mut c1, &mut c2, &mut c3] {
            assert_eq!(next_text(ws).await, r#"{"event":"tick","data":5}"#);
        }
        echo_roundtrip(&mut r, "root-2").await;
    })
    .await;

    let st = server.stats();
    assert_eq!(st.frames_sent, 3 + 1 + 3 + 1);
    assert_eq!(st.broadcast_dropped, 0);
    assert_eq!(st.dispatched, 3);
}

// ---------------------------------------------------------------------------------------
// 9. Subprotocol negotiation
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn subprotocol_first_client_token_the_server_supports() {
    fn proto(_: &mut (), cx: &mut Context<'_>, info: &ConnectInfo<'_>) {
        let _ = cx.reply("protocol", &info.protocol());
    }
    let mut g: Gateway<(), 4> = Gateway::new("/", ());
    g.subprotocols(&["chat.v2", "chat.v1"]).on_connect(proto);
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let mut req = format!("ws://{addr}/").into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("chat.v1, chat.v2"),
        );
        let (mut ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("connect timed out")
            .expect("handshake with a supported subprotocol");
        let chosen: Vec<_> = resp
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(chosen, ["chat.v1"]);
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"protocol","data":"chat.v1"}"#
        );

        // Offering only unsupported protocols: upgraded, but no protocol header at all.
        let head = raw_head(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: other\r\n\r\n",
        )
        .await;
        assert!(
            head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
            "no protocol may be chosen: {head}"
        );

        // The same with a real client: it gets no protocol header (and so fails the
        // connection itself, as RFC 6455 asks of a client that requested one).
        let mut req = format!("ws://{addr}/").into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("other"));
        match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("connect timed out")
        {
            Err(WsError::Protocol(p)) => assert!(
                format!("{p:?}").contains("NoSubProtocol"),
                "unexpected protocol error {p:?}"
            ),
            Err(e) => panic!("expected NoSubProtocol, got {e:?}"),
            Ok((_, resp)) => panic!("expected no protocol header, got {:?}", resp.headers()),
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 10. Close with code and reason, both ways
// ---------------------------------------------------------------------------------------

static CLOSE_TEST_DISCONNECTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

fn close_test_on_disconnect(_: ClientId, code: CloseCode) {
    CLOSE_TEST_DISCONNECTS.lock().unwrap().push(code.0);
}

#[tokio::test(flavor = "current_thread")]
async fn close_with_code_and_reason_both_ways() {
    type Codes = Rc<RefCell<Vec<u16>>>;
    let hook_codes: Codes = Rc::default();
    let mut g: Gateway<Codes, 4> = Gateway::new("/", hook_codes.clone());
    g.on("kick", |_, cx, _| {
        cx.close(CloseCode(4002), "kicked");
        Ok(())
    })
    .unwrap();
    g.on("echo", echo).unwrap();
    g.on_disconnect(|codes, _, code| codes.borrow_mut().push(code.0));
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    server.bind_client_disconnect(close_test_on_disconnect);
    let addr = server.local_addr();

    drive(&server, async {
        // The client closes with 4001 "bye": the server echoes 4001.
        let mut a = connect(addr, "/").await;
        echo_roundtrip(&mut a, "a").await;
        a.send(Message::Close(Some(CloseFrame {
            code: WsCloseCode::from(4001),
            reason: "bye".into(),
        })))
        .await
        .unwrap();
        let (code, _) = next_close(&mut a).await;
        assert_eq!(code, 4001);
        drain(&mut a).await;
        drop(a);
        eventually("disconnect of the first client reported", || {
            !CLOSE_TEST_DISCONNECTS.lock().unwrap().is_empty()
        })
        .await;
        assert_eq!(*hook_codes.borrow(), [4001]);
        assert_eq!(*CLOSE_TEST_DISCONNECTS.lock().unwrap(), [4001]);
        let st = server.stats();
        assert_eq!((st.closed_by_peer, st.closed_by_server), (1, 0));

        // A handler closes with 4002 "kicked".
        let mut b = connect(addr, "/").await;
        send_text(&mut b, r#"{"event":"kick"}"#).await;
        assert_eq!(next_close(&mut b).await, (4002, "kicked".to_owned()));
        drain(&mut b).await;
        drop(b);
        eventually("the server-initiated close completes", || {
            server.stats().closed_by_server == 1
        })
        .await;
        eventually("disconnect of the second client reported", || {
            CLOSE_TEST_DISCONNECTS.lock().unwrap().len() == 2
        })
        .await;
        // Give a duplicate report every chance to show up before checking "exactly once".
        eventually("both slots released", || server.client_count() == 0).await;
    })
    .await;

    assert_eq!(*hook_codes.borrow(), [4001, 4002]);
    assert_eq!(*CLOSE_TEST_DISCONNECTS.lock().unwrap(), [4001, 4002]);
    let st = server.stats();
    assert_eq!(st.closed_by_peer, 1);
    assert_eq!(st.closed_by_server, 1);
    assert_eq!(st.closed_peer_gone, 0);
    assert_eq!(st.closed_close_timeout, 0);
}

// ---------------------------------------------------------------------------------------
// 11. Server close: 1001 to everyone, run() returns
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn server_close_sends_1001_to_all_and_run_returns() {
    let mut g: Gateway<(), 4> = Gateway::new("/", ());
    g.on("echo", echo).unwrap();
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();
    let mut handle = server.clone();

    let clients = async move {
        let mut a = connect(addr, "/").await;
        let mut b = connect(addr, "/").await;
        echo_roundtrip(&mut a, "a").await;
        echo_roundtrip(&mut b, "b").await;
        WebSocketAdapter::close(&mut handle);
        assert_eq!(next_close(&mut a).await.0, 1001);
        assert_eq!(next_close(&mut b).await.0, 1001);
        drain(&mut a).await;
        drain(&mut b).await;
    };
    let (run, ()) = tokio::time::timeout(Duration::from_secs(8), async {
        tokio::join!(server.run(), clients)
    })
    .await
    .expect("run() did not return after close()");
    run.expect("run() returns Ok after close()");

    let st = server.stats();
    assert_eq!(server.client_count(), 0);
    assert_eq!(st.closed_by_server, 2);
    assert_eq!(st.closed_close_timeout, 0);
    // Closed servers accept nobody.
    assert!(
        tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect attempt timed out")
            .is_err(),
        "the listener must be gone after run() returned"
    );
}

// ---------------------------------------------------------------------------------------
// 12. HTTP over TCP: pages, 426, 405, 503 when full
// ---------------------------------------------------------------------------------------

static PAGES: &[Page] = &[Page {
    path: "/",
    content_type: "text/plain; charset=utf-8",
    body: b"hello from wsgate\n",
}];

#[tokio::test(flavor = "current_thread")]
async fn plain_http_page_426_and_405() {
    let mut root: Gateway<(), 4> = Gateway::new("/", ());
    root.on("echo", echo).unwrap();
    let chat: Gateway<(), 4> = Gateway::new("/chat", ());
    // Room for refused connections still lingering besides the WebSocket client.
    let mut server = bind::<8>(Config {
        pages: PAGES,
        ..Config::DEFAULT
    });
    server.bind_message_handlers(Box::new(root)).unwrap();
    server.bind_message_handlers(Box::new(chat)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let resp = raw_http(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(
            String::from_utf8(resp).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 18\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n\
             hello from wsgate\n"
        );

        let resp =
            String::from_utf8(raw_http(addr, b"GET /chat HTTP/1.1\r\nHost: x\r\n\r\n").await)
                .unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{resp}"
        );
        assert!(resp.contains("\r\nUpgrade: websocket\r\n"), "{resp}");
        assert!(resp.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{resp}");
        assert_content_length_matches(&resp);

        let resp = String::from_utf8(
            raw_http(
                addr,
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            )
            .await,
        )
        .unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{resp}"
        );
        assert!(resp.contains("\r\nAllow: GET\r\n"), "{resp}");
        assert_content_length_matches(&resp);

        let resp =
            String::from_utf8(raw_http(addr, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").await)
                .unwrap();
        assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");

        // The page does not shadow the WebSocket upgrade on the same path.
        let mut ws = connect(addr, "/").await;
        echo_roundtrip(&mut ws, "page-and-ws").await;
    })
    .await;

    let st = server.stats();
    assert_eq!(st.pages_served, 1);
    assert_eq!(st.http_426, 1);
    assert_eq!(st.http_405, 1);
    assert_eq!(st.http_404, 1);
    assert_eq!(st.upgraded, 1);
}

fn assert_content_length_matches(resp: &str) {
    let (head, body) = resp.split_once("\r\n\r\n").expect("a complete response");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length header")
        .parse()
        .unwrap();
    assert_eq!(len, body.len(), "{resp}");
}

#[tokio::test(flavor = "current_thread")]
async fn full_server_answers_503_and_keeps_serving() {
    let mut g: Gateway<(), 4> = Gateway::new("/", ());
    g.on("echo", echo).unwrap();
    let mut server = bind::<2>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let mut a = connect(addr, "/").await;
        let mut b = connect(addr, "/").await;
        let third = tokio::time::timeout(WAIT, async {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            out
        })
        .await
        .expect("the refused connection was not closed");
        assert_eq!(
            String::from_utf8_lossy(&third),
            String::from_utf8_lossy(SERVER_FULL_RESPONSE)
        );
        echo_roundtrip(&mut a, "a").await;
        echo_roundtrip(&mut b, "b").await;
        assert_eq!(server.client_count(), 2);
    })
    .await;

    let st = server.stats();
    assert_eq!(st.refused_full, 1);
    assert_eq!(st.accepted, 2);
    assert_eq!(st.upgraded, 2);
}

// ---------------------------------------------------------------------------------------
// 13. Ping → pong with the same payload
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn client_ping_gets_pong_with_same_payload() {
    let mut g: Gateway<(), 4> = Gateway::new("/", ());
    g.on("echo", echo).unwrap();
    let mut server = bind::<4>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    let addr = server.local_addr();

    drive(&server, async {
        let mut ws = connect(addr, "/").await;
        ws.send(Message::Ping(b"abc".to_vec().into()))
            .await
            .unwrap();
        match next_msg(&mut ws).await {
            Message::Pong(p) => assert_eq!(&p[..], b"abc"),
            other => panic!("expected a pong, got {other:?}"),
        }
        ws.send(Message::Ping(Vec::new().into())).await.unwrap();
        match next_msg(&mut ws).await {
            Message::Pong(p) => assert!(p.is_empty(), "{p:?}"),
            other => panic!("expected a pong, got {other:?}"),
        }
        echo_roundtrip(&mut ws, "after-ping").await;
    })
    .await;

    assert_eq!(
        server.stats().messages,
        1,
        "control frames are not messages"
    );
}

// ---------------------------------------------------------------------------------------
// 14. Connect hook with path params and query; verify hook refusing with 401
// ---------------------------------------------------------------------------------------

static CONNECT_TEST_CONNECTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn connect_test_on_connect(_: ClientId, info: &ConnectInfo<'_>) {
    CONNECT_TEST_CONNECTS.lock().unwrap().push(format!(
        "{} {:?} {}",
        info.path(),
        info.param("id"),
        info.query()
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn connect_hook_params_and_verify_refusal() {
    fn verify(_: &mut (), info: &ConnectInfo<'_>) -> Result<(), HttpError> {
        match info.query_param("token") {
            Some("t") => Ok(()),
            _ => Err(HttpError::new(Status::Unauthorized, "bad token")),
        }
    }
    fn welcome(_: &mut (), cx: &mut Context<'_>, info: &ConnectInfo<'_>) {
        let _ = cx.reply("welcome", info.param("id").unwrap_or("?"));
        let _ = cx.reply("token", &info.query_param("token"));
    }
    let mut g: Gateway<(), 4> = Gateway::new("/rooms/:id", ());
    g.on("echo", echo).unwrap();
    g.on_connect(welcome).on_verify(verify);
    // Room for refused connections still lingering besides the WebSocket client.
    let mut server = bind::<8>(Config::DEFAULT);
    server.bind_message_handlers(Box::new(g)).unwrap();
    server.bind_client_connect(connect_test_on_connect);
    let addr = server.local_addr();

    drive(&server, async {
        let mut ws = connect(addr, "/rooms/42?token=t").await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"{"event":"welcome","data":"42"}"#
        );
        assert_eq!(next_text(&mut ws).await, r#"{"event":"token","data":"t"}"#);
        echo_roundtrip(&mut ws, "in-room").await;

        assert_eq!(connect_refused(addr, "/rooms/42?token=wrong").await, 401);
        assert_eq!(connect_refused(addr, "/rooms/42").await, 401);

        let resp = String::from_utf8(
            raw_http(
                addr,
                b"GET /rooms/7?token=x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .await,
        )
        .unwrap();
        assert!(resp.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{resp}");
        assert!(resp.ends_with("\r\n\r\nbad token\n"), "{resp}");
        assert_content_length_matches(&resp);
    })
    .await;

    let st = server.stats();
    assert_eq!(st.upgraded, 1);
    assert_eq!(st.http_401_403, 3);
    assert_eq!(st.frames_sent, 3);
    // Refused clients never reach bindClientConnect.
    assert_eq!(
        *CONNECT_TEST_CONNECTS.lock().unwrap(),
        [r#"/rooms/42 Some("42") token=t"#]
    );
}
