//! Features `full` and `adapter`: wsgate's embassy transport. `TASKS` tasks run
//! [`EmbassyServer::run_slot`], each with its own TCP socket and buffers; the server, its
//! slots and the gateways live in `static`s.
//!
//! `full` binds the NestJS sample's `events` and `chat` gateways and serves the control page
//! (`examples/shared/events.rs`); `adapter` binds one gateway with a single `echo` handler,
//! so that its size is the adapter's and not the sample application's.

use crate::{PORT, READ_BUF, RX, SOCKET_RX, SOCKET_TX, TASKS, TX, WRITE_BUF};
use defmt::{info, unwrap};
use embassy_executor::Spawner;
use embassy_net::Stack;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use static_cell::StaticCell;
use wsgate::gateway::ClientId;
use wsgate::transport::embassy::EmbassyServer;
use wsgate::{CloseCode, Config, ConnectInfo, WebSocketAdapter};

/// Gateways the server has room for.
const GATEWAYS: usize = if cfg!(feature = "full") { 2 } else { 1 };

/// Every task runs on the one thread-mode executor, so a no-op mutex is enough.
type Server = EmbassyServer<NoopRawMutex, { crate::SLOTS }, RX, TX, GATEWAYS>;

static SERVER: StaticCell<Server> = StaticCell::new();

#[embassy_executor::task(pool_size = TASKS)]
async fn ws_task(stack: Stack<'static>, server: &'static Server) -> ! {
    let (mut rx, mut tx) = ([0u8; SOCKET_RX], [0u8; SOCKET_TX]);
    let (mut rbuf, mut wbuf) = ([0u8; READ_BUF], [0u8; WRITE_BUF]);
    server
        .run_slot(stack, &mut rx, &mut tx, &mut rbuf, &mut wbuf)
        .await
}

fn on_connect(client: ClientId, info: &ConnectInfo<'_>) {
    info!("client {} connected to {}", client.as_u32(), info.path());
}

fn on_disconnect(client: ClientId, code: CloseCode) {
    info!("client {} left with {}", client.as_u32(), code.as_u16());
}

#[cfg(feature = "full")]
fn bind(server: &mut Server) {
    use crate::events;
    static EVENTS: StaticCell<events::EventsGateway> = StaticCell::new();
    static CHAT: StaticCell<events::ChatGateway> = StaticCell::new();
    unwrap!(server.bind_message_handlers(EVENTS.init(events::events_gateway())));
    unwrap!(server.bind_message_handlers(CHAT.init(events::chat_gateway())));
}

#[cfg(feature = "adapter")]
fn bind(server: &mut Server) {
    static ECHO: StaticCell<wsgate::Gateway<(), 1>> = StaticCell::new();
    unwrap!(server.bind_message_handlers(ECHO.init(crate::echo_gateway())));
}

/// Builds the server, binds the gateways and the hooks, and starts the tasks.
pub fn spawn(spawner: Spawner, stack: Stack<'static>) {
    let config = Config {
        #[cfg(feature = "full")]
        pages: crate::events::PAGES,
        ..Config::DEFAULT
    };
    let server = SERVER.init(Server::new(PORT, config));
    bind(server);
    server.bind_client_connect(on_connect);
    server.bind_client_disconnect(on_disconnect);
    let server: &'static Server = server;
    for _ in 0..TASKS {
        spawner.spawn(unwrap!(ws_task(stack, server)));
    }
}
