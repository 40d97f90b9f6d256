//! The C ABI (feature `ffi`): wsgate for C firmware, as one context and a few calls.
//!
//! C owns the sockets and the clock and feeds wsgate bytes; wsgate hands back bytes to write
//! and calls the C handlers. Nothing allocates: the caller gives the memory the server lives
//! in (`WSGATE_SERVER_SIZE` bytes aligned to `WSGATE_SERVER_ALIGN`, or `wsgate_server_size()`),
//! and every capacity is fixed when the library is built (`WSGATE_MAX_CLIENTS` and the rest:
//! the core's capacities are compile-time constants, so one build of the C library is one
//! set of sizes; edit the constants here and rebuild to change them).
//!
//! Every function returns an `int32_t`: 0 (or a count) on success, a negative `WSGATE_ERR_*`
//! code otherwise (`wsgate_strerror` names it). A null pointer, a handle that is not a
//! server, a call from inside a callback into the same server, or a too-small buffer is an
//! error, never undefined behaviour. No panic crosses the boundary (the core does not panic
//! on input, and an unwinding `extern "C"` function aborts).
//!
//! This is the only module with `unsafe` code; each block says why it is sound. It owns the
//! C view of the server (the handle, its capacities, the C gateway of C handlers, which
//! runs messages through the same dispatch pipeline as a Rust gateway); it never frames,
//! parses or routes anything itself, and never owns a socket or a clock.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

use crate::connection::MessageKind;
use crate::connection::Timeouts;
use crate::gateway::envelope::{Envelope, EnvelopeError, parse_envelope};
use crate::gateway::{ClientId, Context, Data, Exception, GatewayId, Handlers, Service, dispatch};
use crate::json::JsonStr;
use crate::protocol::close::CloseCode;
use crate::protocol::handshake::Request;
use crate::protocol::http::SERVER_FULL_RESPONSE;
use crate::server::{Config, Refused, Server, ServerError};
use crate::stats::Stats;
use core::ffi::{c_char, c_void};
use core::ptr::{self, addr_of_mut};

/// Connection slots of a server.
pub const WSGATE_MAX_CLIENTS: usize = 8;
/// Largest message a client may send, in bytes (each slot's receive buffer).
pub const WSGATE_MAX_MESSAGE: usize = 2048;
/// Each slot's transmit buffer, in bytes: the replies not yet written out.
pub const WSGATE_TX_BUFFER: usize = 2048;
/// Gateways (paths) per server.
pub const WSGATE_MAX_GATEWAYS: usize = 4;
/// Handlers per gateway.
pub const WSGATE_MAX_HANDLERS: usize = 16;
/// Longest gateway path, in bytes.
pub const WSGATE_MAX_PATH: usize = 64;
/// Longest event name, in bytes.
pub const WSGATE_MAX_EVENT: usize = 32;
/// Longest message `wsgate_throw` keeps, in bytes (longer ones are cut at a character).
pub const WSGATE_MAX_THROW: usize = 96;
/// Alignment the server's memory needs.
pub const WSGATE_SERVER_ALIGN: usize = 8;
/// Bytes of memory a server needs, on every target (`wsgate_server_size()` gives the exact
/// figure for this build, which may be smaller).
pub const WSGATE_SERVER_SIZE: usize = 40960;

/// Success.
pub const WSGATE_OK: i32 = 0;
/// A pointer argument was NULL.
pub const WSGATE_ERR_NULL: i32 = -1;
/// The handle is not a wsgate server (or context), or its memory was overwritten.
pub const WSGATE_ERR_BAD_HANDLE: i32 = -2;
/// Called from inside a callback of the same server: use the `wsgate_ctx_*` calls there.
pub const WSGATE_ERR_BUSY: i32 = -3;
/// The memory or buffer given is too small.
pub const WSGATE_ERR_TOO_SMALL: i32 = -4;
/// The memory is not aligned to `WSGATE_SERVER_ALIGN`.
pub const WSGATE_ERR_ALIGN: i32 = -5;
/// Every client slot is taken: write `wsgate_full_response()` and close the socket.
pub const WSGATE_ERR_FULL: i32 = -6;
/// The server is closing (after `wsgate_close`): close the socket.
pub const WSGATE_ERR_CLOSED: i32 = -7;
/// The client id is not (or no longer) connected.
pub const WSGATE_ERR_UNKNOWN_CLIENT: i32 = -8;
/// No gateway has this id.
pub const WSGATE_ERR_UNKNOWN_GATEWAY: i32 = -9;
/// A table is full (gateways or handlers): raise the constant and rebuild.
pub const WSGATE_ERR_TABLE_FULL: i32 = -10;
/// A handler for this event (or a gateway for this path) exists already.
pub const WSGATE_ERR_DUPLICATE: i32 = -11;
/// A string is not UTF-8, too long, or not NUL-terminated within its limit.
pub const WSGATE_ERR_INVALID: i32 = -12;
/// `data` is not one valid JSON value.
pub const WSGATE_ERR_BAD_JSON: i32 = -13;
/// The client's transmit buffer has no room for this frame now.
pub const WSGATE_ERR_SEND_FULL: i32 = -14;
/// The client's WebSocket is not open (still in its handshake, or closing).
pub const WSGATE_ERR_NOT_OPEN: i32 = -15;
/// Gateways and handlers must be bound before the first `wsgate_accept`.
pub const WSGATE_ERR_STARTED: i32 = -16;
/// The client's address holds `max_per_address` slots already: write
/// `wsgate_refusal_response(WSGATE_ERR_PER_ADDRESS, ...)` (a 429) and close the socket.
pub const WSGATE_ERR_PER_ADDRESS: i32 = -17;

const MAGIC: u32 = 0x5753_4754; // "WSGT"
const CTX_MAGIC: u32 = 0x5753_4358; // "WSCX"

type CoreServer =
    Server<'static, WSGATE_MAX_CLIENTS, WSGATE_MAX_MESSAGE, WSGATE_TX_BUFFER, WSGATE_MAX_GATEWAYS>;

/// A server, living in memory the caller provides. Opaque.
// Not `#[repr(C)]`: cbindgen then declares it as an incomplete type (`typedef struct
// wsgate_server wsgate_server;`) instead of a struct with a zero-length array, which ISO C
// forbids. Only pointers to it cross the boundary.
pub struct wsgate_server {
    _opaque: [u8; 0],
}

/// The context of one handler call. Opaque; valid only during that call.
// Not `#[repr(C)]`, as `wsgate_server`.
pub struct wsgate_ctx {
    _opaque: [u8; 0],
}

/// A message handler, bound with `wsgate_add_handler`; runs inside the
/// `wsgate_feed` call that completed the message. `event` is the event name it was bound to
/// (`event_len` bytes, not NUL-terminated; one function can serve several events). `data`
/// is the raw JSON text of the
/// message's `data` (not NUL-terminated; NULL with `data_len` 0 when the message had no
/// `data`), valid during the call only: copy what you keep. `ctx` is valid during the call
/// only. `user` is the pointer given when binding. Reply with `wsgate_reply` and friends;
/// calls on the server itself return `WSGATE_ERR_BUSY` here. Return 0 for success; any
/// other value makes the client get NestJS's exception frame, with the message given to
/// `wsgate_throw` (or "Internal server error").
pub type wsgate_handler = Option<
    unsafe extern "C" fn(
        ctx: *mut wsgate_ctx,
        event: *const c_char,
        event_len: usize,
        data: *const u8,
        data_len: usize,
        user: *mut c_void,
    ) -> i32,
>;

/// Called after a client's upgrade (inside the `wsgate_feed` call that completed it), with
/// the path the client asked for, without the query (for a gateway `/rooms/:id`, e.g.
/// `/rooms/42`; not NUL-terminated, valid during the call) and the `user` pointer given
/// to `wsgate_bind_client_connect`. Calls on the server return `WSGATE_ERR_BUSY` here.
pub type wsgate_connect_cb =
    Option<unsafe extern "C" fn(client: u32, path: *const u8, path_len: usize, user: *mut c_void)>;

/// Called once when an upgraded client leaves, with its close code (1006: no close
/// handshake), inside the call that ended it (`wsgate_feed`, `wsgate_poll` or
/// `wsgate_release`). The id is not usable for sending any more. Calls on the server return
/// `WSGATE_ERR_BUSY` here.
pub type wsgate_disconnect_cb =
    Option<unsafe extern "C" fn(client: u32, code: u16, user: *mut c_void)>;

/// Server settings (`wsgate_config_default` fills in the defaults). Times in milliseconds;
/// 0 turns a timer off.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsgate_config {
    /// Time allowed from accept to a complete request head; then 408.
    pub handshake_timeout_ms: u32,
    /// Silence after which the server pings a client.
    pub ping_interval_ms: u32,
    /// Time allowed for the pong; then the client is dropped (1006).
    pub pong_timeout_ms: u32,
    /// Time allowed for the client's close frame after ours.
    pub close_timeout_ms: u32,
    /// Largest request head, in bytes (at most `WSGATE_MAX_MESSAGE`); larger gets 431.
    pub max_head: u32,
    /// Transmit room a handler may use beyond the size of the message it answers: a
    /// message of `L` bytes is dispatched when the client's transmit buffer is empty or has
    /// `L + reply_room` bytes free; until then it waits (see the Rust `Config::reply_room`).
    pub reply_room: u32,
    /// Time allowed for one message, from its first byte to its last; then the client is
    /// failed with 1008 (a trickle of bytes cannot hold a slot).
    pub message_timeout_ms: u32,
    /// Messages one client may have dispatched in one `wsgate_feed`; then the call returns
    /// with input left (feed it again after serving the other clients). 0: no limit.
    pub messages_per_turn: u32,
    /// Bytes one client's messages may queue into other clients' buffers (broadcasts) in
    /// one `wsgate_feed`, at most half of `WSGATE_TX_BUFFER`; then the call returns with
    /// input left. 0: no limit.
    pub peer_bytes_per_turn: u32,
    /// Slots one address may hold (`wsgate_accept_from`); past it `WSGATE_ERR_PER_ADDRESS`.
    /// 0: no limit.
    pub max_per_address: u32,
}

/// The server's counters (see the Rust `Stats` for each one's meaning).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wsgate_stats {
    /// TCP connections given a slot.
    pub accepted: u32,
    /// Connections refused with 503.
    pub refused_full: u32,
    /// Upgrades completed.
    pub upgraded: u32,
    /// HTTP refusals: 400.
    pub http_400: u32,
    /// HTTP refusals: 404.
    pub http_404: u32,
    /// HTTP refusals: 405.
    pub http_405: u32,
    /// HTTP refusals: 408.
    pub http_408: u32,
    /// HTTP refusals: 426.
    pub http_426: u32,
    /// HTTP refusals: 431.
    pub http_431: u32,
    /// Complete messages received.
    pub messages: u32,
    /// Messages that reached a handler.
    pub dispatched: u32,
    /// Messages dropped: not JSON, not an object, no event, unknown event.
    pub dropped: u32,
    /// Exception frames sent.
    pub exceptions: u32,
    /// Frames queued.
    pub frames_sent: u32,
    /// Frames that did not fit a transmit buffer.
    pub send_failed: u32,
    /// Broadcast frames dropped for a full client.
    pub broadcast_dropped: u32,
    /// Pings sent.
    pub pings_sent: u32,
    /// Closed by the client's close frame.
    pub closed_by_peer: u32,
    /// Closed by ours, answered.
    pub closed_by_server: u32,
    /// Failed with 1002.
    pub closed_protocol_error: u32,
    /// Failed with 1007.
    pub closed_invalid_utf8: u32,
    /// Failed with 1009.
    pub closed_too_big: u32,
    /// Dropped after a ping went unanswered.
    pub closed_idle: u32,
    /// Dropped after our close went unanswered.
    pub closed_close_timeout: u32,
    /// Lost without a close handshake.
    pub closed_peer_gone: u32,
    /// Refused with 429: the address held `max_per_address` slots.
    pub refused_per_address: u32,
    /// Failed with 1008: a message did not arrive within `message_timeout_ms`.
    pub closed_message_timeout: u32,
    /// Closed with 1011: a reply did not fit, nor did the exception frame saying so.
    pub closed_no_room: u32,
}

impl From<&Stats> for wsgate_stats {
    fn from(s: &Stats) -> Self {
        wsgate_stats {
            accepted: s.accepted,
            refused_full: s.refused_full,
            upgraded: s.upgraded,
            http_400: s.http_400,
            http_404: s.http_404,
            http_405: s.http_405,
            http_408: s.http_408,
            http_426: s.http_426,
            http_431: s.http_431,
            messages: s.messages,
            dispatched: s.dispatched,
            dropped: s.dropped(),
            exceptions: s.exceptions,
            frames_sent: s.frames_sent,
            send_failed: s.send_failed,
            broadcast_dropped: s.broadcast_dropped,
            pings_sent: s.pings_sent,
            closed_by_peer: s.closed_by_peer,
            closed_by_server: s.closed_by_server,
            closed_protocol_error: s.closed_protocol_error,
            closed_invalid_utf8: s.closed_invalid_utf8,
            closed_too_big: s.closed_too_big,
            closed_idle: s.closed_idle,
            closed_close_timeout: s.closed_close_timeout,
            closed_peer_gone: s.closed_peer_gone,
            refused_per_address: s.refused_per_address,
            closed_message_timeout: s.closed_message_timeout,
            closed_no_room: s.closed_no_room,
        }
    }
}

/// One C handler.
#[derive(Clone)]
struct CHandler {
    event: heapless::String<WSGATE_MAX_EVENT>,
    handler: unsafe extern "C" fn(
        *mut wsgate_ctx,
        *const c_char,
        usize,
        *const u8,
        usize,
        *mut c_void,
    ) -> i32,
    user: *mut c_void,
}

/// A gateway of C handlers.
struct CGateway {
    path: heapless::String<WSGATE_MAX_PATH>,
    handlers: heapless::Vec<CHandler, WSGATE_MAX_HANDLERS>,
    connect: wsgate_connect_cb,
    connect_user: *mut c_void,
    disconnect: wsgate_disconnect_cb,
    disconnect_user: *mut c_void,
}

impl CGateway {
    const fn new() -> Self {
        CGateway {
            path: heapless::String::new(),
            handlers: heapless::Vec::new(),
            connect: None,
            connect_user: ptr::null_mut(),
            disconnect: None,
            disconnect_user: ptr::null_mut(),
        }
    }
}

/// What a handler's `wsgate_ctx` points to, for the length of one call.
/// cbindgen:ignore
#[repr(C)]
struct CallCtx<'a, 'b> {
    /// First, so a handle of the wrong kind is recognised by layout, not by chance.
    magic: u32,
    cx: &'a mut Context<'b>,
    thrown: heapless::String<WSGATE_MAX_THROW>,
}

impl Service for CGateway {
    fn path(&self) -> &str {
        &self.path
    }
    fn connected(&mut self, cx: &mut Context<'_>, request: &Request<'_>, _: Option<&'static str>) {
        if let Some(cb) = self.connect {
            // The path the client asked for (a `:param` gateway's values are in it).
            let path = request.path;
            // SAFETY: a C function pointer the caller registered with
            // `wsgate_bind_client_connect`; the path slice is valid for the call.
            unsafe {
                cb(
                    cx.client().as_u32(),
                    path.as_ptr(),
                    path.len(),
                    self.connect_user,
                )
            };
        }
    }
    fn disconnected(&mut self, client: ClientId, code: CloseCode) {
        if let Some(cb) = self.disconnect {
            // SAFETY: a C function pointer the caller registered with
            // `wsgate_bind_client_disconnect`.
            unsafe { cb(client.as_u32(), code.as_u16(), self.disconnect_user) };
        }
    }
    fn dispatch(&mut self, cx: &mut Context<'_>, message: &[u8], kind: MessageKind) {
        dispatch(self, cx, message, kind);
    }
}

/// The C handlers in the pipeline every gateway runs; a failed C handler's exception
/// message is what it passed to `wsgate_throw`, if anything.
impl Handlers for CGateway {
    type Failure = heapless::String<WSGATE_MAX_THROW>;
    fn parse<'m>(&self, message: &'m [u8]) -> Result<Envelope<'m>, EnvelopeError> {
        parse_envelope(message)
    }
    fn find(&self, event: &JsonStr<'_>) -> Option<usize> {
        self.handlers.iter().position(|h| event.eq_str(&h.event))
    }
    fn pattern(&self, index: usize) -> &str {
        self.handlers.get(index).map_or("", |h| h.event.as_str())
    }
    fn call(
        &mut self,
        index: usize,
        cx: &mut Context<'_>,
        data: Data<'_>,
    ) -> Result<(), Self::Failure> {
        let Some(h) = self.handlers.get(index) else {
            return Ok(());
        };
        let (data, data_len) = match data.raw() {
            Some(d) => (d.as_ptr(), d.len()),
            None => (ptr::null(), 0),
        };
        let mut call = CallCtx {
            magic: CTX_MAGIC,
            cx,
            thrown: heapless::String::new(),
        };
        let ctx = ptr::addr_of_mut!(call).cast::<wsgate_ctx>();
        let event = h.event.as_ptr().cast::<c_char>();
        // SAFETY: the handler is a C function pointer the caller registered; `ctx` points to
        // `call`, alive for the whole call; `event` and `data` point into the handler table
        // and the message, alive too.
        let rc = unsafe { (h.handler)(ctx, event, h.event.len(), data, data_len, h.user) };
        call.magic = 0;
        if rc == 0 { Ok(()) } else { Err(call.thrown) }
    }
    fn exception(thrown: &Self::Failure) -> Exception<'_> {
        Exception::Message(if thrown.is_empty() {
            "Internal server error"
        } else {
            thrown.as_str()
        })
    }
}

/// The server as it sits in the caller's memory. Only ever reached through a raw pointer,
/// field by field: the core server holds `&mut` borrows of `gateways` once started, so no
/// reference to the whole struct may exist then.
#[repr(C)]
struct FfiServer {
    magic: u32,
    /// 0 or 1; a `u8` so that overwritten memory is never an invalid `bool`.
    busy: u8,
    /// 0 or 1, a `u8` for the same reason.
    started: u8,
    gateway_count: u8,
    connect: wsgate_connect_cb,
    connect_user: *mut c_void,
    disconnect: wsgate_disconnect_cb,
    disconnect_user: *mut c_void,
    gateways: [CGateway; WSGATE_MAX_GATEWAYS],
    server: CoreServer,
}

const _: () = {
    assert!(core::mem::size_of::<FfiServer>() <= WSGATE_SERVER_SIZE);
    assert!(core::mem::align_of::<FfiServer>() <= WSGATE_SERVER_ALIGN);
};

/// Marks the server busy for the length of one call; refuses re-entry from a callback.
struct Entered(*mut FfiServer);

impl Entered {
    /// Checks `s` and marks it busy.
    ///
    /// # Safety
    /// `s` is NULL or a pointer the caller got from `wsgate_create` (or at least one that
    /// points to `WSGATE_SERVER_ALIGN`-aligned readable memory of `wsgate_server_size()` bytes).
    unsafe fn new(s: *mut wsgate_server) -> Result<Self, i32> {
        if s.is_null() {
            return Err(WSGATE_ERR_NULL);
        }
        if !s.addr().is_multiple_of(WSGATE_SERVER_ALIGN) {
            return Err(WSGATE_ERR_BAD_HANDLE);
        }
        let p = s.cast::<FfiServer>();
        // SAFETY: by the contract above `p` is aligned and readable; the fields read are
        // plain integers, valid for any bit pattern.
        unsafe {
            if (*p).magic != MAGIC {
                return Err(WSGATE_ERR_BAD_HANDLE);
            }
            if (*p).busy != 0 {
                return Err(WSGATE_ERR_BUSY);
            }
            (*p).busy = 1;
        }
        Ok(Entered(p))
    }

    /// The core server.
    fn server(&mut self) -> &mut CoreServer {
        // SAFETY: `self.0` passed the checks in `new`; the server field is only borrowed
        // here, through the raw pointer, and `busy` keeps any other call from borrowing it
        // at the same time.
        unsafe { &mut *addr_of_mut!((*self.0).server) }
    }

    /// The id of a connected client, or `WSGATE_ERR_UNKNOWN_CLIENT`.
    fn client(&mut self, client: u32) -> Result<ClientId, i32> {
        let id = ClientId::from_u32(client);
        if self.server().client_at(id.index()) == Some(id) {
            Ok(id)
        } else {
            Err(WSGATE_ERR_UNKNOWN_CLIENT)
        }
    }

    fn started(&self) -> bool {
        // SAFETY: checked pointer; a plain field read.
        unsafe { (*self.0).started != 0 }
    }

    /// Binds the gateways to the core server, once, before the first client.
    fn start(&mut self) {
        if self.started() {
            return;
        }
        let p = self.0;
        // SAFETY: checked pointer. Each gateway is borrowed once, here, for as long as the
        // server lives; nothing else touches `gateways` after `started` is set.
        unsafe {
            (*p).started = 1;
            let count = usize::from((*p).gateway_count).min(WSGATE_MAX_GATEWAYS);
            for i in 0..count {
                let g: &'static mut CGateway = &mut *addr_of_mut!((*p).gateways[i]);
                g.connect = (*p).connect;
                g.connect_user = (*p).connect_user;
                g.disconnect = (*p).disconnect;
                g.disconnect_user = (*p).disconnect_user;
                let _ = (*addr_of_mut!((*p).server)).add_gateway(g);
            }
            (*addr_of_mut!((*p).server)).init();
        }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        // SAFETY: checked pointer; a plain field write.
        unsafe { (*self.0).busy = 0 };
    }
}

/// Runs `f` on the checked, busy-marked server; returns its code or the entry error.
///
/// # Safety
/// As [`Entered::new`].
unsafe fn with_server(s: *mut wsgate_server, f: impl FnOnce(&mut Entered) -> i32) -> i32 {
    // SAFETY: forwarded contract.
    match unsafe { Entered::new(s) } {
        Ok(mut e) => f(&mut e),
        Err(code) => code,
    }
}

/// Reads a NUL-terminated UTF-8 string of at most `max` bytes.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string, or to at least `max + 1` readable bytes.
unsafe fn c_str<'a>(s: *const c_char, max: usize) -> Result<&'a str, i32> {
    if s.is_null() {
        return Err(WSGATE_ERR_NULL);
    }
    let mut len = 0;
    // SAFETY: reads stop at the NUL or after `max + 1` bytes, within the contract.
    while unsafe { *s.add(len) } != 0 {
        len += 1;
        if len > max {
            return Err(WSGATE_ERR_INVALID);
        }
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    let bytes = unsafe { core::slice::from_raw_parts(s.cast::<u8>(), len) };
    core::str::from_utf8(bytes).map_err(|_| WSGATE_ERR_INVALID)
}

/// A byte slice from C (`NULL` with length 0 is the empty slice).
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes.
unsafe fn c_bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], i32> {
    if p.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(WSGATE_ERR_NULL)
        };
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// Raw JSON from C, checked to be one valid JSON value.
///
/// # Safety
/// As [`c_bytes`].
unsafe fn c_json<'a>(p: *const u8, len: usize) -> Result<&'a [u8], i32> {
    // SAFETY: forwarded contract.
    let json = unsafe { c_bytes(p, len) }?;
    // JSON goes out in a text frame, which must be UTF-8.
    core::str::from_utf8(json).map_err(|_| WSGATE_ERR_BAD_JSON)?;
    crate::json::validate_json(json).map_err(|_| WSGATE_ERR_BAD_JSON)?;
    Ok(json)
}

/// An event name and optional JSON data from C.
///
/// # Safety
/// As [`c_str`] for `event` and [`c_bytes`] for `json`.
unsafe fn c_event_json<'a>(
    event: *const c_char,
    json: *const u8,
    len: usize,
) -> Result<(&'a str, &'a [u8]), i32> {
    // SAFETY: forwarded contracts.
    unsafe { Ok((c_str(event, WSGATE_MAX_EVENT)?, c_json_opt(json, len)?)) }
}

/// Like [`c_json`], but NULL with length 0 means "no data" (an empty slice): the frame is
/// then `{"event":..}` without `data`, as `JSON.stringify` writes an undefined `data`.
///
/// # Safety
/// As [`c_bytes`].
unsafe fn c_json_opt<'a>(p: *const u8, len: usize) -> Result<&'a [u8], i32> {
    if p.is_null() && len == 0 {
        return Ok(&[]);
    }
    // SAFETY: forwarded contract.
    unsafe { c_json(p, len) }
}

fn server_error(e: ServerError) -> i32 {
    match e {
        ServerError::UnknownClient => WSGATE_ERR_UNKNOWN_CLIENT,
        ServerError::TooManyGateways => WSGATE_ERR_TABLE_FULL,
        ServerError::Send(e) => send_error(e),
    }
}

fn send_error(e: crate::connection::SendError) -> i32 {
    match e {
        crate::connection::SendError::NotOpen => WSGATE_ERR_NOT_OPEN,
        crate::connection::SendError::Serialize => WSGATE_ERR_BAD_JSON,
        _ => WSGATE_ERR_SEND_FULL,
    }
}

fn result(r: Result<(), i32>) -> i32 {
    match r {
        Ok(()) => WSGATE_OK,
        Err(code) => code,
    }
}

/// Writes `v` through `out` when `out` is not NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
unsafe fn put<T>(out: *mut T, v: T) -> Result<(), i32> {
    if out.is_null() {
        return Err(WSGATE_ERR_NULL);
    }
    // SAFETY: the caller's contract.
    unsafe { out.write(v) };
    Ok(())
}

/// The exact number of bytes `wsgate_create` needs in this build (at most
/// `WSGATE_SERVER_SIZE`, which is the figure to size static memory with).
#[unsafe(no_mangle)]
pub extern "C" fn wsgate_server_size() -> usize {
    core::mem::size_of::<FfiServer>()
}

/// Fills `out` with the default settings (handshake 5 s, ping after 30 s, pong within 10 s,
/// close within 2 s, a message within 10 s, heads up to `WSGATE_MAX_MESSAGE` bytes, reply
/// room 256 bytes, 16 messages and 1 KiB to other clients per turn, no per-address limit):
/// the ones `wsgate_create` uses when given NULL. Returns `WSGATE_OK`, or `WSGATE_ERR_NULL`.
///
/// # Safety
/// `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_config_default(out: *mut wsgate_config) -> i32 {
    let t = Timeouts::DEFAULT;
    let c = wsgate_config {
        handshake_timeout_ms: t.handshake_ms,
        ping_interval_ms: t.ping_interval_ms,
        pong_timeout_ms: t.pong_timeout_ms,
        close_timeout_ms: t.close_timeout_ms,
        max_head: WSGATE_MAX_MESSAGE as u32,
        reply_room: Config::DEFAULT.reply_room as u32,
        message_timeout_ms: t.message_ms,
        messages_per_turn: u32::from(Config::DEFAULT.messages_per_turn),
        peer_bytes_per_turn: Config::DEFAULT.peer_bytes_per_turn as u32,
        max_per_address: u32::from(Config::DEFAULT.max_per_address),
    };
    // SAFETY: forwarded contract.
    result(unsafe { put(out, c) })
}

/// NestJS `create`: builds a server in `memory` (`size` bytes, at least
/// `wsgate_server_size()`, aligned to `WSGATE_SERVER_ALIGN`) and stores its handle in
/// `*out`. `config` may be NULL for the defaults; it is copied. The memory belongs to the
/// server until the program stops using it; wsgate never frees it (there is nothing to free
/// or destroy). Creating again in the same memory starts a new, empty server (no callbacks
/// run for the old one's clients). Then add gateways and bind handlers, and accept clients.
///
/// Errors: `WSGATE_ERR_NULL` (`memory` or `out`), `WSGATE_ERR_TOO_SMALL` (`size`),
/// `WSGATE_ERR_ALIGN` (`memory`); `*out` is untouched then.
///
/// # Safety
/// `memory` is NULL or valid for writes of `size` bytes, not used for anything else while
/// the server is; `config` is NULL or valid for a read; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_create(
    memory: *mut c_void,
    size: usize,
    config: *const wsgate_config,
    out: *mut *mut wsgate_server,
) -> i32 {
    if memory.is_null() || out.is_null() {
        return WSGATE_ERR_NULL;
    }
    if size < core::mem::size_of::<FfiServer>() {
        return WSGATE_ERR_TOO_SMALL;
    }
    if !memory.addr().is_multiple_of(WSGATE_SERVER_ALIGN) {
        return WSGATE_ERR_ALIGN;
    }
    let mut cfg = Config::DEFAULT;
    cfg.max_head = WSGATE_MAX_MESSAGE;
    if !config.is_null() {
        // SAFETY: non-NULL and valid for a read by the contract.
        let c = unsafe { config.read() };
        cfg.timeouts = Timeouts {
            handshake_ms: c.handshake_timeout_ms,
            ping_interval_ms: c.ping_interval_ms,
            pong_timeout_ms: c.pong_timeout_ms,
            close_timeout_ms: c.close_timeout_ms,
            message_ms: c.message_timeout_ms,
        };
        // 0 (a zeroed config) means the largest head the receive buffer holds.
        cfg.max_head = match c.max_head {
            0 => WSGATE_MAX_MESSAGE,
            n => (n as usize).min(WSGATE_MAX_MESSAGE),
        };
        cfg.reply_room = c.reply_room as usize;
        cfg.messages_per_turn = u16::try_from(c.messages_per_turn).unwrap_or(u16::MAX);
        cfg.peer_bytes_per_turn = c.peer_bytes_per_turn as usize;
        cfg.max_per_address = u16::try_from(c.max_per_address).unwrap_or(u16::MAX);
    }
    let p = memory.cast::<FfiServer>();
    // SAFETY: `p` is non-NULL, aligned and valid for `size_of::<FfiServer>()` writes
    // (checked above); nothing else uses that memory.
    unsafe {
        p.write(FfiServer {
            magic: MAGIC,
            busy: 0,
            started: 0,
            gateway_count: 0,
            connect: None,
            connect_user: ptr::null_mut(),
            disconnect: None,
            disconnect_user: ptr::null_mut(),
            gateways: [const { CGateway::new() }; WSGATE_MAX_GATEWAYS],
            server: Server::new(cfg),
        });
        out.write(p.cast::<wsgate_server>());
    }
    WSGATE_OK
}

/// Adds a gateway at `path` (NUL-terminated, copied; `ws/` is `/ws`, `""` is `/`, `:name`
/// segments match any one segment) and stores its id in `*gateway_out`: 0, 1, 2... in the
/// order added. An upgrade request goes to the first gateway whose path matches; no match
/// gets 404. Before the first `wsgate_accept`.
///
/// Errors: `WSGATE_ERR_NULL`, `WSGATE_ERR_INVALID` (not UTF-8, or longer than
/// `WSGATE_MAX_PATH` bytes), `WSGATE_ERR_DUPLICATE` (a gateway matches the same paths:
/// `/a`, `a/` and `//a` are one path, `/r/:x` and `/r/:y` one pattern),
/// `WSGATE_ERR_TABLE_FULL` (`WSGATE_MAX_GATEWAYS`), `WSGATE_ERR_STARTED`, and for the
/// handle `WSGATE_ERR_BAD_HANDLE` and `WSGATE_ERR_BUSY` (as every call on the server).
///
/// # Safety
/// `server` comes from `wsgate_create`; `path` is a NUL-terminated string; `gateway_out` is
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_add_gateway(
    server: *mut wsgate_server,
    path: *const c_char,
    gateway_out: *mut u32,
) -> i32 {
    // SAFETY: forwarded contracts; the gateways are touched only before `start`, through
    // the raw pointer, while the server is marked busy.
    unsafe {
        with_server(server, |e| {
            if e.started() {
                return WSGATE_ERR_STARTED;
            }
            if gateway_out.is_null() {
                return WSGATE_ERR_NULL;
            }
            let path = match c_str(path, WSGATE_MAX_PATH) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let p = e.0;
            let count = usize::from((*p).gateway_count);
            if count >= WSGATE_MAX_GATEWAYS {
                return WSGATE_ERR_TABLE_FULL;
            }
            let gateways = &mut *addr_of_mut!((*p).gateways);
            if gateways.iter().take(count).any(|g| {
                crate::gateway::path_matches(&g.path, path)
                    && crate::gateway::path_matches(path, &g.path)
            }) {
                return WSGATE_ERR_DUPLICATE;
            }
            let Some(g) = gateways.get_mut(count) else {
                return WSGATE_ERR_TABLE_FULL;
            };
            g.path.clear();
            if g.path.push_str(path).is_err() {
                return WSGATE_ERR_INVALID;
            }
            (*p).gateway_count = (count + 1) as u8;
            gateway_out.write(count as u32);
            WSGATE_OK
        })
    }
}

/// Adds one handler to a gateway (NestJS `@SubscribeMessage`, Rust `Gateway::on`):
/// `handler` runs for messages whose `event` is `event` (NUL-terminated, copied; compared
/// byte for byte) on `gateway`, with `user` passed through. Messages with no handler are dropped (counted in
/// `wsgate_stats.dropped`). Before the first `wsgate_accept`.
///
/// Errors: `WSGATE_ERR_NULL` (`event` or `handler`), `WSGATE_ERR_UNKNOWN_GATEWAY`,
/// `WSGATE_ERR_INVALID` (not UTF-8, or longer than `WSGATE_MAX_EVENT` bytes),
/// `WSGATE_ERR_DUPLICATE` (this event on this gateway), `WSGATE_ERR_TABLE_FULL`
/// (`WSGATE_MAX_HANDLERS` per gateway), `WSGATE_ERR_STARTED`.
///
/// # Safety
/// `server` comes from `wsgate_create`; `event` is a NUL-terminated string; `handler` is a
/// valid function for as long as the server is used, and so is whatever `user` points to.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_add_handler(
    server: *mut wsgate_server,
    gateway: u32,
    event: *const c_char,
    handler: wsgate_handler,
    user: *mut c_void,
) -> i32 {
    // SAFETY: as in `wsgate_add_gateway`.
    unsafe {
        with_server(server, |e| {
            if e.started() {
                return WSGATE_ERR_STARTED;
            }
            let Some(handler) = handler else {
                return WSGATE_ERR_NULL;
            };
            let event = match c_str(event, WSGATE_MAX_EVENT) {
                Ok(ev) => ev,
                Err(code) => return code,
            };
            let p = e.0;
            if gateway >= u32::from((*p).gateway_count) {
                return WSGATE_ERR_UNKNOWN_GATEWAY;
            }
            let gateways = &mut *addr_of_mut!((*p).gateways);
            let Some(g) = gateways.get_mut(gateway as usize) else {
                return WSGATE_ERR_UNKNOWN_GATEWAY;
            };
            if g.handlers.iter().any(|h| h.event == event) {
                return WSGATE_ERR_DUPLICATE;
            }
            let mut name = heapless::String::new();
            if name.push_str(event).is_err() {
                return WSGATE_ERR_INVALID;
            }
            let entry = CHandler {
                event: name,
                handler,
                user,
            };
            match g.handlers.push(entry) {
                Ok(()) => WSGATE_OK,
                Err(_) => WSGATE_ERR_TABLE_FULL,
            }
        })
    }
}

/// NestJS `bindClientConnect`: `cb` runs after each upgrade, on every gateway, with `user`.
/// NULL unbinds. Before the first accept (else `WSGATE_ERR_STARTED`).
///
/// # Safety
/// `server` comes from `wsgate_create`; `cb` and `user` stay valid while the server is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_bind_client_connect(
    server: *mut wsgate_server,
    cb: wsgate_connect_cb,
    user: *mut c_void,
) -> i32 {
    // SAFETY: checked pointer; plain field writes before `start`.
    unsafe {
        with_server(server, |e| {
            if e.started() {
                return WSGATE_ERR_STARTED;
            }
            (*e.0).connect = cb;
            (*e.0).connect_user = user;
            WSGATE_OK
        })
    }
}

/// NestJS `bindClientDisconnect`: `cb` runs once per upgraded client when it leaves, with
/// `user`. NULL unbinds. Before the first accept (else `WSGATE_ERR_STARTED`).
///
/// # Safety
/// As `wsgate_bind_client_connect`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_bind_client_disconnect(
    server: *mut wsgate_server,
    cb: wsgate_disconnect_cb,
    user: *mut c_void,
) -> i32 {
    // SAFETY: checked pointer; plain field writes before `start`.
    unsafe {
        with_server(server, |e| {
            if e.started() {
                return WSGATE_ERR_STARTED;
            }
            (*e.0).disconnect = cb;
            (*e.0).disconnect_user = user;
            WSGATE_OK
        })
    }
}

/// NestJS `close`: refuse new clients (`wsgate_accept` then returns `WSGATE_ERR_CLOSED`)
/// and close every client with 1001 Going Away (those still in their handshake get 503).
/// Keep feeding, writing, polling and releasing until every `wsgate_wants_close` says 1.
///
/// # Safety
/// `server` comes from `wsgate_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_close(server: *mut wsgate_server, now_ms: u64) -> i32 {
    // SAFETY: forwarded contract.
    unsafe {
        with_server(server, |e| {
            e.server().close(now_ms);
            WSGATE_OK
        })
    }
}

/// A new TCP connection whose address is unknown (no per-address limit applies): stores
/// its client id in `*client_out`. On `WSGATE_ERR_FULL` or `WSGATE_ERR_CLOSED`, write
/// `wsgate_full_response()` to the socket and close it. `wsgate_accept_from` is the same
/// with the peer's address.
///
/// A client id is never 0; it names one connection: once released, its slot's next client
/// gets a different id and the old one gives `WSGATE_ERR_UNKNOWN_CLIENT`. The first accept
/// ends binding: gateways and handlers are fixed from then on.
///
/// # Safety
/// `server` comes from `wsgate_create`; `client_out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_accept(
    server: *mut wsgate_server,
    now_ms: u64,
    client_out: *mut u32,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        with_server(server, |e| {
            if client_out.is_null() {
                return WSGATE_ERR_NULL;
            }
            e.start();
            accepted(e.server().accept(now_ms), client_out)
        })
    }
}

/// A new TCP connection from the IPv4 (`addr_len` 4) or IPv6 (`addr_len` 16) address at
/// `addr`, in network byte order (`sin_addr`, `sin6_addr`): stores its client id in
/// `*client_out`. As `wsgate_accept`, and also `WSGATE_ERR_PER_ADDRESS` when that address
/// holds `max_per_address` slots already: write
/// `wsgate_refusal_response(WSGATE_ERR_PER_ADDRESS, &len)` (a 429) and close the socket.
///
/// Errors: also `WSGATE_ERR_NULL` (`addr`, `client_out`), `WSGATE_ERR_INVALID`
/// (`addr_len` neither 4 nor 16).
///
/// # Safety
/// `server` comes from `wsgate_create`; `addr` points to `addr_len` readable bytes;
/// `client_out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_accept_from(
    server: *mut wsgate_server,
    addr: *const u8,
    addr_len: usize,
    now_ms: u64,
    client_out: *mut u32,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        with_server(server, |e| {
            if client_out.is_null() || addr.is_null() {
                return WSGATE_ERR_NULL;
            }
            let bytes = match c_bytes(addr, addr_len) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let ip = if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                core::net::IpAddr::from(v4)
            } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                core::net::IpAddr::from(v6)
            } else {
                return WSGATE_ERR_INVALID;
            };
            e.start();
            accepted(e.server().accept_from(ip, now_ms), client_out)
        })
    }
}

/// Stores an accepted client's id, or maps the refusal to its code.
///
/// # Safety
/// `client_out` is valid for a write.
unsafe fn accepted(r: Result<ClientId, Refused>, client_out: *mut u32) -> i32 {
    match r {
        Ok(id) => {
            // SAFETY: by the contract.
            unsafe { client_out.write(id.as_u32()) };
            WSGATE_OK
        }
        Err(Refused::Closing) => WSGATE_ERR_CLOSED,
        Err(Refused::PerAddress) => WSGATE_ERR_PER_ADDRESS,
        Err(_) => WSGATE_ERR_FULL,
    }
}

/// The bytes of the HTTP answer for a connection that `wsgate_accept` or
/// `wsgate_accept_from` refused with `code`: the 503 for `WSGATE_ERR_FULL` and
/// `WSGATE_ERR_CLOSED`, the 429 for `WSGATE_ERR_PER_ADDRESS`; NULL (and `*len` 0) for any
/// other code. `*len` receives their length. Static: valid forever.
///
/// # Safety
/// `len` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_refusal_response(code: i32, len: *mut usize) -> *const u8 {
    let bytes: &'static [u8] = match code {
        WSGATE_ERR_FULL | WSGATE_ERR_CLOSED => Refused::Full.response(),
        WSGATE_ERR_PER_ADDRESS => Refused::PerAddress.response(),
        _ => &[],
    };
    if !len.is_null() {
        // SAFETY: non-NULL and valid for a write by the contract.
        unsafe { len.write(bytes.len()) };
    }
    if bytes.is_empty() {
        ptr::null()
    } else {
        bytes.as_ptr()
    }
}

/// The bytes of the `503 Service Unavailable` answer for a connection that got no slot;
/// `*len` receives their length. Static: valid forever.
///
/// # Safety
/// `len` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_full_response(len: *mut usize) -> *const u8 {
    if !len.is_null() {
        // SAFETY: non-NULL and valid for a write by the contract.
        unsafe { len.write(SERVER_FULL_RESPONSE.len()) };
    }
    SERVER_FULL_RESPONSE.as_ptr()
}

/// Bytes read from `client`'s socket: one turn of this client. `*consumed` receives how
/// many were used. When fewer than `len`, the client's turn is over (its transmit buffer
/// needs writing out first, or it used its share of the turn: `messages_per_turn`,
/// `peer_bytes_per_turn`): write the output out, serve the other clients, then feed the
/// rest, without waiting for the socket to become readable again (the rest is already
/// here). After writing output out, also call `wsgate_feed` with `len` 0: a message that
/// waited for transmit room is dispatched then. Handlers and callbacks run inside this call; they may queue frames for
/// other clients too (broadcasts), so check every client's `wsgate_output` afterwards.
/// Then check `wsgate_wants_close`.
///
/// Errors: `WSGATE_ERR_NULL` (`consumed`, or `data` with `len` > 0),
/// `WSGATE_ERR_UNKNOWN_CLIENT`.
///
/// # Safety
/// `server` comes from `wsgate_create`; `data` points to `len` readable bytes (or is NULL
/// with `len` 0); `consumed` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_feed(
    server: *mut wsgate_server,
    client: u32,
    data: *const u8,
    len: usize,
    now_ms: u64,
    consumed: *mut usize,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        with_server(server, |e| {
            if consumed.is_null() {
                return WSGATE_ERR_NULL;
            }
            let bytes = match c_bytes(data, len) {
                Ok(b) => b,
                Err(code) => return code,
            };
            match e.server().feed(ClientId::from_u32(client), bytes, now_ms) {
                Ok(n) => {
                    consumed.write(n);
                    WSGATE_OK
                }
                Err(err) => server_error(err),
            }
        })
    }
}

/// The bytes to write to `client`'s socket now: `*data` and `*len` (0 when nothing waits;
/// at most `WSGATE_TX_BUFFER`). The bytes live in the server's memory and stay valid until
/// the next call on this server: write them (or copy them), then call `wsgate_consume` with
/// how many were written, and ask again until `*len` is 0.
///
/// Errors: `WSGATE_ERR_NULL`, `WSGATE_ERR_UNKNOWN_CLIENT`.
///
/// # Safety
/// `server` comes from `wsgate_create`; `data` and `len` are valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_output(
    server: *mut wsgate_server,
    client: u32,
    data: *mut *const u8,
    len: *mut usize,
) -> i32 {
    // SAFETY: forwarded contracts; the pointer handed out points into the server's memory,
    // which the caller owns and keeps.
    unsafe {
        with_server(server, |e| {
            if data.is_null() || len.is_null() {
                return WSGATE_ERR_NULL;
            }
            let id = match e.client(client) {
                Ok(id) => id,
                Err(code) => return code,
            };
            let out = e.server().output(id);
            data.write(out.as_ptr());
            len.write(out.len());
            WSGATE_OK
        })
    }
}

/// Marks the first `n` bytes of `wsgate_output` as written (more than there are counts as
/// all of them). Errors: `WSGATE_ERR_UNKNOWN_CLIENT`.
///
/// # Safety
/// `server` comes from `wsgate_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_consume(server: *mut wsgate_server, client: u32, n: usize) -> i32 {
    // SAFETY: forwarded contract.
    unsafe {
        with_server(server, |e| {
            let id = match e.client(client) {
                Ok(id) => id,
                Err(code) => return code,
            };
            e.server().consume(id, n);
            WSGATE_OK
        })
    }
}

/// 1 when the socket of `client` should be closed now (then call `wsgate_release`), 0 when
/// not, or an error. An unknown client gives 1.
///
/// # Safety
/// `server` comes from `wsgate_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_wants_close(server: *mut wsgate_server, client: u32) -> i32 {
    // SAFETY: forwarded contract.
    unsafe {
        with_server(server, |e| {
            i32::from(e.server().wants_close(ClientId::from_u32(client)))
        })
    }
}

/// The socket of `client` is closed (by you after `wsgate_wants_close`, or by the peer, or
/// it failed): frees the slot, reporting a disconnect (1006) if the WebSocket had not ended.
/// The id is dead afterwards. Errors: `WSGATE_ERR_UNKNOWN_CLIENT` (e.g. released twice).
///
/// # Safety
/// `server` comes from `wsgate_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_release(server: *mut wsgate_server, client: u32) -> i32 {
    // SAFETY: forwarded contract.
    unsafe {
        with_server(server, |e| {
            let id = match e.client(client) {
                Ok(id) => id,
                Err(code) => return code,
            };
            e.server().release(id);
            WSGATE_OK
        })
    }
}

/// Runs every client's timers at `now_ms`: handshake timeout (408), pings, idle and close
/// timeouts. Call it at least by `wsgate_next_deadline`; then write every client's
/// `wsgate_output` and check `wsgate_wants_close`. `now_ms` is any monotonic millisecond
/// clock, the same one given to the other calls.
///
/// # Safety
/// `server` comes from `wsgate_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_poll(server: *mut wsgate_server, now_ms: u64) -> i32 {
    // SAFETY: forwarded contract.
    unsafe {
        with_server(server, |e| {
            e.server().poll_all(now_ms);
            WSGATE_OK
        })
    }
}

/// The earliest time any client's timer needs `wsgate_poll`, in `*deadline_ms`
/// (`UINT64_MAX` when none).
///
/// # Safety
/// `server` comes from `wsgate_create`; `deadline_ms` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_next_deadline(
    server: *mut wsgate_server,
    deadline_ms: *mut u64,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        with_server(server, |e| {
            let s = e.server();
            let next = (0..WSGATE_MAX_CLIENTS)
                .filter_map(|i| s.client_at(i))
                .filter_map(|id| s.next_deadline(id))
                .min()
                .unwrap_or(u64::MAX);
            result(put(deadline_ms, next))
        })
    }
}

/// Sends `{"event":<event>,"data":<json>}` to `client` (`json` is `len` bytes of raw JSON
/// text, checked and compacted; `event` is NUL-terminated). From outside handlers; inside
/// one use `wsgate_reply` or `wsgate_ctx_broadcast`.
///
/// Errors: `WSGATE_ERR_NULL`, `WSGATE_ERR_INVALID` (`event` not UTF-8 or longer than
/// `WSGATE_MAX_EVENT`), `WSGATE_ERR_BAD_JSON`, `WSGATE_ERR_UNKNOWN_CLIENT`,
/// `WSGATE_ERR_NOT_OPEN` (in its handshake, or closing), `WSGATE_ERR_SEND_FULL` (no room in
/// its transmit buffer now: write its output out first).
///
/// # Safety
/// `server` comes from `wsgate_create`; `event` is a NUL-terminated string; `json` points to
/// `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_send(
    server: *mut wsgate_server,
    client: u32,
    event: *const c_char,
    json: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        with_server(server, |e| {
            let (event, json) = match c_event_json(event, json, len) {
                Ok(pair) => pair,
                Err(code) => return code,
            };
            let id = match e.client(client) {
                Ok(id) => id,
                Err(code) => return code,
            };
            match e.server().send_raw(id, event, json) {
                Ok(()) => WSGATE_OK,
                Err(err) => server_error(err),
            }
        })
    }
}

/// Sends `{"event":<event>,"data":<json>}` to every open client of `gateway` (clients in
/// their handshake or closing are skipped); `*dropped` (may be NULL) receives how many
/// clients had no room for it. Returns how many got it (0 or more), or an error as
/// `wsgate_send` (`WSGATE_ERR_UNKNOWN_GATEWAY` for the gateway).
///
/// # Safety
/// As `wsgate_send`; `dropped` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_broadcast(
    server: *mut wsgate_server,
    gateway: u32,
    event: *const c_char,
    json: *const u8,
    len: usize,
    dropped: *mut u32,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        with_server(server, |e| {
            let (event, json) = match c_event_json(event, json, len) {
                Ok(pair) => pair,
                Err(code) => return code,
            };
            if gateway >= u32::from((*e.0).gateway_count) {
                return WSGATE_ERR_UNKNOWN_GATEWAY;
            }
            let b = e
                .server()
                .broadcast_raw(GatewayId(gateway as u8), event, json);
            if !dropped.is_null() {
                dropped.write(u32::from(b.dropped));
            }
            i32::from(b.queued)
        })
    }
}

/// Starts closing `client` with `code` (1000-1003, 1007-1014, or 3000-4999 for the
/// application): the close frame is queued, and `wsgate_wants_close` says 1 once the client
/// answered (or the close timeout passed). Errors: `WSGATE_ERR_INVALID` (`code`),
/// `WSGATE_ERR_UNKNOWN_CLIENT`.
///
/// # Safety
/// `server` comes from `wsgate_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_close_client(
    server: *mut wsgate_server,
    client: u32,
    code: u16,
    now_ms: u64,
) -> i32 {
    // SAFETY: forwarded contract.
    unsafe {
        with_server(server, |e| {
            if !CloseCode(code).is_valid_on_wire() {
                return WSGATE_ERR_INVALID;
            }
            match e
                .server()
                .close_client(ClientId::from_u32(client), CloseCode(code), "", now_ms)
            {
                Ok(()) => WSGATE_OK,
                Err(err) => server_error(err),
            }
        })
    }
}

/// Copies the counters into `*out`. Errors: `WSGATE_ERR_NULL`.
///
/// # Safety
/// `server` comes from `wsgate_create`; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_get_stats(
    server: *mut wsgate_server,
    out: *mut wsgate_stats,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        with_server(server, |e| {
            result(put(out, wsgate_stats::from(e.server().stats())))
        })
    }
}

/// Checks a handler context and returns the call it belongs to.
///
/// # Safety
/// `ctx` is NULL or the pointer a handler was given, used during that handler's call.
unsafe fn call_ctx<'x>(ctx: *mut wsgate_ctx) -> Result<&'x mut CallCtx<'x, 'x>, i32> {
    if ctx.is_null() {
        return Err(WSGATE_ERR_NULL);
    }
    // A misaligned pointer cannot be a context (and reading `magic` through it would be
    // undefined behaviour): refuse it as `Entered::new` refuses a misaligned server.
    if !ctx
        .addr()
        .is_multiple_of(core::mem::align_of::<CallCtx<'_, '_>>())
    {
        return Err(WSGATE_ERR_BAD_HANDLE);
    }
    let c = ctx.cast::<CallCtx<'x, 'x>>();
    // SAFETY: by the contract `ctx` points to the live `CallCtx` of the running handler
    // (its `magic` field is an integer, readable whatever the bits).
    unsafe {
        if (*c).magic != CTX_MAGIC {
            return Err(WSGATE_ERR_BAD_HANDLE);
        }
        Ok(&mut *c)
    }
}

/// In a handler: sends `{"event":<event>,"data":<json>}` to the client (a NestJS
/// `WsResponse`). `event` (NUL-terminated) and `json` (`len` bytes of raw JSON, checked and
/// compacted) are copied into the client's transmit buffer.
///
/// Errors: `WSGATE_ERR_NULL`, `WSGATE_ERR_BAD_HANDLE` (`ctx` is not the running handler's),
/// `WSGATE_ERR_INVALID` (`event`), `WSGATE_ERR_BAD_JSON`, `WSGATE_ERR_SEND_FULL` (the reply
/// does not fit what is left of the client's `WSGATE_TX_BUFFER`: the handler may return
/// non-zero to send an exception instead), `WSGATE_ERR_NOT_OPEN`.
///
/// # Safety
/// `ctx` is the handler's context, used during the call; `event` is a NUL-terminated
/// string; `json` points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_reply(
    ctx: *mut wsgate_ctx,
    event: *const c_char,
    json: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        let call = match call_ctx(ctx) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let (event, json) = match c_event_json(event, json, len) {
            Ok(pair) => pair,
            Err(code) => return code,
        };
        match call.cx.reply_raw(event, json) {
            Ok(()) => WSGATE_OK,
            Err(e) => send_error(e),
        }
    }
}

/// In a handler: sends a JSON value as it is (what a NestJS handler returning a plain value
/// sends), compacted. Errors as `wsgate_reply`.
///
/// # Safety
/// As `wsgate_reply`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_reply_json(
    ctx: *mut wsgate_ctx,
    json: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        let call = match call_ctx(ctx) {
            Ok(c) => c,
            Err(code) => return code,
        };
        if json.is_null() && len == 0 {
            // No value, no frame (a NestJS handler returning `undefined`).
            return WSGATE_OK;
        }
        let json = match c_json(json, len) {
            Ok(j) => j,
            Err(code) => return code,
        };
        match call.cx.send_raw_json(json) {
            Ok(()) => WSGATE_OK,
            Err(e) => send_error(e),
        }
    }
}

/// In a handler: sends `{"event":<event>,"data":<json>}` to every open client of this
/// gateway, this one included. Returns how many got it; `*dropped` (may be NULL) how many had
/// no room. Errors as `wsgate_reply`.
///
/// # Safety
/// As `wsgate_reply`; `dropped` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_ctx_broadcast(
    ctx: *mut wsgate_ctx,
    event: *const c_char,
    json: *const u8,
    len: usize,
    dropped: *mut u32,
) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        let call = match call_ctx(ctx) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let (event, json) = match c_event_json(event, json, len) {
            Ok(pair) => pair,
            Err(code) => return code,
        };
        let b = call.cx.broadcast_raw(event, json);
        if !dropped.is_null() {
            dropped.write(u32::from(b.dropped));
        }
        i32::from(b.queued)
    }
}

/// In a handler: closes this client with `code` (as `wsgate_close_client`) once the
/// handler returns; replies queued before still go first. Errors: `WSGATE_ERR_INVALID`
/// (`code`), `WSGATE_ERR_NULL`, `WSGATE_ERR_BAD_HANDLE`.
///
/// # Safety
/// `ctx` is the handler's context, used during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_ctx_close(ctx: *mut wsgate_ctx, code: u16) -> i32 {
    // SAFETY: forwarded contract.
    unsafe {
        let call = match call_ctx(ctx) {
            Ok(c) => c,
            Err(code) => return code,
        };
        if !CloseCode(code).is_valid_on_wire() {
            return WSGATE_ERR_INVALID;
        }
        call.cx.close(CloseCode(code), "");
        WSGATE_OK
    }
}

/// In a handler: the id of the client that sent the message (0 on a bad context).
///
/// # Safety
/// `ctx` is the handler's context, used during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_ctx_client(ctx: *mut wsgate_ctx) -> u32 {
    // SAFETY: forwarded contract.
    match unsafe { call_ctx(ctx) } {
        Ok(call) => call.cx.client().as_u32(),
        Err(_) => 0,
    }
}

/// In a handler: sets the message of the exception the client gets when the handler then
/// returns non-zero (like `throw new WsException(message)`). Copied; at most
/// `WSGATE_MAX_THROW` bytes are kept (cut at a character boundary). Errors:
/// `WSGATE_ERR_NULL`, `WSGATE_ERR_BAD_HANDLE`, `WSGATE_ERR_INVALID` (not UTF-8, or longer
/// than 4096 bytes: the message stays "Internal server error").
///
/// # Safety
/// `ctx` is the handler's context, used during the call; `message` is a NUL-terminated
/// string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsgate_throw(ctx: *mut wsgate_ctx, message: *const c_char) -> i32 {
    // SAFETY: forwarded contracts.
    unsafe {
        let call = match call_ctx(ctx) {
            Ok(c) => c,
            Err(code) => return code,
        };
        // Long messages are cut, not refused: read at most 4 KiB looking for the end.
        let text = match c_str(message, 4096) {
            Ok(t) => t,
            Err(code) => return code,
        };
        call.thrown.clear();
        for ch in text.chars() {
            if call.thrown.push(ch).is_err() {
                break;
            }
        }
        WSGATE_OK
    }
}

/// A short English description of a `WSGATE_*` code (a static NUL-terminated string, never
/// NULL; "unknown error code" for other values).
#[unsafe(no_mangle)]
pub extern "C" fn wsgate_strerror(code: i32) -> *const c_char {
    let s: &'static [u8] = match code {
        WSGATE_OK => b"success\0",
        WSGATE_ERR_NULL => b"a pointer argument was NULL\0",
        WSGATE_ERR_BAD_HANDLE => b"not a wsgate server or context\0",
        WSGATE_ERR_BUSY => b"called from a callback of the same server\0",
        WSGATE_ERR_TOO_SMALL => b"memory or buffer too small\0",
        WSGATE_ERR_ALIGN => b"memory not aligned to WSGATE_SERVER_ALIGN\0",
        WSGATE_ERR_FULL => b"every client slot is taken\0",
        WSGATE_ERR_CLOSED => b"the server is closing\0",
        WSGATE_ERR_UNKNOWN_CLIENT => b"unknown client\0",
        WSGATE_ERR_UNKNOWN_GATEWAY => b"unknown gateway\0",
        WSGATE_ERR_TABLE_FULL => b"table full\0",
        WSGATE_ERR_DUPLICATE => b"already registered\0",
        WSGATE_ERR_INVALID => b"invalid string or code\0",
        WSGATE_ERR_BAD_JSON => b"data is not valid JSON\0",
        WSGATE_ERR_SEND_FULL => b"no room in the client's transmit buffer\0",
        WSGATE_ERR_NOT_OPEN => b"the client's WebSocket is not open\0",
        WSGATE_ERR_STARTED => b"bind gateways and handlers before the first accept\0",
        WSGATE_ERR_PER_ADDRESS => b"too many connections from this address\0",
        _ => b"unknown error code\0",
    };
    s.as_ptr().cast::<c_char>()
}
