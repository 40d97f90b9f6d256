//! The gateways of the NestJS sample `16-gateways-ws`, written once and run unchanged by every
//! transport: `events_server` (tokio), `embassy_tap` (embassy-net on a TAP device) and the
//! firmware in `examples/firmware`. Only `core`, wsgate and heapless: it builds for a
//! microcontroller as it is.
//!
//! - `/`: `events` answers 1, 2, 3 as three frames, `echo` answers
//!   `{"event":"echo","data":<data>}`, `identity` answers the data as it is, `sum` adds up an
//!   array of at most 16 integers (anything else gets NestJS's `exception` frame).
//! - `/chat` (subprotocol `chat.v1`): each `message` is broadcast to every client of `/chat`;
//!   `leave` closes the client with code 4000.
//! - [`PAGES`]: the page a browser gets on a plain `GET /`.

use wsgate::gateway::{Context, Data, Gateway, HandlerError, HandlerResult};
use wsgate::{CloseCode, Page};

/// The `events` gateway's state: nothing but a counter of `events` calls.
#[derive(Default)]
pub struct Events {
    pub calls: u32,
}

/// The `/` gateway with its four handlers.
pub type EventsGateway = Gateway<Events, 8>;
/// The `/chat` gateway with its two handlers.
pub type ChatGateway = Gateway<(), 2>;

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

/// The `/` gateway.
pub fn events_gateway() -> EventsGateway {
    let mut gateway = Gateway::new("/", Events::default());
    for (event, handler) in [
        ("events", events as wsgate::gateway::Handler<Events>),
        ("echo", echo),
        ("identity", identity),
        ("sum", sum),
    ] {
        // Four distinct names in a table of eight: this cannot fail.
        let _ = gateway.on(event, handler);
    }
    gateway
}

/// The `/chat` gateway.
pub fn chat_gateway() -> ChatGateway {
    let mut chat = Gateway::new("/chat", ());
    chat.subprotocols(&["chat.v1"]);
    // Two distinct names in a table of two: this cannot fail.
    let _ = chat.on("message", message);
    let _ = chat.on("leave", leave);
    chat
}

/// The control page, served on a plain `GET /`.
pub static PAGES: &[Page] = &[Page {
    path: "/",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../events_page.html"),
}];
