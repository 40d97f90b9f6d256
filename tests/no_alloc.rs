//! wsgate never allocates: a whole session through the sans-IO server under a counting global
//! allocator records zero allocations.
//!
//! The allocator counts only on the thread that turned counting on (a thread-local flag), so
//! the test harness's own threads cannot disturb the count. Everything that allocates (the
//! server, the gateway, the pre-encoded client frames, the expected replies) is built before
//! counting starts; inside the counted region the test only feeds, reads and compares slices.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::*;
use wsgate::gateway::{ClientId, Gateway};
use wsgate::protocol::frame::OpCode;
use wsgate::{CloseCode, Config, Server};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    // `try_with`: the flag may already be gone while a thread is being torn down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counter only observes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with counting on; returns how many allocations it made.
fn count<R>(f: impl FnOnce() -> R) -> (usize, R) {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCATIONS.swap(0, Ordering::Relaxed), r)
}

#[derive(Default)]
struct State {
    hits: u32,
    disconnect: Option<(ClientId, CloseCode)>,
}

fn slice_eq(a: &[u8], b: &[u8]) -> bool {
    a == b
}

#[test]
fn a_whole_session_allocates_nothing() {
    // The counter works: a box made while counting is seen.
    let (n, _) = count(|| std::hint::black_box(Box::new(std::hint::black_box(42u64))));
    assert_eq!(n, 1, "the counting allocator must see allocations");

    // ---- Everything that allocates, before counting ----
    let mut gateway: Gateway<State, 4> = Gateway::new("/", State::default());
    gateway
        .on("events", |s, cx, _| {
            s.hits += 1;
            for i in 1..=3 {
                cx.reply("events", &i)?;
            }
            Ok(())
        })
        .unwrap();
    gateway
        .on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?))
        .unwrap();
    gateway.on_disconnect(|s, id, code| s.disconnect = Some((id, code)));

    let config = Config {
        timeouts: wsgate::connection::Timeouts {
            handshake_ms: 1_000,
            ping_interval_ms: 5_000,
            pong_timeout_ms: 2_000,
            close_timeout_ms: 1_000,
            message_ms: 10_000,
        },
        ..Config::DEFAULT
    };
    let mut server: Box<Server<'_, 2, 1024, 1024>> = Box::new(Server::new(config));
    server.add_gateway(&mut gateway).unwrap();
    server.init();

    let request = upgrade_request("/", SAMPLE_KEY);
    let events = text(br#"{"event":"events","data":"test"}"#);
    let echo_msg = br#"{"event":"echo","data":{"n":[1,2,3],"s":"h\u00e9llo"}}"#;
    let echo = frame_with_mask(true, OpCode::Text, [9, 8, 7, 6], echo_msg);
    let mut events_reply = Vec::new();
    for i in 1..=3 {
        let body = format!(r#"{{"event":"events","data":{i}}}"#);
        events_reply.extend([0x81, body.len() as u8]);
        events_reply.extend(body.as_bytes());
    }
    let mut echo_reply = vec![0x81, echo_msg.len() as u8];
    echo_reply.extend(echo_msg);
    // The same echo split across three feeds, header cut in the middle.
    let split = [&echo[..1], &echo[1..9], &echo[9..]];
    let ping = frame(true, OpCode::Ping, b"hello");
    let pong_reply = [0x8A, 0x05, b'h', b'e', b'l', b'l', b'o'];
    let server_ping = [0x89, 0x06, b'w', b's', b'g', b'a', b't', b'e'];
    let pong = frame(true, OpCode::Pong, b"wsgate");
    let client_close = close(1000, b"bye");
    let close_echo = [0x88, 0x05, 0x03, 0xE8, b'b', b'y', b'e'];
    let not_found = request_line_404();

    // ---- The counted session ----
    let (allocations, ok) = count(|| {
        let mut ok = true;
        let mut check = |c: bool| ok &= c;

        let id = server.accept(0).unwrap();
        check(server.feed(id, &request, 0) == Ok(request.len()));
        check(slice_eq(server.output(id), SAMPLE_101));
        let n = server.output(id).len();
        server.consume(id, n);

        // A refused neighbour (404) meanwhile.
        let other = server.accept(1).unwrap();
        check(server.feed(other, &not_found, 1) == Ok(not_found.len()));
        check(
            server
                .output(other)
                .starts_with(b"HTTP/1.1 404 Not Found\r\n"),
        );
        let n = server.output(other).len();
        server.consume(other, n);
        check(server.wants_close(other));
        server.release(other);

        for i in 0..1_000u64 {
            let now = 10 + i;
            if i % 2 == 0 {
                check(server.feed(id, &events, now) == Ok(events.len()));
                check(slice_eq(server.output(id), &events_reply));
            } else if i % 3 == 0 {
                for part in split {
                    check(server.feed(id, part, now) == Ok(part.len()));
                }
                check(slice_eq(server.output(id), &echo_reply));
            } else {
                check(server.feed(id, &echo, now) == Ok(echo.len()));
                check(slice_eq(server.output(id), &echo_reply));
            }
            let n = server.output(id).len();
            // Write it out in two pieces, as a short socket write would.
            server.consume(id, n / 2);
            let n = server.output(id).len();
            server.consume(id, n);
            check(server.output(id).is_empty());
            server.poll(id, now);
        }

        // The client pings.
        check(server.feed(id, &ping, 2_000) == Ok(ping.len()));
        check(slice_eq(server.output(id), &pong_reply));
        server.consume(id, pong_reply.len());

        // Silence: the server pings, the client answers.
        server.poll(id, 7_000);
        check(slice_eq(server.output(id), &server_ping));
        server.consume(id, server_ping.len());
        check(server.feed(id, &pong, 7_100) == Ok(pong.len()));
        server.poll(id, 9_500);
        check(server.output(id).is_empty() && !server.wants_close(id));

        // The client closes.
        check(server.feed(id, &client_close, 9_600) == Ok(client_close.len()));
        check(slice_eq(server.output(id), &close_echo));
        server.consume(id, close_echo.len());
        check(server.wants_close(id));
        server.release(id);
        check(server.client_count() == 0);
        (ok, id)
    });
    let (ok, id) = ok;
    assert!(ok, "the session went wrong (see the checks above)");
    assert_eq!(allocations, 0, "wsgate allocated during a session");

    let stats = *server.stats();
    assert_eq!(stats.upgraded, 1);
    assert_eq!(stats.http_404, 1);
    assert_eq!(stats.dispatched, 1_000);
    assert_eq!(stats.frames_sent, 500 * 3 + 500);
    assert_eq!(stats.pings_sent, 1);
    assert_eq!(stats.closed_by_peer, 1);
    assert_eq!(stats.send_failed + stats.dropped(), 0);
    drop(server);
    assert_eq!(gateway.state().hits, 500);
    assert_eq!(gateway.state().disconnect, Some((id, CloseCode::NORMAL)));
}

fn request_line_404() -> Vec<u8> {
    request(
        "GET /missing HTTP/1.1",
        &[
            "Host: device.local",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ],
    )
}
