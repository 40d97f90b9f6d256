//! The sans-IO server: N connection slots, the gateways, routing, limits, timers, broadcast.
//!
//! A [`Server`] is what every transport drives (tokio, embassy, C): it is handed a slot when a
//! TCP connection arrives ([`Server::accept`]), the bytes read from it ([`Server::feed`]), the
//! time ([`Server::poll`]), and it hands back the bytes to write ([`Server::output`]) and
//! when to close the socket ([`Server::wants_close`]). It routes each upgrade to a gateway by
//! path, answers everything else with a real HTTP status (DESIGN §3), dispatches messages to
//! the gateway's handlers, and counts every refusal and drop in [`Stats`].
//!
//! Memory is fixed at compile time: `N` slots of `RX + TX + 125` bytes of buffers each, and
//! room for `G` gateways. It never allocates, never reads a clock, never touches a socket.

use crate::connection::{
    Connection, DisconnectCause, Event, MessageKind, Outbox, Phase, SendError, Timeouts,
};
use crate::gateway::{
    Broadcast, ClientId, ConnectInfo, Context, GatewayId, Peers, Service, send_raw_response,
    send_response,
};
use crate::protocol::close::CloseCode;
use crate::protocol::frame::OpCode;
use crate::protocol::handshake::Request;
use crate::protocol::http::{HttpError, Status};
use crate::stats::{Counter, Stats};
use routing::Decision;
use serde::Serialize;

mod routing;

/// A fixed page served on plain `GET` (a device's control page).
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// Path, matched like gateway paths (`/`, `/index.html`).
    pub path: &'static str,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// The body, streamed through the transmit buffer (it may be larger than it).
    pub body: &'static [u8],
}

/// Server settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Handshake, ping, pong and close timers.
    pub timeouts: Timeouts,
    /// Largest request head accepted, in bytes (at most the receive buffer); larger gets 431.
    pub max_head: usize,
    /// Fixed pages served on plain GET.
    pub pages: &'static [Page],
    /// Transmit room a handler may use beyond the size of the message it answers. A
    /// complete message of `L` bytes is dispatched when its client's transmit buffer is
    /// empty, or has `L + reply_room` bytes free (at most the whole buffer); otherwise it
    /// waits, and the client is not read, until earlier output has been written. So a
    /// handler whose replies take at most `L + reply_room` bytes never finds the buffer
    /// full. The default, 256, covers a reply as large as the message (an echo) and
    /// NestJS's exception frame quoting it; raise it for handlers that answer small
    /// messages with large replies.
    pub reply_room: usize,
    /// Messages one client may have dispatched in one turn (one [`Server::feed`]); then its
    /// turn ends, unread input stays with the transport, and the other clients get theirs.
    /// 0 means no limit.
    pub messages_per_turn: u16,
    /// Bytes one client's messages may queue into other clients' transmit buffers in one
    /// turn (for a broadcast, the frame's size; for a send to one client, its frame), at
    /// most half the transmit buffer. Past it the turn ends after the current message, so
    /// one client that floods a room cannot fill every member's buffer and crowd out the
    /// others' broadcasts. 0 means no limit.
    pub peer_bytes_per_turn: usize,
    /// Slots one remote address may hold at once ([`Server::accept_from`]); past it the
    /// connection is refused with 429 ([`Refused::PerAddress`]). 0 means no limit (the
    /// default: clients behind one NAT or proxy share an address).
    pub max_per_address: u16,
}

impl Config {
    /// Default timeouts, 4 KiB request heads, no pages, 256 bytes of reply room, 16
    /// messages and 1 KiB to other clients per turn, no per-address limit.
    pub const DEFAULT: Config = Config {
        timeouts: Timeouts::DEFAULT,
        max_head: 4096,
        pages: &[],
        reply_room: 256,
        messages_per_turn: 16,
        peer_bytes_per_turn: 1024,
        max_per_address: 0,
    };
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// NestJS `bindClientConnect` callback: a client finished its upgrade.
pub type ConnectCallback = fn(ClientId, &ConnectInfo<'_>);
/// NestJS `bindClientDisconnect` callback: a client left, with its close code.
pub type DisconnectCallback = fn(ClientId, CloseCode);

/// Why a TCP connection got no slot. The transport writes [`Refused::response`] and closes
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Refused {
    /// Every slot is taken.
    Full,
    /// The server is closing.
    Closing,
    /// The client's address holds [`Config::max_per_address`] slots already.
    PerAddress,
}

impl Refused {
    /// The HTTP answer to write before closing the socket: 503 for [`Refused::Full`] and
    /// [`Refused::Closing`], 429 for [`Refused::PerAddress`].
    #[must_use]
    pub const fn response(self) -> &'static [u8] {
        match self {
            Refused::Full | Refused::Closing => crate::protocol::http::SERVER_FULL_RESPONSE,
            Refused::PerAddress => crate::protocol::http::TOO_MANY_FROM_ADDRESS_RESPONSE,
        }
    }
}

impl core::fmt::Display for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Refused::Full => "every connection slot is taken",
            Refused::Closing => "the server is closing",
            Refused::PerAddress => "this address holds its share of the slots already",
        })
    }
}

impl core::error::Error for Refused {}

/// A remote address as a slot keeps it: IPv6, or IPv4 mapped into IPv6
/// (`::ffff:a.b.c.d`); all zero for "unknown" (`::` is never a TCP peer), so an idle slot
/// stays all zero bytes.
type Addr = [u8; 16];

/// The slot form of `ip`.
fn addr_of(ip: core::net::IpAddr) -> Addr {
    match ip {
        core::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        core::net::IpAddr::V6(v6) => v6.octets(),
    }
}

/// Errors of the server API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ServerError {
    /// The client id is not (or no longer) connected.
    UnknownClient,
    /// The gateway table is full: raise the server's `G`.
    TooManyGateways,
    /// The frame could not be queued.
    Send(SendError),
}

impl core::fmt::Display for ServerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ServerError::UnknownClient => f.write_str("unknown client (it has disconnected)"),
            ServerError::TooManyGateways => {
                f.write_str("gateway table full: raise the server's capacity G")
            }
            // The send error is the source (`Error::source`), not repeated here.
            ServerError::Send(_) => f.write_str("the frame could not be queued"),
        }
    }
}

impl core::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ServerError::Send(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SendError> for ServerError {
    fn from(e: SendError) -> Self {
        ServerError::Send(e)
    }
}

/// One connection slot.
struct Slot<const RX: usize, const TX: usize> {
    conn: Connection<RX, TX>,
    generation: u16,
    gateway: Option<GatewayId>,
    in_use: bool,
    wake: bool,
    reported: bool,
    /// The kind of the complete message that waits for transmit room, if one does (`None`
    /// is a zero byte, so an idle slot stays all zero bytes).
    deferred: Option<MessageKind>,
    /// The client's address, all zero when unknown (see [`Addr`]).
    addr: Addr,
}

impl<const RX: usize, const TX: usize> Slot<RX, TX> {
    const fn new() -> Self {
        Slot {
            conn: Connection::new(),
            generation: 0,
            gateway: None,
            in_use: false,
            wake: false,
            reported: false,
            deferred: None,
            addr: [0; 16],
        }
    }

    fn id(&self, index: usize) -> ClientId {
        ClientId::new(index as u16, self.generation)
    }

    fn is_member(&self, gateway: GatewayId) -> bool {
        self.in_use && self.gateway == Some(gateway) && self.conn.is_open()
    }
}

/// The clients other than the one being served, for broadcast and send-to-one.
struct Others<'s, const RX: usize, const TX: usize> {
    before: &'s mut [Slot<RX, TX>],
    after: &'s mut [Slot<RX, TX>],
    /// Set when a slot was flagged for a wake-up (see [`Server::take_wake`]).
    flagged: &'s mut bool,
}

impl<const RX: usize, const TX: usize> Peers for Others<'_, RX, TX> {
    fn for_each(&mut self, gateway: GatewayId, f: &mut dyn FnMut(ClientId, &mut dyn Outbox)) {
        let split = self.before.len() + 1;
        let before = self.before.iter_mut().enumerate();
        let after = self
            .after
            .iter_mut()
            .enumerate()
            .map(|(i, s)| (i + split, s));
        for (i, slot) in before.chain(after) {
            if slot.is_member(gateway) {
                slot.wake = true;
                *self.flagged = true;
                let id = slot.id(i);
                f(id, slot.conn.outbox());
            }
        }
    }

    fn get(&mut self, client: ClientId) -> Option<&mut dyn Outbox> {
        let i = client.index();
        let split = self.before.len();
        let slot = if i < split {
            self.before.get_mut(i)?
        } else {
            self.after.get_mut(i.checked_sub(split + 1)?)?
        };
        if !(slot.in_use && slot.generation == client.generation() && slot.conn.is_open()) {
            return None;
        }
        slot.wake = true;
        *self.flagged = true;
        Some(slot.conn.outbox())
    }
}

/// Splits the slots into those before `idx`, slot `idx`, and those after it.
#[allow(clippy::type_complexity)]
fn split_slots<const RX: usize, const TX: usize>(
    slots: &mut [Slot<RX, TX>],
    idx: usize,
) -> Option<(&mut [Slot<RX, TX>], &mut Slot<RX, TX>, &mut [Slot<RX, TX>])> {
    let (before, rest) = slots.split_at_mut_checked(idx)?;
    let (cur, after) = rest.split_first_mut()?;
    Some((before, cur, after))
}

/// What one client has used of its turn (see [`Config::messages_per_turn`]).
#[derive(Default)]
struct Share {
    messages: u16,
    peer_bytes: usize,
}

/// The sans-IO server. See the [module docs](self).
///
/// `N` connection slots, `RX`-byte receive buffers (= the largest message), `TX`-byte
/// transmit buffers, room for `G` gateways.
///
/// Size: each slot is `RX + TX + 125` bytes of buffers plus about 190 bytes of state, and
/// the server adds about 200 bytes plus two words per gateway (x86_64:
/// `Server<'static, 16, 4096, 4096, 4>` is 136,104 bytes; tested in `tests/sans_io.rs`).
///
/// ```
/// use wsgate::{Config, Gateway, Server};
/// use wsgate::protocol::frame::{encode_frame, OpCode};
///
/// let mut events: Gateway<(), 4> = Gateway::new("/", ());
/// events.on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?)).unwrap();
///
/// let mut server: Server<'_, 2, 512, 512> = Server::new(Config::DEFAULT);
/// server.add_gateway(&mut events).unwrap();
/// server.init();
///
/// let id = server.accept(0).unwrap();
/// let request = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// server.feed(id, request, 0).unwrap();
/// let n = server.output(id).len();
/// assert!(server.output(id).starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// server.consume(id, n);
///
/// let mut frame = [0u8; 64];
/// let len = encode_frame(&mut frame, true, OpCode::Text, Some([1, 2, 3, 4]),
///     br#"{"event":"echo","data":[1,2]}"#).unwrap();
/// server.feed(id, &frame[..len], 0).unwrap();
/// assert_eq!(&server.output(id)[2..], br#"{"event":"echo","data":[1,2]}"#);
/// ```
pub struct Server<
    'g,
    const N: usize,
    const RX: usize = 2048,
    const TX: usize = 2048,
    const G: usize = 4,
> {
    slots: [Slot<RX, TX>; N],
    gateways: heapless::Vec<&'g mut dyn Service, G>,
    config: Config,
    stats: Stats,
    closing: bool,
    /// [`Server::init`] ran the gateways' `after_init` hooks already.
    initialized: bool,
    /// Some slot may have its `wake` flag set: [`Server::take_wake`] has to look. Kept so
    /// that the common case, no wake-ups at all, costs no walk over every slot.
    wakes: bool,
    on_connect: Option<ConnectCallback>,
    on_disconnect: Option<DisconnectCallback>,
}

impl<'g, const N: usize, const RX: usize, const TX: usize, const G: usize>
    Server<'g, N, RX, TX, G>
{
    /// A server with no gateways; `const` so it can be built into a `static`.
    pub const fn new(config: Config) -> Self {
        const {
            assert!(N > 0 && N <= u16::MAX as usize, "N must be 1..=65535");
            assert!(G > 0 && G <= 255, "G must be 1..=255");
        }
        Server {
            slots: [const { Slot::new() }; N],
            gateways: heapless::Vec::new(),
            config,
            stats: Stats::new(),
            closing: false,
            initialized: false,
            wakes: false,
            on_connect: None,
            on_disconnect: None,
        }
    }

    /// Adds a gateway (what a transport's NestJS `bindMessageHandlers` does). Gateways are
    /// matched by path in the order they were added.
    pub fn add_gateway(&mut self, gateway: &'g mut dyn Service) -> Result<GatewayId, ServerError> {
        let id = GatewayId(self.gateways.len() as u8);
        self.gateways
            .push(gateway)
            .map_err(|_| ServerError::TooManyGateways)?;
        Ok(id)
    }

    /// NestJS `bindClientConnect`: `callback` runs after each upgrade, after the gateway's
    /// `handle_connection` hook.
    pub fn bind_client_connect(&mut self, callback: ConnectCallback) {
        self.on_connect = Some(callback);
    }

    /// NestJS `bindClientDisconnect`: `callback` runs once per upgraded client when it leaves.
    pub fn bind_client_disconnect(&mut self, callback: DisconnectCallback) {
        self.on_disconnect = Some(callback);
    }

    /// Runs each gateway's `after_init` hook the first time it is called; later calls do
    /// nothing, so it may be called more than once (by the application and by a transport,
    /// or by each of a transport's tasks). Add the gateways first and call it before
    /// accepting clients: a gateway added later never gets its `after_init`.
    pub fn init(&mut self) {
        if self.initialized {
            return;
        }
        self.initialized = true;
        for g in self.gateways.iter_mut() {
            g.after_init();
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// True once [`Server::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Slots in use.
    pub fn client_count(&self) -> usize {
        self.slots.iter().filter(|s| s.in_use).count()
    }

    /// The id of the client in slot `index`, if that slot is in use.
    pub fn client_at(&self, index: usize) -> Option<ClientId> {
        let s = self.slots.get(index)?;
        s.in_use.then(|| s.id(index))
    }

    /// Gives a new TCP connection a slot, its address unknown (no per-address limit applies).
    /// On `Err`, write [`Refused::response`] and close the socket.
    pub fn accept(&mut self, now: u64) -> Result<ClientId, Refused> {
        self.accept_addr([0; 16], now)
    }

    /// Gives a new TCP connection from `peer` a slot, unless `peer` already holds
    /// [`Config::max_per_address`] of them. On `Err`, write [`Refused::response`] (503 or
    /// 429) and close the socket.
    ///
    /// ```
    /// use wsgate::server::Refused;
    /// use wsgate::{Config, Server};
    ///
    /// let mut server: Server<'_, 4, 512, 512> =
    ///     Server::new(Config { max_per_address: 2, ..Config::DEFAULT });
    /// let a = "192.0.2.7".parse().unwrap();
    /// assert!(server.accept_from(a, 0).is_ok());
    /// assert!(server.accept_from(a, 0).is_ok());
    /// assert_eq!(server.accept_from(a, 0), Err(Refused::PerAddress));
    /// assert!(server.accept_from("192.0.2.8".parse().unwrap(), 0).is_ok());
    /// assert_eq!(server.stats().refused_per_address, 1);
    /// ```
    pub fn accept_from(&mut self, peer: core::net::IpAddr, now: u64) -> Result<ClientId, Refused> {
        self.accept_addr(addr_of(peer), now)
    }

    fn accept_addr(&mut self, addr: Addr, now: u64) -> Result<ClientId, Refused> {
        if self.closing {
            self.stats.add(Counter::RefusedFull, 1);
            return Err(Refused::Closing);
        }
        let limit = usize::from(self.config.max_per_address);
        if limit > 0 && addr != [0; 16] {
            let held = self
                .slots
                .iter()
                .filter(|s| s.in_use && s.addr == addr)
                .count();
            if held >= limit {
                self.stats.add(Counter::RefusedPerAddress, 1);
                return Err(Refused::PerAddress);
            }
        }
        let Some((index, slot)) = self.slots.iter_mut().enumerate().find(|(_, s)| !s.in_use) else {
            self.stats.add(Counter::RefusedFull, 1);
            return Err(Refused::Full);
        };
        slot.addr = addr;
        slot.in_use = true;
        // Generation 0 is never used, so no client id is ever 0 (C treats 0 as "none").
        slot.generation = slot.generation.wrapping_add(1).max(1);
        slot.gateway = None;
        slot.wake = false;
        slot.reported = false;
        slot.deferred = None;
        slot.conn.start(now);
        self.stats.add(Counter::Accepted, 1);
        Ok(slot.id(index))
    }

    fn index(&self, id: ClientId) -> Result<usize, ServerError> {
        let i = id.index();
        match self.slots.get(i) {
            Some(s) if s.in_use && s.generation == id.generation() => Ok(i),
            _ => Err(ServerError::UnknownClient),
        }
    }

    /// Hands the server bytes read from `id`'s socket at time `now` (ms): one turn of this
    /// client. Returns how many bytes were used. When fewer than given, the client's turn
    /// is over: either its transmit buffer needs writing out first, or it used its share
    /// of the turn ([`Config::messages_per_turn`], [`Config::peer_bytes_per_turn`]). Write
    /// [`Server::output`] out, let the other clients have their turns, then call
    /// [`Server::resume`] and feed the rest.
    #[must_use = "input past the bytes used was not taken: feed it again on the next turn"]
    pub fn feed(&mut self, id: ClientId, input: &[u8], now: u64) -> Result<usize, ServerError> {
        let idx = self.index(id)?;
        Ok(self.feed_slot(idx, input, now))
    }

    /// [`Server::feed`] for slot `idx`.
    fn feed_slot(&mut self, idx: usize, input: &[u8], now: u64) -> usize {
        let mut turn = Share::default();
        if !self.resume_slot(idx, now, &mut turn) || self.spent(&turn) {
            return 0;
        }
        let mut pos = 0;
        while let Some(slot) = self.slots.get_mut(idx) {
            let rest = input.get(pos..).unwrap_or(&[]);
            let step = slot.conn.feed(rest, now, self.config.max_head);
            pos += step.consumed;
            match step.event {
                Some(Event::Message(kind)) => {
                    if !self.message_arrived(idx, kind, now, &mut turn)
                        || pos >= input.len()
                        || self.spent(&turn)
                    {
                        break;
                    }
                }
                Some(event) => self.handle(idx, event, now),
                None => break,
            }
        }
        pos
    }

    /// A complete message of `kind` arrived in slot `idx`: counts it and dispatches it now
    /// if its replies have room (adding it to `turn`), or keeps it waiting. False while it
    /// waits. Inlined into its two callers, as the code it replaced was (160 bytes of flash
    /// at opt-level "z" otherwise).
    #[inline(always)]
    fn message_arrived(
        &mut self,
        idx: usize,
        kind: MessageKind,
        now: u64,
        turn: &mut Share,
    ) -> bool {
        self.stats.add(Counter::Messages, 1);
        if let Some(s) = self.slots.get_mut(idx) {
            s.deferred = Some(kind);
        }
        self.resume_slot(idx, now, turn)
    }

    /// True when a client has used its share of the turn.
    fn spent(&self, turn: &Share) -> bool {
        let messages = self.config.messages_per_turn;
        let bytes = self.config.peer_bytes_per_turn.min(TX / 2);
        (messages > 0 && turn.messages >= messages)
            || (self.config.peer_bytes_per_turn > 0 && turn.peer_bytes >= bytes)
    }

    /// Dispatches a message that waited for transmit room, if there is room now. Call it
    /// after writing output out. Returns true when it dispatched one (write the output again).
    #[must_use = "true means a message was dispatched and its output must be written"]
    pub fn resume(&mut self, id: ClientId, now: u64) -> Result<bool, ServerError> {
        let idx = self.index(id)?;
        let waiting = self.slots.get(idx).is_some_and(|s| s.deferred.is_some());
        Ok(waiting && self.resume_slot(idx, now, &mut Share::default()))
    }

    /// Dispatches slot `idx`'s deferred message when its outbox has room for its replies
    /// (see [`Config::reply_room`]) and adds it to `turn`; false while it still has to wait.
    fn resume_slot(&mut self, idx: usize, now: u64, turn: &mut Share) -> bool {
        let Some(slot) = self.slots.get_mut(idx) else {
            return false;
        };
        let Some(kind) = slot.deferred else {
            return true;
        };
        let need = slot
            .conn
            .message()
            .len()
            .saturating_add(self.config.reply_room)
            .min(TX);
        if slot.conn.pending_len() > 0 && slot.conn.outbox().free() < need {
            return false;
        }
        slot.deferred = None;
        let peer_bytes = self.dispatch(idx, kind, now);
        turn.messages = turn.messages.saturating_add(1);
        turn.peer_bytes = turn.peer_bytes.saturating_add(peer_bytes);
        true
    }

    /// Bytes to write to `id`'s socket now (empty for an unknown id).
    pub fn output(&mut self, id: ClientId) -> &[u8] {
        match self.index(id) {
            Ok(i) => match self.slots.get_mut(i) {
                Some(s) => s.conn.output(),
                None => &[],
            },
            Err(_) => &[],
        }
    }

    /// Copies up to `out.len()` bytes of [`Server::output`] into `out` and marks them
    /// written; returns how many. For transports that write from a buffer of their own.
    #[must_use = "the bytes copied are consumed: they must be written"]
    pub fn take_output(&mut self, id: ClientId, out: &mut [u8]) -> usize {
        let pending = self.output(id);
        let n = pending.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), pending.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(id, n);
        n
    }

    /// Marks `n` bytes of [`Server::output`] as written.
    pub fn consume(&mut self, id: ClientId, n: usize) {
        if let Ok(i) = self.index(id)
            && let Some(s) = self.slots.get_mut(i)
        {
            s.conn.consume(n);
        }
    }

    /// True when the transport should close `id`'s socket now (and then call
    /// [`Server::release`]). True for an unknown id.
    pub fn wants_close(&self, id: ClientId) -> bool {
        match self.index(id) {
            Ok(i) => self.slots.get(i).is_none_or(|s| s.conn.wants_close()),
            Err(_) => true,
        }
    }

    /// The phase of `id`'s connection.
    pub fn phase(&self, id: ClientId) -> Phase {
        match self.index(id) {
            Ok(i) => self.slots.get(i).map_or(Phase::Idle, |s| s.conn.phase()),
            Err(_) => Phase::Idle,
        }
    }

    /// Runs `id`'s timers at `now` (ms): handshake timeout, ping, idle and close timeouts.
    pub fn poll(&mut self, id: ClientId, now: u64) {
        if let Ok(idx) = self.index(id) {
            self.poll_slot(idx, now);
        }
    }

    /// [`Server::poll`] for slot `idx`.
    fn poll_slot(&mut self, idx: usize, now: u64) {
        let timeouts = self.config.timeouts;
        let event = self
            .slots
            .get_mut(idx)
            .and_then(|s| s.conn.poll(now, &timeouts));
        if let Some(event) = event {
            self.handle(idx, event, now);
        }
    }

    /// Runs every slot's timers (for transports with one timer for the whole server).
    pub fn poll_all(&mut self, now: u64) {
        for idx in 0..N {
            if let Some(id) = self.client_at(idx) {
                self.poll(id, now);
            }
        }
    }

    /// When `id`'s timers next need [`Server::poll`], in ms.
    pub fn next_deadline(&self, id: ClientId) -> Option<u64> {
        let i = self.index(id).ok()?;
        self.slots.get(i)?.conn.next_deadline(&self.config.timeouts)
    }

    /// The transport closed `id`'s socket (after [`Server::wants_close`], or because the peer
    /// went away). Reports a disconnect (1006) if the WebSocket had not ended, frees the slot.
    pub fn release(&mut self, id: ClientId) {
        let Ok(idx) = self.index(id) else { return };
        let finished = self
            .slots
            .get(idx)
            .is_some_and(|s| s.conn.phase() == Phase::Closed);
        let upgraded = self.slots.get(idx).is_some_and(|s| s.gateway.is_some());
        if !finished && upgraded {
            self.stats.add(DisconnectCause::PeerGone.counter(), 1);
            self.report_disconnect(idx, CloseCode::ABNORMAL);
        }
        if let Some(s) = self.slots.get_mut(idx) {
            s.conn.reset();
            s.in_use = false;
            s.gateway = None;
            s.wake = false;
            s.addr = [0; 16];
        }
    }

    /// NestJS `close`: refuse new connections and close every client with 1001 Going Away
    /// (clients still in the handshake get 503). Transports close sockets as each finishes.
    pub fn close(&mut self, now: u64) {
        self.closing = true;
        for s in self.slots.iter_mut().filter(|s| s.in_use) {
            let before = s.conn.phase();
            s.conn
                .close(CloseCode::GOING_AWAY, "server shutting down", now);
            if matches!(before, Phase::Handshake | Phase::Request) {
                self.stats
                    .add(Counter::http(Status::ServiceUnavailable.code()), 1);
            }
            s.wake = true;
            self.wakes = true;
        }
    }

    /// Closes one client with `code` and a short reason.
    pub fn close_client(
        &mut self,
        id: ClientId,
        code: CloseCode,
        reason: &'static str,
        now: u64,
    ) -> Result<(), ServerError> {
        let idx = self.index(id)?;
        if let Some(s) = self.slots.get_mut(idx) {
            s.conn.close(code, reason, now);
            s.wake = true;
            self.wakes = true;
        }
        Ok(())
    }

    /// The next slot whose transport task should wake up to write (frames were queued for it
    /// by another client's handler, a broadcast or a close). Clears the flag.
    #[must_use = "the flag is cleared: the slot must be woken"]
    pub fn take_wake(&mut self) -> Option<usize> {
        if !self.wakes {
            return None;
        }
        let Some((i, s)) = self.slots.iter_mut().enumerate().find(|(_, s)| s.wake) else {
            self.wakes = false;
            return None;
        };
        s.wake = false;
        Some(i)
    }

    /// Sends `{"event":..,"data":..}` to one client (from outside any handler).
    pub fn send<T: Serialize + ?Sized>(
        &mut self,
        id: ClientId,
        event: &str,
        data: &T,
    ) -> Result<(), ServerError> {
        self.send_one(id, &mut |out| send_response(out, event, data))
    }

    /// Sends `{"event":..,"data":<raw JSON>}` to one client (from outside any handler).
    /// `data` must be valid JSON.
    pub fn send_raw(&mut self, id: ClientId, event: &str, data: &[u8]) -> Result<(), ServerError> {
        self.send_one(id, &mut |out| send_raw_response(out, event, data))
    }

    /// Queues what `send` writes for one open client, flags it for a wake-up and counts.
    fn send_one(
        &mut self,
        id: ClientId,
        send: &mut dyn FnMut(&mut dyn Outbox) -> Result<(), SendError>,
    ) -> Result<(), ServerError> {
        let idx = self.index(id)?;
        let s = self.slots.get_mut(idx).ok_or(ServerError::UnknownClient)?;
        if !s.conn.is_open() {
            return Err(ServerError::Send(SendError::NotOpen));
        }
        s.wake = true;
        self.wakes = true;
        let r = send(s.conn.outbox());
        let counter = if r.is_ok() {
            Counter::FramesSent
        } else {
            Counter::SendFailed
        };
        self.stats.add(counter, 1);
        Ok(r?)
    }

    /// Sends `{"event":..,"data":..}` to every open client of `gateway`.
    pub fn broadcast<T: Serialize + ?Sized>(
        &mut self,
        gateway: GatewayId,
        event: &str,
        data: &T,
    ) -> Broadcast {
        self.broadcast_with(gateway, &mut |out| send_response(out, event, data))
    }

    /// Sends `{"event":..,"data":<raw JSON>}` to every open client of `gateway`.
    pub fn broadcast_raw(&mut self, gateway: GatewayId, event: &str, data: &[u8]) -> Broadcast {
        self.broadcast_with(gateway, &mut |out| send_raw_response(out, event, data))
    }

    /// Sends a text frame to every open client of `gateway`.
    pub fn broadcast_text(&mut self, gateway: GatewayId, text: &str) -> Broadcast {
        self.broadcast_with(gateway, &mut |out| out.send(OpCode::Text, text.as_bytes()))
    }

    fn broadcast_with(
        &mut self,
        gateway: GatewayId,
        send: &mut dyn FnMut(&mut dyn Outbox) -> Result<(), SendError>,
    ) -> Broadcast {
        let mut result = Broadcast::default();
        for s in self.slots.iter_mut().filter(|s| s.is_member(gateway)) {
            s.wake = true;
            self.wakes = true;
            match send(s.conn.outbox()) {
                Ok(()) => result.queued = result.queued.saturating_add(1),
                Err(_) => result.dropped = result.dropped.saturating_add(1),
            }
        }
        result.count(&mut self.stats);
        result
    }

    fn handle(&mut self, idx: usize, event: Event, now: u64) {
        match event {
            Event::Request => self.request(idx, now),
            Event::Message(kind) => {
                self.message_arrived(idx, kind, now, &mut Share::default());
            }
            Event::PingSent => self.stats.add(Counter::PingsSent, 1),
            Event::HandshakeTimeout => self.stats.add(Counter::Http408, 1),
            Event::HeadTooLarge => self.stats.add(Counter::Http431, 1),
            Event::Closed(d) => {
                self.stats.add(d.cause.counter(), 1);
                debug!("client in slot {} closed: {}", idx, d.code.as_u16());
                self.report_disconnect(idx, d.code);
            }
        }
    }

    fn report_disconnect(&mut self, idx: usize, code: CloseCode) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        let Some(gateway) = slot.gateway else { return };
        if slot.reported {
            return;
        }
        slot.reported = true;
        let id = slot.id(idx);
        if let Some(g) = self.gateways.get_mut(usize::from(gateway.0)) {
            g.disconnected(id, code);
        }
        if let Some(cb) = self.on_disconnect {
            cb(id, code);
        }
    }

    fn request(&mut self, idx: usize, now: u64) {
        let Some((before, slot, after)) = split_slots(&mut self.slots, idx) else {
            return;
        };
        let id = slot.id(idx);
        let (head, answer) = slot.conn.head_and_answer();
        let parsed = Request::parse(head);
        let decision = match &parsed {
            Ok(req) => {
                routing::decide(req, &mut self.gateways, self.config.pages, self.closing, id)
            }
            Err(e) => Decision::Refuse(*e),
        };
        match decision {
            Decision::Refuse(e) => {
                debug!("refused slot {}: {} {}", idx, e.status.code(), e.reason);
                self.stats.add(Counter::http(e.status.code()), 1);
                slot.conn.refuse(&e);
            }
            Decision::Page(page) => {
                self.stats.add(Counter::PagesServed, 1);
                slot.conn.serve_page(page.content_type, page.body);
            }
            Decision::Accept {
                gateway,
                key,
                protocol,
            } => {
                // `Accept` comes from a parsed request only.
                let (Ok(req), Ok(out)) = (&parsed, answer.accept(&key, protocol)) else {
                    let e = HttpError::new(Status::InternalServerError, "response did not fit");
                    self.stats.add(Counter::http(e.status.code()), 1);
                    slot.conn.refuse(&e);
                    return;
                };
                let gid = GatewayId(gateway as u8);
                slot.gateway = Some(gid);
                self.stats.add(Counter::Upgraded, 1);
                let Some(g) = self.gateways.get_mut(gateway) else {
                    return;
                };
                let mut peers = Others {
                    before,
                    after,
                    flagged: &mut self.wakes,
                };
                let mut cx = Context::new(id, gid, out, &mut peers, &mut self.stats);
                let close = Self::connected(*g, self.on_connect, &mut cx, req, protocol);
                if let Some((code, reason)) = close {
                    slot.conn.close(code, reason, now);
                }
            }
        }
    }

    /// Runs the connect hooks (the gateway's, then the `on_connect` callback) on the request
    /// that was accepted, right after its 101 was queued; returns the close a hook asked for.
    fn connected(
        g: &mut dyn Service,
        on_connect: Option<ConnectCallback>,
        cx: &mut Context<'_>,
        req: &Request<'_>,
        protocol: Option<&'static str>,
    ) -> Option<(CloseCode, &'static str)> {
        g.connected(cx, req, protocol);
        let close = cx.take_close();
        if let Some(cb) = on_connect {
            let id = cx.client();
            cb(id, &ConnectInfo::new(id, req, g.path(), protocol));
        }
        close
    }

    /// Runs the gateway on slot `idx`'s complete message; returns the bytes it queued for
    /// other clients.
    fn dispatch(&mut self, idx: usize, kind: MessageKind, now: u64) -> usize {
        let Server {
            slots,
            gateways,
            stats,
            wakes,
            ..
        } = self;
        let Some((before, cur, after)) = split_slots(slots, idx) else {
            return 0;
        };
        let id = cur.id(idx);
        let gateway = cur.gateway;
        let (close, peer_bytes) =
            match gateway.and_then(|g| gateways.get_mut(usize::from(g.0)).zip(Some(g))) {
                Some((g, gid)) => {
                    let (message, out) = cur.conn.message_and_outbox();
                    let mut peers = Others {
                        before,
                        after,
                        flagged: wakes,
                    };
                    let mut cx = Context::new(id, gid, out, &mut peers, stats);
                    g.dispatch(&mut cx, message, kind);
                    (cx.take_close(), cx.peer_bytes())
                }
                None => (None, 0),
            };
        cur.conn.message_done();
        if let Some((code, reason)) = close {
            cur.conn.close(code, reason, now);
        }
        peer_bytes
    }
}
