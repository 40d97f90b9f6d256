//! Micro-benchmarks of wsgate's hot path, through the public API only (divan).
//!
//! What is measured, each at a small (64 B) and a large (16 KiB) size:
//!
//! - `frame_header`: `protocol::frame::parse_header` on a masked client text frame (7-bit
//!   length for 64 B, 16-bit extended length for 16 KiB); counted in headers.
//! - `unmask`: `protocol::frame::unmask_into` (copy + unmask, what `Connection` does with
//!   received payload) and `apply_mask` (in place); counted in payload bytes.
//! - `utf8`: `protocol::utf8::Utf8Validator` (`feed` + `finish`) on ASCII 64 B, ASCII
//!   16 KiB and mixed 1-4 byte UTF-8 16 KiB, next to `core::str::from_utf8` on the same
//!   input as the reference.
//! - `envelope_scan`: `gateway::envelope::parse_envelope` on
//!   `{"event":"echo","data":{"seq":1000000001,"p":"xxx…"}}` padded to 64 B / 16 KiB.
//! - `reply_encode`: `Context::reply_raw("echo", data)` (what an `echo` handler does) into a
//!   `Connection`'s transmit buffer, then `consume`; the reply frame carries 64 B / 16 KiB.
//!   Next to it `json::compact_json` of the same `data` alone, the walk inside it.
//! - `round_trip`: a `Server` with one handshaken client and a gateway with an `echo`
//!   handler; per iteration one pre-encoded masked echo frame is fed, the reply is taken
//!   from `output` and consumed. The handshake happens once, outside the timed loop.
//!
//! Run:
//!
//! ```text
//! cargo bench --bench core                    # all, 500 samples each (under a second)
//! cargo bench --bench core -- utf8            # only benchmarks whose path matches `utf8`
//! cargo bench --bench core -- --sample-count 5000 round_trip   # more samples
//! cargo bench --bench core -- --test          # smoke test: every benchmark runs once
//! ```
//!
//! Throughput columns are in bytes (B/s, decimal units) or items (headers, messages) per
//! second. Every input is built and checked once before its timed loop, so a benchmark that
//! measures an error path by mistake panics instead of printing a flattering number.

use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};
use wsgate::connection::Connection;
use wsgate::gateway::envelope::parse_envelope;
use wsgate::gateway::{ClientId, Context, Data, Gateway, GatewayId, HandlerResult, NoPeers};
use wsgate::json;
use wsgate::protocol::frame::{self, OpCode};
use wsgate::protocol::utf8::Utf8Validator;
use wsgate::{Config, Server, Stats};

/// Message sizes benchmarked: one that fits a 7-bit length, one that needs the 16-bit one.
const SIZES: [usize; 2] = [64, 16 * 1024];

/// A client masking key (any non-zero key will do).
const KEY: [u8; 4] = [0x9c, 0x41, 0x0e, 0xd7];

/// The part of the echo envelope before the `p` string's contents.
const ENVELOPE_HEAD: &str = r#"{"event":"echo","data":{"seq":1000000001,"p":""#;
/// The part after them.
const ENVELOPE_TAIL: &str = r#""}}"#;

/// `{"event":"echo","data":{"seq":1000000001,"p":"xxx…"}}`, exactly `total` bytes long.
fn echo_envelope(total: usize) -> Vec<u8> {
    let fixed = ENVELOPE_HEAD.len() + ENVELOPE_TAIL.len();
    assert!(total >= fixed, "an echo envelope is at least {fixed} bytes");
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(ENVELOPE_HEAD.as_bytes());
    msg.resize(total - ENVELOPE_TAIL.len(), b'x');
    msg.extend_from_slice(ENVELOPE_TAIL.as_bytes());
    assert_eq!(msg.len(), total);
    msg
}

/// The `data` value of an envelope (the raw JSON a handler sees).
fn data_of(msg: &[u8]) -> &[u8] {
    parse_envelope(msg)
        .expect("the benchmark envelope parses")
        .data
        .expect("the benchmark envelope has data")
}

/// One masked client text frame carrying `payload`.
fn client_text_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; payload.len() + frame::MAX_HEADER_LEN];
    let n = frame::encode_frame(&mut out, true, OpCode::Text, Some(KEY), payload)
        .expect("the frame fits");
    out.truncate(n);
    out
}

/// Deterministic filler bytes (payloads for the masking benchmarks).
fn filler(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn main() {
    // Divan sizes each sample to a few timer ticks, so 500 samples of every benchmark take
    // well under a second in all; `--sample-count` on the command line overrides it.
    divan::Divan::default()
        .sample_count(500)
        .config_with_args()
        .main();
}

/// `parse_header` on a whole masked client text frame (it reads only the header).
mod frame_header {
    use super::*;

    #[divan::bench(args = SIZES)]
    fn parse_masked_text(bencher: Bencher, size: usize) {
        let wire = client_text_frame(&filler(size));
        let expected_len = frame::header_len(size as u64, true);
        let (h, n) = frame::parse_header(&wire, true)
            .expect("a valid header")
            .expect("a complete header");
        assert_eq!(
            (h.payload_len, n, h.mask),
            (size as u64, expected_len, Some(KEY))
        );

        bencher
            .counter(ItemsCount::new(1u32))
            .bench_local(|| frame::parse_header(black_box(&wire), black_box(true)));
    }
}

/// Unmasking a payload: copying out of the input (what `Connection` does) and in place.
mod unmask {
    use super::*;

    #[divan::bench(args = SIZES)]
    fn unmask_into(bencher: Bencher, size: usize) {
        let src = filler(size);
        let mut dst = vec![0u8; size];
        assert_eq!(frame::unmask_into(&mut dst, &src, KEY, 0), size);

        bencher.counter(BytesCount::new(size)).bench_local(|| {
            frame::unmask_into(
                black_box(&mut dst),
                black_box(&src),
                black_box(KEY),
                black_box(0),
            )
        });
    }

    #[divan::bench(args = SIZES)]
    fn apply_mask(bencher: Bencher, size: usize) {
        // Each call flips the buffer between masked and unmasked: same work every time.
        let mut buf = filler(size);

        bencher.counter(BytesCount::new(size)).bench_local(|| {
            frame::apply_mask(black_box(&mut buf), black_box(KEY), black_box(0));
        });
    }
}

/// UTF-8 validation of a whole text message: wsgate's incremental validator, and
/// `core::str::from_utf8` as the reference.
mod utf8 {
    use super::*;

    /// The texts validated.
    #[derive(Clone, Copy, Debug)]
    enum Text {
        Ascii64,
        Ascii16K,
        Mixed16K,
    }

    const TEXTS: [Text; 3] = [Text::Ascii64, Text::Ascii16K, Text::Mixed16K];

    /// Valid UTF-8 of exactly `len` bytes: `pattern` repeated, cut at a character
    /// boundary, padded with ASCII.
    fn repeat_to(pattern: &str, len: usize) -> Vec<u8> {
        let mut s = String::with_capacity(len);
        'fill: loop {
            for c in pattern.chars() {
                if s.len() + c.len_utf8() > len {
                    break 'fill;
                }
                s.push(c);
            }
        }
        while s.len() < len {
            s.push('.');
        }
        s.into_bytes()
    }

    impl Text {
        fn bytes(self) -> Vec<u8> {
            let ascii = r#"{"event":"echo","data":{"seq":1000000001,"p":"lorem ipsum"}} "#;
            // 1-, 2-, 3- and 4-byte characters, about half the bytes outside ASCII.
            let mixed = "Grüße, Ελλάδα, Россия! 世界 € ✓ 😀🎉 naïve café ";
            let bytes = match self {
                Text::Ascii64 => repeat_to(ascii, 64),
                Text::Ascii16K => repeat_to(ascii, 16 * 1024),
                Text::Mixed16K => repeat_to(mixed, 16 * 1024),
            };
            assert!(core::str::from_utf8(&bytes).is_ok());
            bytes
        }
    }

    fn validate(bytes: &[u8]) -> bool {
        let mut v = Utf8Validator::new();
        v.feed(bytes).is_ok() && v.finish().is_ok()
    }

    #[divan::bench(args = TEXTS)]
    fn wsgate_validator(bencher: Bencher, text: Text) {
        let bytes = text.bytes();
        assert!(validate(&bytes));

        bencher
            .counter(BytesCount::of_slice(&bytes))
            .bench_local(|| validate(black_box(&bytes)));
    }

    #[divan::bench(args = TEXTS)]
    fn core_from_utf8(bencher: Bencher, text: Text) {
        let bytes = text.bytes();

        bencher
            .counter(BytesCount::of_slice(&bytes))
            .bench_local(|| core::str::from_utf8(black_box(&bytes)).is_ok());
    }
}

/// Finding the event name and the `data` value in an incoming message (and validating it).
mod envelope_scan {
    use super::*;

    #[divan::bench(args = SIZES)]
    fn parse_envelope(bencher: Bencher, size: usize) {
        let msg = echo_envelope(size);
        let env = super::parse_envelope(&msg).expect("the benchmark envelope parses");
        assert!(env.event.eq_str("echo"));
        assert_eq!(
            env.data.map(<[u8]>::len),
            Some(size - r#"{"event":"echo","data":}"#.len())
        );

        bencher
            .counter(BytesCount::new(size))
            .bench_local(|| super::parse_envelope(black_box(&msg)));
    }
}

/// Writing `{"event":"echo","data":<raw JSON>}` as a text frame, as an echo handler does.
mod reply_encode {
    use super::*;

    /// Transmit room for the largest reply (16 KiB payload + 4-byte header) and then some.
    type Conn = Connection<128, { 20 * 1024 }>;

    /// One `reply_raw` through a handler's `Context`; returns the bytes queued.
    fn reply(conn: &mut Conn, stats: &mut Stats, data: &[u8]) -> usize {
        let mut peers = NoPeers;
        let mut cx = Context::new(
            ClientId::new(0, 0),
            GatewayId(0),
            conn.outbox(),
            &mut peers,
            stats,
        );
        cx.reply_raw("echo", data).expect("the reply fits");
        conn.pending_len()
    }

    #[divan::bench(args = SIZES)]
    fn reply_raw(bencher: Bencher, size: usize) {
        // The reply echoes the data of a `size`-byte envelope, so it is `size` bytes too.
        let msg = echo_envelope(size);
        let data = data_of(&msg);
        let mut conn: Box<Conn> = Box::new(Connection::new());
        let mut stats = Stats::new();
        let n = reply(&mut conn, &mut stats, data);
        assert_eq!(n, frame::header_len(size as u64, false) + size);
        let queued = conn.output();
        assert_eq!(
            &queued[queued.len() - size..],
            &msg[..],
            "the reply is the message"
        );
        conn.consume(n);

        bencher.counter(BytesCount::new(size)).bench_local(|| {
            let n = reply(&mut conn, &mut stats, black_box(data));
            conn.consume(black_box(n));
        });
    }

    /// The part of `reply_raw` that walks the data: `compact_json` of the same `data` value
    /// into a plain buffer (counted in bytes of data, a little less than the reply).
    #[divan::bench(args = SIZES)]
    fn compact_json(bencher: Bencher, size: usize) {
        let msg = echo_envelope(size);
        let data = data_of(&msg);
        let mut out = vec![0u8; data.len()];
        assert_eq!(json::compact_json(data, &mut out), Some(data.len()));

        bencher
            .counter(BytesCount::of_slice(data))
            .bench_local(|| json::compact_json(black_box(data), black_box(&mut out)));
    }
}

/// A whole message through the sans-IO server: frame in, handler, reply frame out.
mod round_trip {
    use super::*;

    /// Receive and transmit room for a 16 KiB message and its reply.
    type BenchServer<'g> = Server<'g, 1, { 20 * 1024 }, { 20 * 1024 }>;

    type EchoGateway = Gateway<(), 1>;

    fn echo(_: &mut (), cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
        Ok(cx.reply_raw("echo", data.json())?)
    }

    const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\n\
        Host: bench.local\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    /// Time in ms passed to the server (constant: no timer fires).
    const NOW: u64 = 1;

    /// Feeds one frame, takes the whole output and consumes it; returns the output length.
    fn exchange(server: &mut BenchServer<'_>, id: ClientId, wire: &[u8]) -> usize {
        let fed = server.feed(id, wire, NOW).expect("the client is connected");
        debug_assert_eq!(fed, wire.len());
        let out = black_box(server.output(id));
        let n = out.len();
        server.consume(id, n);
        n
    }

    #[divan::bench(args = SIZES)]
    fn echo_message(bencher: Bencher, size: usize) {
        let msg = echo_envelope(size);
        let wire = client_text_frame(&msg);

        let mut gateway: EchoGateway = Gateway::new("/", ());
        gateway.on("echo", echo).expect("room for one handler");
        let mut server: Box<BenchServer<'_>> = Box::new(Server::new(Config::DEFAULT));
        server
            .add_gateway(&mut gateway)
            .expect("room for one gateway");
        server.init();

        // The handshake, outside the timed loop.
        let id = server.accept(0).expect("a free slot");
        assert_eq!(server.feed(id, UPGRADE, 0), Ok(UPGRADE.len()));
        let response = server.output(id);
        assert!(
            response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"),
            "{}",
            String::from_utf8_lossy(response)
        );
        let n = response.len();
        server.consume(id, n);

        // One checked exchange: the whole frame is taken and the reply is the message.
        assert_eq!(server.feed(id, &wire, NOW), Ok(wire.len()));
        let out = server.output(id);
        assert_eq!(out.len(), frame::header_len(size as u64, false) + size);
        assert_eq!(&out[out.len() - size..], &msg[..]);
        let n = out.len();
        server.consume(id, n);

        bencher
            .counter(BytesCount::new(size))
            .counter(ItemsCount::new(1u32))
            .bench_local(|| exchange(&mut server, id, black_box(&wire)));

        assert!(!server.wants_close(id), "the client is still connected");
        assert_eq!(server.stats().dispatched, server.stats().messages);
    }
}
