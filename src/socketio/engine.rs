//! Engine.IO v4 over WebSocket: packets, session ids, the `open` handshake packet, and the
//! HTTP errors engine.io answers a refused request with.
//!
//! Over WebSocket every Engine.IO packet is exactly one frame (engine.io-parser
//! `encodePacket`/`decodePacket`; `SOCKETIO.md` §2.1):
//!
//! - a **text** frame is `<digit><data>`: the digit is the [`PacketType`] (`0` open … `6`
//!   noop) and the data is the rest of the frame, e.g. `4hello` is a `message` carrying
//!   `hello`, and `2` is a `ping` with no data;
//! - a **binary** frame is a `message` whose payload is the raw bytes, with no type prefix;
//! - a text frame starting with `b` is a binary `message` sent as base64 text (what a client
//!   with `forceBase64` sends; the server sends it that way to a client that connected with
//!   `b64=1`).
//!
//! Beside the packets:
//!
//! - [`Sid`]: session ids in engine.io's format, from random bytes and a sequence number
//!   the caller passes in;
//! - [`write_open`]: the `open` packet that starts a session, with [`EngineConfig`]'s
//!   heartbeat settings;
//! - [`EngineQuery`]: the `EIO`, `transport`, `sid`, `t` and `b64` parameters of a request,
//!   and [`EngineQuery::verify`], which decides as engine.io does whether a request is
//!   taken, or which [`RequestError`] refuses it; [`write_error_response`] and
//!   [`write_upgrade_error`] write engine.io's HTTP answers.
//!
//! Everything here is a pure function: decoding points into the frame (nothing is copied),
//! and every writer fills a caller's slice and returns its length, or `None` (never a
//! truncated output) when the slice is too small.
//!
//! What this module never does: allocate, panic on any input, read a clock or a random
//! source, or act on a packet. What a packet means for a session (a client `2` is an error
//! in v4, a `1` over WebSocket is ignored by engine.io; `SOCKETIO.md` §2.6) is the session
//! layer's business. The server runs the WebSocket transport only: a `polling` request is
//! refused with engine.io's "Transport unknown".

use core::fmt;

use crate::bytes::Writer;
use crate::json::{json_string_len, write_json_string};
use crate::protocol::base64;
use crate::protocol::http::Status;

/// The type of an Engine.IO v4 packet: the ASCII digit a text frame starts with
/// (engine.io-protocol "Protocol"; engine.io-parser `commons.ts`).
///
/// ```
/// use wsgate::socketio::engine::PacketType;
/// assert_eq!(PacketType::Message.digit(), b'4');
/// assert_eq!(PacketType::from_digit(b'2'), Some(PacketType::Ping));
/// assert_eq!(PacketType::from_digit(b'7'), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum PacketType {
    /// `0`, server to client: the handshake, carrying the JSON written by [`write_open`].
    Open = 0,
    /// `1`, either way: close the session. Only acted on over polling by engine.io; a `1`
    /// received over WebSocket is ignored there.
    Close = 1,
    /// `2`, server to client in v4 (a client's `2probe` is part of the polling upgrade;
    /// any other client `2` makes engine.io close the session).
    Ping = 2,
    /// `3`, client to server: the answer to a ping (`3probe` is the server's answer to
    /// `2probe`).
    Pong = 3,
    /// `4`, either way: application data; Socket.IO packets ride inside it.
    Message = 4,
    /// `5`, client to server: completes the switch from polling to WebSocket.
    Upgrade = 5,
    /// `6`, server to client: does nothing (releases a pending polling request).
    Noop = 6,
}

impl PacketType {
    /// Every packet type, in digit order.
    pub const ALL: [PacketType; 7] = [
        PacketType::Open,
        PacketType::Close,
        PacketType::Ping,
        PacketType::Pong,
        PacketType::Message,
        PacketType::Upgrade,
        PacketType::Noop,
    ];

    /// The ASCII digit of this type, `b'0'` to `b'6'`.
    pub const fn digit(self) -> u8 {
        b'0' + self as u8
    }

    /// The type whose ASCII digit is `digit`, or `None` for any byte but `b'0'` to `b'6'`.
    pub const fn from_digit(digit: u8) -> Option<PacketType> {
        match digit {
            b'0' => Some(PacketType::Open),
            b'1' => Some(PacketType::Close),
            b'2' => Some(PacketType::Ping),
            b'3' => Some(PacketType::Pong),
            b'4' => Some(PacketType::Message),
            b'5' => Some(PacketType::Upgrade),
            b'6' => Some(PacketType::Noop),
            _ => None,
        }
    }
}

/// Why a WebSocket text frame is not an Engine.IO packet. engine.io answers either by
/// closing the session with the reason `"parse error"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EngineError {
    /// The text frame is empty: it has no type digit.
    Empty,
    /// The text frame starts with this byte, which is neither a type digit (`0` to `6`)
    /// nor the `b` of a base64 binary message.
    UnknownType(u8),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Empty => f.write_str("empty Engine.IO packet: no type digit"),
            EngineError::UnknownType(b) => {
                write!(
                    f,
                    "unknown Engine.IO packet type {b:#04x} (expected 0 to 6 or b)"
                )
            }
        }
    }
}

impl core::error::Error for EngineError {}

/// The data of a decoded packet, pointing into the frame it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Payload<'a> {
    /// The text after the type digit (UTF-8 if the frame was a text frame the WebSocket
    /// layer checked); empty for a packet with no data, such as `2`.
    Text(&'a [u8]),
    /// The bytes of a binary frame, as they are.
    Binary(&'a [u8]),
    /// The text after the `b` of a base64 binary message, still encoded. engine.io decodes
    /// it with Node's lenient `Buffer.from(…, "base64")`; [`crate::protocol::base64::decode`]
    /// is strict (canonical, padded standard base64).
    Base64(&'a [u8]),
}

impl<'a> Payload<'a> {
    /// The bytes of the payload as they are in the frame, whatever their kind.
    pub const fn bytes(&self) -> &'a [u8] {
        match *self {
            Payload::Text(b) | Payload::Binary(b) | Payload::Base64(b) => b,
        }
    }
}

/// One Engine.IO packet decoded from one WebSocket frame, borrowing the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Packet<'a> {
    /// The packet type; always [`PacketType::Message`] for a [`Payload::Binary`] or a
    /// [`Payload::Base64`] payload.
    pub kind: PacketType,
    /// The data after the type.
    pub payload: Payload<'a>,
}

/// Decodes a WebSocket **text** frame's payload as one Engine.IO packet, without copying.
///
/// `<digit><data>` is a packet of that type whose payload is [`Payload::Text`]`(data)`;
/// `b<base64>` is a binary [`PacketType::Message`] whose payload is
/// [`Payload::Base64`]`(base64)`.
///
/// # Errors
///
/// [`EngineError::Empty`] for an empty frame, [`EngineError::UnknownType`] for any other
/// first byte (engine.io-parser's `ERROR_PACKET`).
///
/// ```
/// use wsgate::socketio::engine::{decode_text, EngineError, PacketType, Payload};
/// let packet = decode_text(b"42[\"events\",1]").unwrap();
/// assert_eq!(packet.kind, PacketType::Message);
/// assert_eq!(packet.payload, Payload::Text(b"2[\"events\",1]"));
/// assert_eq!(decode_text(b"3").unwrap().payload, Payload::Text(b""));
/// assert_eq!(decode_text(b"7"), Err(EngineError::UnknownType(b'7')));
/// ```
pub fn decode_text(frame: &[u8]) -> Result<Packet<'_>, EngineError> {
    let (&first, data) = frame.split_first().ok_or(EngineError::Empty)?;
    if first == b'b' {
        return Ok(Packet {
            kind: PacketType::Message,
            payload: Payload::Base64(data),
        });
    }
    let kind = PacketType::from_digit(first).ok_or(EngineError::UnknownType(first))?;
    Ok(Packet {
        kind,
        payload: Payload::Text(data),
    })
}

/// Decodes a WebSocket **binary** frame's payload: always a [`PacketType::Message`] whose
/// payload is [`Payload::Binary`] of the whole frame (there is no type prefix; an empty
/// frame is an empty message).
///
/// ```
/// use wsgate::socketio::engine::{decode_binary, PacketType, Payload};
/// let packet = decode_binary(&[1, 2, 3]);
/// assert_eq!(packet.kind, PacketType::Message);
/// assert_eq!(packet.payload, Payload::Binary(&[1, 2, 3]));
/// ```
pub const fn decode_binary(frame: &[u8]) -> Packet<'_> {
    Packet {
        kind: PacketType::Message,
        payload: Payload::Binary(frame),
    }
}

/// Writes the text frame payload of a packet, `<digit><data>`, into `out` and returns its
/// length (`1 + data.len()`), or `None` if it does not fit (nothing is truncated; the
/// contents of `out` are then unspecified).
///
/// ```
/// use wsgate::socketio::engine::{write_packet, PacketType};
/// let mut out = [0u8; 16];
/// let n = write_packet(&mut out, PacketType::Message, b"40").unwrap();
/// assert_eq!(&out[..n], b"440");
/// let n = write_packet(&mut out, PacketType::Ping, b"").unwrap();
/// assert_eq!(&out[..n], b"2");
/// assert_eq!(write_packet(&mut [0u8; 2], PacketType::Message, b"40"), None);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_packet(out: &mut [u8], kind: PacketType, data: &[u8]) -> Option<usize> {
    let mut w = Writer::new(out);
    w.put(&[kind.digit()])?;
    w.put(data)?;
    Some(w.len())
}

/// Writes a binary message as base64 text, `b<base64>` (padded standard base64), into `out`
/// and returns its length, or `None` if it does not fit. This is how engine.io sends binary
/// to a client that connected with `b64=1`; to other WebSocket clients binary goes in a
/// binary frame of the bytes as they are.
///
/// ```
/// use wsgate::socketio::engine::write_base64_message;
/// let mut out = [0u8; 8];
/// let n = write_base64_message(&mut out, &[1, 2, 3]).unwrap();
/// assert_eq!(&out[..n], b"bAQID");
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_base64_message(out: &mut [u8], bytes: &[u8]) -> Option<usize> {
    let mut w = Writer::new(out);
    w.put(b"b")?;
    w.fill(|room| base64::encode(bytes, room))?;
    Some(w.len())
}

/// An Engine.IO session id: 20 ASCII characters of URL-safe base64 (`A`–`Z`, `a`–`z`,
/// `0`–`9`, `-`, `_`), as engine.io makes them (`contrib/base64id.ts`): 15 bytes, the 12
/// random bytes then the low 24 bits of a per-process sequence number (big-endian), in
/// standard base64 with `/` written `_` and `+` written `-` (15 bytes are exactly 20
/// symbols, so there is no padding).
///
/// The randomness and the sequence number come from the caller. engine.io's sequence
/// starts at 0 for the first session of a process, so its first ids end in `AAAA`, the next
/// in `AAAB` (captured: `SMlMmzCjTTfIN6aiAAAA`). Socket.IO socket ids (the `sid` of a
/// `CONNECT` reply) have the same format.
///
/// ```
/// use wsgate::socketio::engine::Sid;
/// let random = [0x48, 0xc9, 0x4c, 0x9b, 0x30, 0xa3, 0x4d, 0x37, 0xc8, 0x37, 0xa6, 0xa2];
/// let sid = Sid::new(random, 0);
/// assert_eq!(sid.as_str(), "SMlMmzCjTTfIN6aiAAAA");
/// assert_eq!(Sid::parse(b"zO_RL0rQ8UQymtmTAAAB").map(|s| s.sequence()), Some(1));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sid([u8; Sid::LEN]);

impl Sid {
    /// The length of a session id, in bytes (and characters).
    pub const LEN: usize = 20;

    /// The id of the 12 `random` bytes and the low 24 bits of `sequence`.
    pub fn new(random: [u8; 12], sequence: u32) -> Sid {
        let [_, s1, s2, s3] = sequence.to_be_bytes();
        let mut raw = [0u8; 15];
        for (dst, src) in raw.iter_mut().zip(random.into_iter().chain([s1, s2, s3])) {
            *dst = src;
        }
        let mut text = [0u8; Sid::LEN];
        // 15 bytes are always exactly 20 symbols without padding, so this always fits.
        let _ = base64::encode(&raw, &mut text);
        for c in &mut text {
            *c = match *c {
                b'/' => b'_',
                b'+' => b'-',
                other => other,
            };
        }
        Sid(text)
    }

    /// `text` as a session id, if it is 20 characters of URL-safe base64 (what
    /// [`Sid::new`] makes); `None` otherwise.
    pub fn parse(text: &[u8]) -> Option<Sid> {
        let text: [u8; Sid::LEN] = text.try_into().ok()?;
        text.iter()
            .all(|&c| url_value(c).is_some())
            .then_some(Sid(text))
    }

    /// The low 24 bits of the sequence number the id was made with (its last 4 characters).
    pub fn sequence(&self) -> u32 {
        self.0
            .iter()
            .skip(Sid::LEN - 4)
            .fold(0, |n, &c| (n << 6) | u32::from(url_value(c).unwrap_or(0)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Always ASCII (see `new` and `parse`), so never the empty fallback.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id's 20 ASCII bytes.
    pub const fn as_bytes(&self) -> &[u8; Sid::LEN] {
        &self.0
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({:?})", self.as_str())
    }
}

impl fmt::Display for Sid {
    /// The id as it is, e.g. `SMlMmzCjTTfIN6aiAAAA`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Sid {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
    }
}

/// The 6-bit value of a URL-safe base64 symbol (`-` 62, `_` 63), `None` for anything else.
fn url_value(c: u8) -> Option<u8> {
    match c {
        b'-' => Some(62),
        b'_' => Some(63),
        b'+' | b'/' => None,
        _ => base64::value(c),
    }
}

/// The Engine.IO settings a session announces in its `open` packet.
///
/// ```
/// use wsgate::socketio::engine::EngineConfig;
/// let config = EngineConfig { ping_interval_ms: 300, ping_timeout_ms: 200, ..EngineConfig::DEFAULT };
/// assert_eq!(config.max_payload, 1_000_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EngineConfig {
    /// How long after the `open` (and after each pong) the server sends a ping, in
    /// milliseconds (engine.io `pingInterval`).
    pub ping_interval_ms: u32,
    /// How long the server waits for the pong before it closes the session with
    /// `"ping timeout"`, in milliseconds (engine.io `pingTimeout`). The client allows
    /// `ping_interval_ms + ping_timeout_ms` between pings before it gives up.
    pub ping_timeout_ms: u32,
    /// The largest message the server takes, in bytes (engine.io `maxHttpBufferSize`,
    /// announced as `maxPayload`). Clients use it to size polling batches only.
    pub max_payload: u32,
}

impl EngineConfig {
    /// engine.io's defaults (`server.ts`): a ping every 25 s, 20 s for the pong, 1 MB.
    pub const DEFAULT: EngineConfig = EngineConfig {
        ping_interval_ms: 25_000,
        ping_timeout_ms: 20_000,
        max_payload: 1_000_000,
    };
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::DEFAULT
    }
}

/// An Engine.IO transport, as named in the `transport` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Transport {
    /// `polling`: HTTP long-polling.
    Polling,
    /// `websocket`.
    WebSocket,
}

impl Transport {
    /// The name in the query string: `"polling"` or `"websocket"`.
    pub const fn name(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::WebSocket => "websocket",
        }
    }
}

/// Writes the `open` packet of a session on `transport` into `out` and returns its length,
/// or `None` if it does not fit:
///
/// `0{"sid":"<sid>","upgrades":[…],"pingInterval":N,"pingTimeout":N,"maxPayload":N}`
///
/// with the keys in engine.io's order (`socket.ts` `onOpen`). `upgrades` is `["websocket"]`
/// for a polling session and `[]` for a WebSocket one (`server.ts` `upgrades`). The same
/// bytes are the first WebSocket frame of a WebSocket session and the body of the first
/// polling response.
///
/// ```
/// use wsgate::socketio::engine::{write_open, EngineConfig, Sid, Transport};
/// let sid = Sid::parse(b"SMlMmzCjTTfIN6aiAAAA").unwrap();
/// let mut out = [0u8; 128];
/// let n = write_open(&mut out, &sid, Transport::WebSocket, &EngineConfig::DEFAULT).unwrap();
/// assert_eq!(
///     &out[..n],
///     br#"0{"sid":"SMlMmzCjTTfIN6aiAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
/// );
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_open(
    out: &mut [u8],
    sid: &Sid,
    transport: Transport,
    config: &EngineConfig,
) -> Option<usize> {
    let mut w = Writer::new(out);
    // The sid is URL-safe base64: nothing in it needs a JSON escape.
    w.put(b"0{\"sid\":\"")?;
    w.put(sid.as_bytes())?;
    w.put(match transport {
        Transport::Polling => b"\",\"upgrades\":[\"websocket\"],\"pingInterval\":",
        Transport::WebSocket => b"\",\"upgrades\":[],\"pingInterval\":",
    })?;
    w.put_decimal(usize::try_from(config.ping_interval_ms).ok()?)?;
    w.put(b",\"pingTimeout\":")?;
    w.put_decimal(usize::try_from(config.ping_timeout_ms).ok()?)?;
    w.put(b",\"maxPayload\":")?;
    w.put_decimal(usize::try_from(config.max_payload).ok()?)?;
    w.put(b"}")?;
    Some(w.len())
}

/// A value (or key) of a query string as it was sent, still percent-encoded.
///
/// engine.io reads the query with `URLSearchParams`, which turns `+` into a space and
/// `%XX` into the byte `XX` (a `%` without two hex digits stays as it is); the comparisons
/// here do the same, byte by byte, without copying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueryValue<'a>(&'a str);

impl<'a> QueryValue<'a> {
    /// The value `raw`, as sent (still percent-encoded).
    pub const fn new(raw: &'a str) -> QueryValue<'a> {
        QueryValue(raw)
    }

    /// The value as it was sent.
    pub const fn raw(&self) -> &'a str {
        self.0
    }

    /// `true` if the value is empty (sent as `key=` or `key`).
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The decoded bytes of the value (`+` as a space, `%XX` as the byte `XX`).
    ///
    /// ```
    /// use wsgate::socketio::engine::EngineQuery;
    /// let q = EngineQuery::parse("t=a%2Fb+c");
    /// let decoded: Vec<u8> = q.t.unwrap().decoded().collect();
    /// assert_eq!(decoded, b"a/b c");
    /// ```
    pub fn decoded(&self) -> impl Iterator<Item = u8> + 'a {
        PercentDecoded {
            rest: self.0.as_bytes(),
        }
    }

    /// `true` if the value decodes to exactly `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        self.decoded().eq(s.bytes())
    }
}

/// The bytes of a percent-encoded query component, decoded as `URLSearchParams` does.
struct PercentDecoded<'a> {
    /// What is left to decode.
    rest: &'a [u8],
}

impl Iterator for PercentDecoded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(match first {
            b'+' => b' ',
            b'%' => match *rest {
                [hi, lo, ref tail @ ..] => match (hex_value(hi), hex_value(lo)) {
                    (Some(hi), Some(lo)) => {
                        self.rest = tail;
                        (hi << 4) | lo
                    }
                    _ => b'%',
                },
                _ => b'%',
            },
            other => other,
        })
    }
}

/// The value of an ASCII hex digit (either case).
const fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The Engine.IO parameters of a request's query string, e.g.
/// `EIO=4&transport=websocket`, or `EIO=4&transport=polling&t=0zwy07ob&sid=…`.
///
/// Parameters may come in any order; unknown ones are ignored; for a repeated one the last
/// counts (engine.io builds its query object with `Object.fromEntries`). Keys are compared
/// after percent-decoding, so `%45IO=4` is `EIO=4` too. Values are kept as sent.
///
/// ```
/// use wsgate::socketio::engine::{EngineQuery, Transport};
/// let q = EngineQuery::parse("EIO=4&transport=websocket&sid=SMlMmzCjTTfIN6aiAAAA");
/// assert!(q.is_v4());
/// assert_eq!(q.transport_kind(), Some(Transport::WebSocket));
/// assert_eq!(q.sid.map(|s| s.raw()), Some("SMlMmzCjTTfIN6aiAAAA"));
/// assert!(!q.wants_base64());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EngineQuery<'a> {
    /// `EIO`: the protocol version, `4` for Engine.IO v4 (anything else, or nothing, is
    /// version 3 to engine.io).
    pub eio: Option<QueryValue<'a>>,
    /// `transport`: `polling` or `websocket` (see [`transport_kind`](Self::transport_kind)).
    pub transport: Option<QueryValue<'a>>,
    /// `sid`: the session the request belongs to; `None` for a handshake. An empty `sid=`
    /// is `None` too, as engine.io treats it.
    pub sid: Option<QueryValue<'a>>,
    /// `t`: a cache-buster the polling client adds; its value means nothing.
    pub t: Option<QueryValue<'a>>,
    /// `b64`: set (to anything but the empty string) by a client that wants binary sent as
    /// base64 text (see [`wants_base64`](Self::wants_base64)).
    pub b64: Option<QueryValue<'a>>,
}

impl<'a> EngineQuery<'a> {
    /// Reads the query string `query`: what follows the `?` of the request target, without
    /// the `?` (such as [`Request::query`](crate::protocol::handshake::Request::query)).
    /// Anything from a `#` on is a fragment and ignored. Never fails: pairs are split at
    /// `&`, a pair without `=` is a key with an empty value, empty pairs are skipped.
    pub fn parse(query: &'a str) -> EngineQuery<'a> {
        let query = query.split('#').next().unwrap_or_default();
        let mut q = EngineQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = QueryValue(key);
            let slot = if key.eq_str("EIO") {
                &mut q.eio
            } else if key.eq_str("transport") {
                &mut q.transport
            } else if key.eq_str("sid") {
                &mut q.sid
            } else if key.eq_str("t") {
                &mut q.t
            } else if key.eq_str("b64") {
                &mut q.b64
            } else {
                continue;
            };
            *slot = Some(QueryValue(value));
        }
        q.sid = q.sid.filter(|sid| !sid.is_empty());
        q
    }

    /// `true` if the request speaks Engine.IO v4: `EIO` is `4`.
    pub fn is_v4(&self) -> bool {
        self.eio.is_some_and(|v| v.eq_str("4"))
    }

    /// The transport the request names, `None` if it names none or another one (such as
    /// `webtransport`, which engine.io never takes in a query either).
    pub fn transport_kind(&self) -> Option<Transport> {
        let t = self.transport?;
        [Transport::Polling, Transport::WebSocket]
            .into_iter()
            .find(|kind| t.eq_str(kind.name()))
    }

    /// `true` if the client asked for binary as base64 text (`b64` with a non-empty value,
    /// engine.io's `supportsBinary = !req._query.b64`): then binary messages go to it as
    /// [`write_base64_message`] writes them, even over WebSocket.
    pub fn wants_base64(&self) -> bool {
        self.b64.is_some_and(|v| !v.is_empty())
    }

    /// Decides whether a WebSocket-only Engine.IO server takes this request, and if not,
    /// the error engine.io answers it with.
    ///
    /// `method` is the request's method, `upgrade` whether it asks for a WebSocket
    /// upgrade, and `sid_known` says whether a `sid` the request carries belongs to a live
    /// session (it is called only then). `Ok(())` means: a handshake if [`sid`](Self::sid)
    /// is `None`, else a request for that session.
    ///
    /// The checks, in the order of engine.io's `server.ts` (`verify()`, then `handshake()`
    /// for a request without a sid):
    ///
    /// 1. the transport is not one the server runs → [`RequestError::UnknownTransport`].
    ///    This server runs `websocket` only, so `polling` (what a default socket.io client
    ///    tries first) is refused this way too, as engine.io refuses it when configured with
    ///    `transports: ["websocket"]` (captured: `400 {"code":0,"message":"Transport
    ///    unknown"}`);
    /// 2. a `sid` no live session has → [`RequestError::UnknownSid`]; a known one is taken
    ///    without the checks below (engine.io also refuses a sid used over another transport
    ///    without an upgrade, which cannot happen with one transport);
    /// 3. a handshake that is not a `GET` → [`RequestError::BadHandshakeMethod`];
    /// 4. a `websocket` handshake that does not ask for an upgrade →
    ///    [`RequestError::BadRequest`];
    /// 5. `EIO` missing or not `4` → [`RequestError::UnsupportedProtocolVersion`] (engine.io
    ///    checks it in `handshake()`, after `verify()`, and only for a handshake).
    ///
    /// engine.io also refuses an `Origin` header with characters invalid in a header
    /// (code 3, between steps 1 and 2), which
    /// [`Request::parse`](crate::protocol::handshake::Request::parse) already refuses with
    /// a 400 of its own; and it lets the application refuse a handshake (`allowRequest`,
    /// code 4, [`RequestError::Forbidden`]) between steps 4 and 5. That check is the
    /// caller's, after this one: so a handshake with a wrong `EIO` gets code 5 here where
    /// engine.io would ask `allowRequest` first.
    ///
    /// ```
    /// use wsgate::socketio::engine::{EngineQuery, RequestError};
    /// let ws = EngineQuery::parse("EIO=4&transport=websocket");
    /// assert_eq!(ws.verify("GET", true, |_| false), Ok(()));
    /// let polling = EngineQuery::parse("EIO=4&transport=polling&t=10e03pv9");
    /// assert_eq!(polling.verify("GET", false, |_| false), Err(RequestError::UnknownTransport));
    /// let stale = EngineQuery::parse("EIO=4&transport=websocket&sid=SMlMmzCjTTfIN6aiAAAA");
    /// assert_eq!(stale.verify("GET", true, |_| false), Err(RequestError::UnknownSid));
    /// let v3 = EngineQuery::parse("EIO=3&transport=websocket");
    /// assert_eq!(v3.verify("GET", true, |_| false), Err(RequestError::UnsupportedProtocolVersion));
    /// ```
    pub fn verify(
        &self,
        method: &str,
        upgrade: bool,
        sid_known: impl FnOnce(QueryValue<'a>) -> bool,
    ) -> Result<(), RequestError> {
        if self.transport_kind() != Some(Transport::WebSocket) {
            return Err(RequestError::UnknownTransport);
        }
        if let Some(sid) = self.sid.filter(|sid| !sid.is_empty()) {
            return if sid_known(sid) {
                Ok(())
            } else {
                Err(RequestError::UnknownSid)
            };
        }
        if method != "GET" {
            return Err(RequestError::BadHandshakeMethod);
        }
        if !upgrade {
            return Err(RequestError::BadRequest);
        }
        if !self.is_v4() {
            return Err(RequestError::UnsupportedProtocolVersion);
        }
        Ok(())
    }
}

/// Why engine.io refuses a request: its error codes and messages (`server.ts`
/// `Server.errors`, `Server.errorMessages`). [`write_error_response`] writes the answer to a
/// plain HTTP request, [`write_upgrade_error`] the answer to a WebSocket upgrade request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum RequestError {
    /// 0 "Transport unknown": no `transport`, or one the server does not run.
    UnknownTransport = 0,
    /// 1 "Session ID unknown": a `sid` no live session has.
    UnknownSid = 1,
    /// 2 "Bad handshake method": a handshake that is not a `GET`.
    BadHandshakeMethod = 2,
    /// 3 "Bad request": e.g. a `websocket` handshake without an upgrade.
    BadRequest = 3,
    /// 4 "Forbidden": the application refused the handshake. The only one answered 403.
    Forbidden = 4,
    /// 5 "Unsupported protocol version": `EIO` is not `4`.
    UnsupportedProtocolVersion = 5,
}

impl RequestError {
    /// Every error, in code order.
    pub const ALL: [RequestError; 6] = [
        RequestError::UnknownTransport,
        RequestError::UnknownSid,
        RequestError::BadHandshakeMethod,
        RequestError::BadRequest,
        RequestError::Forbidden,
        RequestError::UnsupportedProtocolVersion,
    ];

    /// engine.io's error code, 0 to 5.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// engine.io's message for this error, e.g. `"Transport unknown"`.
    pub const fn message(self) -> &'static str {
        match self {
            RequestError::UnknownTransport => "Transport unknown",
            RequestError::UnknownSid => "Session ID unknown",
            RequestError::BadHandshakeMethod => "Bad handshake method",
            RequestError::BadRequest => "Bad request",
            RequestError::Forbidden => "Forbidden",
            RequestError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The status of the JSON answer ([`write_error_response`]): 403 for
    /// [`RequestError::Forbidden`], 400 for every other (engine.io `abortRequest`).
    pub const fn status(self) -> Status {
        match self {
            RequestError::Forbidden => Status::Forbidden,
            _ => Status::BadRequest,
        }
    }
}

impl fmt::Display for RequestError {
    /// Formats as `"<message> (engine.io error <code>)"`, e.g. `Transport unknown
    /// (engine.io error 0)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (engine.io error {})", self.message(), self.code())
    }
}

impl core::error::Error for RequestError {}

/// Writes engine.io's answer to a refused plain HTTP request (`server.ts` `abortRequest`)
/// into `out` and returns its length, or `None` if it does not fit (its contents are then
/// unspecified):
///
/// `HTTP/1.1 <status>`, `Content-Type: application/json`, `Content-Length`,
/// `Connection: close`, a blank line, and the body `{"code":N,"message":"…"}` with the
/// error's own message. The status is [`RequestError::status`].
///
/// ```
/// use wsgate::socketio::engine::{write_error_response, RequestError};
/// let mut out = [0u8; 256];
/// let n = write_error_response(&mut out, RequestError::UnknownTransport).unwrap();
/// assert_eq!(
///     &out[..n],
///     b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\
///       Connection: close\r\n\r\n{\"code\":0,\"message\":\"Transport unknown\"}"
/// );
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_error_response(out: &mut [u8], err: RequestError) -> Option<usize> {
    write_error_response_with(out, err, err.message())
}

/// [`write_error_response`] with another message: engine.io sends the message an
/// application's `allowRequest` refusal gives (`{"code":4,"message":"<its message>"}`).
/// `message` is written as a JSON string, escaped as `JSON.stringify` escapes it.
///
/// ```
/// use wsgate::socketio::engine::{write_error_response_with, RequestError};
/// let mut out = [0u8; 256];
/// let n = write_error_response_with(&mut out, RequestError::Forbidden, "no \"guests\"").unwrap();
/// assert!(out[..n].starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
/// assert!(out[..n].ends_with(br#"{"code":4,"message":"no \"guests\""}"#));
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_error_response_with(
    out: &mut [u8],
    err: RequestError,
    message: &str,
) -> Option<usize> {
    const BODY_START: &[u8] = b"{\"code\":";
    const BODY_MESSAGE: &[u8] = b",\"message\":";
    // `{"code":` + one digit + `,"message":` + the string + `}`.
    let body_len =
        json_string_len(message).checked_add(BODY_START.len() + 1 + BODY_MESSAGE.len() + 1)?;
    let status = err.status();
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 ")?;
    w.put_decimal(usize::from(status.code()))?;
    w.put(b" ")?;
    w.put(status.reason_phrase().as_bytes())?;
    w.put(b"\r\nContent-Type: application/json\r\nContent-Length: ")?;
    w.put_decimal(body_len)?;
    w.put(b"\r\nConnection: close\r\n\r\n")?;
    w.put(BODY_START)?;
    w.put(&[b'0' + err.code()])?;
    w.put(BODY_MESSAGE)?;
    w.fill(|room| write_json_string(message, room))?;
    w.put(b"}")?;
    Some(w.len())
}

/// Writes engine.io's answer to a refused WebSocket upgrade request (`server.ts`
/// `abortUpgrade`) into `out` and returns its length, or `None` if it does not fit.
///
/// It differs from [`write_error_response`]: always `400 Bad Request` (also for
/// [`RequestError::Forbidden`]), `Connection: close` first, then `Content-type: text/html`
/// (engine.io's spelling) and `Content-Length`, and the body is the bare message, e.g.
/// `Session ID unknown`.
///
/// engine.io checks the protocol version of a WebSocket handshake only after the 101, and
/// then writes these bytes into the open WebSocket; wsgate answers before the 101 instead
/// (see [`EngineQuery::verify`]).
///
/// ```
/// use wsgate::socketio::engine::{write_upgrade_error, RequestError};
/// let mut out = [0u8; 256];
/// let n = write_upgrade_error(&mut out, RequestError::UnknownSid).unwrap();
/// assert_eq!(
///     &out[..n],
///     b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\n\
///       Content-Length: 18\r\n\r\nSession ID unknown"
/// );
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_upgrade_error(out: &mut [u8], err: RequestError) -> Option<usize> {
    let message = err.message();
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: ")?;
    w.put_decimal(message.len())?;
    w.put(b"\r\n\r\n")?;
    w.put(message.as_bytes())?;
    Some(w.len())
}

#[cfg(test)]
mod tests;
