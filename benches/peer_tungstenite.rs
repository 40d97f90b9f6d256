//! Peer server for the benchmark suite: a NestJS-style WebSocket server written the way a
//! Rust developer would write one with the usual crates, tokio-tungstenite and serde_json.
//!
//! `benches/run.sh` starts it (pinned to one core) in the place of wsgate's own server and
//! drives it with the same load generator, so the two can be compared on the same wire
//! protocol: NestJS WsAdapter text frames `{"event": ..., "data": ...}`.
//!
//! What it does, deliberately plain:
//! - `tokio_tungstenite::accept_async` with the default configuration, one task per
//!   connection, on a tokio `current_thread` runtime;
//! - a `HashMap` from event name to handler `fn(Value) -> Option<Value>`, like a gateway's
//!   `@SubscribeMessage` table;
//! - per text message: `serde_json::from_str::<Value>`, take `event` and `data`, call the
//!   handler with `data`; the handler builds its reply with
//!   `json!({"event": .., "data": ..})` (a NestJS `WsResponse`), and `Some(reply)` is sent
//!   back as `serde_json::to_string(&reply)` in one text message (`ws.send`, which flushes
//!   it at once), as NestJS's adapter sends `JSON.stringify` of what a handler returns.
//!
//! The one handler is `echo`, which returns `{"event":"echo","data":data}` (`json!` copies
//! `data` into the new value: it serializes every interpolated expression). As in NestJS's
//! WsAdapter, a message that is not JSON, has no string `event`, or names no handler gets no
//! answer, and binary messages are ignored. Pings are answered and closes completed by
//! tungstenite itself. serde_json's default `Map` sorts keys, so a reply's keys may come
//! back in another order than the request's; the load generator parses replies rather than
//! comparing bytes.
//!
//! Accepted sockets get `TCP_NODELAY`, as wsgate's tokio transport and Node's `ws` set it,
//! so no server in the comparison waits on Nagle's algorithm.
//!
//! Usage: `peer_tungstenite --port N` (0 = any free port). It binds 127.0.0.1, prints exactly
//! one line `listening on 127.0.0.1:PORT` to stdout once it listens, and runs until killed
//! (SIGTERM's default action). Without `--port` (as plain `cargo bench` runs it, with
//! `--bench`) it prints a one-line usage and exits 0.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;

use std::rc::Rc;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// A message handler: gets the message's `data`, returns the reply (`{"event", "data"}`)
/// or `None` for no reply.
type Handler = fn(Value) -> Option<Value>;

/// The event-name → handler table, shared by all connections of the one thread.
type Handlers = HashMap<&'static str, Handler>;

fn echo(data: Value) -> Option<Value> {
    Some(json!({"event": "echo", "data": data}))
}

fn handlers() -> Handlers {
    let mut map: Handlers = HashMap::new();
    map.insert("echo", echo);
    map
}

fn main() {
    let Some(port) = support::port_arg("peer_tungstenite") else {
        println!(
            "peer_tungstenite: a benchmark peer server started by benches/run.sh \
             (usage: peer_tungstenite --port N)"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, serve(port));
}

async fn serve(port: u16) {
    let listener = support::listen("peer_tungstenite", port).await;

    let handlers = Rc::new(handlers());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::task::spawn_local(connection(stream, Rc::clone(&handlers)));
            }
            // Out of file descriptors and the like: back off a little rather than spin.
            Err(e) => {
                eprintln!("peer_tungstenite: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, handlers: Rc<Handlers>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    // Ends when the client has closed: tungstenite answers its close frame while the stream
    // is polled on, then ends it (breaking out on `Message::Close` would drop the socket
    // before the answer is sent, and the client would see 1006).
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            // Pings are answered by tungstenite; binary frames mean nothing to the protocol.
            continue;
        };
        let Some(reply) = dispatch(&handlers, text.as_str()) else {
            continue;
        };
        if ws.send(Message::text(reply)).await.is_err() {
            break;
        }
    }
}

/// Parses one text message and runs its handler; the serialized reply, if any.
fn dispatch(handlers: &Handlers, text: &str) -> Option<String> {
    let Ok(mut message) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let handler = handlers.get(message.get("event")?.as_str()?)?;
    let data = message
        .get_mut("data")
        .map(Value::take)
        .unwrap_or(Value::Null);
    serde_json::to_string(&handler(data)?).ok()
}
