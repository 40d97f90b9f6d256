//! The C ABI (src/ffi.rs, feature `ffi`) driven through its `extern "C"` functions exactly
//! as a C program would call them: caller-owned memory, raw pointers, C handlers with `user`
//! pointers, every error code. No sockets and no threads, so `.ci/ffi.sh` runs this file
//! under Miri (`cargo +nightly miri test --features ffi --test ffi`): counts stay small.

#[path = "support/mod.rs"]
mod support;

use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_void};
use std::ptr;

use support::{SAMPLE_101, SAMPLE_KEY, ServerFrame, parse_frames, upgrade_request};
use wsgate::ffi::*;
use wsgate::protocol::frame::OpCode;

// ---------------------------------------------------------------------------------------
// A C program's view: memory, handles, byte pumps
// ---------------------------------------------------------------------------------------

/// The server's memory, as a C program would declare it (`_Alignas(8) uint8_t
/// mem[WSGATE_SERVER_SIZE]`).
#[repr(C, align(8))]
struct Mem([u8; WSGATE_SERVER_SIZE]);

const _: () = assert!(WSGATE_SERVER_ALIGN == 8);

/// Zeroed server memory on the heap, owned through a raw pointer only (no reference to it
/// exists while wsgate uses it).
struct Block(*mut Mem);

impl Block {
    fn new() -> Block {
        // SAFETY: `Mem` has a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(Layout::new::<Mem>()) };
        assert!(!p.is_null(), "out of memory");
        Block(p.cast())
    }
    fn ptr(&self) -> *mut c_void {
        self.0.cast()
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        unsafe { std::alloc::dealloc(self.0.cast(), Layout::new::<Mem>()) };
    }
}

/// A server created by `wsgate_create` in its own block.
struct Srv {
    s: *mut wsgate_server,
    _mem: Block,
}

type Handler = unsafe extern "C" fn(
    *mut wsgate_ctx,
    *const c_char,
    usize,
    *const u8,
    usize,
    *mut c_void,
) -> i32;

impl Srv {
    fn new() -> Srv {
        Srv::with_config(None)
    }

    fn with_config(config: Option<&wsgate_config>) -> Srv {
        let mem = Block::new();
        let mut s = ptr::null_mut();
        let cfg = config.map_or(ptr::null(), ptr::from_ref);
        let rc = unsafe { wsgate_create(mem.ptr(), WSGATE_SERVER_SIZE, cfg, &mut s) };
        assert_eq!(rc, WSGATE_OK);
        assert_eq!(
            s.cast::<c_void>(),
            mem.ptr(),
            "the handle is the memory's address"
        );
        Srv { s, _mem: mem }
    }

    fn gateway(&self, path: &CStr) -> u32 {
        let mut id = u32::MAX;
        assert_eq!(
            unsafe { wsgate_add_gateway(self.s, path.as_ptr(), &mut id) },
            WSGATE_OK
        );
        id
    }

    fn on(&self, gateway: u32, event: &CStr, handler: Handler, user: *mut c_void) {
        let rc =
            unsafe { wsgate_add_handler(self.s, gateway, event.as_ptr(), Some(handler), user) };
        assert_eq!(rc, WSGATE_OK, "binding {event:?}");
    }

    fn accept(&self, now: u64) -> Result<u32, i32> {
        let mut id = 0;
        match unsafe { wsgate_accept(self.s, now, &mut id) } {
            WSGATE_OK => Ok(id),
            e => Err(e),
        }
    }

    fn feed(&self, id: u32, bytes: &[u8], now: u64) -> Result<usize, i32> {
        let mut used = usize::MAX;
        match unsafe { wsgate_feed(self.s, id, bytes.as_ptr(), bytes.len(), now, &mut used) } {
            WSGATE_OK => {
                assert!(used <= bytes.len());
                Ok(used)
            }
            e => Err(e),
        }
    }

    /// Everything `wsgate_output` has for `id`, taken `chunk` bytes at a time.
    fn drain_by(&self, id: u32, chunk: usize) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let mut p = ptr::null();
            let mut n = usize::MAX;
            assert_eq!(
                unsafe { wsgate_output(self.s, id, &mut p, &mut n) },
                WSGATE_OK
            );
            if n == 0 {
                return all;
            }
            assert!(!p.is_null() && n <= WSGATE_TX_BUFFER);
            // Valid until the next call on this server: copy before consuming.
            let taken = n.min(chunk);
            all.extend_from_slice(unsafe { std::slice::from_raw_parts(p, taken) });
            assert_eq!(unsafe { wsgate_consume(self.s, id, taken) }, WSGATE_OK);
        }
    }

    fn drain(&self, id: u32) -> Vec<u8> {
        self.drain_by(id, usize::MAX)
    }

    /// What a C transport does with bytes from a socket: feed, write the output out, feed
    /// again (with 0 bytes when all were used: a message that waited for room goes then).
    fn pump(&self, id: u32, mut bytes: &[u8], now: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..64 {
            let n = self.feed(id, bytes, now).expect("a known client");
            bytes = &bytes[n..];
            let more = self.drain(id);
            let idle = n == 0 && more.is_empty();
            out.extend_from_slice(&more);
            if bytes.is_empty() && idle {
                return out;
            }
        }
        panic!("no progress with {} bytes left", bytes.len());
    }

    fn frames(&self, id: u32, bytes: &[u8], now: u64) -> Vec<ServerFrame> {
        parse_frames(&self.pump(id, bytes, now))
    }

    fn texts(&self, id: u32, bytes: &[u8], now: u64) -> Vec<String> {
        texts(&self.frames(id, bytes, now))
    }

    /// Accepts a client and completes its upgrade on `path`; the 101 is checked and taken.
    fn connect(&self, path: &str, now: u64) -> u32 {
        let id = self.accept(now).expect("a free slot");
        let req = upgrade_request(path, SAMPLE_KEY);
        assert_eq!(self.feed(id, &req, now), Ok(req.len()));
        assert_eq!(self.drain(id), SAMPLE_101);
        id
    }

    fn wants_close(&self, id: u32) -> i32 {
        unsafe { wsgate_wants_close(self.s, id) }
    }

    fn release(&self, id: u32) -> i32 {
        unsafe { wsgate_release(self.s, id) }
    }

    fn stats(&self) -> wsgate_stats {
        let mut st = wsgate_stats::default();
        assert_eq!(unsafe { wsgate_get_stats(self.s, &mut st) }, WSGATE_OK);
        st
    }

    fn send(&self, id: u32, event: &CStr, json: &[u8]) -> i32 {
        unsafe { wsgate_send(self.s, id, event.as_ptr(), json.as_ptr(), json.len()) }
    }

    fn deadline(&self) -> u64 {
        let mut d = 0;
        assert_eq!(unsafe { wsgate_next_deadline(self.s, &mut d) }, WSGATE_OK);
        d
    }
}

fn texts(frames: &[ServerFrame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| {
            assert_eq!(f.opcode, OpCode::Text, "{f:?}");
            f.text().to_owned()
        })
        .collect()
}

/// A masked text frame from a client.
fn msg(text: &str) -> Vec<u8> {
    support::text(text.as_bytes())
}

/// The frames of one client-to-server close.
fn close_frame(code: u16) -> Vec<u8> {
    support::close(code, b"")
}

// ---------------------------------------------------------------------------------------
// The C handlers, and what they report through `user`
// ---------------------------------------------------------------------------------------

/// What the handlers and callbacks saw; passed to them as `user` (through a shared
/// reference: everything in it is a `Cell`).
#[derive(Default)]
struct Log {
    /// The server, for handlers that try to call it.
    server: Cell<*mut wsgate_server>,
    /// `name:data` per handler call (`-` when the message had no data).
    calls: RefCell<Vec<String>>,
    /// Codes returned by calls made inside handlers, in order.
    codes: RefCell<Vec<(&'static str, i32)>>,
    /// `wsgate_ctx_client` per handler call.
    clients: RefCell<Vec<u32>>,
    connects: RefCell<Vec<(u32, String)>>,
    disconnects: RefCell<Vec<(u32, u16)>>,
}

impl Log {
    fn user(&self) -> *mut c_void {
        ptr::from_ref(self).cast_mut().cast()
    }
    fn codes(&self) -> Vec<(&'static str, i32)> {
        self.codes.borrow().clone()
    }
    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

/// The `Log` behind a `user` pointer.
unsafe fn log<'a>(user: *mut c_void) -> &'a Log {
    assert!(!user.is_null());
    unsafe { &*user.cast::<Log>() }
}

/// The message's `data` as a slice (NULL with 0 is "no data").
unsafe fn data<'a>(data: *const u8, len: usize) -> Option<&'a [u8]> {
    if data.is_null() {
        assert_eq!(len, 0);
        None
    } else {
        Some(unsafe { std::slice::from_raw_parts(data, len) })
    }
}

/// Records the call in the `Log` (when `user` is one).
unsafe fn record(name: &str, ctx: *mut wsgate_ctx, d: *const u8, len: usize, user: *mut c_void) {
    if user.is_null() {
        return;
    }
    let log = unsafe { log(user) };
    let text = match unsafe { data(d, len) } {
        Some(b) => String::from_utf8(b.to_vec()).expect("data is UTF-8"),
        None => "-".to_owned(),
    };
    log.calls.borrow_mut().push(format!("{name}:{text}"));
    log.clients
        .borrow_mut()
        .push(unsafe { wsgate_ctx_client(ctx) });
}

fn note(user: *mut c_void, what: &'static str, rc: i32) {
    unsafe { log(user) }.codes.borrow_mut().push((what, rc));
}

/// The NestJS sample's `events` handler: three replies, `{"event":"events","data":1..3}`.
unsafe extern "C" fn on_events(
    ctx: *mut wsgate_ctx,
    event: *const c_char,
    event_len: usize,
    d: *const u8,
    len: usize,
    user: *mut c_void,
) -> i32 {
    // The handler is told which event it runs for (not NUL-terminated).
    let name = unsafe { std::slice::from_raw_parts(event.cast::<u8>(), event_len) };
    assert_eq!(name, b"events");
    unsafe { record("events", ctx, d, len, user) };
    for i in 1..=3u8 {
        let json = [b'0' + i];
        let rc = unsafe { wsgate_reply(ctx, c"events".as_ptr(), json.as_ptr(), json.len()) };
        if rc != WSGATE_OK {
            return rc;
        }
    }
    0
}

/// `{"event":"echo","data":X}` back, `null` for no data.
unsafe extern "C" fn on_echo(
    ctx: *mut wsgate_ctx,
    _event: *const c_char,
    _event_len: usize,
    d: *const u8,
    len: usize,
    user: *mut c_void,
) -> i32 {
    unsafe { record("echo", ctx, d, len, user) };
    let (p, n) = if d.is_null() {
        (b"null".as_ptr(), 4)
    } else {
        (d, len)
    };
    unsafe { wsgate_reply(ctx, c"echo".as_ptr(), p, n) }
}

/// NestJS `throw new WsException('Invalid credentials')`.
unsafe extern "C" fn on_login(
    ctx: *mut wsgate_ctx,
    _event: *const c_char,
    _event_len: usize,
    d: *const u8,
    len: usize,
    user: *mut c_void,
) -> i32 {
    unsafe { record("login", ctx, d, len, user) };
    assert_eq!(
        unsafe { wsgate_throw(ctx, c"Invalid credentials".as_ptr()) },
        WSGATE_OK
    );
    1
}

/// Fails without a message: "Internal server error".
unsafe extern "C" fn on_boom(
    ctx: *mut wsgate_ctx,
    _event: *const c_char,
    _event_len: usize,
    d: *const u8,
    len: usize,
    user: *mut c_void,
) -> i32 {
    unsafe { record("boom", ctx, d, len, user) };
    -1
}

/// Throws a message longer than `WSGATE_MAX_THROW`, with a multi-byte character across the
/// cut.
unsafe extern "C" fn on_long_throw(
    ctx: *mut wsgate_ctx,
    _event: *const c_char,
    _event_len: usize,
    _: *const u8,
    _: usize,
    _: *mut c_void,
) -> i32 {
    let mut m = "x".repeat(WSGATE_MAX_THROW - 1);
    m.push_str("é and more\0");
    let rc = unsafe { wsgate_throw(ctx, m.as_ptr().cast()) };
    assert_eq!(rc, WSGATE_OK);
    7
}

/// Tries every call on the server from inside a handler: each must be `WSGATE_ERR_BUSY`.
unsafe extern "C" fn on_reenter(
    ctx: *mut wsgate_ctx,
    _event: *const c_char,
    _event_len: usize,
    d: *const u8,
    len: usize,
    user: *mut c_void,
) -> i32 {
    unsafe { record("reenter", ctx, d, len, user) };
    let s = unsafe { log(user) }.server.get();
    let mut id = 0u32;
    let mut n = 0usize;
    let mut p = ptr::null();
    let mut deadline = 0u64;
    let mut st = wsgate_stats::default();
    let mut dropped = 0u32;
    let json = b"1";
    let tries: [(&'static str, i32); 17] = unsafe {
        [
            ("accept", wsgate_accept(s, 0, &mut id)),
            (
                "feed",
                wsgate_feed(s, wsgate_ctx_client(ctx), json.as_ptr(), 1, 0, &mut n),
            ),
            (
                "output",
                wsgate_output(s, wsgate_ctx_client(ctx), &mut p, &mut n),
            ),
            ("consume", wsgate_consume(s, wsgate_ctx_client(ctx), 0)),
            ("wants_close", wsgate_wants_close(s, wsgate_ctx_client(ctx))),
            ("release", wsgate_release(s, wsgate_ctx_client(ctx))),
            ("poll", wsgate_poll(s, 0)),
            ("next_deadline", wsgate_next_deadline(s, &mut deadline)),
            (
                "send",
                wsgate_send(s, wsgate_ctx_client(ctx), c"x".as_ptr(), json.as_ptr(), 1),
            ),
            (
                "broadcast",
                wsgate_broadcast(s, 0, c"x".as_ptr(), json.as_ptr(), 1, &mut dropped),
            ),
            (
                "close_client",
                wsgate_close_client(s, wsgate_ctx_client(ctx), 1000, 0),
            ),
            ("get_stats", wsgate_get_stats(s, &mut st)),
            (
                "add_gateway",
                wsgate_add_gateway(s, c"/other".as_ptr(), &mut id),
            ),
            (
                "bind_message_handler",
                wsgate_add_handler(s, 0, c"y".as_ptr(), Some(on_echo), ptr::null_mut()),
            ),
            (
                "bind_client_connect",
                wsgate_bind_client_connect(s, None, ptr::null_mut()),
            ),
            (
                "bind_client_disconnect",
                wsgate_bind_client_disconnect(s, None, ptr::null_mut()),
            ),
            ("close", wsgate_close(s, 0)),
        ]
    };
    for (what, rc) in tries {
        note(user, what, rc);
    }
    // The context still works after all that.
    unsafe { wsgate_reply(ctx, c"reenter".as_ptr(), b"true".as_ptr(), 4) }
}

/// Every way to get the context calls wrong, then one good reply of each kind.
unsafe extern "C" fn on_ctx_errors(
    ctx: *mut wsgate_ctx,
    _event: *const c_char,
    _event_len: usize,
    d: *const u8,
    len: usize,
    user: *mut c_void,
) -> i32 {
    unsafe { record("ctx", ctx, d, len, user) };
    let long_event = [b'e'; WSGATE_MAX_EVENT + 1];
    let mut long_event = long_event.to_vec();
    long_event.push(0);
    let max_event = {
        let mut v = vec![b'm'; WSGATE_MAX_EVENT];
        v.push(0);
        v
    };
    let bad_utf8: &[u8] = b"\xff\xfe\0";
    let ev = c"ok".as_ptr();
    let one = b"1";
    let mut dropped = u32::MAX;
    let mut too_long = vec![b't'; 4097];
    too_long.push(0);
    let mut longest = vec![b't'; 4096];
    longest.push(0);
    let tries: [(&'static str, i32); 20] = unsafe {
        [
            (
                "reply null event",
                wsgate_reply(ctx, ptr::null(), one.as_ptr(), 1),
            ),
            ("reply null json", wsgate_reply(ctx, ev, ptr::null(), 1)),
            // NULL with length 0 is "no data"; a non-NULL empty text is not JSON.
            ("reply empty json", wsgate_reply(ctx, ev, b"".as_ptr(), 0)),
            ("reply bad json", wsgate_reply(ctx, ev, b"{".as_ptr(), 1)),
            (
                "reply two values",
                wsgate_reply(ctx, ev, b"1 2".as_ptr(), 3),
            ),
            (
                "reply long event",
                wsgate_reply(ctx, long_event.as_ptr().cast(), one.as_ptr(), 1),
            ),
            (
                "reply bad utf8",
                wsgate_reply(ctx, bad_utf8.as_ptr().cast(), one.as_ptr(), 1),
            ),
            ("reply_json bad", wsgate_reply_json(ctx, b"[1,".as_ptr(), 3)),
            ("reply_json null", wsgate_reply_json(ctx, ptr::null(), 2)),
            (
                "broadcast bad json",
                wsgate_ctx_broadcast(ctx, ev, b"}".as_ptr(), 1, &mut dropped),
            ),
            (
                "broadcast null event",
                wsgate_ctx_broadcast(ctx, ptr::null(), one.as_ptr(), 1, &mut dropped),
            ),
            ("close 1005", wsgate_ctx_close(ctx, 1005)),
            ("close 999", wsgate_ctx_close(ctx, 999)),
            ("throw null", wsgate_throw(ctx, ptr::null())),
            (
                "throw 4097 bytes",
                wsgate_throw(ctx, too_long.as_ptr().cast()),
            ),
            (
                "throw bad utf8",
                wsgate_throw(ctx, bad_utf8.as_ptr().cast()),
            ),
            (
                "throw 4096 bytes",
                wsgate_throw(ctx, longest.as_ptr().cast()),
            ),
            (
                "reply max event",
                wsgate_reply(ctx, max_event.as_ptr().cast(), one.as_ptr(), 1),
            ),
            (
                "reply spaced json",
                wsgate_reply(ctx, ev, b" { \"a\" : [ 1 , 2 ] } ".as_ptr(), 21),
            ),
            ("reply_json", wsgate_reply_json(ctx, b"[1, 2]".as_ptr(), 6)),
        ]
    };
    assert_eq!(dropped, u32::MAX, "untouched on error");
    for (what, rc) in tries {
        note(user, what, rc);
    }
    0
}

/// `wsgate_ctx_broadcast` of the message's data to the gateway, reporting the counts.
unsafe extern "C" fn on_shout(
    ctx: *mut wsgate_ctx,
    _event: *const c_char,
    _event_len: usize,
    d: *const u8,
    len: usize,
    user: *mut c_void,
) -> i32 {
    unsafe { record("shout", ctx, d, len, user) };
    let mut dropped = u32::MAX;
    let queued = unsafe { wsgate_ctx_broadcast(ctx, c"shout".as_ptr(), d, len, &mut dropped) };
    note(user, "queued", queued);
    note(user, "dropped", dropped as i32);
    // `dropped` may be NULL.
    let again =
        unsafe { wsgate_ctx_broadcast(ctx, c"again".as_ptr(), b"0".as_ptr(), 1, ptr::null_mut()) };
    note(user, "queued again", again);
    0
}

/// Replies, then closes this client with 4000.
unsafe extern "C" fn on_bye(
    ctx: *mut wsgate_ctx,
    _event: *const c_char,
    _event_len: usize,
    d: *const u8,
    len: usize,
    user: *mut c_void,
) -> i32 {
    unsafe { record("bye", ctx, d, len, user) };
    let rc = unsafe { wsgate_reply(ctx, c"bye".as_ptr(), b"\"see you\"".as_ptr(), 9) };
    assert_eq!(rc, WSGATE_OK);
    unsafe { wsgate_ctx_close(ctx, 4000) }
}

/// Replies with a string of `data` bytes (a number), to fill transmit buffers.
unsafe extern "C" fn on_big(
    ctx: *mut wsgate_ctx,
    _event: *const c_char,
    _event_len: usize,
    d: *const u8,
    len: usize,
    _: *mut c_void,
) -> i32 {
    let n: usize = std::str::from_utf8(unsafe { data(d, len) }.unwrap())
        .unwrap()
        .parse()
        .unwrap();
    let json = format!("\"{}\"", "b".repeat(n));
    unsafe { wsgate_reply(ctx, c"big".as_ptr(), json.as_ptr(), json.len()) }
}

unsafe extern "C" fn on_connect(client: u32, path: *const u8, len: usize, user: *mut c_void) {
    let path = unsafe { std::slice::from_raw_parts(path, len) };
    let path = String::from_utf8(path.to_vec()).expect("UTF-8 path");
    unsafe { log(user) }
        .connects
        .borrow_mut()
        .push((client, path));
}

unsafe extern "C" fn on_disconnect(client: u32, code: u16, user: *mut c_void) {
    unsafe { log(user) }
        .disconnects
        .borrow_mut()
        .push((client, code));
}

// ---------------------------------------------------------------------------------------
// The NestJS sample, through the sans-IO calls
// ---------------------------------------------------------------------------------------

#[test]
fn nestjs_sample_exchange() {
    let log = Log::default();
    let srv = Srv::new();
    let gw = srv.gateway(c"/");
    assert_eq!(gw, 0);
    srv.on(gw, c"events", on_events, log.user());
    unsafe {
        assert_eq!(
            wsgate_bind_client_connect(srv.s, Some(on_connect), log.user()),
            WSGATE_OK
        );
        assert_eq!(
            wsgate_bind_client_disconnect(srv.s, Some(on_disconnect), log.user()),
            WSGATE_OK
        );
    }

    let id = srv.accept(0).unwrap();
    assert_eq!(id, 1 << 16, "slot 0, first generation");
    let req = upgrade_request("/", SAMPLE_KEY);
    assert_eq!(srv.feed(id, &req, 0), Ok(req.len()));
    assert_eq!(srv.drain(id), SAMPLE_101);
    assert_eq!(*log.connects.borrow(), [(id, "/".to_owned())]);

    let out = srv.texts(id, &msg(r#"{"event":"events","data":""}"#), 1);
    assert_eq!(
        out,
        [
            r#"{"event":"events","data":1}"#,
            r#"{"event":"events","data":2}"#,
            r#"{"event":"events","data":3}"#,
        ]
    );
    assert_eq!(log.calls(), [r#"events:"""#]);
    assert_eq!(*log.clients.borrow(), [id]);
    // The exact bytes: three unmasked final text frames, 7-bit lengths.
    let again = srv.pump(id, &msg(r#"{"event":"events","data":""}"#), 2);
    let mut expected = Vec::new();
    for i in 1..=3 {
        let payload = format!(r#"{{"event":"events","data":{i}}}"#);
        expected.extend_from_slice(&[0x81, payload.len() as u8]);
        expected.extend_from_slice(payload.as_bytes());
    }
    assert_eq!(again, expected);

    // The client closes; the server answers with the same code and wants the socket closed.
    let f = srv.frames(id, &close_frame(1000), 3);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].close_code(), Some(1000));
    assert_eq!(srv.wants_close(id), 1);
    assert_eq!(srv.release(id), WSGATE_OK);
    assert_eq!(*log.disconnects.borrow(), [(id, 1000)]);

    let st = srv.stats();
    assert_eq!(
        (st.accepted, st.upgraded, st.messages, st.dispatched),
        (1, 1, 2, 2)
    );
    assert_eq!((st.frames_sent, st.closed_by_peer, st.dropped), (6, 1, 0));
}

#[test]
fn a_request_fed_one_byte_per_call() {
    let srv = Srv::new();
    let gw = srv.gateway(c"ws/");
    srv.on(gw, c"echo", on_echo, ptr::null_mut());
    let id = srv.accept(0).unwrap();
    let req = upgrade_request("/ws", SAMPLE_KEY);
    let mut out = Vec::new();
    for (i, b) in req.iter().enumerate() {
        assert_eq!(srv.feed(id, std::slice::from_ref(b), i as u64), Ok(1));
        out.extend(srv.drain(id));
        if i + 1 < req.len() {
            assert!(out.is_empty(), "answered before the head was complete");
        }
    }
    assert_eq!(out, SAMPLE_101);
    // And a frame one byte at a time.
    let frame = msg(r#"{"event":"echo","data":{"a":[1,"é"]}}"#);
    let mut out = Vec::new();
    for b in &frame {
        assert_eq!(srv.feed(id, std::slice::from_ref(b), 9), Ok(1));
        out.extend(srv.drain_by(id, 3));
    }
    assert_eq!(
        texts(&parse_frames(&out)),
        [r#"{"event":"echo","data":{"a":[1,"é"]}}"#]
    );
}

#[test]
fn several_clients_and_gateways() {
    let log = Log::default();
    let srv = Srv::new();
    let root = srv.gateway(c"");
    let chat = srv.gateway(c"/chat/:room");
    assert_eq!((root, chat), (0, 1));
    srv.on(root, c"echo", on_echo, log.user());
    srv.on(chat, c"events", on_events, log.user());
    unsafe {
        assert_eq!(
            wsgate_bind_client_connect(srv.s, Some(on_connect), log.user()),
            WSGATE_OK
        )
    };

    let a = srv.connect("/", 0);
    let b = srv.connect("/chat/7", 0);
    let c = srv.connect("/", 0);
    assert_eq!([a & 0xffff, b & 0xffff, c & 0xffff], [0, 1, 2]);
    assert_eq!(
        *log.connects.borrow(),
        // The path each client asked for (a `:param` value is in it), not the pattern.
        [
            (a, "/".to_owned()),
            (b, "/chat/7".to_owned()),
            (c, "/".to_owned())
        ]
    );

    // Each client gets only its own replies; the unknown event of another gateway is dropped.
    assert_eq!(
        srv.texts(a, &msg(r#"{"event":"echo","data":"a"}"#), 1),
        [r#"{"event":"echo","data":"a"}"#]
    );
    assert_eq!(
        srv.texts(b, &msg(r#"{"event":"echo","data":"b"}"#), 1),
        Vec::<String>::new()
    );
    assert_eq!(srv.texts(b, &msg(r#"{"event":"events"}"#), 1).len(), 3);
    assert_eq!(
        srv.texts(c, &msg(r#"{"event":"echo"}"#), 1),
        [r#"{"event":"echo","data":null}"#]
    );
    assert_eq!(log.calls(), [r#"echo:"a""#, "events:-", "echo:-"]);
    assert_eq!(*log.clients.borrow(), [a, b, c]);
    for id in [a, b, c] {
        assert_eq!(srv.drain(id), b"");
    }
    let st = srv.stats();
    assert_eq!(
        (st.upgraded, st.messages, st.dispatched, st.dropped),
        (3, 4, 3, 1)
    );

    // A path no gateway serves: 404, then the socket is to be closed.
    let d = srv.accept(0).unwrap();
    let out = srv.pump(d, &upgrade_request("/nope", SAMPLE_KEY), 0);
    assert!(
        out.starts_with(b"HTTP/1.1 404 Not Found\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(srv.wants_close(d), 1);
    assert_eq!(srv.release(d), WSGATE_OK);
    assert_eq!(srv.stats().http_404, 1);
}

#[test]
fn exceptions_byte_for_byte() {
    let srv = Srv::new();
    let gw = srv.gateway(c"/");
    srv.on(gw, c"login", on_login, ptr::null_mut());
    srv.on(gw, c"boom", on_boom, ptr::null_mut());
    srv.on(gw, c"long", on_long_throw, ptr::null_mut());
    let id = srv.connect("/", 0);
    assert_eq!(
        srv.texts(id, &msg(r#"{"event": "login", "data": {"user": "a"}}"#), 1),
        [
            r#"{"event":"exception","data":{"status":"error","message":"Invalid credentials","cause":{"pattern":"login","data":{"user":"a"}}}}"#
        ]
    );
    assert_eq!(
        srv.texts(id, &msg(r#"{"event":"login"}"#), 1),
        [
            r#"{"event":"exception","data":{"status":"error","message":"Invalid credentials","cause":{"pattern":"login"}}}"#
        ]
    );
    assert_eq!(
        srv.texts(id, &msg(r#"{"event":"boom","data":[1,2]}"#), 1),
        [
            r#"{"event":"exception","data":{"status":"error","message":"Internal server error","cause":{"pattern":"boom","data":[1,2]}}}"#
        ]
    );
    // Cut to WSGATE_MAX_THROW bytes at a character boundary: 95 x, the 2-byte é does not fit.
    let cut = "x".repeat(WSGATE_MAX_THROW - 1);
    assert_eq!(
        srv.texts(id, &msg(r#"{"event":"long","data":0}"#), 1),
        [format!(
            r#"{{"event":"exception","data":{{"status":"error","message":"{cut}","cause":{{"pattern":"long","data":0}}}}}}"#
        )]
    );
    assert_eq!(srv.stats().exceptions, 4);
    assert_eq!(srv.wants_close(id), 0, "the connection stays open");
}

#[test]
fn broadcasts_from_c_and_from_a_handler() {
    let log = Log::default();
    let srv = Srv::new();
    let a_gw = srv.gateway(c"/a");
    let b_gw = srv.gateway(c"/b");
    srv.on(a_gw, c"shout", on_shout, log.user());
    let a1 = srv.connect("/a", 0);
    let a2 = srv.connect("/a", 0);
    let b1 = srv.connect("/b", 0);
    let pending = srv.accept(0).unwrap(); // in its handshake: never broadcast to

    let mut dropped = u32::MAX;
    let n = unsafe {
        wsgate_broadcast(
            srv.s,
            a_gw,
            c"news".as_ptr(),
            b"{\"n\": 1}".as_ptr(),
            8,
            &mut dropped,
        )
    };
    assert_eq!((n, dropped), (2, 0));
    let n = unsafe {
        wsgate_broadcast(
            srv.s,
            b_gw,
            c"news".as_ptr(),
            b"2".as_ptr(),
            1,
            ptr::null_mut(),
        )
    };
    assert_eq!(n, 1);
    assert_eq!(
        texts(&parse_frames(&srv.drain(a1))),
        [r#"{"event":"news","data":{"n":1}}"#]
    );
    assert_eq!(
        texts(&parse_frames(&srv.drain(a2))),
        [r#"{"event":"news","data":{"n":1}}"#]
    );
    assert_eq!(
        texts(&parse_frames(&srv.drain(b1))),
        [r#"{"event":"news","data":2}"#]
    );
    assert_eq!(srv.drain(pending), b"");

    // From a handler: the whole gateway, the sender included.
    let out = srv.texts(a2, &msg(r#"{"event":"shout","data":"hi"}"#), 1);
    assert_eq!(
        out,
        [
            r#"{"event":"shout","data":"hi"}"#,
            r#"{"event":"again","data":0}"#
        ]
    );
    assert_eq!(
        log.codes(),
        [("queued", 2), ("dropped", 0), ("queued again", 2)]
    );
    assert_eq!(
        texts(&parse_frames(&srv.drain(a1))),
        [
            r#"{"event":"shout","data":"hi"}"#,
            r#"{"event":"again","data":0}"#
        ]
    );
    assert_eq!(srv.drain(b1), b"");

    // Errors.
    unsafe {
        let e = c"e".as_ptr();
        assert_eq!(
            wsgate_broadcast(srv.s, 2, e, b"1".as_ptr(), 1, ptr::null_mut()),
            WSGATE_ERR_UNKNOWN_GATEWAY
        );
        assert_eq!(
            wsgate_broadcast(srv.s, a_gw, e, b"nope".as_ptr(), 4, ptr::null_mut()),
            WSGATE_ERR_BAD_JSON
        );
        assert_eq!(
            wsgate_broadcast(srv.s, a_gw, ptr::null(), b"1".as_ptr(), 1, ptr::null_mut()),
            WSGATE_ERR_NULL
        );
    }
    assert_eq!(srv.stats().broadcast_dropped, 0);
}

#[test]
fn a_full_transmit_buffer_drops_broadcasts_and_refuses_sends() {
    let srv = Srv::new();
    let gw = srv.gateway(c"/");
    let a = srv.connect("/", 0);
    let b = srv.connect("/", 0);
    // Fill a's transmit buffer (not written out): one ~1.5 KiB frame leaves no room for two.
    let big = format!("\"{}\"", "z".repeat(1500));
    assert_eq!(srv.send(a, c"fill", big.as_bytes()), WSGATE_OK);
    assert_eq!(srv.send(a, c"fill", big.as_bytes()), WSGATE_ERR_SEND_FULL);
    let mut dropped = 0;
    let n = unsafe {
        wsgate_broadcast(
            srv.s,
            gw,
            c"x".as_ptr(),
            big.as_ptr(),
            big.len(),
            &mut dropped,
        )
    };
    assert_eq!((n, dropped), (1, 1), "b got it, a had no room");
    let st = srv.stats();
    assert_eq!((st.broadcast_dropped, st.send_failed), (1, 1));
    // Writing a's output out makes room again.
    assert_eq!(
        texts(&parse_frames(&srv.drain(a))),
        [format!(r#"{{"event":"fill","data":{big}}}"#)]
    );
    assert_eq!(
        texts(&parse_frames(&srv.drain(b))),
        [format!(r#"{{"event":"x","data":{big}}}"#)]
    );
    assert_eq!(srv.send(a, c"fill", big.as_bytes()), WSGATE_OK);
}

#[test]
fn a_message_waits_for_transmit_room() {
    // reply_room = the whole transmit buffer: while output is unsent, the next message
    // waits, and `wsgate_feed` stops after it.
    let mut cfg = wsgate_config {
        handshake_timeout_ms: 1,
        ping_interval_ms: 1,
        pong_timeout_ms: 1,
        close_timeout_ms: 1,
        max_head: 1,
        reply_room: 1,
        message_timeout_ms: 1,
        messages_per_turn: 1,
        peer_bytes_per_turn: 1,
        max_per_address: 1,
    };
    assert_eq!(unsafe { wsgate_config_default(&mut cfg) }, WSGATE_OK);
    cfg.reply_room = WSGATE_TX_BUFFER as u32;
    let srv = Srv::with_config(Some(&cfg));
    let gw = srv.gateway(c"/");
    srv.on(gw, c"big", on_big, ptr::null_mut());
    let id = srv.connect("/", 0);
    let one = msg(r#"{"event":"big","data":100}"#);
    let mut bytes = Vec::new();
    for _ in 0..3 {
        bytes.extend_from_slice(&one);
    }
    // The first message is dispatched, the second read and waiting, the third not read.
    assert_eq!(srv.feed(id, &bytes, 1), Ok(2 * one.len()));
    assert_eq!(parse_frames(&srv.drain(id)).len(), 1);
    // After writing out: `wsgate_feed` with 0 bytes dispatches the waiting one.
    assert_eq!(srv.feed(id, &[], 1), Ok(0));
    assert_eq!(parse_frames(&srv.drain(id)).len(), 1);
    assert_eq!(srv.feed(id, &bytes[2 * one.len()..], 1), Ok(one.len()));
    assert_eq!(parse_frames(&srv.drain(id)).len(), 1);
    // A reply larger than the transmit buffer is an error the handler sees: an exception.
    let out = srv.texts(
        id,
        &msg(&format!(r#"{{"event":"big","data":{}}}"#, WSGATE_TX_BUFFER)),
        1,
    );
    assert_eq!(out.len(), 1);
    assert!(out[0].starts_with(r#"{"event":"exception","#), "{out:?}");
    assert_eq!(srv.stats().dispatched, 4);
}

#[test]
fn server_close_from_a_handler_and_slot_reuse() {
    let log = Log::default();
    let srv = Srv::new();
    let gw = srv.gateway(c"/");
    srv.on(gw, c"bye", on_bye, log.user());
    srv.on(gw, c"echo", on_echo, log.user());
    unsafe {
        assert_eq!(
            wsgate_bind_client_disconnect(srv.s, Some(on_disconnect), log.user()),
            WSGATE_OK
        )
    };
    let id = srv.connect("/", 0);
    let f = srv.frames(id, &msg(r#"{"event":"bye"}"#), 1);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].text(), r#"{"event":"bye","data":"see you"}"#);
    assert_eq!(f[1].close_code(), Some(4000));
    assert_eq!(srv.wants_close(id), 0, "waits for the client's close");
    assert_eq!(srv.send(id, c"late", b"1"), WSGATE_ERR_NOT_OPEN);
    assert_eq!(srv.frames(id, &close_frame(4000), 2), []);
    assert_eq!(srv.wants_close(id), 1);
    assert_eq!(srv.release(id), WSGATE_OK);
    assert_eq!(*log.disconnects.borrow(), [(id, 4000)]);

    // The slot is used again with a new generation; the old id is gone everywhere.
    let id2 = srv.connect("/", 3);
    assert_eq!(id2 & 0xffff, id & 0xffff);
    assert_ne!(id2, id);
    assert_eq!(srv.feed(id, b"x", 3), Err(WSGATE_ERR_UNKNOWN_CLIENT));
    let (mut p, mut n) = (ptr::null(), 0);
    unsafe {
        assert_eq!(
            wsgate_output(srv.s, id, &mut p, &mut n),
            WSGATE_ERR_UNKNOWN_CLIENT
        );
        assert_eq!(wsgate_consume(srv.s, id, 0), WSGATE_ERR_UNKNOWN_CLIENT);
        assert_eq!(
            wsgate_close_client(srv.s, id, 1000, 3),
            WSGATE_ERR_UNKNOWN_CLIENT
        );
    }
    assert_eq!(srv.release(id), WSGATE_ERR_UNKNOWN_CLIENT);
    assert_eq!(srv.send(id, c"x", b"1"), WSGATE_ERR_UNKNOWN_CLIENT);
    assert_eq!(srv.wants_close(id), 1, "an unknown client is one to close");
    assert_eq!(srv.wants_close(0xdead_beef), 1);
    assert_eq!(srv.wants_close(id2), 0);

    // wsgate_close_client, then the peer vanishes without answering: 1006.
    unsafe {
        assert_eq!(wsgate_close_client(srv.s, id2, 1005, 4), WSGATE_ERR_INVALID);
        assert_eq!(wsgate_close_client(srv.s, id2, 4001, 4), WSGATE_OK);
    }
    let f = parse_frames(&srv.drain(id2));
    assert_eq!(f[0].close_code(), Some(4001));
    assert_eq!(srv.release(id2), WSGATE_OK);
    assert_eq!(*log.disconnects.borrow(), [(id, 4000), (id2, 1006)]);
    let st = srv.stats();
    assert_eq!((st.closed_by_server, st.closed_peer_gone), (1, 1));
}

#[test]
fn a_full_server_answers_with_the_exact_503() {
    let srv = Srv::new();
    srv.gateway(c"/");
    let ids: Vec<u32> = (0..WSGATE_MAX_CLIENTS)
        .map(|_| srv.accept(0).unwrap())
        .collect();
    assert_eq!(srv.accept(0), Err(WSGATE_ERR_FULL));
    let mut len = 0;
    let p = unsafe { wsgate_full_response(&mut len) };
    let bytes = unsafe { std::slice::from_raw_parts(p, len) };
    assert_eq!(
        bytes,
        b"HTTP/1.1 503 Service Unavailable\r\n\
Retry-After: 1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 37\r\n\
Connection: close\r\n\
\r\n\
server full: no free connection slot\n"
    );
    assert_eq!(
        unsafe { wsgate_full_response(ptr::null_mut()) },
        p,
        "len may be NULL"
    );
    assert_eq!(srv.stats().refused_full, 1);
    // A freed slot is taken again.
    assert_eq!(srv.release(ids[3]), WSGATE_OK);
    assert_eq!(srv.accept(0).map(|id| id & 0xffff), Ok(3));
}

#[test]
fn accept_from_limits_each_address_and_answers_429() {
    let mut cfg = unsafe { std::mem::zeroed::<wsgate_config>() };
    assert_eq!(unsafe { wsgate_config_default(&mut cfg) }, WSGATE_OK);
    cfg.max_per_address = 2;
    let srv = Srv::with_config(Some(&cfg));
    srv.gateway(c"/");
    let accept_from = |addr: &[u8]| {
        let mut id = 0;
        match unsafe { wsgate_accept_from(srv.s, addr.as_ptr(), addr.len(), 0, &mut id) } {
            WSGATE_OK => Ok(id),
            e => Err(e),
        }
    };
    let a = [192, 0, 2, 7];
    let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let first = accept_from(&a).expect("first from a");
    accept_from(&a).expect("second from a");
    assert_eq!(accept_from(&a), Err(WSGATE_ERR_PER_ADDRESS));
    // The same address written as IPv4-mapped IPv6 is the same client.
    let mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7];
    assert_eq!(accept_from(&mapped), Err(WSGATE_ERR_PER_ADDRESS));
    accept_from(&v6).expect("another address");
    // Unknown addresses (wsgate_accept) are not limited.
    srv.accept(0).expect("no address");
    assert_eq!(accept_from(&[1, 2, 3]), Err(WSGATE_ERR_INVALID));
    assert_eq!(
        unsafe { wsgate_accept_from(srv.s, ptr::null(), 4, 0, &mut 0) },
        WSGATE_ERR_NULL
    );
    // A slot released is one the address may take again.
    assert_eq!(srv.release(first), WSGATE_OK);
    accept_from(&a).expect("a again");
    assert_eq!(srv.stats().refused_per_address, 2);

    let mut len = 0;
    let p = unsafe { wsgate_refusal_response(WSGATE_ERR_PER_ADDRESS, &mut len) };
    let bytes = unsafe { std::slice::from_raw_parts(p, len) };
    assert_eq!(
        bytes,
        b"HTTP/1.1 429 Too Many Requests\r\n\
Retry-After: 1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 39\r\n\
Connection: close\r\n\
\r\n\
too many connections from this address\n"
    );
    let mut full_len = 0;
    let full = unsafe { wsgate_full_response(&mut full_len) };
    let full = unsafe { std::slice::from_raw_parts(full, full_len) };
    for code in [WSGATE_ERR_FULL, WSGATE_ERR_CLOSED] {
        let mut n = 0;
        let p = unsafe { wsgate_refusal_response(code, &mut n) };
        assert_eq!(unsafe { std::slice::from_raw_parts(p, n) }, full);
    }
    let mut n = 7;
    assert!(unsafe { wsgate_refusal_response(WSGATE_OK, &mut n) }.is_null());
    assert_eq!(n, 0);
    assert!(!unsafe { wsgate_refusal_response(WSGATE_ERR_FULL, ptr::null_mut()) }.is_null());
}

#[test]
fn close_refuses_new_clients_and_ends_the_others() {
    let log = Log::default();
    let srv = Srv::new();
    srv.gateway(c"/");
    unsafe {
        assert_eq!(
            wsgate_bind_client_disconnect(srv.s, Some(on_disconnect), log.user()),
            WSGATE_OK
        )
    };
    let open = srv.connect("/", 0);
    let handshaking = srv.accept(0).unwrap();
    assert_eq!(unsafe { wsgate_close(srv.s, 5) }, WSGATE_OK);
    assert_eq!(srv.accept(6), Err(WSGATE_ERR_CLOSED));
    let f = parse_frames(&srv.drain(open));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].close_code(), Some(1001));
    let refusal = srv.drain(handshaking);
    assert!(refusal.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
    assert_eq!(srv.wants_close(handshaking), 1);
    assert_eq!(srv.release(handshaking), WSGATE_OK);
    assert_eq!(srv.frames(open, &close_frame(1001), 7), []);
    assert_eq!(srv.wants_close(open), 1);
    assert_eq!(srv.release(open), WSGATE_OK);
    assert_eq!(*log.disconnects.borrow(), [(open, 1001)]);
    assert_eq!(srv.stats().refused_full, 1);
}

#[test]
fn timers_through_poll_and_next_deadline() {
    let mut cfg = wsgate_config {
        handshake_timeout_ms: 0,
        ping_interval_ms: 0,
        pong_timeout_ms: 0,
        close_timeout_ms: 0,
        max_head: 0,
        reply_room: 0,
        message_timeout_ms: 0,
        messages_per_turn: 0,
        peer_bytes_per_turn: 0,
        max_per_address: 0,
    };
    assert_eq!(unsafe { wsgate_config_default(&mut cfg) }, WSGATE_OK);
    assert_eq!(
        (
            cfg.handshake_timeout_ms,
            cfg.ping_interval_ms,
            cfg.pong_timeout_ms,
            cfg.close_timeout_ms
        ),
        (5000, 30000, 10000, 2000)
    );
    assert_eq!(
        (cfg.max_head, cfg.reply_room),
        (WSGATE_MAX_MESSAGE as u32, 256)
    );
    assert_eq!(
        (
            cfg.message_timeout_ms,
            cfg.messages_per_turn,
            cfg.peer_bytes_per_turn,
            cfg.max_per_address
        ),
        (10_000, 16, 1024, 0)
    );
    cfg.handshake_timeout_ms = 100;
    cfg.ping_interval_ms = 1000;
    cfg.pong_timeout_ms = 500;
    let log = Log::default();
    let srv = Srv::with_config(Some(&cfg));
    srv.gateway(c"/");
    unsafe {
        assert_eq!(
            wsgate_bind_client_disconnect(srv.s, Some(on_disconnect), log.user()),
            WSGATE_OK
        )
    };
    assert_eq!(srv.deadline(), u64::MAX, "no clients, no timers");

    // A head that never completes: 408 at the handshake deadline.
    let slow = srv.accept(0).unwrap();
    assert_eq!(srv.feed(slow, b"GET / HTTP/1.1\r\n", 10), Ok(16));
    assert_eq!(srv.deadline(), 100);
    assert_eq!(unsafe { wsgate_poll(srv.s, 99) }, WSGATE_OK);
    assert_eq!(srv.drain(slow), b"");
    assert_eq!(unsafe { wsgate_poll(srv.s, 100) }, WSGATE_OK);
    assert!(
        srv.drain(slow)
            .starts_with(b"HTTP/1.1 408 Request Timeout\r\n")
    );
    assert_eq!(srv.wants_close(slow), 1);
    assert_eq!(srv.release(slow), WSGATE_OK);
    assert_eq!(srv.stats().http_408, 1);

    // An open client that goes silent: a ping at 1000 ms, dropped 500 ms later.
    let id = srv.connect("/", 200);
    assert_eq!(srv.deadline(), 1200);
    assert_eq!(unsafe { wsgate_poll(srv.s, 1200) }, WSGATE_OK);
    let f = parse_frames(&srv.drain(id));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].opcode, OpCode::Ping);
    assert_eq!(srv.deadline(), 1700);
    assert_eq!(unsafe { wsgate_poll(srv.s, 1700) }, WSGATE_OK);
    assert_eq!(srv.wants_close(id), 1);
    assert_eq!(srv.release(id), WSGATE_OK);
    assert_eq!(*log.disconnects.borrow(), [(id, 1006)]);
    let st = srv.stats();
    assert_eq!((st.pings_sent, st.closed_idle), (1, 1));

    // A small max_head from the config: 431.
    cfg.max_head = 64;
    let srv = Srv::with_config(Some(&cfg));
    srv.gateway(c"/");
    let id = srv.accept(0).unwrap();
    let out = srv.pump(id, &upgrade_request("/", SAMPLE_KEY), 0);
    assert!(
        out.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(srv.stats().http_431, 1);
}

#[test]
fn protocol_errors_close_the_connection() {
    let log = Log::default();
    let srv = Srv::new();
    srv.gateway(c"/");
    unsafe {
        assert_eq!(
            wsgate_bind_client_disconnect(srv.s, Some(on_disconnect), log.user()),
            WSGATE_OK
        )
    };
    // Unmasked frame: 1002.
    let id = srv.connect("/", 0);
    let mut unmasked = msg("{}");
    unmasked[1] &= 0x7f;
    unmasked.truncate(2);
    unmasked.extend_from_slice(b"{}");
    assert_eq!(srv.feed(id, &unmasked, 1), Ok(unmasked.len()));
    let f = parse_frames(&srv.drain(id));
    assert_eq!(f.last().unwrap().close_code(), Some(1002));
    // Bad UTF-8 text: 1007, with a frame masked with another key.
    let id2 = srv.connect("/", 1);
    let bad = support::frame_with_mask(true, OpCode::Text, [1, 2, 3, 4], b"\xff");
    assert_eq!(srv.feed(id2, &bad, 2), Ok(bad.len()));
    let f = parse_frames(&srv.drain(id2));
    assert_eq!(f.last().unwrap().close_code(), Some(1007));
    // A message over WSGATE_MAX_MESSAGE: 1009.
    let id3 = srv.connect("/", 2);
    let big = support::text(&vec![b' '; WSGATE_MAX_MESSAGE + 1]);
    assert!(srv.feed(id3, &big[..16], 3).is_ok());
    let f = parse_frames(&srv.drain(id3));
    assert_eq!(f.last().unwrap().close_code(), Some(1009));
    let st = srv.stats();
    assert_eq!(
        (
            st.closed_protocol_error,
            st.closed_invalid_utf8,
            st.closed_too_big
        ),
        (1, 1, 1)
    );
}

// ---------------------------------------------------------------------------------------
// Every error code
// ---------------------------------------------------------------------------------------

#[test]
fn create_checks_its_arguments() {
    let mem = Block::new();
    let mut s = ptr::null_mut();
    unsafe {
        let size = wsgate_server_size();
        assert!(size <= WSGATE_SERVER_SIZE && size > 4 * WSGATE_MAX_CLIENTS * 1024);
        assert_eq!(
            wsgate_create(ptr::null_mut(), WSGATE_SERVER_SIZE, ptr::null(), &mut s),
            WSGATE_ERR_NULL
        );
        assert_eq!(
            wsgate_create(mem.ptr(), WSGATE_SERVER_SIZE, ptr::null(), ptr::null_mut()),
            WSGATE_ERR_NULL
        );
        assert_eq!(
            wsgate_create(mem.ptr(), size - 1, ptr::null(), &mut s),
            WSGATE_ERR_TOO_SMALL
        );
        assert_eq!(
            wsgate_create(mem.ptr(), 0, ptr::null(), &mut s),
            WSGATE_ERR_TOO_SMALL
        );
        let odd = mem.ptr().cast::<u8>().add(4).cast::<c_void>();
        assert_eq!(
            wsgate_create(odd, size, ptr::null(), &mut s),
            WSGATE_ERR_ALIGN
        );
        assert!(s.is_null(), "untouched on error");
        // Exactly wsgate_server_size() bytes is enough.
        assert_eq!(
            wsgate_create(mem.ptr(), size, ptr::null(), &mut s),
            WSGATE_OK
        );
        assert_eq!(s.cast::<c_void>(), mem.ptr());
        let mut gw = 9;
        assert_eq!(wsgate_add_gateway(s, c"/".as_ptr(), &mut gw), WSGATE_OK);
        assert_eq!(gw, 0);
        // Creating again over the same memory starts afresh.
        assert_eq!(
            wsgate_create(mem.ptr(), size, ptr::null(), &mut s),
            WSGATE_OK
        );
        assert_eq!(wsgate_add_gateway(s, c"/".as_ptr(), &mut gw), WSGATE_OK);
        assert_eq!(gw, 0);
        assert_eq!(wsgate_config_default(ptr::null_mut()), WSGATE_ERR_NULL);
    }
}

/// Calls every server function on `s` and returns the codes.
unsafe fn every_server_call(s: *mut wsgate_server) -> Vec<(&'static str, i32)> {
    let mut id = 0u32;
    let mut n = 0usize;
    let mut p = ptr::null();
    let mut d = 0u64;
    let mut st = wsgate_stats::default();
    let one = b"1".as_ptr();
    let ev = c"e".as_ptr();
    unsafe {
        vec![
            ("add_gateway", wsgate_add_gateway(s, c"/".as_ptr(), &mut id)),
            (
                "bind_message_handler",
                wsgate_add_handler(s, 0, ev, Some(on_echo), ptr::null_mut()),
            ),
            (
                "bind_client_connect",
                wsgate_bind_client_connect(s, Some(on_connect), ptr::null_mut()),
            ),
            (
                "bind_client_disconnect",
                wsgate_bind_client_disconnect(s, Some(on_disconnect), ptr::null_mut()),
            ),
            ("accept", wsgate_accept(s, 0, &mut id)),
            ("feed", wsgate_feed(s, 1 << 16, one, 1, 0, &mut n)),
            ("output", wsgate_output(s, 1 << 16, &mut p, &mut n)),
            ("consume", wsgate_consume(s, 1 << 16, 0)),
            ("wants_close", wsgate_wants_close(s, 1 << 16)),
            ("release", wsgate_release(s, 1 << 16)),
            ("poll", wsgate_poll(s, 0)),
            ("next_deadline", wsgate_next_deadline(s, &mut d)),
            ("send", wsgate_send(s, 1 << 16, ev, one, 1)),
            (
                "broadcast",
                wsgate_broadcast(s, 0, ev, one, 1, ptr::null_mut()),
            ),
            ("close_client", wsgate_close_client(s, 1 << 16, 1000, 0)),
            ("get_stats", wsgate_get_stats(s, &mut st)),
            ("close", wsgate_close(s, 0)),
        ]
    }
}

#[test]
fn null_zeroed_and_misaligned_handles() {
    let all = |code: i32| -> Vec<(&'static str, i32)> {
        unsafe { every_server_call(ptr::null_mut()) }
            .into_iter()
            .map(|(what, _)| (what, code))
            .collect()
    };
    assert_eq!(
        unsafe { every_server_call(ptr::null_mut()) },
        all(WSGATE_ERR_NULL)
    );
    // Zeroed memory is not a server.
    let zeroed = Block::new();
    assert_eq!(
        unsafe { every_server_call(zeroed.ptr().cast()) },
        all(WSGATE_ERR_BAD_HANDLE)
    );
    // Neither is a misaligned pointer into a real one.
    let srv = Srv::new();
    let odd = unsafe { srv.s.cast::<u8>().add(1) }.cast::<wsgate_server>();
    assert_eq!(
        unsafe { every_server_call(odd) },
        all(WSGATE_ERR_BAD_HANDLE)
    );
    // A server whose memory was overwritten (here: its first bytes) is refused too.
    let other = Srv::new();
    unsafe { other.s.cast::<u32>().write(0x1234_5678) };
    assert_eq!(
        unsafe { every_server_call(other.s) },
        all(WSGATE_ERR_BAD_HANDLE)
    );
    // The real one is untouched by all this.
    assert_eq!(srv.gateway(c"/"), 0);
}

#[test]
fn null_out_pointers() {
    let srv = Srv::new();
    let gw = srv.gateway(c"/");
    let mut gw_out = 0;
    unsafe {
        assert_eq!(
            wsgate_add_gateway(srv.s, c"/x".as_ptr(), ptr::null_mut()),
            WSGATE_ERR_NULL
        );
        assert_eq!(
            wsgate_add_gateway(srv.s, ptr::null(), &mut gw_out),
            WSGATE_ERR_NULL
        );
        assert_eq!(
            wsgate_add_handler(srv.s, gw, ptr::null(), Some(on_echo), ptr::null_mut()),
            WSGATE_ERR_NULL
        );
        assert_eq!(
            wsgate_add_handler(srv.s, gw, c"e".as_ptr(), None, ptr::null_mut()),
            WSGATE_ERR_NULL
        );
        assert_eq!(wsgate_accept(srv.s, 0, ptr::null_mut()), WSGATE_ERR_NULL);
    }
    let id = srv.connect("/", 0);
    let mut n = 0;
    let mut p = ptr::null();
    unsafe {
        assert_eq!(
            wsgate_feed(srv.s, id, b"x".as_ptr(), 1, 0, ptr::null_mut()),
            WSGATE_ERR_NULL
        );
        assert_eq!(
            wsgate_feed(srv.s, id, ptr::null(), 1, 0, &mut n),
            WSGATE_ERR_NULL
        );
        assert_eq!(wsgate_feed(srv.s, id, ptr::null(), 0, 0, &mut n), WSGATE_OK);
        assert_eq!(
            wsgate_output(srv.s, id, ptr::null_mut(), &mut n),
            WSGATE_ERR_NULL
        );
        assert_eq!(
            wsgate_output(srv.s, id, &mut p, ptr::null_mut()),
            WSGATE_ERR_NULL
        );
        assert_eq!(
            wsgate_next_deadline(srv.s, ptr::null_mut()),
            WSGATE_ERR_NULL
        );
        assert_eq!(wsgate_get_stats(srv.s, ptr::null_mut()), WSGATE_ERR_NULL);
        assert_eq!(
            wsgate_send(srv.s, id, ptr::null(), b"1".as_ptr(), 1),
            WSGATE_ERR_NULL
        );
        assert_eq!(
            wsgate_send(srv.s, id, c"e".as_ptr(), ptr::null(), 1),
            WSGATE_ERR_NULL
        );
        // NULL with length 0 is "no data": `{"event":"e"}`.
        assert_eq!(
            wsgate_send(srv.s, id, c"e".as_ptr(), ptr::null(), 0),
            WSGATE_OK
        );
        assert_eq!(
            wsgate_send(srv.s, id, c"e".as_ptr(), b"".as_ptr(), 0),
            WSGATE_ERR_BAD_JSON
        );
        assert_eq!(
            wsgate_send(srv.s, id, c"e".as_ptr(), b"  ".as_ptr(), 2),
            WSGATE_ERR_BAD_JSON
        );
        assert_eq!(
            wsgate_send(srv.s, id, c"e".as_ptr(), b"[1] 2".as_ptr(), 5),
            WSGATE_ERR_BAD_JSON
        );
        assert_eq!(
            wsgate_send(srv.s, id, c"e".as_ptr(), b" true ".as_ptr(), 6),
            WSGATE_OK
        );
        assert_eq!(
            wsgate_send(
                srv.s,
                0xffff_0000 | WSGATE_MAX_CLIENTS as u32,
                c"e".as_ptr(),
                b"1".as_ptr(),
                1
            ),
            WSGATE_ERR_UNKNOWN_CLIENT
        );
    }
    assert_eq!(
        texts(&parse_frames(&srv.drain(id))),
        [r#"{"event":"e"}"#, r#"{"event":"e","data":true}"#]
    );
    // The server is not left busy by any of these.
    assert_eq!(srv.stats().frames_sent, 2);
}

#[test]
fn binding_checks_names_tables_and_order() {
    let srv = Srv::new();
    let mut gw = 0u32;
    let long_path = format!("/{}\0", "p".repeat(WSGATE_MAX_PATH));
    let max_path = format!("/{}\0", "p".repeat(WSGATE_MAX_PATH - 1));
    unsafe {
        let add = |p: *const c_char, out: &mut u32| wsgate_add_gateway(srv.s, p, out);
        assert_eq!(add(long_path.as_ptr().cast(), &mut gw), WSGATE_ERR_INVALID);
        assert_eq!(add(c"/\xc3".as_ptr(), &mut gw), WSGATE_ERR_INVALID);
        assert_eq!(add(c"/a".as_ptr(), &mut gw), WSGATE_OK);
        assert_eq!(gw, 0);
        for dup in [c"a", c"/a/", c"//a"] {
            assert_eq!(add(dup.as_ptr(), &mut gw), WSGATE_ERR_DUPLICATE, "{dup:?}");
        }
        assert_eq!(add(max_path.as_ptr().cast(), &mut gw), WSGATE_OK);
        assert_eq!(gw, 1);
        assert_eq!(add(c"/rooms/:id".as_ptr(), &mut gw), WSGATE_OK);
        assert_eq!(
            add(c"/rooms/:other".as_ptr(), &mut gw),
            WSGATE_ERR_DUPLICATE
        );
        assert_eq!(add(c"/".as_ptr(), &mut gw), WSGATE_OK);
        assert_eq!(gw as usize, WSGATE_MAX_GATEWAYS - 1);
        assert_eq!(add(c"/more".as_ptr(), &mut gw), WSGATE_ERR_TABLE_FULL);

        let on = |g: u32, ev: *const c_char| {
            wsgate_add_handler(srv.s, g, ev, Some(on_echo), ptr::null_mut())
        };
        let long_event = format!("{}\0", "e".repeat(WSGATE_MAX_EVENT + 1));
        assert_eq!(on(0, long_event.as_ptr().cast()), WSGATE_ERR_INVALID);
        assert_eq!(on(0, c"\xe2\x82".as_ptr()), WSGATE_ERR_INVALID);
        assert_eq!(
            on(WSGATE_MAX_GATEWAYS as u32, c"e".as_ptr()),
            WSGATE_ERR_UNKNOWN_GATEWAY
        );
        assert_eq!(on(u32::MAX, c"e".as_ptr()), WSGATE_ERR_UNKNOWN_GATEWAY);
        for i in 0..WSGATE_MAX_HANDLERS {
            let name = format!("{}{i}\0", "e".repeat(WSGATE_MAX_EVENT - 2));
            assert_eq!(on(0, name.as_ptr().cast()), WSGATE_OK, "{name}");
        }
        assert_eq!(on(0, c"one more".as_ptr()), WSGATE_ERR_TABLE_FULL);
        assert_eq!(on(1, c"x".as_ptr()), WSGATE_OK);
        assert_eq!(on(1, c"x".as_ptr()), WSGATE_ERR_DUPLICATE);
        assert_eq!(on(2, c"x".as_ptr()), WSGATE_OK, "same event, other gateway");
        assert_eq!(
            on(2, c"".as_ptr()),
            WSGATE_OK,
            "an empty event name is a name"
        );

        // Binding is over once the first client is accepted.
        let mut id = 0;
        assert_eq!(wsgate_accept(srv.s, 0, &mut id), WSGATE_OK);
        assert_eq!(add(c"/late".as_ptr(), &mut gw), WSGATE_ERR_STARTED);
        assert_eq!(on(1, c"late".as_ptr()), WSGATE_ERR_STARTED);
        assert_eq!(
            wsgate_bind_client_connect(srv.s, Some(on_connect), ptr::null_mut()),
            WSGATE_ERR_STARTED
        );
        assert_eq!(
            wsgate_bind_client_disconnect(srv.s, None, ptr::null_mut()),
            WSGATE_ERR_STARTED
        );
    }
    // The gateways work: the longest path, a parameter, and the others.
    let long = String::from_utf8(max_path.as_bytes()[..max_path.len() - 1].to_vec()).unwrap();
    srv.connect(&long, 0);
    srv.connect("/rooms/42", 0);
    let id = srv.connect("/a", 0);
    let name = format!("{}15", "e".repeat(WSGATE_MAX_EVENT - 2));
    let out = srv.texts(id, &msg(&format!(r#"{{"event":"{name}","data":[]}}"#)), 0);
    assert_eq!(out, [r#"{"event":"echo","data":[]}"#]);
}

#[test]
fn reentry_from_a_handler_is_busy() {
    let log = Log::default();
    let srv = Srv::new();
    log.server.set(srv.s);
    let gw = srv.gateway(c"/");
    srv.on(gw, c"reenter", on_reenter, log.user());
    let id = srv.connect("/", 0);
    let out = srv.texts(id, &msg(r#"{"event":"reenter","data":1}"#), 1);
    assert_eq!(out, [r#"{"event":"reenter","data":true}"#]);
    let codes = log.codes();
    assert_eq!(codes.len(), 17);
    for (what, rc) in codes {
        assert_eq!(rc, WSGATE_ERR_BUSY, "{what} from a handler");
    }
    // And the server is usable again afterwards (and was not closed by the refused calls).
    assert_eq!(srv.accept(2).map(|i| i & 0xffff), Ok(1));
    assert_eq!(srv.wants_close(id), 0);
}

#[test]
fn context_calls_check_their_arguments() {
    let log = Log::default();
    let srv = Srv::new();
    let gw = srv.gateway(c"/");
    srv.on(gw, c"ctx", on_ctx_errors, log.user());
    let id = srv.connect("/", 0);
    let max_event = "m".repeat(WSGATE_MAX_EVENT);
    let out = srv.texts(id, &msg(r#"{"event":"ctx"}"#), 1);
    assert_eq!(
        out,
        [
            format!(r#"{{"event":"{max_event}","data":1}}"#),
            r#"{"event":"ok","data":{"a":[1,2]}}"#.to_owned(),
            "[1,2]".to_owned(),
        ]
    );
    assert_eq!(
        log.codes(),
        [
            ("reply null event", WSGATE_ERR_NULL),
            ("reply null json", WSGATE_ERR_NULL),
            ("reply empty json", WSGATE_ERR_BAD_JSON),
            ("reply bad json", WSGATE_ERR_BAD_JSON),
            ("reply two values", WSGATE_ERR_BAD_JSON),
            ("reply long event", WSGATE_ERR_INVALID),
            ("reply bad utf8", WSGATE_ERR_INVALID),
            ("reply_json bad", WSGATE_ERR_BAD_JSON),
            ("reply_json null", WSGATE_ERR_NULL),
            ("broadcast bad json", WSGATE_ERR_BAD_JSON),
            ("broadcast null event", WSGATE_ERR_NULL),
            ("close 1005", WSGATE_ERR_INVALID),
            ("close 999", WSGATE_ERR_INVALID),
            ("throw null", WSGATE_ERR_NULL),
            ("throw 4097 bytes", WSGATE_ERR_INVALID),
            ("throw bad utf8", WSGATE_ERR_INVALID),
            ("throw 4096 bytes", WSGATE_OK),
            ("reply max event", WSGATE_OK),
            ("reply spaced json", WSGATE_OK),
            ("reply_json", WSGATE_OK),
        ]
    );
    assert_eq!(srv.wants_close(id), 0, "the refused closes did not close");
}

#[test]
fn context_calls_outside_a_handler() {
    // NULL, a block that is not a context (zeroed), and a misaligned pointer are refused.
    let not_ctx = Block::new();
    let bad = not_ctx.ptr().cast::<wsgate_ctx>();
    let odd = unsafe { not_ctx.ptr().cast::<u8>().add(1) }.cast::<wsgate_ctx>();
    let one = b"1".as_ptr();
    let ev = c"e".as_ptr();
    let mut dropped = 0;
    let cases = [
        (ptr::null_mut(), WSGATE_ERR_NULL),
        (bad, WSGATE_ERR_BAD_HANDLE),
        (odd, WSGATE_ERR_BAD_HANDLE),
    ];
    for (ctx, code) in cases {
        unsafe {
            assert_eq!(wsgate_reply(ctx, ev, one, 1), code);
            assert_eq!(wsgate_reply_json(ctx, one, 1), code);
            assert_eq!(wsgate_ctx_broadcast(ctx, ev, one, 1, &mut dropped), code);
            assert_eq!(wsgate_ctx_close(ctx, 1000), code);
            assert_eq!(wsgate_throw(ctx, c"no".as_ptr()), code);
            assert_eq!(wsgate_ctx_client(ctx), 0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Names, sizes, and the header
// ---------------------------------------------------------------------------------------

#[test]
fn strerror_names_every_code() {
    let codes = [
        (WSGATE_OK, "success"),
        (WSGATE_ERR_NULL, "a pointer argument was NULL"),
        (WSGATE_ERR_BAD_HANDLE, "not a wsgate server or context"),
        (WSGATE_ERR_BUSY, "called from a callback of the same server"),
        (WSGATE_ERR_TOO_SMALL, "memory or buffer too small"),
        (
            WSGATE_ERR_ALIGN,
            "memory not aligned to WSGATE_SERVER_ALIGN",
        ),
        (WSGATE_ERR_FULL, "every client slot is taken"),
        (WSGATE_ERR_CLOSED, "the server is closing"),
        (WSGATE_ERR_UNKNOWN_CLIENT, "unknown client"),
        (WSGATE_ERR_UNKNOWN_GATEWAY, "unknown gateway"),
        (WSGATE_ERR_TABLE_FULL, "table full"),
        (WSGATE_ERR_DUPLICATE, "already registered"),
        (WSGATE_ERR_INVALID, "invalid string or code"),
        (WSGATE_ERR_BAD_JSON, "data is not valid JSON"),
        (
            WSGATE_ERR_SEND_FULL,
            "no room in the client's transmit buffer",
        ),
        (WSGATE_ERR_NOT_OPEN, "the client's WebSocket is not open"),
        (
            WSGATE_ERR_STARTED,
            "bind gateways and handlers before the first accept",
        ),
        (
            WSGATE_ERR_PER_ADDRESS,
            "too many connections from this address",
        ),
    ];
    // The codes are 0, -1, -2, ... with no gaps.
    for (i, (code, _)) in codes.iter().enumerate() {
        assert_eq!(*code, -(i as i32));
    }
    let name = |code| {
        unsafe { CStr::from_ptr(wsgate_strerror(code)) }
            .to_str()
            .unwrap()
    };
    for (code, text) in codes {
        assert_eq!(name(code), text, "code {code}");
    }
    for unknown in [1, -18, i32::MIN, i32::MAX] {
        assert_eq!(name(unknown), "unknown error code");
    }
}

#[test]
fn sizes() {
    let size = wsgate_server_size();
    assert!(size <= WSGATE_SERVER_SIZE);
    // The buffers dominate: every slot has a receive and a transmit buffer.
    assert!(size >= WSGATE_MAX_CLIENTS * (WSGATE_MAX_MESSAGE + WSGATE_TX_BUFFER));
    assert_eq!(size_of::<wsgate_config>(), 40);
    assert_eq!(size_of::<wsgate_stats>(), 28 * 4);
}

/// The header is generated from src/ffi.rs by the build script: it declares every function
/// this file calls, and this file calls every function it declares.
#[test]
fn every_function_in_the_header_is_exercised_here() {
    let header = include_str!("../include/wsgate.h");
    let this = include_str!("ffi.rs");
    let declared: Vec<&str> = header
        .lines()
        .filter(|l| l.contains('(') && !l.starts_with([' ', '#', '}']) && !l.starts_with("typedef"))
        .filter_map(|l| {
            let name = l.split('(').next()?.rsplit([' ', '*']).next()?;
            name.starts_with("wsgate_").then_some(name)
        })
        .collect();
    assert_eq!(declared.len(), 30, "{declared:?}");
    for f in &declared {
        assert!(
            this.contains(&format!("{f}(")),
            "{f} is not called by tests/ffi.rs"
        );
    }
    for define in [
        "#define WSGATE_SERVER_SIZE ",
        "#define WSGATE_ERR_STARTED -16",
        "#ifndef WSGATE_H",
    ] {
        assert!(header.contains(define), "{define}");
    }
}
