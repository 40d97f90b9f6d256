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
//! The functions here are pure: [`decode_text`] and [`decode_binary`] point into the frame
//! (nothing is copied), and [`write_packet`] and [`write_base64_message`] write into a
//! caller's slice, failing (never truncating) when it is too small.
//!
//! What this module never does: allocate, panic on any input, or act on a packet. What a
//! packet means for a session (a client `2` is an error in v4, a `1` over WebSocket is
//! ignored by engine.io, see `SOCKETIO.md` §2.6) is the session layer's business.

use core::fmt;

use crate::bytes::Writer;
use crate::protocol::base64;

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

#[cfg(test)]
mod tests;
