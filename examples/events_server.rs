//! The NestJS sample `16-gateways-ws`, on wsgate.
//!
//! - `/` is the `events` gateway: `events` answers 1, 2, 3 as three frames, `echo` answers
//!   `{"event":"echo","data":<data>}`, `identity` answers the data as it is, `sum` adds up
//!   an array of at most 16 integers (anything else gets NestJS's `exception` frame).
//! - `/chat` (subprotocol `chat.v1`) broadcasts each `message` event to every client of
//!   `/chat`; `leave` closes the client with code 4000.
//! - A plain `GET /` (a browser) gets a page that tries both with the native `WebSocket` API.
//!
//! The gateways are in `examples/shared/events.rs`, written once for every transport.
//!
//! Run: `cargo run --example events_server` then open <http://127.0.0.1:8080/>.
//! Options: `--host 0.0.0.0` to listen on every interface, `--port N` (`0` picks a free port;
//! the lines printed at start show the address), `--max-per-address N` to accept at most `N`
//! connections at once from one remote address (more get `429 Too Many Requests`; default 0,
//! no limit, as clients behind one NAT or proxy share an address).
//!
//! At start it raises its open-file soft limit to the hard limit (a one-line warning when it
//! cannot).

#[path = "shared/events.rs"]
mod events;

#[path = "shared/limits.rs"]
mod limits;

use std::io::Write;
use std::net::IpAddr;
use wsgate::gateway::{ClientId, ConnectInfo};
use wsgate::transport::tokio::{TokioOptions, TokioServer};
use wsgate::{CloseCode, Config, WebSocketAdapter};

fn on_connect(client: ClientId, info: &ConnectInfo<'_>) {
    println!("connect    {client} {}", info.path());
}

fn on_disconnect(client: ClientId, code: CloseCode) {
    println!("disconnect {client} {code}");
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    limits::raise_open_file_limit();
    let host: IpAddr = arg("--host")
        .and_then(|h| h.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(8080);
    let max_per_address: u16 = arg("--max-per-address")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);

    let options = TokioOptions {
        host,
        config: Config {
            pages: events::PAGES,
            max_per_address,
            ..Config::DEFAULT
        },
        ..TokioOptions::default()
    };
    let mut server: TokioServer<16> = TokioServer::create(port, options)?;
    // The gateways live in examples/shared/events.rs, shared with the embassy examples.
    server.bind_message_handlers(Box::new(events::events_gateway()))?;
    server.bind_message_handlers(Box::new(events::chat_gateway()))?;
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
