//! The NestJS layer: gateways, handler tables, hooks, replies and exceptions.
//!
//! A [`Gateway`] is what a NestJS `@WebSocketGateway` class is: a path, a fixed-capacity table
//! of `(event name, handler)`, lifecycle hooks, and a state value (the "class instance") its
//! handlers share. Messages are `{"event": <string>, "data": <any>}` JSON in a text or binary
//! frame ([`envelope`]); each value a handler sends is one text frame, exactly as NestJS's
//! `WsAdapter` 12 does (DESIGN §3):
//!
//! - a reply is `{"event":"<name>","data":<value>}` ([`Context::reply`]) or a bare value
//!   ([`Context::send_json`]); a handler may send zero, one or several;
//! - a failing handler sends
//!   `{"event":"exception","data":{"status":"error","message":"<msg>","cause":{"pattern":"<event>","data":<data>}}}`
//!   ([`HandlerError`]);
//! - invalid JSON, non-objects and unknown events are dropped without a frame, as NestJS
//!   does, and counted ([`crate::Stats`]) and reported to [`Gateway::on_drop`].
//!
//! What this module owns: the gateway (its table, hooks and state), the handler's view of a
//! message ([`Context`], [`Data`]), the reply and exception frames, and the one pipeline every
//! gateway runs a message through (UTF-8 check of binary messages, envelope, look-up,
//! counting, call, exception; the `dispatch` submodule), which the C ABI's gateway shares.
//! What it never does: allocate (registering more handlers than the table holds is an
//! error), own a connection or a slot (a [`Context`] borrows the client's transmit side and
//! the other clients, [`Peers`], for one call), read a clock, or parse JSON itself (that is
//! [`crate::json`] and [`envelope`]).

mod dispatch;
pub mod envelope;
mod path;

use crate::bytes::Writer;
use crate::connection::{MessageKind, Outbox, SendError};
use crate::json::{self, JsonStr};
use crate::protocol::close::CloseCode;
use crate::protocol::frame::OpCode;
use crate::protocol::handshake::Request;
use crate::protocol::http::HttpError;
use crate::stats::{Counter, Stats};
pub(crate) use dispatch::{Exception, Handlers, dispatch};
use envelope::{Envelope, EnvelopeError};
use serde::{Deserialize, Serialize};

pub use path::{matches as path_matches, param as path_param};

/// Identifies one client for as long as it is connected: a slot index plus a generation, so an
/// id kept after the client left never reaches the next client of that slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientId {
    index: u16,
    generation: u16,
}

impl ClientId {
    /// Builds an id from a slot index and generation.
    pub const fn new(index: u16, generation: u16) -> Self {
        ClientId { index, generation }
    }
    /// The connection slot.
    pub const fn index(self) -> usize {
        self.index as usize
    }
    /// How many clients used this slot before.
    pub const fn generation(self) -> u16 {
        self.generation
    }
    /// The id as one number (`generation << 16 | index`), e.g. for C or logs.
    pub const fn as_u32(self) -> u32 {
        (self.generation as u32) << 16 | self.index as u32
    }
    /// The inverse of [`ClientId::as_u32`].
    pub const fn from_u32(v: u32) -> Self {
        ClientId {
            index: v as u16,
            generation: (v >> 16) as u16,
        }
    }
}

impl core::fmt::Display for ClientId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

/// Index of a gateway in its server, in the order gateways were bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GatewayId(pub u8);

/// What a handler returns: `Ok(())`, or an error that becomes NestJS's exception frame.
pub type HandlerResult = Result<(), HandlerError>;

/// A message handler: the gateway state, the reply context, and the message's `data`.
///
/// Non-capturing closures coerce to this type.
pub type Handler<S> = fn(&mut S, &mut Context<'_>, Data<'_>) -> HandlerResult;

/// A verify hook: `Ok` lets the client upgrade, an [`HttpError`] (401, 403) refuses it.
pub type VerifyHook<S> = fn(&mut S, &ConnectInfo<'_>) -> Result<(), HttpError>;

/// A connect hook (NestJS `handleConnection`).
pub type ConnectHook<S> = fn(&mut S, &mut Context<'_>, &ConnectInfo<'_>);

/// A custom message parser (NestJS `messageParser`): finds the event and data in a message.
pub type MessageParser = fn(&[u8]) -> Result<Envelope<'_>, EnvelopeError>;

/// A handler failure, sent to the client as NestJS's `exception` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HandlerError {
    /// Like throwing `new WsException("<message>")`: the client gets
    /// `{"event":"exception","data":{"status":"error","message":"<message>","cause":{...}}}`.
    Ws(&'static str),
    /// Like throwing `new WsException({...})` with an object: the client gets
    /// `{"event":"exception","data":<this JSON object>}`. Must be valid JSON.
    WsObject(&'static str),
    /// Any other failure: the message is `"Internal server error"`.
    Internal,
    /// A reply did not fit the transmit buffer or the connection is closing. Reported as an
    /// internal error.
    Send(SendError),
    /// `data` did not have the shape the handler asked for.
    InvalidData,
}

impl HandlerError {
    /// What the client is told: the exception frame's message, or its whole `data`.
    pub(crate) const fn exception(&self) -> Exception<'static> {
        match *self {
            HandlerError::WsObject(object) => Exception::Object(object),
            HandlerError::Ws(message) => Exception::Message(message),
            _ => Exception::Message("Internal server error"),
        }
    }
}

impl From<SendError> for HandlerError {
    fn from(e: SendError) -> Self {
        HandlerError::Send(e)
    }
}

impl core::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HandlerError::Ws(m) => write!(f, "WsException: {m}"),
            HandlerError::WsObject(m) => write!(f, "WsException: {m}"),
            HandlerError::Internal => f.write_str("internal error"),
            // The send error is the source (`Error::source`), not repeated here.
            HandlerError::Send(_) => f.write_str("a reply could not be queued"),
            HandlerError::InvalidData => f.write_str("invalid data"),
        }
    }
}

impl core::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            HandlerError::Send(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a message was dropped without reaching a handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DropReason {
    /// The message is not JSON (or nested deeper than 128 levels).
    InvalidJson,
    /// The JSON is not an object.
    NotAnObject,
    /// The object has no string `event`.
    NoEvent,
    /// No handler has that event name.
    UnknownEvent,
}

impl DropReason {
    /// The [`Stats`] counter of a message dropped for this reason.
    pub(crate) const fn counter(self) -> Counter {
        match self {
            DropReason::InvalidJson => Counter::DroppedInvalidJson,
            DropReason::NotAnObject => Counter::DroppedNotObject,
            DropReason::NoEvent => Counter::DroppedNoEvent,
            DropReason::UnknownEvent => Counter::DroppedUnknownEvent,
        }
    }

    /// The drop reason for an envelope that could not be parsed.
    pub(crate) fn from_envelope(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::NotAnObject => DropReason::NotAnObject,
            EnvelopeError::NoEvent => DropReason::NoEvent,
            _ => DropReason::InvalidJson,
        }
    }
}

/// The `data` of a message, as raw JSON (zero-copy) or parsed into a type.
#[derive(Clone, Copy, Debug)]
pub struct Data<'a> {
    raw: Option<&'a [u8]>,
    kind: MessageKind,
}

impl<'a> Data<'a> {
    /// Builds a `Data` over raw JSON text (`None` when `data` was absent).
    pub const fn new(raw: Option<&'a [u8]>, kind: MessageKind) -> Self {
        Data { raw, kind }
    }
    /// The raw JSON text of `data`, `None` when the message had no `data` key.
    pub fn raw(&self) -> Option<&'a [u8]> {
        self.raw
    }
    /// The raw JSON text of `data`, or `null` when it was absent.
    pub fn json(&self) -> &'a [u8] {
        self.raw.unwrap_or(b"null")
    }
    /// True when the message had no `data` key.
    pub fn is_absent(&self) -> bool {
        self.raw.is_none()
    }
    /// True when the message came in a binary frame.
    pub fn is_binary(&self) -> bool {
        self.kind == MessageKind::Binary
    }
    /// The kind of frame the message came in.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }
    /// Parses `data` with serde-json-core. `&str` fields borrow the message and keep JSON
    /// escapes verbatim; for user text use [`Data::parse_escaped`].
    pub fn parse<T: Deserialize<'a>>(&self) -> Result<T, HandlerError> {
        serde_json_core::from_slice(self.json())
            .map(|(v, _)| v)
            .map_err(|_| HandlerError::InvalidData)
    }
    /// Parses `data`, unescaping strings into `scratch`.
    pub fn parse_escaped<'s, T: Deserialize<'s>>(
        &self,
        scratch: &'s mut [u8],
    ) -> Result<T, HandlerError>
    where
        'a: 's,
    {
        serde_json_core::from_slice_escaped(self.json(), scratch)
            .map(|(v, _)| v)
            .map_err(|_| HandlerError::InvalidData)
    }
}

/// What a gateway can do to clients other than the current one. Implemented by the server.
pub trait Peers {
    /// Calls `f` with the outbox of each open client of `gateway` other than the current one.
    fn for_each(&mut self, gateway: GatewayId, f: &mut dyn FnMut(ClientId, &mut dyn Outbox));
    /// The outbox of one open client other than the current one.
    fn get(&mut self, client: ClientId) -> Option<&mut dyn Outbox>;
}

/// A `Peers` with nobody in it.
pub struct NoPeers;

impl Peers for NoPeers {
    fn for_each(&mut self, _: GatewayId, _: &mut dyn FnMut(ClientId, &mut dyn Outbox)) {}
    fn get(&mut self, _: ClientId) -> Option<&mut dyn Outbox> {
        None
    }
}

/// What a broadcast achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Broadcast {
    /// Clients the frame was queued for.
    pub queued: u16,
    /// Clients whose transmit buffer had no room: the frame was dropped for them (counted in
    /// [`Stats::broadcast_dropped`]).
    pub dropped: u16,
}

impl Broadcast {
    /// Counts what this broadcast achieved: frames queued and frames dropped.
    pub(crate) fn count(&self, stats: &mut Stats) {
        stats.add(Counter::FramesSent, u32::from(self.queued));
        stats.add(Counter::BroadcastDropped, u32::from(self.dropped));
    }
}

/// Through this a handler or hook replies, sends, broadcasts and closes.
pub struct Context<'a> {
    client: ClientId,
    gateway: GatewayId,
    tx: &'a mut dyn Outbox,
    peers: &'a mut dyn Peers,
    stats: &'a mut Stats,
    close: Option<(CloseCode, &'static str)>,
    /// Bytes this call queued into other clients' transmit buffers: for each broadcast the
    /// frame's size (what each member got), plus each frame sent to one other client. The
    /// server bounds it per turn so one sender cannot crowd everybody's buffers.
    peer_bytes: usize,
}

impl<'a> Context<'a> {
    /// A context for `client` of `gateway` writing to `tx`, with `peers` as the other clients
    /// and `stats` for the counts. The server makes one per handler call; a test or a
    /// benchmark can make one to call a handler without a server (with [`NoPeers`] and a
    /// [`Connection`](crate::Connection)'s outbox, for instance).
    pub fn new(
        client: ClientId,
        gateway: GatewayId,
        tx: &'a mut dyn Outbox,
        peers: &'a mut dyn Peers,
        stats: &'a mut Stats,
    ) -> Self {
        Context {
            client,
            gateway,
            tx,
            peers,
            stats,
            close: None,
            peer_bytes: 0,
        }
    }

    /// The client this message came from.
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// The gateway handling it.
    pub fn gateway(&self) -> GatewayId {
        self.gateway
    }

    /// Sends NestJS's exception frame for a failed handler of `pattern` with this message,
    /// and counts it. The client is always told: when the frame quoting `data` does not fit
    /// the transmit buffer, it goes without `cause.data` (as NestJS writes it for a message
    /// without `data`); when that does not fit either, the client is closed with 1011 once
    /// the handler returns.
    pub(crate) fn handler_failed(
        &mut self,
        exception: Exception<'_>,
        pattern: &str,
        data: Option<&[u8]>,
    ) {
        self.stats.add(Counter::Exceptions, 1);
        let sent = match exception {
            Exception::Object(object) => send_exception_object(self.tx, object),
            Exception::Message(message) => {
                let sent = send_exception_message(self.tx, message, pattern, data);
                if sent.is_err() && data.is_some() {
                    self.stats.add(Counter::SendFailed, 1);
                    send_exception_message(self.tx, message, pattern, None)
                } else {
                    sent
                }
            }
        };
        self.told(sent);
    }

    /// After an exception frame: when it could not be queued, the last way left to tell the
    /// client that its message failed is to close it with 1011 (counted).
    fn told(&mut self, sent: Result<(), SendError>) {
        if sent.is_err() {
            self.stats.add(Counter::SendFailed, 1);
            self.stats.add(Counter::ClosedNoRoom, 1);
            if self.close.is_none() {
                self.close = Some((CloseCode::INTERNAL_ERROR, "reply did not fit"));
            }
        }
    }

    /// The close the handler asked for, if any (taken by the server).
    pub(crate) fn take_close(&mut self) -> Option<(CloseCode, &'static str)> {
        self.close.take()
    }

    /// Bytes this call queued into other clients' transmit buffers (see the field).
    pub(crate) fn peer_bytes(&self) -> usize {
        self.peer_bytes
    }

    fn count_send(&mut self, r: Result<(), SendError>) -> Result<(), SendError> {
        match r {
            Ok(()) => self.stats.add(Counter::FramesSent, 1),
            Err(_) => self.stats.add(Counter::SendFailed, 1),
        }
        r
    }

    /// Sends `{"event":"<event>","data":<data>}` (a NestJS `WsResponse`) as one text frame.
    pub fn reply<T: Serialize + ?Sized>(&mut self, event: &str, data: &T) -> Result<(), SendError> {
        let r = send_response(self.tx, event, data);
        self.count_send(r)
    }

    /// Sends `{"event":"<event>","data":<raw JSON>}`; `data` must be valid JSON (insignificant
    /// whitespace is removed, as `JSON.stringify` would print it); empty `data` sends
    /// `{"event":"<event>"}`.
    pub fn reply_raw(&mut self, event: &str, data: &[u8]) -> Result<(), SendError> {
        let r = send_raw_response(self.tx, event, data);
        self.count_send(r)
    }

    /// Sends a value as it is (what a NestJS handler returning a plain value sends).
    pub fn send_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SendError> {
        let r = self.tx.send_with(OpCode::Text, &mut |buf| {
            serde_json_core::to_slice(value, buf).ok()
        });
        self.count_send(r)
    }

    /// Sends raw JSON text as it is (whitespace compacted). `json` must be valid JSON.
    pub fn send_raw_json(&mut self, json: &[u8]) -> Result<(), SendError> {
        let kinds = json::byte_kinds(json);
        let r = if kinds.non_ascii && !crate::protocol::utf8::is_utf8(json) {
            // A text frame must be UTF-8.
            Err(SendError::Serialize)
        } else {
            self.tx.send_with(OpCode::Text, &mut |buf| {
                json::compact_json_with(json, kinds, buf)
            })
        };
        self.count_send(r)
    }

    /// Sends a text frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        let r = self.tx.send(OpCode::Text, text.as_bytes());
        self.count_send(r)
    }

    /// Sends a binary frame.
    pub fn send_binary(&mut self, bytes: &[u8]) -> Result<(), SendError> {
        let r = self.tx.send(OpCode::Binary, bytes);
        self.count_send(r)
    }

    /// Sends `{"event":..,"data":..}` to another client of this server.
    pub fn send_to<T: Serialize + ?Sized>(
        &mut self,
        client: ClientId,
        event: &str,
        data: &T,
    ) -> Result<(), SendError> {
        let r = if client == self.client {
            send_response(self.tx, event, data)
        } else {
            match self.peers.get(client) {
                Some(out) => {
                    let before = out.free();
                    let r = send_response(out, event, data);
                    let queued = before.saturating_sub(out.free());
                    self.peer_bytes = self.peer_bytes.saturating_add(queued);
                    r
                }
                None => Err(SendError::NotOpen),
            }
        };
        self.count_send(r)
    }

    /// Sends `{"event":..,"data":..}` to every client of this gateway, this one included.
    /// Clients whose buffer is full miss it (counted, and reported in the result).
    pub fn broadcast<T: Serialize + ?Sized>(&mut self, event: &str, data: &T) -> Broadcast {
        self.broadcast_with(&mut |out| send_response(out, event, data))
    }

    /// Like [`Context::broadcast`] with raw JSON `data`.
    pub fn broadcast_raw(&mut self, event: &str, data: &[u8]) -> Broadcast {
        self.broadcast_with(&mut |out| send_raw_response(out, event, data))
    }

    /// Sends a text frame to every client of this gateway, this one included.
    pub fn broadcast_text(&mut self, text: &str) -> Broadcast {
        self.broadcast_with(&mut |out| out.send(OpCode::Text, text.as_bytes()))
    }

    fn broadcast_with(
        &mut self,
        send: &mut dyn FnMut(&mut dyn Outbox) -> Result<(), SendError>,
    ) -> Broadcast {
        let mut result = Broadcast::default();
        let mut tally = |r: Result<(), SendError>| match r {
            Ok(()) => result.queued = result.queued.saturating_add(1),
            Err(_) => result.dropped = result.dropped.saturating_add(1),
        };
        tally(send(self.tx));
        // Every member gets the same frame: what one of them got is what this broadcast
        // costs each of them.
        let mut each = 0;
        self.peers.for_each(self.gateway, &mut |_, out| {
            let before = out.free();
            tally(send(out));
            each = before.saturating_sub(out.free()).max(each);
        });
        self.peer_bytes = self.peer_bytes.saturating_add(each);
        result.count(self.stats);
        result
    }

    /// Closes this client with `code` and a short reason once the handler returns.
    pub fn close(&mut self, code: CloseCode, reason: &'static str) {
        self.close = Some((code, reason));
    }
}

/// Writes `{"event":"<event>","data":<data>}` as one text frame.
pub(crate) fn send_response<T: Serialize + ?Sized>(
    out: &mut dyn Outbox,
    event: &str,
    data: &T,
) -> Result<(), SendError> {
    out.send_with(OpCode::Text, &mut |buf| {
        let mut w = Writer::new(buf);
        w.put(b"{\"event\":")?;
        w.fill(|room| json::write_json_string(event, room))?;
        w.put(b",\"data\":")?;
        w.fill(|room| serde_json_core::to_slice(data, room).ok())?;
        w.put(b"}")?;
        Some(w.len())
    })
}

/// Writes `{"event":"<event>","data":<raw JSON>}` as one text frame.
///
/// Empty `data` means no data: `{"event":"<event>"}`, as `JSON.stringify` writes a
/// response whose `data` is `undefined`. `data` that is not UTF-8 is refused
/// ([`SendError::Serialize`]): a text frame must be UTF-8.
pub(crate) fn send_raw_response(
    out: &mut dyn Outbox,
    event: &str,
    data: &[u8],
) -> Result<(), SendError> {
    // One pass finds both whether `data` needs a UTF-8 check and whether it needs
    // compaction.
    let kinds = json::byte_kinds(data);
    if kinds.non_ascii && !crate::protocol::utf8::is_utf8(data) {
        return Err(SendError::Serialize);
    }
    out.send_with(OpCode::Text, &mut |buf| {
        let mut w = Writer::new(buf);
        w.put(b"{\"event\":")?;
        w.fill(|room| json::write_json_string(event, room))?;
        if !data.is_empty() {
            w.put(b",\"data\":")?;
            w.fill(|room| json::compact_json_with(data, kinds, room))?;
        }
        w.put(b"}")?;
        Some(w.len())
    })
}

/// Writes `{"event":"exception","data":<object>}` (a `WsException` thrown with an object).
fn send_exception_object(out: &mut dyn Outbox, object: &str) -> Result<(), SendError> {
    out.send_with(OpCode::Text, &mut |buf| {
        let mut w = Writer::new(buf);
        w.put(b"{\"event\":\"exception\",\"data\":")?;
        w.fill(|room| json::compact_json(object.as_bytes(), room))?;
        w.put(b"}")?;
        Some(w.len())
    })
}

/// Writes `{"event":"exception","data":{"status":"error","message":<message>,"cause":
/// {"pattern":<pattern>,"data":<data>}}}`, as NestJS's `BaseWsExceptionFilter` sends it.
pub(crate) fn send_exception_message(
    out: &mut dyn Outbox,
    message: &str,
    pattern: &str,
    data: Option<&[u8]>,
) -> Result<(), SendError> {
    out.send_with(OpCode::Text, &mut |buf| {
        let mut w = Writer::new(buf);
        w.put(b"{\"event\":\"exception\",\"data\":{\"status\":\"error\",\"message\":")?;
        w.fill(|room| json::write_json_string(message, room))?;
        w.put(b",\"cause\":{\"pattern\":")?;
        w.fill(|room| json::write_json_string(pattern, room))?;
        if let Some(d) = data {
            w.put(b",\"data\":")?;
            w.fill(|room| json::compact_json(d, room))?;
        }
        w.put(b"}}}")?;
        Some(w.len())
    })
}

/// What the server knows about a connecting client, for the connect and verify hooks.
#[derive(Clone, Copy, Debug)]
pub struct ConnectInfo<'a> {
    client: ClientId,
    request: &'a Request<'a>,
    pattern: &'a str,
    protocol: Option<&'static str>,
}

impl<'a> ConnectInfo<'a> {
    /// Built by the server from the parsed request and the gateway's path pattern.
    pub fn new(
        client: ClientId,
        request: &'a Request<'a>,
        pattern: &'a str,
        protocol: Option<&'static str>,
    ) -> Self {
        ConnectInfo {
            client,
            request,
            pattern,
            protocol,
        }
    }
    /// The client's id.
    pub fn client(&self) -> ClientId {
        self.client
    }
    /// The request path, without the query.
    pub fn path(&self) -> &'a str {
        self.request.path
    }
    /// The query string without `?` (not percent-decoded), `""` when none.
    pub fn query(&self) -> &'a str {
        self.request.query
    }
    /// One query parameter's raw value (`?a=1&b` gives `Some("1")` for `a`, `Some("")` for `b`).
    pub fn query_param(&self, name: &str) -> Option<&'a str> {
        self.request.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }
    /// The value of a `:name` segment of the gateway's path pattern.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        path::param(self.pattern, self.request.path, name)
    }
    /// A request header's value (first of that name, case-insensitive, trimmed).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.request.header(name)
    }
    /// The subprotocol chosen for this connection.
    pub fn protocol(&self) -> Option<&'static str> {
        self.protocol
    }
}

/// A gateway as the server sees it: object-safe, so gateways with different state types sit
/// in one server. Implemented by [`Gateway`]; the C ABI has its own. Only `path` and
/// `dispatch` are required; the hooks default to doing nothing (and `verify` to letting
/// every client in).
pub trait Service {
    /// The path pattern (`/`, `/chat`, `/rooms/:id`).
    fn path(&self) -> &str;
    /// Subprotocols this gateway speaks, in preference order. Default: none.
    fn protocols(&self) -> &[&'static str] {
        &[]
    }
    /// NestJS `afterInit`: called once when the server starts.
    fn after_init(&mut self) {}
    /// Decides before the upgrade whether the client may connect (401/403 refusals).
    fn verify(
        &mut self,
        client: ClientId,
        request: &Request<'_>,
        protocol: Option<&'static str>,
    ) -> Result<(), HttpError> {
        let _ = (client, request, protocol);
        Ok(())
    }
    /// NestJS `handleConnection`: called after the 101 is queued.
    fn connected(
        &mut self,
        cx: &mut Context<'_>,
        request: &Request<'_>,
        protocol: Option<&'static str>,
    ) {
        let _ = (cx, request, protocol);
    }
    /// NestJS `handleDisconnect`: called once per client with its close code.
    fn disconnected(&mut self, client: ClientId, code: CloseCode) {
        let _ = (client, code);
    }
    /// Handles one complete message: parse, look up, call, reply or exception.
    fn dispatch(&mut self, cx: &mut Context<'_>, message: &[u8], kind: MessageKind);
}

/// A gateway with state `S` and room for `H` handlers. See the [module docs](self).
///
/// ```
/// use wsgate::gateway::{Gateway, HandlerError};
///
/// let mut g: Gateway<(), 2> = Gateway::new("/chat", ());
/// g.on("ping", |_, cx, _| cx.reply("pong", &true).map_err(HandlerError::from)).unwrap();
/// g.on("fail", |_, _, _| Err(HandlerError::Ws("nope"))).unwrap();
/// assert!(g.on("third", |_, _, _| Ok(())).is_err()); // the table holds two
/// ```
pub struct Gateway<S, const H: usize> {
    path: &'static str,
    handlers: heapless::Vec<(&'static str, Handler<S>), H>,
    state: S,
    protocols: &'static [&'static str],
    parser: MessageParser,
    after_init: Option<fn(&mut S)>,
    on_connect: Option<ConnectHook<S>>,
    on_disconnect: Option<fn(&mut S, ClientId, CloseCode)>,
    verify: Option<VerifyHook<S>>,
    on_drop: Option<fn(&mut S, ClientId, DropReason)>,
}

/// Why a handler could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RegisterError {
    /// The handler table is full: raise the gateway's `H`.
    TableFull,
    /// A handler for this event exists already.
    Duplicate,
}

impl core::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RegisterError::TableFull => "handler table full: raise the gateway's capacity H",
            RegisterError::Duplicate => "a handler for this event is already registered",
        })
    }
}

impl core::error::Error for RegisterError {}

impl<S, const H: usize> Gateway<S, H> {
    /// A gateway at `path` (normalised when matched: `ws/` is `/ws`, `""` is `/`; `:name`
    /// segments match any one segment) with shared state `state`.
    pub const fn new(path: &'static str, state: S) -> Self {
        Gateway {
            path,
            handlers: heapless::Vec::new(),
            state,
            protocols: &[],
            parser: envelope::parse_envelope,
            after_init: None,
            on_connect: None,
            on_disconnect: None,
            verify: None,
            on_drop: None,
        }
    }

    /// Registers `handler` for messages whose `event` is `event` (NestJS `@SubscribeMessage`).
    pub fn on(&mut self, event: &'static str, handler: Handler<S>) -> Result<(), RegisterError> {
        if self.handlers.iter().any(|(e, _)| *e == event) {
            return Err(RegisterError::Duplicate);
        }
        self.handlers
            .push((event, handler))
            .map_err(|_| RegisterError::TableFull)
    }

    /// Subprotocols this gateway accepts (`Sec-WebSocket-Protocol`), preferred first.
    pub fn subprotocols(&mut self, protocols: &'static [&'static str]) -> &mut Self {
        self.protocols = protocols;
        self
    }
    /// Replaces the envelope parser (NestJS `messageParser`), e.g.
    /// [`envelope::parse_array_envelope`] for `[event, data]` messages.
    pub fn message_parser(&mut self, parser: MessageParser) -> &mut Self {
        self.parser = parser;
        self
    }
    /// NestJS `afterInit`.
    pub fn on_init(&mut self, hook: fn(&mut S)) -> &mut Self {
        self.after_init = Some(hook);
        self
    }
    /// NestJS `handleConnection`: runs after the 101 with the request's path, `:param`
    /// values, query and headers; it may send frames.
    pub fn on_connect(&mut self, hook: ConnectHook<S>) -> &mut Self {
        self.on_connect = Some(hook);
        self
    }
    /// NestJS `handleDisconnect`, with the close code.
    pub fn on_disconnect(&mut self, hook: fn(&mut S, ClientId, CloseCode)) -> &mut Self {
        self.on_disconnect = Some(hook);
        self
    }
    /// Authentication before the upgrade: return an [`HttpError`] (401 or 403) to refuse.
    pub fn on_verify(&mut self, hook: VerifyHook<S>) -> &mut Self {
        self.verify = Some(hook);
        self
    }
    /// Called for each message dropped without a handler (also counted in [`Stats`]).
    pub fn on_drop(&mut self, hook: fn(&mut S, ClientId, DropReason)) -> &mut Self {
        self.on_drop = Some(hook);
        self
    }
    /// The shared state.
    pub fn state(&self) -> &S {
        &self.state
    }
    /// The shared state, mutably.
    pub fn state_mut(&mut self) -> &mut S {
        &mut self.state
    }
}

impl<S, const H: usize> Service for Gateway<S, H> {
    fn path(&self) -> &str {
        self.path
    }
    fn protocols(&self) -> &[&'static str] {
        self.protocols
    }
    fn after_init(&mut self) {
        if let Some(hook) = self.after_init {
            hook(&mut self.state);
        }
    }
    fn verify(
        &mut self,
        client: ClientId,
        request: &Request<'_>,
        protocol: Option<&'static str>,
    ) -> Result<(), HttpError> {
        match self.verify {
            Some(hook) => hook(
                &mut self.state,
                &ConnectInfo::new(client, request, self.path, protocol),
            ),
            None => Ok(()),
        }
    }
    fn connected(
        &mut self,
        cx: &mut Context<'_>,
        request: &Request<'_>,
        protocol: Option<&'static str>,
    ) {
        if let Some(hook) = self.on_connect {
            let info = ConnectInfo::new(cx.client, request, self.path, protocol);
            hook(&mut self.state, cx, &info);
        }
    }
    fn disconnected(&mut self, client: ClientId, code: CloseCode) {
        if let Some(hook) = self.on_disconnect {
            hook(&mut self.state, client, code);
        }
    }
    fn dispatch(&mut self, cx: &mut Context<'_>, message: &[u8], kind: MessageKind) {
        dispatch(self, cx, message, kind);
    }
}

impl<S, const H: usize> Handlers for Gateway<S, H> {
    type Failure = HandlerError;
    #[inline]
    fn parse<'m>(&self, message: &'m [u8]) -> Result<Envelope<'m>, EnvelopeError> {
        (self.parser)(message)
    }
    #[inline]
    fn find(&self, event: &JsonStr<'_>) -> Option<usize> {
        // `eq_str` compares the raw bytes when there are no escapes: no UTF-8 check
        // needed, since bytes equal to a `&str`'s are valid UTF-8.
        self.handlers
            .iter()
            .position(|(name, _)| event.eq_str(name))
    }
    fn pattern(&self, index: usize) -> &str {
        self.handlers.get(index).map_or("", |(name, _)| name)
    }
    #[inline]
    fn call(&mut self, index: usize, cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
        match self.handlers.get(index) {
            Some(&(_, handler)) => handler(&mut self.state, cx, data),
            None => Ok(()),
        }
    }
    fn exception(failure: &HandlerError) -> Exception<'_> {
        failure.exception()
    }
    fn dropped(&mut self, client: ClientId, reason: DropReason) {
        if let Some(hook) = self.on_drop {
            hook(&mut self.state, client, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// An outbox that records each frame's opcode and payload.
    #[derive(Default)]
    struct Recorder {
        frames: Vec<(OpCode, Vec<u8>)>,
        room: usize,
    }

    impl Outbox for Recorder {
        fn send_with(
            &mut self,
            opcode: OpCode,
            fill: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
        ) -> Result<(), SendError> {
            let mut buf = std::vec![0u8; self.room];
            let n = fill(&mut buf).ok_or(SendError::Full)?;
            buf.truncate(n);
            self.frames.push((opcode, buf));
            Ok(())
        }
        fn send(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
            self.send_with(opcode, &mut |b| {
                b.get_mut(..payload.len())?.copy_from_slice(payload);
                Some(payload.len())
            })
        }
        fn free(&self) -> usize {
            self.room
        }
    }

    fn run<S, const H: usize>(
        g: &mut Gateway<S, H>,
        msg: &[u8],
        room: usize,
    ) -> (Vec<String>, Stats) {
        let mut out = Recorder {
            room,
            ..Default::default()
        };
        let mut stats = Stats::new();
        let mut peers = NoPeers;
        let mut cx = Context::new(
            ClientId::new(0, 1),
            GatewayId(0),
            &mut out,
            &mut peers,
            &mut stats,
        );
        g.dispatch(&mut cx, msg, MessageKind::Text);
        let texts = out
            .frames
            .iter()
            .map(|(op, p)| {
                assert_eq!(*op, OpCode::Text);
                String::from_utf8(p.clone()).unwrap()
            })
            .collect();
        (texts, stats)
    }

    #[derive(serde::Deserialize)]
    struct Move<'a> {
        x: i32,
        y: i32,
        name: &'a str,
    }

    #[test]
    fn typed_data_with_serde_json_core() {
        let mut g: Gateway<i32, 2> = Gateway::new("/", 0);
        g.on("move", |sum, cx, data| {
            let m: Move<'_> = data.parse()?;
            *sum += m.x + m.y;
            Ok(cx.reply("moved", m.name)?)
        })
        .unwrap();
        let (out, stats) = run(
            &mut g,
            br#"{"event":"move","data":{"x":2,"y":3,"name":"rook"}}"#,
            256,
        );
        assert_eq!(out, [r#"{"event":"moved","data":"rook"}"#]);
        assert_eq!(*g.state(), 5);
        assert_eq!(stats.dispatched, 1);

        // Data of the wrong shape is an exception the client sees, with the cause.
        let (out, stats) = run(&mut g, br#"{"event":"move","data":[1]}"#, 256);
        assert_eq!(
            out,
            [
                r#"{"event":"exception","data":{"status":"error","message":"Internal server error","cause":{"pattern":"move","data":[1]}}}"#
            ]
        );
        assert_eq!(stats.exceptions, 1);
    }

    #[test]
    fn escaped_text_is_unescaped_into_scratch() {
        let mut g: Gateway<(), 1> = Gateway::new("/", ());
        g.on("say", |_, cx, data| {
            let mut scratch = [0u8; 64];
            let text: heapless::String<32> = data.parse_escaped(&mut scratch)?;
            Ok(cx.reply("said", text.as_str())?)
        })
        .unwrap();
        let (out, _) = run(&mut g, br#"{"event":"say","data":"a\"b\\c\n\u00e9"}"#, 256);
        assert_eq!(
            out,
            ["{\"event\":\"said\",\"data\":\"a\\\"b\\\\c\\n\u{e9}\"}"]
        );
    }

    #[test]
    fn array_message_parser() {
        let mut g: Gateway<(), 1> = Gateway::new("/", ());
        g.message_parser(envelope::parse_array_envelope);
        g.on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?))
            .unwrap();
        let (out, _) = run(&mut g, br#"["echo", {"a": 1}]"#, 256);
        assert_eq!(out, [r#"{"event":"echo","data":{"a":1}}"#]);
        // The default envelope is not understood any more: dropped and counted.
        let (out, stats) = run(&mut g, br#"{"event":"echo","data":1}"#, 256);
        assert!(out.is_empty());
        assert_eq!(stats.dropped_not_object, 1);
    }

    #[test]
    fn reply_that_does_not_fit_is_an_error_the_handler_sees() {
        let mut g: Gateway<Option<SendError>, 1> = Gateway::new("/", None);
        g.on("big", |seen, cx, _| {
            *seen = cx
                .reply("big", "0123456789012345678901234567890123456789")
                .err();
            Ok(())
        })
        .unwrap();
        let (out, stats) = run(&mut g, br#"{"event":"big"}"#, 32);
        assert!(out.is_empty());
        assert_eq!(*g.state(), Some(SendError::Full));
        assert_eq!(stats.send_failed, 1);
    }

    #[test]
    fn registering_past_capacity_is_an_error() {
        let mut g: Gateway<(), 1> = Gateway::new("/", ());
        assert_eq!(g.on("a", |_, _, _| Ok(())), Ok(()));
        assert_eq!(g.on("a", |_, _, _| Ok(())), Err(RegisterError::Duplicate));
        assert_eq!(g.on("b", |_, _, _| Ok(())), Err(RegisterError::TableFull));
    }

    #[test]
    fn event_names_are_json_escaped_in_replies() {
        let mut g: Gateway<(), 1> = Gateway::new("/", ());
        g.on("q", |_, cx, _| Ok(cx.reply("a\"b\u{1}", &1)?))
            .unwrap();
        let (out, _) = run(&mut g, br#"{"event":"q"}"#, 256);
        assert_eq!(out, [r#"{"event":"a\"b\u0001","data":1}"#]);
    }
}
