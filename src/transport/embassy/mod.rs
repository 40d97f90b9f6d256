//! The embassy-net transport (feature `embassy`): wsgate on a microcontroller.
//!
//! An [`EmbassyServer`] holds the sans-IO [`Server`] in an `embassy_sync` blocking mutex and
//! one [`Signal`] per slot. Firmware runs [`EmbassyServer::run_slot`] in a few tasks (or joins
//! them in one): each owns one `embassy_net::tcp::TcpSocket` and its buffers, accepts on the
//! server's port, and runs the [`session`] loop on it. Run one more task than there
//! are slots: a client beyond capacity then gets `503 Service Unavailable` instead of a TCP
//! reset. Each client is accepted with its peer's address ([`Server::accept_from`]), so
//! [`Config::max_per_address`] applies: a client from an address that holds that many slots
//! already gets `429 Too Many Requests` the same way. Broadcasts and sends from other tasks
//! go through the same mutex and wake the target's task through its signal, with the
//! bounded-buffer policy of the core (a frame that does not fit a slow client's transmit
//! buffer is dropped for it and counted).
//!
//! Nothing here allocates: the server, the signals and every buffer are sized at compile
//! time and live in `static`s (`StaticCell`) or in the tasks. Time comes from `embassy-time`.
//!
//! This module owns the sockets, the clock, the wake-up signals and the lock around the
//! server, and implements the session's [`Host`] with them; the [`session`] submodule owns
//! the per-client async loop. Neither parses, frames or dispatches anything: the sans-IO
//! [`Server`] does, through its public API, and it knows nothing of this transport.
//!
//! ```no_run
//! use embassy_executor::Spawner;
//! use embassy_net::Stack;
//! use embassy_sync::blocking_mutex::raw::NoopRawMutex;
//! use static_cell::StaticCell;
//! use wsgate::gateway::Gateway;
//! use wsgate::transport::embassy::EmbassyServer;
//! use wsgate::{Config, WebSocketAdapter};
//!
//! type Ws = EmbassyServer<NoopRawMutex, 4>; // 4 slots of 2 KiB + 2 KiB buffers
//! static SERVER: StaticCell<Ws> = StaticCell::new();
//! static EVENTS: StaticCell<Gateway<(), 8>> = StaticCell::new();
//!
//! #[embassy_executor::task(pool_size = 5)] // 4 slots + 1 that answers refusals (503, 429)
//! async fn ws_task(stack: Stack<'static>, server: &'static Ws) -> ! {
//!     let (mut rx, mut tx) = ([0u8; 2048], [0u8; 2048]); // the TCP socket's buffers
//!     let (mut rbuf, mut wbuf) = ([0u8; 1024], [0u8; 2048]); // the session's
//!     server.run_slot(stack, &mut rx, &mut tx, &mut rbuf, &mut wbuf).await
//! }
//!
//! fn start(spawner: Spawner, stack: Stack<'static>) {
//!     let events = EVENTS.init(Gateway::new("/", ()));
//!     events.on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?)).unwrap();
//!     let mut server = Ws::new(80, Config::DEFAULT);
//!     server.bind_message_handlers(events).unwrap();
//!     let server: &'static Ws = SERVER.init(server);
//!     for _ in 0..5 {
//!         spawner.spawn(ws_task(stack, server).unwrap());
//!     }
//! }
//! # fn main() {}
//! ```

pub mod session;

use crate::adapter::{ConnectCallback, DisconnectCallback, WebSocketAdapter};
use crate::gateway::{Broadcast, ClientId, GatewayId, Service};
use crate::server::{Config, Refused, Server, ServerError};
use crate::stats::Stats;
use core::cell::{Cell, RefCell};
use core::future::poll_fn;
use core::net::IpAddr;
use core::pin::Pin;
use core::task::Poll;
use embassy_net::Stack;
use embassy_net::tcp::{State, TcpSocket};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Instant, Timer};
use serde::Serialize;
use session::{Host, Socket, Turn};

/// wsgate on embassy-net. See the [module docs](self).
///
/// `M` is the mutex kind (`NoopRawMutex` when every task runs on one executor,
/// `CriticalSectionRawMutex` across executors or interrupts); `N` slots, `RX`-byte messages
/// at most, `TX`-byte transmit buffers, `G` gateways.
pub struct EmbassyServer<
    M: RawMutex,
    const N: usize,
    const RX: usize = 2048,
    const TX: usize = 2048,
    const G: usize = 4,
> {
    server: Mutex<M, RefCell<Server<'static, N, RX, TX, G>>>,
    wakes: [Signal<M, ()>; N],
    port: u16,
    /// Tasks currently answering a refused client (503 or 429).
    refusing: Mutex<M, Cell<u16>>,
}

impl<M: RawMutex, const N: usize, const RX: usize, const TX: usize, const G: usize>
    EmbassyServer<M, N, RX, TX, G>
{
    /// A server that will accept on `port`; `const` so it can be a `static`'s initialiser.
    pub const fn new(port: u16, config: Config) -> Self {
        EmbassyServer {
            server: Mutex::new(RefCell::new(Server::new(config))),
            wakes: [const { Signal::new() }; N],
            port,
            refusing: Mutex::new(Cell::new(0)),
        }
    }

    /// The port it accepts on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `f` on the server under the lock. Every access goes through here, so the
    /// firmware holds one `RefCell` borrow check (and one panic location), not one per call.
    fn locked<R>(&self, f: impl FnOnce(&mut Server<'static, N, RX, TX, G>) -> R) -> R {
        self.server.lock(|s| f(&mut s.borrow_mut()))
    }

    /// Runs `f` on the sans-IO server, then wakes the tasks of clients it queued frames for.
    pub fn with_server<R>(&self, f: impl FnOnce(&mut Server<'static, N, RX, TX, G>) -> R) -> R {
        let r = self.locked(f);
        self.wake_flagged(None);
        r
    }

    /// Clients connected now (any phase).
    pub fn client_count(&self) -> usize {
        self.locked(|s| s.client_count())
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        self.locked(|s| *s.stats())
    }

    /// Sends `{"event":..,"data":..}` to one client (from any task).
    pub fn send<T: Serialize + ?Sized>(
        &self,
        client: ClientId,
        event: &str,
        data: &T,
    ) -> Result<(), ServerError> {
        self.with_server(|s| s.send(client, event, data))
    }

    /// Sends `{"event":..,"data":..}` to every client of `gateway` (from any task).
    pub fn broadcast<T: Serialize + ?Sized>(
        &self,
        gateway: GatewayId,
        event: &str,
        data: &T,
    ) -> Broadcast {
        self.with_server(|s| s.broadcast(gateway, event, data))
    }

    /// Sends a text frame to every client of `gateway` (from any task).
    pub fn broadcast_text(&self, gateway: GatewayId, text: &str) -> Broadcast {
        self.with_server(|s| s.broadcast_text(gateway, text))
    }

    /// NestJS `close`, callable once tasks run: refuse new clients, close every client
    /// with 1001 Going Away.
    pub fn shutdown(&self) {
        let now = now_ms();
        self.locked(|s| s.close(now));
        self.wake_flagged(None);
    }

    fn wake_flagged(&self, except: Option<ClientId>) {
        self.locked(|s| {
            while let Some(i) = s.take_wake() {
                if except.is_some_and(|id| id.index() == i) {
                    continue;
                }
                if let Some(signal) = self.wakes.get(i) {
                    signal.signal(());
                }
            }
        });
    }

    /// Runs the gateways' `after_init` hooks ([`Server::init`]: only the first call does
    /// anything, so it may be called more than once). Every [`EmbassyServer::run_slot`]
    /// calls it before accepting, so calling it is only needed to run the hooks earlier.
    pub fn init(&self) {
        self.locked(|s| s.init());
    }

    /// One connection task: forever accept a client on the server's port with one socket,
    /// serve it until it leaves, and start again. `rx` and `tx` are the TCP socket's
    /// buffers, `rbuf` and `wbuf` the session's read and write buffers.
    ///
    /// The client is accepted with its peer's address ([`Server::accept_from`]). A refused
    /// client gets [`Refused::response`] (503 when every slot is taken or the server is
    /// closing, 429 past [`Config::max_per_address`]), then the socket is closed. At most
    /// `N` tasks answer refusals at once (each lingers up to the close timeout for the
    /// peer's FIN); beyond that a refused socket is reset at once.
    pub async fn run_slot(
        &self,
        stack: Stack<'_>,
        rx: &mut [u8],
        tx: &mut [u8],
        rbuf: &mut [u8],
        wbuf: &mut [u8],
    ) -> ! {
        self.init();
        loop {
            let mut socket = WsSocket(TcpSocket::new(stack, rx, tx));
            if socket.0.accept(self.port).await.is_err() {
                continue;
            }
            // Small frames go out at once (the tokio transport sets TCP_NODELAY too).
            socket.0.set_nagle_enabled(false);
            let now = now_ms();
            // The server refuses (and counts) when it is full or closing, or when the peer's
            // address holds its share of slots already.
            let peer = socket.0.remote_endpoint().map(|ep| IpAddr::from(ep.addr));
            let accepted = self.locked(|s| match peer {
                Some(ip) => s.accept_from(ip, now),
                None => s.accept(now),
            });
            match accepted {
                Ok(id) => {
                    debug!("client {} connected", id.as_u32());
                    session::run(self, id, &mut socket, rbuf, wbuf).await;
                }
                Err(refused) => self.refuse(refused, &mut socket, rbuf).await,
            }
            // A socket that closed both ways is done; any other state is cut with a reset
            // (the peer did not finish the close within the linger time, or vanished).
            if !matches!(socket.0.state(), State::Closed | State::TimeWait) {
                socket.0.abort();
                let _ = socket.0.flush().await;
            }
        }
    }

    /// Answers a refused client with `refused`'s response and lingers, unless `N` tasks are
    /// doing so already (then the caller resets the socket).
    async fn refuse(&self, refused: Refused, socket: &mut WsSocket<'_>, rbuf: &mut [u8]) {
        let busy = self.refusing.lock(|c| {
            let n = c.get();
            c.set(n.saturating_add(1));
            n
        });
        if busy < N as u16 {
            use embedded_io_async::Write;
            if socket.write_all(refused.response()).await.is_ok() {
                session::linger(self, socket, rbuf).await;
            }
        }
        self.refusing.lock(|c| c.set(c.get().saturating_sub(1)));
    }
}

fn now_ms() -> u64 {
    Instant::now().as_millis()
}

impl<M: RawMutex, const N: usize, const RX: usize, const TX: usize, const G: usize> Host
    for EmbassyServer<M, N, RX, TX, G>
{
    fn now_ms(&self) -> u64 {
        now_ms()
    }
    fn linger_ms(&self) -> u64 {
        self.locked(|s| u64::from(s.config().timeouts.close_timeout_ms).max(100))
    }
    fn release(&self, id: ClientId) {
        self.locked(|s| s.release(id));
        self.wake_flagged(Some(id));
    }
    /// The whole turn under one lock, through the server's public calls. An unknown client
    /// gets a turn that did nothing, with `close: true`: each call answers for it as
    /// nothing to do, and [`Server::wants_close`] says true.
    fn turn(&self, id: ClientId, input: &[u8], out: &mut [u8]) -> Turn {
        let now = now_ms();
        self.locked(|s| {
            let used = if input.is_empty() {
                // Whether it dispatched one, the output and `wants_close` below tell.
                let _ = s.resume(id, now);
                0
            } else {
                s.feed(id, input, now).unwrap_or(0)
            };
            s.poll(id, now);
            let turn = Turn {
                used,
                out: s.take_output(id, out),
                close: s.wants_close(id),
                deadline: s.next_deadline(id),
            };
            while let Some(i) = s.take_wake() {
                if i != id.index()
                    && let Some(signal) = self.wakes.get(i)
                {
                    signal.signal(());
                }
            }
            turn
        })
    }
    // These two return plain futures rather than `async` blocks: no state machine of their
    // own, and a smaller task future.
    fn wait_wake(&self, slot: usize) -> impl Future<Output = ()> {
        let mut wait = self.wakes.get(slot).map(Signal::wait);
        poll_fn(move |cx| match wait.as_mut() {
            Some(w) => Pin::new(w).poll(cx),
            None => Poll::Pending,
        })
    }
    fn sleep_until(&self, deadline: Option<u64>) -> impl Future<Output = ()> {
        let mut timer = deadline.map(|ms| Timer::at(Instant::from_millis(ms)));
        poll_fn(move |cx| match timer.as_mut() {
            Some(t) => Pin::new(t).poll(cx),
            None => Poll::Pending,
        })
    }
}

/// An embassy-net TCP socket as a session [`Socket`].
pub(crate) struct WsSocket<'a>(pub(crate) TcpSocket<'a>);

impl embedded_io_async::ErrorType for WsSocket<'_> {
    type Error = embassy_net::tcp::Error;
}

impl embedded_io_async::Read for WsSocket<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.0.read(buf).await
    }
}

impl embedded_io_async::Write for WsSocket<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.write(buf).await
    }
    /// Returns at once: what was written sits in the socket's buffer, which the stack sends
    /// by itself. (`TcpSocket::flush` waits until the peer has acknowledged everything,
    /// which would cost a delayed ACK, often 40 ms, on every batch of replies.)
    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl Socket for WsSocket<'_> {
    async fn shutdown_write(&mut self) {
        // smoltcp sends the FIN after whatever is still queued.
        self.0.close();
    }
}

impl<M: RawMutex, const N: usize, const RX: usize, const TX: usize, const G: usize> WebSocketAdapter
    for EmbassyServer<M, N, RX, TX, G>
{
    /// The server's settings.
    type Options = Config;
    /// Gateways live in `static`s (`StaticCell`).
    type Gateway = &'static mut dyn Service;
    /// The only failure is a full gateway table.
    type Error = ServerError;

    fn create(port: u16, options: Config) -> Result<Self, ServerError> {
        Ok(Self::new(port, options))
    }

    fn bind_client_connect(&mut self, callback: ConnectCallback) {
        self.server
            .get_mut()
            .get_mut()
            .bind_client_connect(callback);
    }

    fn bind_client_disconnect(&mut self, callback: DisconnectCallback) {
        self.server
            .get_mut()
            .get_mut()
            .bind_client_disconnect(callback);
    }

    fn bind_message_handlers(
        &mut self,
        gateway: &'static mut dyn Service,
    ) -> Result<GatewayId, ServerError> {
        self.server.get_mut().get_mut().add_gateway(gateway)
    }

    fn close(&mut self) {
        self.shutdown();
    }
}
