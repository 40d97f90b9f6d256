//! No input panics the server: random byte streams, random request heads, random frames and
//! mutated valid sessions, cut into random `feed` calls, with `output`/`consume`/`poll` and
//! time moving forward after every call.
//!
//! After every call: `feed` never reports more bytes than it was given, `output` never holds
//! more than `TX` bytes, the server never stalls (with its output written out, a `feed` with
//! bytes left makes progress), and a slot that `wants_close` can be released and accepted
//! again, and the new client of that slot upgrades normally.

mod support;

use proptest::prelude::*;
use support::*;
use wsgate::gateway::{ClientId, Gateway, HandlerError};
use wsgate::protocol::frame::OpCode;
use wsgate::{CloseCode, Config, Server};

const TX: usize = 512;
type Small<'g> = Server<'g, 2, 512, TX>;

const CONFIG: Config = Config {
    timeouts: wsgate::connection::Timeouts {
        handshake_ms: 1_500,
        ping_interval_ms: 200,
        pong_timeout_ms: 100,
        close_timeout_ms: 100,
        message_ms: 10_000,
    },
    max_head: 400,
    pages: &[wsgate::Page {
        path: "/index.html",
        content_type: "text/html",
        body: &[b'<'; 1500],
    }],
    ..Config::DEFAULT
};

fn gateway() -> Gateway<(), 8> {
    let mut g: Gateway<(), 8> = Gateway::new("/", ());
    g.on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?))
        .unwrap();
    g.on("events", |_, cx, _| {
        for i in 1..=3 {
            cx.reply("events", &i)?;
        }
        Ok(())
    })
    .unwrap();
    g.on("shout", |_, cx, data| {
        cx.broadcast_raw("shout", data.json());
        Ok(())
    })
    .unwrap();
    g.on("bye", |_, cx, _| {
        cx.close(CloseCode(4000), "bye");
        Ok(())
    })
    .unwrap();
    g.on("fail", |_, _, _| Err(HandlerError::Ws("nope")))
        .unwrap();
    g.on("num", |_, cx, data| {
        let n: u32 = data.parse()?;
        Ok(cx.send_json(&n)?)
    })
    .unwrap();
    g
}

/// Drives one client of a `Small` server and checks the invariants after every call.
struct Driver<'s, 'g> {
    server: &'s mut Small<'g>,
    id: ClientId,
    now: u64,
    /// How many bytes to write out per `consume` (cycled), to exercise short writes.
    writes: Vec<usize>,
    w: usize,
}

impl Driver<'_, '_> {
    fn check_output(&mut self) -> usize {
        let len = self.server.output(self.id).len();
        assert!(len <= TX, "output of {len} bytes exceeds TX");
        len
    }

    /// Writes out part of the output (or all of it with `all`).
    fn write(&mut self, all: bool) {
        let len = self.check_output();
        let n = if all {
            len
        } else {
            let k = self.writes[self.w % self.writes.len()];
            self.w += 1;
            len.min(k)
        };
        self.server.consume(self.id, n);
        self.check_output();
    }

    /// Feeds `chunk` at `now`, writing output between calls, until all of it is used or the
    /// connection is to be closed.
    fn feed(&mut self, mut chunk: &[u8], dt: u64) {
        self.now += dt;
        // Timers first: after a long gap the server pings, drops or times out before reading.
        self.server.poll(self.id, self.now);
        self.write(false);
        if self.server.wants_close(self.id) {
            return;
        }
        let mut idle = 0u32;
        loop {
            let flushed = self.check_output() == 0;
            let n = self
                .server
                .feed(self.id, chunk, self.now)
                .expect("the client is known until released");
            assert!(n <= chunk.len(), "feed used {n} of {} bytes", chunk.len());
            chunk = &chunk[n..];
            self.write(false);
            self.server.poll(self.id, self.now);
            self.write(false);
            if chunk.is_empty() || self.server.wants_close(self.id) {
                return;
            }
            if n == 0 && flushed {
                panic!(
                    "stalled: feed used nothing with empty output and {} bytes left",
                    chunk.len()
                );
            }
            if n == 0 {
                // The server waits for its output to be written (a pong had no room).
                self.write(true);
                idle += 1;
            } else {
                idle = 0;
            }
            assert!(idle < 3, "no progress after writing the output out");
        }
    }

    /// Lets time pass until the connection has nothing left to do, writing everything out.
    fn settle(&mut self) {
        // 3 s: longer than every timer (handshake 1.5 s; ping 0.2 s + pong 0.1 s; close 0.1 s).
        for _ in 0..20 {
            self.now += 150;
            self.server.poll(self.id, self.now);
            self.write(true);
            self.write(true);
        }
    }
}

/// Runs `chunks` (each with its time step) through a fresh server, then checks the slot can
/// be released and reused.
fn run(prefix: &[u8], chunks: &[(Vec<u8>, u8)], writes: Vec<usize>, settle: bool) {
    let mut g = gateway();
    let mut server: Small<'_> = Server::new(CONFIG);
    server.add_gateway(&mut g).unwrap();
    server.init();
    let id = server.accept(0).unwrap();
    // The second slot is taken too, so a re-accept must reuse the released one.
    let other = server.accept(0).unwrap();
    let mut d = Driver {
        server: &mut server,
        id,
        now: 0,
        writes,
        w: 0,
    };
    if !prefix.is_empty() {
        d.feed(prefix, 0);
    }
    for (chunk, dt) in chunks {
        if d.server.wants_close(id) {
            break;
        }
        d.feed(chunk, u64::from(*dt));
    }
    if settle {
        d.settle();
        // With everything written out and seconds of silence, the timers have ended
        // every connection (408, idle timeout, close timeout) and it is to be closed.
        let phase = d.server.phase(id);
        assert!(
            d.server.wants_close(id),
            "after settling: {phase:?}, wants_close false"
        );
    }
    let now = d.now;
    if std::env::var_os("WSGATE_FUZZ_STATS").is_some() {
        let s = server.stats();
        eprintln!(
            "STATS upgraded={} dispatched={} messages={} pings={} closed={:?}",
            s.upgraded,
            s.dispatched,
            s.messages,
            s.pings_sent,
            (
                s.closed_by_peer,
                s.closed_by_server,
                s.closed_protocol_error,
                s.closed_invalid_utf8,
                s.closed_too_big,
                s.closed_idle,
                s.closed_close_timeout,
                s.http_400
                    + s.http_404
                    + s.http_405
                    + s.http_408
                    + s.http_426
                    + s.http_431
                    + s.http_other,
                s.pages_served
            )
        );
    }
    server.release(id);
    assert_eq!(
        server.feed(id, b"x", now),
        Err(wsgate::server::ServerError::UnknownClient)
    );
    assert!(server.wants_close(id), "a released id wants close");
    let again = server.accept(now).expect("the released slot is free again");
    assert_eq!(again.index(), id.index());
    assert_ne!(again, id);
    assert!(server.accept(now).is_err(), "both slots in use");
    // The new client of the slot works.
    let req = upgrade_request("/", SAMPLE_KEY);
    assert_eq!(server.feed(again, &req, now), Ok(req.len()));
    assert_eq!(server.output(again), SAMPLE_101);
    server.release(again);
    server.release(other);
    assert_eq!(server.client_count(), 0);
}

/// Cuts `data` into chunks of the given sizes (cycled), each paired with a time step.
fn chunk(data: &[u8], sizes: &[usize], dts: &[u8]) -> Vec<(Vec<u8>, u8)> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.push((rest[..n].to_vec(), dts[i % dts.len()]));
        rest = &rest[n..];
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1usize..4, 1usize..40, 1usize..600], 1..8)
}

fn dts() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![Just(0u8), 0u8..20, 0u8..=255], 1..8)
}

fn writes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![Just(usize::MAX), 0usize..8, 0usize..600], 1..6)
}

/// One valid client frame (or a valid fragmented message).
fn valid_frames() -> impl Strategy<Value = Vec<u8>> {
    let json = prop_oneof![
        Just(br#"{"event":"echo","data":[1,"two",{"3":null}]}"#.to_vec()),
        Just(br#"{"event":"events","data":"test"}"#.to_vec()),
        Just(br#"{"event":"shout","data":"hi all"}"#.to_vec()),
        Just(br#"{"event":"fail","data":{"a":1}}"#.to_vec()),
        Just(br#"{"event":"num","data":12345}"#.to_vec()),
        Just(br#"{"event":"num","data":"nan"}"#.to_vec()),
        Just(br#"{"event":"bye"}"#.to_vec()),
        Just(br#"{"event":"nobody"}"#.to_vec()),
        Just(b"[1,2,3]".to_vec()),
        Just(
            "{\"event\":\"echo\",\"data\":\"\u{e9}\u{20ac}\u{1f600}\"}"
                .as_bytes()
                .to_vec()
        ),
        (0usize..480).prop_map(echo_message_any),
    ];
    let mask = any::<[u8; 4]>();
    prop_oneof![
        4 => (json.clone(), mask, any::<bool>()).prop_map(|(j, m, bin)| {
            let op = if bin { OpCode::Binary } else { OpCode::Text };
            frame_with_mask(true, op, m, &j)
        }),
        2 => (json, mask, 1usize..5, any::<bool>()).prop_map(|(j, m, parts, ping)| {
            // A fragmented message, maybe with a ping between fragments.
            let size = j.len().div_ceil(parts).max(1);
            let pieces: Vec<&[u8]> = j.chunks(size).collect();
            let mut out = Vec::new();
            for (i, p) in pieces.iter().enumerate() {
                let op = if i == 0 { OpCode::Text } else { OpCode::Continuation };
                out.extend(frame_with_mask(i + 1 == pieces.len(), op, m, p));
                if ping && i == 0 {
                    out.extend(frame_with_mask(true, OpCode::Ping, m, b"mid"));
                }
            }
            out
        }),
        1 => (prop::collection::vec(any::<u8>(), 0..126), mask)
            .prop_map(|(p, m)| frame_with_mask(true, OpCode::Ping, m, &p)),
        1 => (prop::collection::vec(any::<u8>(), 0..126), mask)
            .prop_map(|(p, m)| frame_with_mask(true, OpCode::Pong, m, &p)),
        1 => (prop::sample::select(vec![1000u16, 1001, 3000, 4999]), mask)
            .prop_map(|(c, m)| frame_with_mask(true, OpCode::Close, m, &c.to_be_bytes())),
    ]
}

/// An echo message of about `len` bytes (any length; short ones are not echo messages).
fn echo_message_any(len: usize) -> Vec<u8> {
    if len >= 26 {
        echo_message(len)
    } else {
        vec![b' '; len]
    }
}

/// A valid session: the upgrade request, then frames.
fn valid_session() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(valid_frames(), 0..12).prop_map(|frames| {
        let mut s = upgrade_request("/", SAMPLE_KEY);
        for f in frames {
            s.extend(f);
        }
        s
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, 1 << b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut s: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        if s.is_empty() {
            break;
        }
        let at = |i: usize| i % s.len();
        match *m {
            Mutation::Flip(i, b) => {
                let i = at(i);
                s[i] ^= b;
            }
            Mutation::Set(i, b) => {
                let i = at(i);
                s[i] = b;
            }
            Mutation::Insert(i, b) => {
                let i = at(i);
                s.insert(i, b);
            }
            Mutation::Delete(i) => {
                let i = at(i);
                s.remove(i);
            }
            Mutation::Truncate(i) => {
                let i = at(i);
                s.truncate(i);
            }
        }
    }
    s
}

/// A frame with random header fields: any first byte, mask or not, any length encoding (also
/// lengths that disagree with the payload sent), and a random payload.
fn wild_frame() -> impl Strategy<Value = Vec<u8>> {
    let b0 = prop_oneof![
        // Mostly frames that pass the first checks, so the later ones are reached.
        4 => (any::<bool>(), prop::sample::select(vec![0u8, 1, 2, 8, 9, 10]))
            .prop_map(|(fin, op)| if fin { 0x80 | op } else { op }),
        1 => any::<u8>(),
    ];
    (
        b0,
        prop::bool::weighted(0.9),
        prop_oneof![
            Just(None),
            (0u64..126).prop_map(Some),
            (126u64..=0xFFFF).prop_map(Some),
            any::<u64>().prop_map(Some),
            (0x1_0000u64..0x10_0000).prop_map(Some),
        ],
        any::<[u8; 4]>(),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            (26usize..300).prop_map(echo_message),
        ],
        0u8..3,
    )
        .prop_map(|(b0, masked, len, key, payload, form)| {
            let len = len.unwrap_or(payload.len() as u64);
            let mut f = vec![b0];
            let m = if masked { 0x80 } else { 0 };
            match form {
                0 if len < 126 => f.push(m | len as u8),
                0 | 1 if len <= 0xFFFF => {
                    f.push(m | 126);
                    f.extend((len as u16).to_be_bytes());
                }
                _ => {
                    f.push(m | 127);
                    f.extend(len.to_be_bytes());
                }
            }
            if masked {
                f.extend(key);
            }
            f.extend(payload);
            f
        })
}

/// Request heads assembled from valid and broken pieces.
fn wild_head() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just("GET / HTTP/1.1"),
        Just("GET / HTTP/1.1"),
        Just("GET / HTTP/1.1"),
        Just("GET /?a=1 HTTP/1.1"),
        Just("GET / HTTP/1.1"),
        Just("GET /index.html HTTP/1.1"),
        Just("GET /nope?x=1 HTTP/1.1"),
        Just("POST / HTTP/1.1"),
        Just("GET / HTTP/1.0"),
        Just("GET / HTTP/2.0"),
        Just("GET * HTTP/1.1"),
        Just("GET http://x/ HTTP/1.1"),
        Just("GET  / HTTP/1.1"),
        Just(""),
        Just("\u{0}\u{1}"),
    ];
    let header = prop_oneof![
        Just("Host: x"),
        Just("Upgrade: websocket"),
        Just("Upgrade: WebSocket, h2c"),
        Just("Upgrade: h2c"),
        Just("Connection: Upgrade"),
        Just("Connection: keep-alive, Upgrade"),
        Just("Connection: close"),
        Just("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
        Just("Sec-WebSocket-Key: AAAA"),
        Just("Sec-WebSocket-Key: "),
        Just("Sec-WebSocket-Version: 13"),
        Just("Sec-WebSocket-Version: 8"),
        Just("Sec-WebSocket-Protocol: chat, superchat"),
        Just("X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        Just(": no-name"),
        Just("No-Colon"),
        Just("Bad\u{0}Header: v"),
        Just(" Folded: v"),
    ];
    let valid = vec![
        "Host: x",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ];
    let headers = prop_oneof![
        prop::collection::vec(header.clone(), 0..40),
        // The five an upgrade needs plus a few more, in any order.
        (prop::collection::vec(header, 0..3), Just(valid))
            .prop_map(|(mut extra, valid)| {
                extra.extend(valid);
                extra
            })
            .prop_shuffle(),
    ];
    let eol = prop::sample::select(vec!["\r\n", "\r\n", "\r\n", "\n"]);
    (line, headers, eol).prop_map(|(l, hs, eol)| {
        let mut s = String::from(l);
        s.push_str(eol);
        for h in hs {
            s.push_str(h);
            s.push_str(eol);
        }
        s.push_str(eol);
        s.into_bytes()
    })
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// `cases` per property, or `WSGATE_FUZZ_CASES` when set (for longer runs).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("WSGATE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_bytes_from_the_start(
        data in prop::collection::vec(any::<u8>(), 0..1500),
        sizes in sizes(), dts in dts(), writes in writes(),
    ) {
        run(&[], &chunk(&data, &sizes, &dts), writes, true);
    }

    #[test]
    fn random_bytes_after_the_upgrade(
        data in prop::collection::vec(any::<u8>(), 0..1500),
        sizes in sizes(), dts in dts(), writes in writes(),
    ) {
        run(&upgrade_request("/", SAMPLE_KEY), &chunk(&data, &sizes, &dts), writes, true);
    }

    #[test]
    fn mutated_valid_sessions(
        session in valid_session(),
        mutations in prop::collection::vec(mutation(), 0..6),
        keep_head in any::<bool>(),
        sizes in sizes(), dts in dts(), writes in writes(),
    ) {
        // Half of the cases mutate only the frames, so the mutations reach the frame parser.
        let data = if keep_head {
            let head = upgrade_request("/", SAMPLE_KEY).len();
            let mut data = session[..head].to_vec();
            data.extend(mutate(session[head..].to_vec(), &mutations));
            data
        } else {
            mutate(session, &mutations)
        };
        run(&[], &chunk(&data, &sizes, &dts), writes, true);
    }

    #[test]
    fn valid_sessions_with_random_timing(
        session in valid_session(),
        sizes in sizes(), dts in dts(), writes in writes(),
    ) {
        run(&[], &chunk(&session, &sizes, &dts), writes, true);
    }

    #[test]
    fn wild_frames_after_the_upgrade(
        frames in prop::collection::vec(wild_frame(), 1..8),
        sizes in sizes(), dts in dts(), writes in writes(),
    ) {
        let data: Vec<u8> = frames.concat();
        run(&upgrade_request("/", SAMPLE_KEY), &chunk(&data, &sizes, &dts), writes, true);
    }

    #[test]
    fn wild_request_heads(
        head in wild_head(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
        sizes in sizes(), dts in dts(), writes in writes(),
    ) {
        let mut data = head;
        data.extend(tail);
        run(&[], &chunk(&data, &sizes, &dts), writes, true);
    }
}

/// Two clients at once on the two slots: broadcasts from one land in the other's buffer while
/// it is fed garbage; neither panics and both slots are reusable.
#[test]
fn two_clients_interleaved() {
    let mut runner = proptest::test_runner::TestRunner::new(config(128));
    let strategy = (
        valid_session(),
        prop::collection::vec(mutation(), 0..4),
        valid_session(),
        sizes(),
        dts(),
    );
    runner
        .run(&strategy, |(a, ma, b, sizes, dts)| {
            let a = mutate(a, &ma);
            let mut g = gateway();
            let mut server: Small<'_> = Server::new(CONFIG);
            server.add_gateway(&mut g).unwrap();
            server.init();
            let ids = [server.accept(0).unwrap(), server.accept(0).unwrap()];
            let streams = [chunk(&a, &sizes, &dts), chunk(&b, &sizes, &dts)];
            let mut pos = [0usize; 2];
            let mut left: [&[u8]; 2] = [&[], &[]];
            let mut now = 0u64;
            let mut turn = 0;
            for _ in 0..10_000 {
                if pos[0] >= streams[0].len()
                    && pos[1] >= streams[1].len()
                    && left.iter().all(|l| l.is_empty())
                {
                    break;
                }
                let k = turn % 2;
                turn += 1;
                let id = ids[k];
                if left[k].is_empty() && pos[k] < streams[k].len() {
                    left[k] = &streams[k][pos[k]].0;
                    now += u64::from(streams[k][pos[k]].1);
                    pos[k] += 1;
                }
                if !server.wants_close(id) && !left[k].is_empty() {
                    let n = server.feed(id, left[k], now).unwrap();
                    assert!(n <= left[k].len());
                    left[k] = &left[k][n..];
                } else {
                    left[k] = &[];
                }
                // Only every other turn does a client read, so buffers fill up.
                if turn % 3 != 0 {
                    let len = server.output(id).len();
                    assert!(len <= TX);
                    server.consume(id, len);
                }
                server.poll_all(now);
                while server.take_wake().is_some() {}
            }
            for id in ids {
                assert!(server.output(id).len() <= TX);
                server.release(id);
            }
            for _ in 0..2 {
                let id = server.accept(now).expect("slots reusable");
                let req = upgrade_request("/", SAMPLE_KEY);
                assert_eq!(server.feed(id, &req, now), Ok(req.len()));
                assert_eq!(server.output(id), SAMPLE_101);
            }
            Ok(())
        })
        .unwrap();
}
