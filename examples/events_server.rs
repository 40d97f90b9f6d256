//! The NestJS sample `16-gateways-ws`, on wsgate.
//!
//! - `/` is the `events` gateway: `events` answers 1, 2, 3 as three frames, `echo` answers
//!   `{"event":"echo","data":<data>}`, `identity` answers the data as it is, `sum` adds up
//!   an array of at most 16 integers (anything else gets NestJS's `exception` frame).
//! - `/chat` (subprotocol `chat.v1`) broadcasts each `message` event to every client of
//!   `/chat`; `leave` closes the client with code 4000.
//! - A plain `GET /` (a browser) gets a page that tries both with the native `WebSocket` API.
//!
//! Run: `cargo run --example events_server` then open <http://127.0.0.1:8080/>.
//! Options: `--host 0.0.0.0` to listen on every interface, `--port N` (`0` picks a free port;
//! the lines printed at start show the address).

use std::io::Write;
use std::net::IpAddr;
use wsgate::gateway::{ClientId, ConnectInfo, Context, Data, Gateway, HandlerError, HandlerResult};
use wsgate::transport::tokio::{TokioOptions, TokioServer};
use wsgate::{CloseCode, Config, Page, WebSocketAdapter};

/// The `events` gateway's state: nothing but a counter of `events` calls.
#[derive(Default)]
struct Events {
    calls: u32,
}

/// `@SubscribeMessage('events')`: returns `from([1, 2, 3]).pipe(map(item => ({ event: 'events', data: item })))`.
fn events(state: &mut Events, cx: &mut Context<'_>, _data: Data<'_>) -> HandlerResult {
    state.calls += 1;
    for item in 1..=3 {
        cx.reply("events", &item)?;
    }
    Ok(())
}

/// `@SubscribeMessage('echo')`: returns `{ event: 'echo', data }`.
fn echo(_: &mut Events, cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
    Ok(cx.reply_raw("echo", data.json())?)
}

/// `@SubscribeMessage('identity')`: returns `data` as it is (nothing when it is absent).
fn identity(_: &mut Events, cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
    if let Some(raw) = data.raw().filter(|raw| *raw != b"null") {
        cx.send_raw_json(raw)?;
    }
    Ok(())
}

/// `@SubscribeMessage('sum')`: `data` must be an array of at most 16 integers; anything else
/// is like throwing `new WsException('...')`, which the client gets as an `exception` event.
fn sum(_: &mut Events, cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
    const BAD: HandlerError = HandlerError::Ws("sum expects an array of at most 16 integers");
    let numbers: heapless::Vec<i64, 16> = data.parse().map_err(|_| BAD)?;
    let total = numbers
        .iter()
        .try_fold(0i64, |total, n| total.checked_add(*n))
        .ok_or(HandlerError::Ws("the sum does not fit in 64 bits"))?;
    Ok(cx.reply("sum", &total)?)
}

/// `/chat` broadcasts each `message` to everyone in the room.
fn message(_: &mut (), cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
    cx.broadcast_raw("message", data.json());
    Ok(())
}

/// `/chat`'s `leave`: the server closes this client with an application close code.
fn leave(_: &mut (), cx: &mut Context<'_>, _data: Data<'_>) -> HandlerResult {
    cx.close(CloseCode(4000), "left the chat");
    Ok(())
}

fn on_connect(client: ClientId, info: &ConnectInfo<'_>) {
    println!("connect    {client} {}", info.path());
}

fn on_disconnect(client: ClientId, code: CloseCode) {
    println!("disconnect {client} {code}");
}

static PAGES: &[Page] = &[Page {
    path: "/",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("events_page.html"),
}];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let host: IpAddr = arg("--host")
        .and_then(|h| h.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(8080);

    let mut events_gateway: Gateway<Events, 8> = Gateway::new("/", Events::default());
    events_gateway
        .on("events", events)
        .and_then(|_| events_gateway.on("echo", echo))
        .and_then(|_| events_gateway.on("identity", identity))
        .and_then(|_| events_gateway.on("sum", sum))
        .expect("four handlers fit a table of eight");

    let mut chat: Gateway<(), 2> = Gateway::new("/chat", ());
    chat.protocols(&["chat.v1"]);
    chat.on("message", message)
        .and_then(|_| chat.on("leave", leave))
        .expect("two handlers fit a table of two");

    let options = TokioOptions {
        host,
        config: Config {
            pages: PAGES,
            ..Config::DEFAULT
        },
        ..TokioOptions::default()
    };
    let mut server: TokioServer<16> = TokioServer::create(port, options)?;
    server.bind_message_handlers(Box::new(events_gateway))?;
    server.bind_message_handlers(Box::new(chat))?;
    server.bind_client_connect(on_connect);
    server.bind_client_disconnect(on_disconnect);

    println!("wsgate events server");
    println!("  page:     http://{}/", server.local_addr());
    println!("  events:   ws://{}/", server.local_addr());
    println!("  chat:     ws://{}/chat", server.local_addr());
    std::io::stdout().flush()?;

    // Ctrl-C closes every client with 1001 Going Away, then `run` returns.
    let mut stopper = server.clone();
    let stop = async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            println!("shutting down");
            stopper.close();
        }
    };
    let (result, ()) = tokio::join!(server.run(), stop);
    result
}
