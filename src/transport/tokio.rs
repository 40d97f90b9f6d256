//! The tokio transport (feature `tokio`): wsgate on a host, for servers and tests.
//!
//! One [`TokioServer`] owns the sans-IO [`Server`] in an `Rc<RefCell<..>>` and runs on the
//! current thread inside a `tokio::task::LocalSet`, with three tasks whatever the number of
//! clients:
//! - the accept loop puts each new socket in the table of its slot (connections above
//!   capacity get `503 Service Unavailable`);
//! - the driver steps every client whose socket became ready (or that another client queued
//!   frames for): it reads into one buffer shared by all clients, feeds the server, and
//!   writes everything one read produced straight from the slot's transmit buffer, in one
//!   write when the socket takes it;
//! - the timer task runs every client's timers and sleeps until the earliest deadline.
//!
//! Every client gets a bounded share: one step of a client is one read (at most
//! [`TokioOptions::read_buffer`] bytes) and one turn of the server ([`Server::feed`], which
//! stops after `Config::messages_per_turn` messages); input left over waits for the client's
//! next step, after every other ready client has had one. Between two rounds of steps the
//! driver yields to the runtime, so its I/O driver, the accept loop and the timers run
//! whatever one client sends.
//!
//! So an idle connection costs its slot, its socket and nothing else: no task, no buffer, no
//! timer of its own. Sockets that closed cleanly linger in a short task of their own until
//! the peer closes too, at most [`TokioOptions::max_lingering`] at once (beyond that they
//! are closed at once). Handles ([`TokioServer`] is `Clone`) can broadcast, send and close
//! from any task on the same thread.
//!
//! The transport allocates (the slot table, the shared buffer, the gateway boxes); the core
//! it drives does not.
//!
//! ```no_run
//! use wsgate::gateway::Gateway;
//! use wsgate::transport::tokio::{TokioOptions, TokioServer};
//! use wsgate::WebSocketAdapter;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> std::io::Result<()> {
//!     let mut events: Gateway<(), 4> = Gateway::new("/", ());
//!     events.on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?)).unwrap();
//!
//!     let mut server: TokioServer<8> = TokioServer::create(8080, TokioOptions::default())?;
//!     server.bind_message_handlers(Box::new(events))?;
//!     server.run().await
//! }
//! ```

use crate::adapter::{ConnectCallback, DisconnectCallback, WebSocketAdapter};
use crate::connection::Phase;
use crate::gateway::{Broadcast, ClientId, GatewayId, Service};
use crate::server::{Config, Server, ServerError};
use crate::stats::Stats;
use core::future::poll_fn;
use serde::Serialize;
use std::boxed::Box;
use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use std::vec::Vec;
use tokio::io::AsyncWriteExt;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Options of [`TokioServer::create`].
#[derive(Clone, Copy, Debug)]
pub struct TokioOptions {
    /// Address to listen on. Default 127.0.0.1 (set `0.0.0.0` to accept from the network).
    pub host: IpAddr,
    /// Server settings (timeouts, head limit, pages).
    pub config: Config,
    /// Size of the read buffer. There is one, shared by every connection (the transport
    /// runs on one thread and feeds each read to the server before the next), so it can be
    /// large; default 64 KiB. It is also the most one client's step reads.
    pub read_buffer: usize,
    /// Sockets that may linger at once after the server is done with them (an HTTP answer,
    /// a finished close handshake, a 503 or 429 refusal), each waiting up to the close
    /// timeout for the peer to close first so unread input does not turn the close into a
    /// reset. Past this many, sockets are closed at once (counted in
    /// [`TokioServer::closed_at_once`]): a client that opens sockets and never closes them
    /// holds at most this many descriptors besides the slots. Default 256.
    pub max_lingering: usize,
}

impl Default for TokioOptions {
    fn default() -> Self {
        TokioOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            config: Config::DEFAULT,
            read_buffer: 64 * 1024,
            max_lingering: 256,
        }
    }
}

struct Inner<const N: usize, const RX: usize, const TX: usize, const G: usize> {
    /// Itself, for the tasks it spawns.
    this: Weak<Self>,
    /// Boxed on its own, built by one `Box::new` of a `const fn`'s value: the optimiser
    /// then writes it straight into the allocation instead of building a copy on the stack
    /// first (which doubled the resident memory of servers with large buffers).
    server: Box<RefCell<Server<'static, N, RX, TX, G>>>,
    /// Each client's socket and loop state, by slot; `None` for a free slot.
    conns: RefCell<Vec<Option<Conn>>>,
    /// Slots the driver task has to look at (socket readiness, timers, frames queued by
    /// another client), and a waker per slot that queues it.
    ready: Arc<ReadyQueue>,
    wakers: Vec<Waker>,
    /// The read buffer of every connection: a read is fed to the server before the next
    /// one starts, so one buffer serves them all.
    scratch: RefCell<Box<[u8]>>,
    start: Instant,
    shutdown: Notify,
    closing: Cell<bool>,
    /// The timer task's next wake-up (ms), `u64::MAX` for none; a client whose deadline
    /// comes earlier wakes it through `timer_wake`.
    timer_at: Cell<u64>,
    timer_wake: Signal,
    /// Sockets lingering (or being refused) right now, and the bound on them.
    lingering: Cell<usize>,
    max_lingering: usize,
    /// Sockets closed without lingering because `max_lingering` were lingering already.
    closed_at_once: Cell<u64>,
}

/// wsgate on tokio. See the [module docs](self).
///
/// `N` connection slots, `RX`-byte messages at most, `TX`-byte transmit buffers, `G`
/// gateways.
pub struct TokioServer<
    const N: usize,
    const RX: usize = 4096,
    const TX: usize = 4096,
    const G: usize = 4,
> {
    inner: Rc<Inner<N, RX, TX, G>>,
    listener: Rc<RefCell<Option<std::net::TcpListener>>>,
    local_addr: SocketAddr,
}

impl<const N: usize, const RX: usize, const TX: usize, const G: usize> Clone
    for TokioServer<N, RX, TX, G>
{
    fn clone(&self) -> Self {
        TokioServer {
            inner: self.inner.clone(),
            listener: self.listener.clone(),
            local_addr: self.local_addr,
        }
    }
}

impl<const N: usize, const RX: usize, const TX: usize, const G: usize> TokioServer<N, RX, TX, G> {
    /// Binds `addr` (port 0 picks a free port; see [`TokioServer::local_addr`]).
    pub fn bind(addr: SocketAddr, options: TokioOptions) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let server = Box::new(RefCell::new(Server::new(options.config)));
        let ready = Arc::new(ReadyQueue::new(N));
        Ok(TokioServer {
            inner: Rc::new_cyclic(|this| Inner {
                this: this.clone(),
                server,
                conns: RefCell::new((0..N).map(|_| None).collect()),
                ready: ready.clone(),
                wakers: (0..N)
                    .map(|idx| {
                        Waker::from(Arc::new(SlotWake {
                            idx,
                            queue: ready.clone(),
                        }))
                    })
                    .collect(),
                scratch: RefCell::new(
                    std::vec![0u8; options.read_buffer.max(512)].into_boxed_slice(),
                ),
                start: Instant::now(),
                shutdown: Notify::new(),
                closing: Cell::new(false),
                timer_at: Cell::new(u64::MAX),
                timer_wake: Signal::default(),
                lingering: Cell::new(0),
                max_lingering: options.max_lingering,
                closed_at_once: Cell::new(0),
            }),
            listener: Rc::new(RefCell::new(Some(listener))),
            local_addr,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Bytes of the sans-IO server this transport holds (its slots and their buffers), all
    /// allocated when it is bound.
    pub fn server_size(&self) -> usize {
        core::mem::size_of::<Server<'static, N, RX, TX, G>>()
    }

    /// Bytes this transport allocates up front for its `N` clients: the server
    /// ([`TokioServer::server_size`]) plus, per slot, the socket's place and a waker.
    pub fn preallocated(&self) -> usize {
        let per_slot = core::mem::size_of::<Option<Conn>>()
            + core::mem::size_of::<Waker>()
            // The waker's `Arc` (two counts and its data) and the slot's ready flag.
            + 2 * core::mem::size_of::<usize>()
            + core::mem::size_of::<SlotWake>()
            + 1;
        self.server_size() + N * per_slot
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        *self.inner.server.borrow().stats()
    }

    /// Clients connected now (any phase).
    pub fn client_count(&self) -> usize {
        self.inner.server.borrow().client_count()
    }

    /// Sockets lingering now (see [`TokioOptions::max_lingering`]).
    pub fn lingering(&self) -> usize {
        self.inner.lingering.get()
    }

    /// Sockets closed without lingering so far, because [`TokioOptions::max_lingering`]
    /// sockets were lingering already.
    pub fn closed_at_once(&self) -> u64 {
        self.inner.closed_at_once.get()
    }

    /// Runs `f` on the sans-IO server (e.g. to read stats), then wakes clients it queued
    /// frames for.
    pub fn with_server<R>(&self, f: impl FnOnce(&mut Server<'static, N, RX, TX, G>) -> R) -> R {
        let r = f(&mut self.inner.server.borrow_mut());
        self.inner.wake_all_flagged(None);
        // `f` may have closed clients, which starts their close timers.
        self.inner.timer_wake.notify();
        r
    }

    /// Sends `{"event":..,"data":..}` to one client.
    pub fn send<T: Serialize + ?Sized>(
        &self,
        client: ClientId,
        event: &str,
        data: &T,
    ) -> Result<(), ServerError> {
        self.with_server(|s| s.send(client, event, data))
    }

    /// Sends `{"event":..,"data":..}` to every client of `gateway`.
    pub fn broadcast<T: Serialize + ?Sized>(
        &self,
        gateway: GatewayId,
        event: &str,
        data: &T,
    ) -> Broadcast {
        self.with_server(|s| s.broadcast(gateway, event, data))
    }

    /// Sends a text frame to every client of `gateway`.
    pub fn broadcast_text(&self, gateway: GatewayId, text: &str) -> Broadcast {
        self.with_server(|s| s.broadcast_text(gateway, text))
    }

    /// Accepts and serves clients on the current thread until [`WebSocketAdapter::close`]
    /// is called and every client has left (or the close timeout passed). Must be awaited
    /// from a tokio runtime; it runs its own `LocalSet`.
    pub async fn run(&self) -> io::Result<()> {
        let Some(std_listener) = self.listener.borrow_mut().take() else {
            return Err(io::Error::other("server is already running"));
        };
        let listener = TcpListener::from_std(std_listener)?;
        self.inner.server.borrow_mut().init();
        info!("wsgate listening on ws://{}", self.local_addr);
        let local = tokio::task::LocalSet::new();
        let inner = self.inner.clone();
        let timers = local.spawn_local(async move { inner.run_timers().await });
        let inner = self.inner.clone();
        let driver = local.spawn_local(async move { inner.drive().await });
        // The future `run_until` drives is polled on every turn of the local set, so it is a
        // cheap one; the accept loop runs as a task like the others.
        let done = Rc::new(Signal::default());
        let (this, finished) = (self.clone(), done.clone());
        local.spawn_local(async move {
            this.accept_loop(listener).await;
            finished.notify();
        });
        local.run_until(poll_fn(|cx| done.poll(cx))).await;
        timers.abort();
        driver.abort();
        Ok(())
    }

    async fn accept_loop(&self, listener: TcpListener) {
        loop {
            if self.inner.closing.get() {
                break;
            }
            let accepted = tokio::select! {
                r = listener.accept() => r,
                () = self.inner.shutdown.notified() => continue,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, most likely: wait for some to be freed.
                    warn!("accept failed: {}", e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let now = self.inner.now_ms();
            let slot = self.inner.server.borrow_mut().accept_from(peer.ip(), now);
            match slot {
                Ok(id) => {
                    // The handshake deadline may come before anything the timer waits for.
                    self.inner.note_deadline(id);
                    if let Some(place) = self.inner.conns.borrow_mut().get_mut(id.index()) {
                        *place = Some(Conn {
                            id,
                            stream,
                            held: Vec::new(),
                        });
                    }
                    self.inner.ready.push(id.index());
                }
                Err(refused) => self.inner.linger_or_close(stream, refused.response()),
            }
        }
        drop(listener);
        // Closing: let every client finish its close handshake, within the close timeout.
        let limit = u64::from(
            self.inner
                .server
                .borrow()
                .config()
                .timeouts
                .close_timeout_ms,
        )
        .saturating_add(1000);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(limit);
        while self.inner.server.borrow().client_count() > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl<const N: usize, const RX: usize, const TX: usize, const G: usize> Inner<N, RX, TX, G> {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    // Short calls into the server, each one borrow of it.

    fn feed(&self, id: ClientId, input: &[u8], now: u64) -> usize {
        self.server.borrow_mut().feed(id, input, now).unwrap_or(0)
    }

    fn resume(&self, id: ClientId, now: u64) -> bool {
        self.server.borrow_mut().resume(id, now).unwrap_or(false)
    }

    fn wants_close(&self, id: ClientId) -> bool {
        self.server.borrow().wants_close(id)
    }

    fn next_deadline(&self, id: ClientId) -> Option<u64> {
        self.server.borrow().next_deadline(id)
    }

    /// How long a closed socket waits for the peer's FIN after ours, in ms.
    fn linger_ms(&self) -> u64 {
        u64::from(self.server.borrow().config().timeouts.close_timeout_ms).max(100)
    }

    /// Frees `id`'s slot (the socket is done) and wakes the clients its leaving queued
    /// frames for.
    fn release(&self, id: ClientId) {
        let was = self.server.borrow().phase(id);
        self.server.borrow_mut().release(id);
        if was != Phase::Idle {
            trace!("released {}", id);
        }
        self.wake_all_flagged(Some(id));
    }

    fn wake_all_flagged(&self, except: Option<ClientId>) {
        let mut server = self.server.borrow_mut();
        while let Some(i) = server.take_wake() {
            if except.is_some_and(|id| id.index() == i) {
                continue;
            }
            self.ready.push(i);
        }
    }

    /// The driver task: runs every client. It waits until some slot is queued (its socket
    /// became readable or writable, a timer ran, another client queued frames for it), then
    /// steps each queued slot once. One task for all clients: an idle connection costs its
    /// slot, its socket and nothing else.
    ///
    /// A slot with more input than one step takes is queued again behind the others. When
    /// slots are queued again, the driver yields to the runtime before the next round (the
    /// wake-up is deferred until tokio has polled its I/O driver), so new connections,
    /// timers and every other socket's readiness are seen between rounds however fast one
    /// client sends.
    async fn drive(&self) {
        let mut batch = Vec::with_capacity(N);
        loop {
            poll_fn(|cx| self.ready.take(&mut batch, cx.waker())).await;
            for idx in batch.drain(..) {
                self.step(idx);
            }
            if self.ready.has_work() {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Gives slot `idx` one step: the tokio form of the embassy transport's session loop
    /// (`transport::embassy::session::run`). It writes out what the server holds for the
    /// client, then takes one turn: feeds input left from an earlier step, or reads once
    /// into the shared scratch buffer and feeds that, then writes the replies straight from
    /// the server's transmit buffer. It returns when the socket has nothing to read or no
    /// room to write (having registered the slot's waker), when the turn is over with input
    /// left (the slot is queued again, behind the others), or when the client is done.
    fn step(&self, idx: usize) {
        let Some(waker) = self.wakers.get(idx) else {
            return;
        };
        let mut cx = Context::from_waker(waker);
        let mut conns = self.conns.borrow_mut();
        let Some(conn) = conns.get_mut(idx).and_then(|c| c.as_mut()) else {
            return;
        };
        let id = conn.id;
        // One clock reading per step: a step is short, and time is in milliseconds.
        let now = self.now_ms();
        // Whether this step had its turn (one feed), and whether its read emptied the
        // socket (which also cleared tokio's read readiness).
        let mut turned = false;
        let mut drained = false;
        let clean = loop {
            match self.write_out(id, &conn.stream) {
                Err(()) => break false,
                Ok(false) => {
                    // The socket is full: the timers end a client that stopped reading.
                    if self.wants_close(id) {
                        break false;
                    }
                    if conn.stream.poll_write_ready(&mut cx).is_pending() {
                        self.note_deadline(id);
                        return;
                    }
                    continue;
                }
                Ok(true) => {}
            }
            if self.wants_close(id) {
                conn.held = Vec::new();
                break true;
            }
            // A message that waited for transmit room goes first (its replies now fit).
            if self.resume(id, now) {
                continue;
            }
            if turned {
                self.note_deadline(id);
                if !conn.held.is_empty() || !drained {
                    // More input than one turn: the others go first.
                    self.ready.push(idx);
                } else if conn.stream.poll_read_ready(&mut cx).is_ready() {
                    // More came in meanwhile: also after the others.
                    self.ready.push(idx);
                }
                return;
            }
            turned = true;
            if !conn.held.is_empty() {
                let used = self.feed_turn(id, &conn.held, now);
                conn.held.drain(..used);
                drained = true;
                continue;
            }
            let mut scratch = self.scratch.borrow_mut();
            match read_drained(&conn.stream, &mut scratch) {
                Ok(0) => break false,
                Ok(n) => {
                    drained = n < scratch.len();
                    let input = scratch.get(..n).unwrap_or(&[]);
                    let used = self.feed_turn(id, input, now);
                    if let Some(rest) = input.get(used..).filter(|r| !r.is_empty())
                        && !self.wants_close(id)
                    {
                        conn.held.extend_from_slice(rest);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.note_deadline(id);
                    if conn.stream.poll_read_ready(&mut cx).is_ready() {
                        self.ready.push(idx);
                    }
                    return;
                }
                Err(_) => break false,
            }
        };
        // The client is done: free the slot, and shut a clean socket down politely.
        let Some(conn) = conns.get_mut(idx).and_then(Option::take) else {
            return;
        };
        drop(conns);
        self.release(id);
        if clean {
            self.linger_or_close(conn.stream, b"");
        }
    }

    /// Writes `last` (if any: a 503 or 429 for a connection that got no slot), shuts the
    /// socket down and lets it linger in a task of its own until the peer closes or the
    /// linger time passes. Past [`TokioOptions::max_lingering`] lingering sockets, it writes
    /// what the socket takes at once and closes it now.
    fn linger_or_close(&self, stream: TcpStream, last: &'static [u8]) {
        let Some(inner) = self.this.upgrade() else {
            return;
        };
        if self.lingering.get() >= self.max_lingering {
            if !last.is_empty() {
                // Best effort: a fresh socket has room for a short answer.
                let _ = stream.try_write(last);
            }
            self.closed_at_once
                .set(self.closed_at_once.get().saturating_add(1));
            return;
        }
        self.lingering.set(self.lingering.get() + 1);
        tokio::task::spawn_local(async move {
            let mut stream = stream;
            if last.is_empty() || stream.write_all(last).await.is_ok() {
                inner.linger(stream).await;
            }
            inner.lingering.set(inner.lingering.get().saturating_sub(1));
        });
    }

    /// Wakes the timer task when `id`'s next deadline comes before the one it waits for.
    fn note_deadline(&self, id: ClientId) {
        if let Some(d) = self.next_deadline(id)
            && d < self.timer_at.get()
        {
            self.timer_wake.notify();
        }
    }

    /// The timer task: runs every client's due timers (handshake, ping, pong and close
    /// timeouts), wakes those clients, and sleeps until the earliest deadline left. One
    /// timer for the whole server instead of one per connection.
    async fn run_timers(&self) {
        let mut sleep = Box::pin(tokio::time::sleep_until(self.start.into()));
        loop {
            let now = self.now_ms();
            let mut next = u64::MAX;
            for idx in 0..N {
                let Some(id) = self.server.borrow().client_at(idx) else {
                    continue;
                };
                let Some(mut due) = self.next_deadline(id) else {
                    continue;
                };
                if due <= now {
                    self.server.borrow_mut().poll(id, now);
                    self.ready.push(idx);
                    match self.next_deadline(id) {
                        Some(d) => due = d,
                        None => continue,
                    }
                }
                next = next.min(due);
            }
            self.wake_all_flagged(None);
            self.timer_at.set(next);
            if next != u64::MAX {
                let at = self.start + Duration::from_millis(next);
                sleep.as_mut().reset(at.into());
            }
            let armed = next != u64::MAX;
            poll_fn(|cx| {
                if self.timer_wake.poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                if armed {
                    return sleep.as_mut().poll(cx);
                }
                Poll::Pending
            })
            .await;
        }
    }

    /// One turn of client `id`: feeds `input` to the server and wakes the clients it queued
    /// frames for; returns the bytes used (fewer than given when the transmit buffer filled
    /// or the client used its share of the turn: the rest waits for its next step).
    fn feed_turn(&self, id: ClientId, input: &[u8], now: u64) -> usize {
        let used = self.feed(id, input, now);
        self.wake_all_flagged(Some(id));
        used
    }

    /// Writes the server's output for `id` until it is all out (`Ok(true)`) or the socket is
    /// full (`Ok(false)`).
    fn write_out(&self, id: ClientId, stream: &TcpStream) -> Result<bool, ()> {
        let mut server = self.server.borrow_mut();
        loop {
            let out = server.output(id);
            if out.is_empty() {
                return Ok(true);
            }
            match stream.try_write(out) {
                Ok(0) => return Err(()),
                Ok(n) => server.consume(id, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(_) => return Err(()),
            }
        }
    }

    /// After the last bytes: FIN, then read and drop input until the peer closes or the
    /// linger time passes, so unread input never turns our close into a reset.
    async fn linger(&self, stream: TcpStream) {
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let limit = Duration::from_millis(self.linger_ms());
        // Boxed: only lingering sockets pay for a timer.
        let mut sleep = Box::pin(tokio::time::sleep(limit));
        loop {
            let readable = poll_fn(|cx| {
                if stream.poll_read_ready(cx).is_ready() {
                    return Poll::Ready(true);
                }
                sleep.as_mut().poll(cx).map(|()| false)
            })
            .await;
            if !readable {
                return;
            }
            let mut scratch = self.scratch.borrow_mut();
            match stream.try_read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

/// One client of the driver task.
struct Conn {
    id: ClientId,
    stream: TcpStream,
    /// Input the server could not take yet (its transmit buffer was full); empty, and
    /// unallocated, unless a client pipelines faster than it reads.
    held: Vec<u8>,
}

/// The slots waiting for the driver task, in the order they were queued, each at most
/// once. Wakers must be `Send + Sync`, hence the atomics and the mutex, though everything runs
/// on one thread (so they are never contended).
struct ReadyQueue {
    queued: Vec<AtomicBool>,
    inner: Mutex<Queued>,
}

struct Queued {
    list: Vec<usize>,
    /// The driver task, while it waits for a slot.
    driver: Option<Waker>,
}

impl ReadyQueue {
    fn new(n: usize) -> Self {
        ReadyQueue {
            queued: (0..n).map(|_| AtomicBool::new(false)).collect(),
            inner: Mutex::new(Queued {
                list: Vec::with_capacity(n),
                driver: None,
            }),
        }
    }

    /// Queues slot `idx` (once) and wakes the driver.
    fn push(&self, idx: usize) {
        let Some(flag) = self.queued.get(idx) else {
            return;
        };
        if flag.swap(true, Ordering::AcqRel) {
            return;
        }
        let driver = match self.inner.lock() {
            Ok(mut q) => {
                q.list.push(idx);
                q.driver.take()
            }
            Err(_) => None,
        };
        if let Some(w) = driver {
            w.wake();
        }
    }

    /// True when some slot is queued.
    fn has_work(&self) -> bool {
        self.inner.lock().is_ok_and(|q| !q.list.is_empty())
    }

    /// Moves the queued slots into `batch` (empty on entry), or registers `waker` for the
    /// next push.
    fn take(&self, batch: &mut Vec<usize>, waker: &Waker) -> Poll<()> {
        let Ok(mut q) = self.inner.lock() else {
            return Poll::Pending;
        };
        if q.list.is_empty() {
            match &q.driver {
                Some(w) if w.will_wake(waker) => {}
                _ => q.driver = Some(waker.clone()),
            }
            return Poll::Pending;
        }
        core::mem::swap(&mut q.list, batch);
        drop(q);
        for &idx in batch.iter() {
            if let Some(flag) = self.queued.get(idx) {
                flag.store(false, Ordering::Release);
            }
        }
        Poll::Ready(())
    }
}

/// Reads from `stream` into `buf`. A read that does not fill `buf` has emptied the socket's
/// receive queue, so it also clears tokio's read readiness (as a `WouldBlock` would): the
/// next `poll_read_ready` then waits for new data instead of costing one more `read` call
/// that would only say `WouldBlock`. (Tokio clears readiness only if no new event arrived
/// since the read began, so data that comes in meanwhile is not missed.)
fn read_drained(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    let r = stream.try_io(Interest::READABLE, || {
        let n = stream.try_read(buf)?;
        if n == 0 || n == buf.len() {
            return Ok(n);
        }
        got = n;
        Err(io::ErrorKind::WouldBlock.into())
    });
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        r => r,
    }
}

/// The waker of one slot: tokio's I/O driver (socket readiness) queues the slot with it.
struct SlotWake {
    idx: usize,
    queue: Arc<ReadyQueue>,
}

impl Wake for SlotWake {
    fn wake(self: Arc<Self>) {
        self.queue.push(self.idx);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.queue.push(self.idx);
    }
}

/// A wake-up for one slot's task, for tasks on one thread: a flag and the waker to call.
/// Like `Notify::notify_one`, a wake-up sent while nobody waits is kept for the next wait.
#[derive(Default)]
struct Signal {
    set: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Signal {
    fn notify(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.set.replace(false) {
            return Poll::Ready(());
        }
        let waker = match self.waker.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        self.waker.set(Some(waker));
        Poll::Pending
    }
}

impl<const N: usize, const RX: usize, const TX: usize, const G: usize> WebSocketAdapter
    for TokioServer<N, RX, TX, G>
{
    type Options = TokioOptions;
    type Gateway = Box<dyn Service>;
    type Error = io::Error;

    /// Binds `options.host:port`.
    fn create(port: u16, options: TokioOptions) -> io::Result<Self> {
        Self::bind(SocketAddr::new(options.host, port), options)
    }

    fn bind_client_connect(&mut self, callback: ConnectCallback) {
        self.inner.server.borrow_mut().bind_client_connect(callback);
    }

    fn bind_client_disconnect(&mut self, callback: DisconnectCallback) {
        self.inner
            .server
            .borrow_mut()
            .bind_client_disconnect(callback);
    }

    /// Adds a gateway. The gateway lives as long as the program (it is leaked: a gateway is
    /// a long-lived object, as in NestJS, and the server hands out `'static` borrows of it).
    fn bind_message_handlers(&mut self, gateway: Box<dyn Service>) -> io::Result<GatewayId> {
        let gateway: &'static mut dyn Service = Box::leak(gateway);
        self.inner
            .server
            .borrow_mut()
            .add_gateway(gateway)
            .map_err(|e| io::Error::other(std::format!("{e}")))
    }

    fn close(&mut self) {
        let now = self.inner.now_ms();
        self.inner.server.borrow_mut().close(now);
        self.inner.closing.set(true);
        self.inner.shutdown.notify_one();
        self.inner.wake_all_flagged(None);
        self.inner.timer_wake.notify();
    }
}
