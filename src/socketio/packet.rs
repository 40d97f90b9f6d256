//! Socket.IO v5 packets: the text of an Engine.IO `message`, decoded in place and written
//! with the bounded writer.
//!
//! A packet is the payload of an Engine.IO `message` **without** its `4` (the Engine.IO
//! layer strips it on receipt and its caller prefixes it on sending; see
//! [`with_message_prefix`]):
//!
//! ```text
//! <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//! ```
//!
//! - [`decode`] splits a packet into its parts without copying ([`Packet`]: slices of the
//!   input) and checks it as strictly as socket.io-parser 4.2.7 (`decodeString` and
//!   `isPayloadValid`) does, with the few differences listed below. For events it also
//!   finds the event name and the arguments ([`EventName`], [`Args`]), and NestJS's view of
//!   them ([`Args::map_payload`]), in the same pass.
//! - [`placeholder_index`] and [`check_placeholders`] read the binary placeholders
//!   `{"_placeholder":true,"num":N}` that stand for the attachments of a binary packet.
//! - `write_*` write the packets a server sends, byte for byte as socket.io 4.8.3 writes
//!   them ([`write_connect`], [`write_connect_error`], [`write_disconnect`], [`write_event`],
//!   [`write_ack`], their binary forms, and [`write_packet`] for any other), into a caller's
//!   slice; they fail (return `None`, never truncate) when it is too short.
//!
//! Payload rules, by type (what [`decode`] accepts):
//!
//! | Type | Payload |
//! |---|---|
//! | [`Connect`](PacketType::Connect) | absent, or an object (the `auth` object; the server's `{"sid":…}`) |
//! | [`Disconnect`](PacketType::Disconnect) | absent |
//! | [`Event`](PacketType::Event), [`BinaryEvent`](PacketType::BinaryEvent) | a non-empty array whose first element is a number or a string other than the [`RESERVED_EVENTS`] |
//! | [`Ack`](PacketType::Ack), [`BinaryAck`](PacketType::BinaryAck) | absent, or an array (may be empty) |
//! | [`ConnectError`](PacketType::ConnectError) | absent, an object (`{"message":…,"data"?:…}`), or a string |
//!
//! Where [`decode`] is stricter than socket.io-parser (each difference only refuses text
//! that no socket.io client writes):
//!
//! - empty text is an error (JavaScript reads the missing type as `Number("") = 0`, a
//!   CONNECT); the type is one ASCII digit (JavaScript also reads `" "` as 0);
//! - an attachment count is ASCII digits (JavaScript's `Number` also reads ` 1`, `1.0`,
//!   `1e0` or `0x1` as 1); like socket.io-parser 4.2.7, [`decode`] refuses a count of 0;
//!   digits and `-` right after the type of a packet that is not binary are a count too,
//!   and an error (JavaScript reads them as an ack id and refuses the payload that starts
//!   with `-`);
//! - an ack id is ASCII digits only and must fit a `u32` (JavaScript turns any run of
//!   digits into a float); JSON whitespace right after the header (before the ack id or
//!   the payload) is an error, because JavaScript reads it as part of the ack id (as 0,
//!   so that `2 ["e"]` carries ack id 0 there); whitespace after the payload is allowed;
//! - an EVENT or BINARY_EVENT without a payload is an error (JavaScript accepts it and
//!   delivers no event);
//! - arrays and objects nest at most [`MAX_DEPTH`](crate::json::MAX_DEPTH) levels
//!   (`JSON.parse` has no limit);
//! - the placeholders of a binary packet are checked when it is decoded, not when its
//!   attachments have arrived: every object whose `"_placeholder"` is `true` must have a
//!   `"num"` written as a plain integer (digits only) below the attachment count, including
//!   a placeholder nested in another placeholder (which JavaScript never looks at).
//!
//! Like the JSON layer it is built on ([`crate::json`]), nothing here allocates, recurses,
//! panics on any input, or reads past the input slice. It knows nothing of sessions: which
//! namespaces exist, whether an ack id was asked for, and when the binary attachments
//! arrive is the caller's business.

use core::fmt;

use crate::bytes::Writer;
use crate::json::{
    JsonError, JsonStr, Visit, before, compact_json, expect_end, scan_key, scan_string, skip_value,
    skip_ws, walk_value, write_json_string,
};

/// Most binary attachments a packet may announce: socket.io-parser's default
/// `maxAttachments` (since 4.2.6). A larger count is [`PacketError::TooManyAttachments`].
pub const MAX_ATTACHMENTS: u8 = 10;

/// Event names that socket.io reserves for itself: an EVENT naming one of these is
/// [`PacketError::ReservedEvent`].
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The type of a Socket.IO packet: its first character, an ASCII digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum PacketType {
    /// `0`: a client joins a namespace (payload: its `auth` object, if any); the server's
    /// reply carries the socket id, `{"sid":…}`.
    Connect = 0,
    /// `1`: leave a namespace, either way. No payload.
    Disconnect = 1,
    /// `2`: an event, `["name", args…]`.
    Event = 2,
    /// `3`: the answer to an event that carried an ack id, `[args…]`.
    Ack = 3,
    /// `4`: the server refuses a CONNECT, `{"message":…,"data"?:…}`.
    ConnectError = 4,
    /// `5`: an event whose arguments hold binary data, sent as attachments after it.
    BinaryEvent = 5,
    /// `6`: an ack whose arguments hold binary data, sent as attachments after it.
    BinaryAck = 6,
}

impl PacketType {
    /// The type an ASCII digit names, `None` for any other byte.
    ///
    /// ```
    /// # use wsgate::socketio::packet::PacketType;
    /// assert_eq!(PacketType::from_digit(b'2'), Some(PacketType::Event));
    /// assert_eq!(PacketType::from_digit(b'7'), None);
    /// ```
    pub const fn from_digit(b: u8) -> Option<Self> {
        Some(match b {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// The ASCII digit of the type (`b'0'` to `b'6'`).
    pub const fn digit(self) -> u8 {
        b'0' + self as u8
    }

    /// Whether the packet has binary attachments (BINARY_EVENT and BINARY_ACK), and so an
    /// attachment count in its header.
    pub const fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// Why a text is not an acceptable Socket.IO packet.
///
/// socket.io closes the connection on all of these (its decoder throws, `client.onerror`).
/// When several apply, the first part of the packet that is wrong decides: the type, the
/// attachments, the namespace, the ack id, then the payload; within the payload, invalid
/// JSON comes before a wrong shape, a wrong shape before a reserved event name, and that
/// before a bad placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PacketError {
    /// The text is empty: no packet type.
    Empty,
    /// The first byte is not a packet type (`0` to `6`).
    UnknownType,
    /// A binary packet without `<digits>-` after its type or with a count of 0, or a
    /// packet that is not binary with a count.
    BadAttachments,
    /// More than [`MAX_ATTACHMENTS`] attachments announced.
    TooManyAttachments,
    /// The namespace is not valid UTF-8.
    BadNamespace,
    /// The ack id does not fit a `u32`, or whitespace follows the header (where
    /// socket.io-parser would read it as part of an ack id).
    BadAckId,
    /// The payload is not exactly one valid JSON value (RFC 8259, as [`crate::json`]
    /// checks it).
    InvalidJson,
    /// The payload nests arrays and objects deeper than
    /// [`MAX_DEPTH`](crate::json::MAX_DEPTH) levels.
    TooDeep,
    /// The payload is valid JSON of the wrong shape for the packet type (see the table in
    /// the [module docs](self)), or is absent where one is required, or present where none
    /// is allowed.
    InvalidPayload,
    /// An event named after one of the [`RESERVED_EVENTS`].
    ReservedEvent,
    /// A binary packet holds a placeholder (an object whose `"_placeholder"` is `true`)
    /// whose `"num"` is missing, not a plain integer, or not below the attachment count.
    BadPlaceholder,
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PacketError::Empty => "empty Socket.IO packet",
            PacketError::UnknownType => "unknown Socket.IO packet type (expected 0 to 6)",
            PacketError::BadAttachments => {
                "bad attachment count: a binary packet needs <digits>- after its type, other packets have none"
            }
            PacketError::TooManyAttachments => "more than 10 binary attachments",
            PacketError::BadNamespace => "namespace is not valid UTF-8",
            PacketError::BadAckId => {
                "ack id does not fit 32 bits, or whitespace where an ack id would be"
            }
            PacketError::InvalidJson => "payload is not one valid JSON value (RFC 8259)",
            PacketError::TooDeep => "payload nests arrays and objects deeper than 128 levels",
            PacketError::InvalidPayload => "payload has the wrong shape for the packet type",
            PacketError::ReservedEvent => "event name is reserved by socket.io",
            PacketError::BadPlaceholder => {
                "binary placeholder without a valid attachment index in \"num\""
            }
        })
    }
}

impl core::error::Error for PacketError {}

/// The JSON layer's errors are the packet's: [`JsonError::Invalid`] is
/// [`PacketError::InvalidJson`], [`JsonError::TooDeep`] is [`PacketError::TooDeep`].
impl From<JsonError> for PacketError {
    #[inline]
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Invalid => PacketError::InvalidJson,
            JsonError::TooDeep => PacketError::TooDeep,
        }
    }
}

/// A decoded packet: every part is a slice of the text given to [`decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The packet type.
    pub kind: PacketType,
    /// The number of binary attachments announced: 1 to [`MAX_ATTACHMENTS`] when
    /// [`kind`](Self::kind) is binary, 0 otherwise. They arrive as that many WebSocket
    /// binary frames after this packet.
    pub attachments: u8,
    /// The namespace, `"/"` when the packet names none (`/admin` in `2/admin,["e"]`).
    pub namespace: &'a str,
    /// The ack id: the sender wants an ACK with this id (events), or this answers the
    /// packet that carried it (acks). Any type may carry one; `None` when absent.
    pub ack_id: Option<u32>,
    /// The JSON payload, validated, without the whitespace after it; `None` when absent.
    pub payload: Option<&'a [u8]>,
    /// The event name: `Some` exactly for EVENT and BINARY_EVENT.
    pub event: Option<EventName<'a>>,
    /// EVENT and BINARY_EVENT: the arguments after the event name. ACK and BINARY_ACK: the
    /// elements of the payload array. Empty for the other types.
    pub args: Args<'a>,
}

/// The first element of an event's payload array: the event name.
///
/// socket.io accepts a string or a number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventName<'a> {
    /// A string, as it appears in the text (escapes intact).
    Str(JsonStr<'a>),
    /// A number, its JSON text as it appears (`42`, `-1.5e3`).
    Number(&'a [u8]),
}

impl<'a> EventName<'a> {
    /// Whether the name is `s`: a string after decoding its escapes
    /// ([`JsonStr::eq_str`]); a number when its text is exactly `s` (so `1` is `"1"`, as a
    /// JavaScript listener key, but `1.0` is not, though JavaScript would make it `"1"`).
    ///
    /// ```
    /// # use wsgate::socketio::packet::decode;
    /// let p = decode(br#"2["ev\u0065nts","test"]"#).unwrap();
    /// assert!(p.event.unwrap().eq_str("events"));
    /// assert!(decode(b"2[7]").unwrap().event.unwrap().eq_str("7"));
    /// ```
    #[inline]
    pub fn eq_str(&self, s: &str) -> bool {
        match self {
            EventName::Str(j) => j.eq_str(s),
            EventName::Number(n) => *n == s.as_bytes(),
        }
    }

    /// The name when it is a string.
    pub fn as_json_str(&self) -> Option<JsonStr<'a>> {
        match self {
            EventName::Str(j) => Some(*j),
            EventName::Number(_) => None,
        }
    }
}

/// The arguments of an event (after its name) or of an ack: a run of JSON values from the
/// packet's payload array, without copying.
///
/// Only [`decode`] makes these, from validated JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Args<'a> {
    /// From the first argument's first byte to the last one's last byte.
    raw: &'a [u8],
    /// How many arguments `raw` holds.
    count: usize,
}

impl<'a> Args<'a> {
    /// How many arguments there are.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The arguments as they appear in the payload, separated by their commas (and any
    /// whitespace between them), from the first one's first byte to the last one's last
    /// byte; empty when there are none. `b"1,\"2\""` for `["e",1,"2"]`.
    ///
    /// `[` + `raw` + `]` is the JSON array of the arguments: NestJS's `data` when there are
    /// several ([`MapPayload::Array`]); [`write_array`](Self::write_array) writes it.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The arguments one by one: the JSON text of each, without whitespace around it.
    pub fn iter(&self) -> ArgsIter<'a> {
        ArgsIter {
            rest: self.raw,
            left: self.count,
        }
    }

    /// The first argument's JSON text.
    pub fn first(&self) -> Option<&'a [u8]> {
        self.iter().next()
    }

    /// What a NestJS `IoAdapter` handler gets as its `data` (`mapPayload`, with the ack
    /// callback, which is not in the payload, left out): nothing for no argument, the
    /// argument itself for one, and the array of the arguments for several.
    ///
    /// ```
    /// # use wsgate::socketio::packet::{decode, MapPayload};
    /// let p = decode(br#"21["events",{"a":1},2]"#).unwrap();
    /// let MapPayload::Array(args) = p.args.map_payload() else { panic!() };
    /// let mut buf = [0u8; 16];
    /// let n = args.write_array(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], br#"[{"a":1},2]"#);
    /// assert_eq!(decode(br#"2["e",{"a":1}]"#).unwrap().args.map_payload(),
    ///            MapPayload::One(br#"{"a":1}"#));
    /// assert_eq!(decode(br#"2["e"]"#).unwrap().args.map_payload(), MapPayload::Absent);
    /// ```
    pub fn map_payload(&self) -> MapPayload<'a> {
        match self.count {
            0 => MapPayload::Absent,
            1 => MapPayload::One(self.raw),
            _ => MapPayload::Array(*self),
        }
    }

    /// Writes the JSON array of the arguments, `[` + the arguments compacted as
    /// `JSON.stringify` prints them + `]`. Returns the length, or `None` if it does not fit.
    #[must_use = "the length written is the only way to know what was written"]
    pub fn write_array(&self, out: &mut [u8]) -> Option<usize> {
        let mut w = Writer::new(out);
        w.put(b"[")?;
        w.fill(|room| compact_json(self.raw, room))?;
        w.put(b"]")?;
        Some(w.len())
    }
}

impl<'a> IntoIterator for Args<'a> {
    type Item = &'a [u8];
    type IntoIter = ArgsIter<'a>;

    fn into_iter(self) -> ArgsIter<'a> {
        self.iter()
    }
}

/// The arguments of an [`Args`] one by one (see [`Args::iter`]).
#[derive(Clone, Debug)]
pub struct ArgsIter<'a> {
    /// The arguments not yet returned, from the next one's first byte.
    rest: &'a [u8],
    /// How many are left.
    left: usize,
}

impl<'a> Iterator for ArgsIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        // The text was validated by `decode`; were it not, the iteration would stop.
        let t = self.rest;
        let parsed = skip_value(t, 1)
            .ok()
            .and_then(|after| Some((before(t, after).ok()?, after)));
        let Some((value, after)) = parsed else {
            self.left = 0;
            return None;
        };
        self.rest = match skip_ws(after) {
            [b',', rest @ ..] => skip_ws(rest),
            rest => rest,
        };
        self.left -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// NestJS's `data` for an event ([`Args::map_payload`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapPayload<'a> {
    /// No argument: `data` is `undefined`.
    Absent,
    /// One argument: `data` is that value (its JSON text).
    One(&'a [u8]),
    /// Several arguments: `data` is their array, `[` + [`Args::raw`] + `]` (which is not
    /// one slice of the payload; [`Args::write_array`] writes it).
    Array(Args<'a>),
}

/// Decodes a Socket.IO packet: the text of an Engine.IO `message`, without its `4`.
///
/// Checks the whole packet, payload included, in one pass (see the [module docs](self) for
/// the rules). For events and acks the arguments are found in the same pass; for binary
/// packets the placeholders are checked against the attachment count.
///
/// ```
/// # use wsgate::socketio::packet::{decode, PacketType, PacketError};
/// let p = decode(br#"2/admin,12["events",{"test":"test"}]"#).unwrap();
/// assert_eq!(p.kind, PacketType::Event);
/// assert_eq!(p.namespace, "/admin");
/// assert_eq!(p.ack_id, Some(12));
/// assert!(p.event.unwrap().eq_str("events"));
/// assert_eq!(p.args.first(), Some(&br#"{"test":"test"}"#[..]));
///
/// let p = decode(br#"0{"token":"123"}"#).unwrap();
/// assert_eq!((p.kind, p.namespace), (PacketType::Connect, "/"));
/// assert_eq!(p.payload, Some(&br#"{"token":"123"}"#[..]));
///
/// assert_eq!(decode(b"2{}"), Err(PacketError::InvalidPayload));
/// assert_eq!(decode(br#"2["connect"]"#), Err(PacketError::ReservedEvent));
/// ```
pub fn decode(text: &[u8]) -> Result<Packet<'_>, PacketError> {
    let [first, rest @ ..] = text else {
        return Err(PacketError::Empty);
    };
    let kind = PacketType::from_digit(*first).ok_or(PacketError::UnknownType)?;
    let (attachments, rest) = split_attachments(kind, rest)?;
    let (namespace, rest) = split_namespace(rest)?;
    let (id, rest) = split_digits(rest);
    if let [b' ' | b'\t' | b'\n' | b'\r', ..] = rest {
        // socket.io-parser reads whitespace here as digits of the ack id (`Number(" ")`
        // is 0): refused rather than read otherwise.
        return Err(PacketError::BadAckId);
    }
    let ack_id = if id.is_empty() {
        None
    } else {
        Some(parse_u32(id).ok_or(PacketError::BadAckId)?)
    };
    let body = parse_payload(kind, attachments, rest)?;
    Ok(Packet {
        kind,
        attachments,
        namespace,
        ack_id,
        payload: body.payload,
        event: body.event,
        args: body.args,
    })
}

/// Splits `t` at its first byte that is not an ASCII digit.
#[inline]
fn split_digits(t: &[u8]) -> (&[u8], &[u8]) {
    let n = t
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(t.len());
    t.split_at_checked(n).unwrap_or((t, &[]))
}

/// The value of ASCII digits, `None` when it does not fit a `u32` (or `digits` is empty
/// or holds something else).
fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u32::from(d))
    })
}

/// The attachment count after the type, and the text after its `-`.
fn split_attachments(kind: PacketType, t: &[u8]) -> Result<(u8, &[u8]), PacketError> {
    let (digits, after) = split_digits(t);
    match after {
        [b'-', rest @ ..] if !digits.is_empty() => {
            if !kind.is_binary() {
                return Err(PacketError::BadAttachments);
            }
            // Any run of digits is a count (leading zeros too, as `Number` reads them);
            // one too large for a u32 is too many. socket.io-parser 4.2.7 refuses 0.
            let n = parse_u32(digits).unwrap_or(u32::MAX);
            match u8::try_from(n) {
                Ok(0) => Err(PacketError::BadAttachments),
                Ok(n) if n <= MAX_ATTACHMENTS => Ok((n, rest)),
                _ => Err(PacketError::TooManyAttachments),
            }
        }
        _ if kind.is_binary() => Err(PacketError::BadAttachments),
        _ => Ok((0, t)),
    }
}

/// The namespace (`/` to the first `,` or the end of the text) and the text after its
/// comma; `"/"` and `t` itself when `t` does not start with `/`.
fn split_namespace(t: &[u8]) -> Result<(&str, &[u8]), PacketError> {
    if t.first() != Some(&b'/') {
        return Ok(("/", t));
    }
    let (ns, rest) = match t.iter().position(|&b| b == b',') {
        Some(at) => match (t.get(..at), t.get(at.saturating_add(1)..)) {
            (Some(ns), Some(rest)) => (ns, rest),
            _ => (t, &[][..]),
        },
        None => (t, &[][..]),
    };
    let ns = core::str::from_utf8(ns).map_err(|_| PacketError::BadNamespace)?;
    Ok((ns, rest))
}

/// What the payload holds.
#[derive(Default)]
struct Body<'a> {
    payload: Option<&'a [u8]>,
    event: Option<EventName<'a>>,
    args: Args<'a>,
}

/// Checks the payload text (everything after the ack id) against the rules of `kind`.
fn parse_payload(kind: PacketType, attachments: u8, text: &[u8]) -> Result<Body<'_>, PacketError> {
    if text.is_empty() {
        return match kind {
            PacketType::Event | PacketType::BinaryEvent => Err(PacketError::InvalidPayload),
            _ => Ok(Body::default()),
        };
    }
    let t = skip_ws(text);
    let mut marks = Placeholders::new(attachments);
    let marks = kind.is_binary().then_some(&mut marks);
    match kind {
        PacketType::Connect => single_value(t, false),
        PacketType::ConnectError => single_value(t, true),
        PacketType::Disconnect => Err(wrong_shape(t)),
        PacketType::Event | PacketType::BinaryEvent => event_payload(t, marks),
        PacketType::Ack | PacketType::BinaryAck => ack_payload(t, marks),
    }
}

/// Validates a payload `t` of the wrong shape, then reports it: a JSON error if it is not
/// valid JSON, [`PacketError::InvalidPayload`] if it is.
fn wrong_shape(t: &[u8]) -> PacketError {
    match skip_value(t, 0).and_then(expect_end) {
        Ok(()) => PacketError::InvalidPayload,
        Err(e) => e.into(),
    }
}

/// A payload that must be an object, or (`or_string`) a string.
fn single_value(t: &[u8], or_string: bool) -> Result<Body<'_>, PacketError> {
    match t {
        [b'{', ..] => {}
        [b'"', ..] if or_string => {}
        _ => return Err(wrong_shape(t)),
    }
    let after = skip_value(t, 0)?;
    expect_end(after)?;
    Ok(Body {
        payload: Some(before(t, after)?),
        ..Body::default()
    })
}

/// An EVENT or BINARY_EVENT payload `t` (from its first byte): `[name, args…]`.
fn event_payload<'a>(
    t: &'a [u8],
    mut marks: Option<&mut Placeholders>,
) -> Result<Body<'a>, PacketError> {
    let [b'[', rest @ ..] = t else {
        return Err(wrong_shape(t));
    };
    let u = skip_ws(rest);
    let (name, after) = match u {
        // Empty: no name; `elements_after` reads the `]`.
        [b']', ..] => (None, u),
        [b'"', r @ ..] => {
            let (s, after) = scan_string(r)?;
            (Some(EventName::Str(s)), after)
        }
        [b'-' | b'0'..=b'9', ..] => {
            let after = skip_value(u, 1)?;
            (Some(EventName::Number(before(u, after)?)), after)
        }
        // A name of another type: validate on, then refuse the shape.
        _ => (None, skip_element(u, marks.as_deref_mut())?),
    };
    let (args, end) = match skip_ws(after) {
        [b']', end @ ..] => (Args::default(), end),
        [b',', r @ ..] => elements(skip_ws(r), marks.as_deref_mut())?,
        _ => return Err(PacketError::InvalidJson),
    };
    expect_end(end)?;
    let payload = before(t, end)?;
    let name = name.ok_or(PacketError::InvalidPayload)?;
    if let EventName::Str(s) = name
        && RESERVED_EVENTS.iter().any(|r| s.eq_str(r))
    {
        return Err(PacketError::ReservedEvent);
    }
    check_marks(marks)?;
    Ok(Body {
        payload: Some(payload),
        event: Some(name),
        args,
    })
}

/// An ACK or BINARY_ACK payload `t` (from its first byte): `[args…]`.
fn ack_payload<'a>(
    t: &'a [u8],
    mut marks: Option<&mut Placeholders>,
) -> Result<Body<'a>, PacketError> {
    let [b'[', rest @ ..] = t else {
        return Err(wrong_shape(t));
    };
    let (args, end) = match skip_ws(rest) {
        [b']', end @ ..] => (Args::default(), end),
        u => elements(u, marks.as_deref_mut())?,
    };
    expect_end(end)?;
    let payload = before(t, end)?;
    check_marks(marks)?;
    Ok(Body {
        payload: Some(payload),
        event: None,
        args,
    })
}

/// The result of a placeholder check.
fn check_marks(marks: Option<&mut Placeholders>) -> Result<(), PacketError> {
    match marks {
        Some(m) if m.bad => Err(PacketError::BadPlaceholder),
        _ => Ok(()),
    }
}

/// The elements of an array from the first one (`t`, at its first byte) to the closing
/// `]`: them as [`Args`], and the text after the `]`.
fn elements<'a>(
    t: &'a [u8],
    mut marks: Option<&mut Placeholders>,
) -> Result<(Args<'a>, &'a [u8]), JsonError> {
    let mut u = t;
    let mut count: usize = 0;
    loop {
        let after = skip_element(u, marks.as_deref_mut())?;
        count = count.saturating_add(1);
        match skip_ws(after) {
            [b',', rest @ ..] => u = skip_ws(rest),
            [b']', end @ ..] => {
                let raw = before(t, after)?;
                return Ok((Args { raw, count }, end));
            }
            _ => return Err(JsonError::Invalid),
        }
    }
}

/// Skips an element of the payload array (nested in it), checking its placeholders when
/// `marks` is given.
#[inline]
fn skip_element<'a>(t: &'a [u8], marks: Option<&mut Placeholders>) -> Result<&'a [u8], JsonError> {
    match marks {
        Some(m) => skip_marked(t, 1, m),
        None => skip_value(t, 1),
    }
}

/// What a walk over a binary packet's payload found of its placeholders.
struct Placeholders {
    /// The attachment count: every `num` must be below it.
    attachments: u8,
    /// Placeholders with a good `num`.
    found: usize,
    /// Whether one had a missing or bad `num`.
    bad: bool,
    /// One bit per open container, innermost in bit 0: for an object, its last
    /// `"_placeholder"` is `true`.
    marked: u128,
    /// The same for: its last `"num"` is an index below the attachment count.
    indexed: u128,
}

/// Which member of a would-be placeholder a key names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    Placeholder,
    Num,
    Other,
}

/// Classifies a key, decoding its escapes only when it has some (as `JSON.parse` does).
#[inline]
fn member_kind(key: JsonStr<'_>) -> Member {
    if key.eq_str("_placeholder") {
        Member::Placeholder
    } else if key.eq_str("num") {
        Member::Num
    } else {
        Member::Other
    }
}

/// A placeholder's `num` value at `v`: a plain non-negative integer (digits only, not
/// followed by a fraction or an exponent) that fits a `u32`. What follows the digits is
/// left to the JSON validation.
fn plain_index(v: &[u8]) -> Option<u32> {
    let (digits, after) = split_digits(v);
    match after {
        [b'.' | b'e' | b'E', ..] => None,
        _ => parse_u32(digits),
    }
}

impl Placeholders {
    /// Nothing found yet, for a packet with `attachments` attachments.
    fn new(attachments: u8) -> Self {
        Placeholders {
            attachments,
            found: 0,
            bad: false,
            marked: 0,
            indexed: 0,
        }
    }
}

/// The JSON value walk, checking placeholders on the way: an object whose last
/// `"_placeholder"` is `true` counts as found when its last `"num"` is an index below the
/// attachment count, and as bad otherwise. One bit per open container in two 128-bit
/// stacks (the walk allows no deeper nesting), so it never recurses.
impl Visit for Placeholders {
    const KEYS: bool = true;

    #[inline]
    fn open(&mut self, _object: bool) {
        self.marked <<= 1;
        self.indexed <<= 1;
    }

    #[inline]
    fn key(&mut self, key: JsonStr<'_>, value: &[u8]) {
        match member_kind(key) {
            Member::Placeholder => {
                self.marked = (self.marked & !1) | u128::from(value.starts_with(b"true"));
            }
            Member::Num => {
                let good = plain_index(value).is_some_and(|n| n < u32::from(self.attachments));
                self.indexed = (self.indexed & !1) | u128::from(good);
            }
            Member::Other => {}
        }
    }

    #[inline]
    fn close(&mut self, object: bool) {
        if object && self.marked & 1 == 1 {
            if self.indexed & 1 == 1 {
                self.found = self.found.saturating_add(1);
            } else {
                self.bad = true;
            }
        }
        self.marked >>= 1;
        self.indexed >>= 1;
    }
}

/// [`skip_value`] that also checks placeholders (see [`Placeholders`]): skips one value
/// starting at `t`, nested in `outer` containers; returns the text after it.
fn skip_marked<'a>(
    t: &'a [u8],
    outer: u32,
    marks: &mut Placeholders,
) -> Result<&'a [u8], JsonError> {
    walk_value(t, outer, marks)
}

/// Reads a binary placeholder: `Some(N)` when `value` is an object whose `"_placeholder"`
/// is `true` and whose `"num"` is `N`, `None` when it is any other JSON value (including an
/// object whose `"_placeholder"` is missing or not `true`).
///
/// Key order is free, whitespace is what JSON allows, other members are ignored, and with
/// duplicate keys the last one counts (as socket.io-parser reads it after `JSON.parse`).
///
/// # Errors
///
/// [`PacketError::BadPlaceholder`] for a placeholder whose `"num"` is missing or not a
/// plain non-negative integer that fits a `u32`; [`PacketError::InvalidJson`] or
/// [`PacketError::TooDeep`] when `value` is not one valid JSON value.
///
/// ```
/// # use wsgate::socketio::packet::{placeholder_index, PacketError};
/// assert_eq!(placeholder_index(br#"{"_placeholder":true,"num":0}"#), Ok(Some(0)));
/// assert_eq!(placeholder_index(br#"{ "num" : 3 , "_placeholder" : true }"#), Ok(Some(3)));
/// assert_eq!(placeholder_index(br#"{"num":3}"#), Ok(None));
/// let no_num = br#"{"_placeholder":true}"#;
/// assert_eq!(placeholder_index(no_num), Err(PacketError::BadPlaceholder));
/// ```
pub fn placeholder_index(value: &[u8]) -> Result<Option<u32>, PacketError> {
    let t = skip_ws(value);
    let [b'{', rest @ ..] = t else {
        skip_value(t, 0).and_then(expect_end)?;
        return Ok(None);
    };
    let mut marked = false;
    let mut num: Option<u32> = None;
    let mut u = skip_ws(rest);
    if let [b'}', end @ ..] = u {
        expect_end(end)?;
        return Ok(None);
    }
    loop {
        let (key, v) = scan_key(u)?;
        match member_kind(key) {
            Member::Placeholder => marked = v.starts_with(b"true"),
            Member::Num => num = plain_index(v),
            Member::Other => {}
        }
        let after = skip_value(v, 1)?;
        match skip_ws(after) {
            [b',', rest @ ..] => u = skip_ws(rest),
            [b'}', end @ ..] => {
                expect_end(end)?;
                break;
            }
            _ => return Err(PacketError::InvalidJson),
        }
    }
    match (marked, num) {
        (false, _) => Ok(None),
        (true, Some(n)) => Ok(Some(n)),
        (true, None) => Err(PacketError::BadPlaceholder),
    }
}

/// Checks every binary placeholder in `payload` (one JSON value, walked once): each object
/// whose `"_placeholder"` is `true`, at any depth, must have a `"num"` below
/// `attachments`, written as a plain integer. Returns how many placeholders there are.
///
/// [`decode`] already does this for BINARY_EVENT and BINARY_ACK packets; this is for a
/// payload from elsewhere.
///
/// # Errors
///
/// [`PacketError::BadPlaceholder`] for a bad or missing `"num"`;
/// [`PacketError::InvalidJson`] or [`PacketError::TooDeep`] when `payload` is not one valid
/// JSON value.
///
/// ```
/// # use wsgate::socketio::packet::{check_placeholders, PacketError};
/// let p = br#"["a",{"_placeholder":true,"num":0},[{"num":1,"_placeholder":true}]]"#;
/// assert_eq!(check_placeholders(p, 2), Ok(2));
/// assert_eq!(check_placeholders(p, 1), Err(PacketError::BadPlaceholder));
/// ```
pub fn check_placeholders(payload: &[u8], attachments: u8) -> Result<usize, PacketError> {
    let mut marks = Placeholders::new(attachments);
    let after = skip_marked(skip_ws(payload), 0, &mut marks)?;
    expect_end(after)?;
    if marks.bad {
        return Err(PacketError::BadPlaceholder);
    }
    Ok(marks.found)
}

// ---- writing ----

/// Writes the header: type, attachment count (binary types), namespace (unless `/`) with
/// its comma, ack id.
fn put_header(
    w: &mut Writer<'_>,
    kind: PacketType,
    attachments: u8,
    namespace: &str,
    ack_id: Option<u32>,
) -> Option<()> {
    w.put(&[kind.digit()])?;
    if kind.is_binary() {
        if !(1..=MAX_ATTACHMENTS).contains(&attachments) {
            return None;
        }
        w.put_decimal(usize::from(attachments))?;
        w.put(b"-")?;
    } else if attachments != 0 {
        return None;
    }
    match namespace.as_bytes() {
        [] | [b'/'] => {}
        ns @ [b'/', ..] if !ns.contains(&b',') => {
            w.put(ns)?;
            w.put(b",")?;
        }
        _ => return None,
    }
    if let Some(id) = ack_id {
        w.put_decimal(usize::try_from(id).ok()?)?;
    }
    Some(())
}

/// Writes `[` + the JSON values, compacted and comma-separated, + `]`, with `first`
/// (already escaped JSON text) as the first element when given.
fn put_array<'x>(
    w: &mut Writer<'_>,
    first: Option<&str>,
    args: impl IntoIterator<Item = &'x [u8]>,
) -> Option<()> {
    w.put(b"[")?;
    let mut any = false;
    if let Some(name) = first {
        w.fill(|room| write_json_string(name, room))?;
        any = true;
    }
    for arg in args {
        if any {
            w.put(b",")?;
        }
        w.fill(|room| compact_json(arg, room))?;
        any = true;
    }
    w.put(b"]")
}

/// Writes any packet: the header and `payload` (one JSON value, compacted as
/// `JSON.stringify` prints it), if any.
///
/// The namespace is written as `/admin,`, and left out when it is `/` (or empty); the
/// attachment count only for binary types. Returns the length, or `None` if it does not
/// fit or would not be read back: `attachments` not 1 to [`MAX_ATTACHMENTS`] for a binary
/// type or not 0 for another, or a namespace that does not start with `/` or holds a `,`.
/// The payload is trusted to be valid JSON of the right shape. The text is the packet
/// without the Engine.IO `4` (see [`with_message_prefix`]).
///
/// ```
/// # use wsgate::socketio::packet::{write_packet, PacketType};
/// let mut buf = [0u8; 32];
/// let payload = br#"[ "admin-ok" ]"#;
/// let n = write_packet(PacketType::Ack, 0, "/admin", Some(0), Some(payload), &mut buf);
/// assert_eq!(&buf[..n.unwrap()], br#"3/admin,0["admin-ok"]"#);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_packet(
    kind: PacketType,
    attachments: u8,
    namespace: &str,
    ack_id: Option<u32>,
    payload: Option<&[u8]>,
    out: &mut [u8],
) -> Option<usize> {
    let mut w = Writer::new(out);
    put_header(&mut w, kind, attachments, namespace, ack_id)?;
    if let Some(p) = payload {
        w.fill(|room| compact_json(p, room))?;
    }
    Some(w.len())
}

/// Writes the server's CONNECT reply, `0{"sid":"<sid>"}` (`0/admin,{"sid":"<sid>"}` for
/// another namespace than `/`), with `sid` escaped as `JSON.stringify` does.
///
/// Returns the length, or `None` if it does not fit or the namespace is not one
/// [`write_packet`] accepts.
///
/// ```
/// # use wsgate::socketio::packet::write_connect;
/// let mut buf = [0u8; 40];
/// let n = write_connect("/admin", "zO_RL0rQ8UQymtmTAAAB", &mut buf).unwrap();
/// assert_eq!(&buf[..n], br#"0/admin,{"sid":"zO_RL0rQ8UQymtmTAAAB"}"#);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_connect(namespace: &str, sid: &str, out: &mut [u8]) -> Option<usize> {
    let mut w = Writer::new(out);
    put_header(&mut w, PacketType::Connect, 0, namespace, None)?;
    w.put(b"{\"sid\":")?;
    w.fill(|room| write_json_string(sid, room))?;
    w.put(b"}")?;
    Some(w.len())
}

/// Writes a CONNECT_ERROR, `4{"message":"<message>"}`, with `,"data":<data>` (one JSON
/// value, compacted) before the `}` when `data` is given: what socket.io sends for an
/// unknown namespace (`4/nope,{"message":"Invalid namespace"}`) or a middleware's refusal.
///
/// Returns the length, or `None` if it does not fit or the namespace is not one
/// [`write_packet`] accepts.
///
/// ```
/// # use wsgate::socketio::packet::write_connect_error;
/// let mut buf = [0u8; 80];
/// let n = write_connect_error("/nope", "Invalid namespace", None, &mut buf).unwrap();
/// assert_eq!(&buf[..n], br#"4/nope,{"message":"Invalid namespace"}"#);
/// let data = br#"{"content":"retry later"}"#;
/// let n = write_connect_error("/", "not authorized", Some(data), &mut buf).unwrap();
/// assert_eq!(&buf[..n], br#"4{"message":"not authorized","data":{"content":"retry later"}}"#);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_connect_error(
    namespace: &str,
    message: &str,
    data: Option<&[u8]>,
    out: &mut [u8],
) -> Option<usize> {
    let mut w = Writer::new(out);
    put_header(&mut w, PacketType::ConnectError, 0, namespace, None)?;
    w.put(b"{\"message\":")?;
    w.fill(|room| write_json_string(message, room))?;
    if let Some(d) = data {
        w.put(b",\"data\":")?;
        w.fill(|room| compact_json(d, room))?;
    }
    w.put(b"}")?;
    Some(w.len())
}

/// Writes a DISCONNECT: `1`, or `1/admin,` for another namespace than `/`.
///
/// Returns the length, or `None` if it does not fit or the namespace is not one
/// [`write_packet`] accepts.
#[must_use = "the length written is the only way to know what was written"]
pub fn write_disconnect(namespace: &str, out: &mut [u8]) -> Option<usize> {
    write_packet(PacketType::Disconnect, 0, namespace, None, None, out)
}

/// Writes an EVENT, `2["<event>",<arg>,…]` (`2/admin,<ack id>[…]` with a namespace and an
/// ack id): the event name escaped as `JSON.stringify` does, then the arguments (each one
/// JSON value, compacted).
///
/// Give an `ack_id` when the server wants the client to acknowledge the event. Returns the
/// length, or `None` if it does not fit or the namespace is not one [`write_packet`]
/// accepts.
///
/// ```
/// # use wsgate::socketio::packet::write_event;
/// let mut buf = [0u8; 40];
/// let n = write_event("/", None, "events", [&b"1"[..]], &mut buf).unwrap();
/// assert_eq!(&buf[..n], br#"2["events",1]"#);
/// let n = write_event("/admin", Some(3), "news", [&b"{ \"a\": 1 }"[..], b"true"], &mut buf);
/// assert_eq!(&buf[..n.unwrap()], br#"2/admin,3["news",{"a":1},true]"#);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_event<'x>(
    namespace: &str,
    ack_id: Option<u32>,
    event: &str,
    args: impl IntoIterator<Item = &'x [u8]>,
    out: &mut [u8],
) -> Option<usize> {
    write_binary_event_of(PacketType::Event, namespace, 0, ack_id, event, args, out)
}

/// Writes a BINARY_EVENT, `5<attachments>-["<event>",…]`: [`write_event`] with an
/// attachment count, 1 to [`MAX_ATTACHMENTS`] (`None` otherwise: socket.io's decoder
/// refuses other counts). The arguments hold the placeholders; the attachments themselves
/// go out as that many WebSocket binary frames after it.
///
/// ```
/// # use wsgate::socketio::packet::write_binary_event;
/// let mut buf = [0u8; 64];
/// let ph = br#"{"_placeholder":true,"num":0}"#;
/// let n = write_binary_event("/", 1, Some(4), "identity", [&ph[..]], &mut buf).unwrap();
/// assert_eq!(&buf[..n], br#"51-4["identity",{"_placeholder":true,"num":0}]"#);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_binary_event<'x>(
    namespace: &str,
    attachments: u8,
    ack_id: Option<u32>,
    event: &str,
    args: impl IntoIterator<Item = &'x [u8]>,
    out: &mut [u8],
) -> Option<usize> {
    write_binary_event_of(
        PacketType::BinaryEvent,
        namespace,
        attachments,
        ack_id,
        event,
        args,
        out,
    )
}

/// The EVENT and BINARY_EVENT writer.
fn write_binary_event_of<'x>(
    kind: PacketType,
    namespace: &str,
    attachments: u8,
    ack_id: Option<u32>,
    event: &str,
    args: impl IntoIterator<Item = &'x [u8]>,
    out: &mut [u8],
) -> Option<usize> {
    let mut w = Writer::new(out);
    put_header(&mut w, kind, attachments, namespace, ack_id)?;
    put_array(&mut w, Some(event), args)?;
    Some(w.len())
}

/// Writes an ACK, `3<ack id>[<arg>,…]` (`3/admin,<ack id>[…]` with a namespace): the
/// answer to an event that carried `ack_id`, its arguments each one JSON value, compacted.
/// An [`Args`] can be passed as it is.
///
/// Returns the length, or `None` if it does not fit or the namespace is not one
/// [`write_packet`] accepts.
///
/// ```
/// # use wsgate::socketio::packet::{decode, write_ack};
/// let mut buf = [0u8; 40];
/// let n = write_ack("/", 0, [&br#""test""#[..]], &mut buf).unwrap();
/// assert_eq!(&buf[..n], br#"30["test"]"#);
/// // Echo an event's arguments.
/// let p = decode(br#"2456["message-with-ack",1,"2",{"3":[false]}]"#).unwrap();
/// let n = write_ack(p.namespace, p.ack_id.unwrap(), p.args, &mut buf).unwrap();
/// assert_eq!(&buf[..n], br#"3456[1,"2",{"3":[false]}]"#);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_ack<'x>(
    namespace: &str,
    ack_id: u32,
    args: impl IntoIterator<Item = &'x [u8]>,
    out: &mut [u8],
) -> Option<usize> {
    write_binary_ack_of(PacketType::Ack, namespace, 0, ack_id, args, out)
}

/// Writes a BINARY_ACK, `6<attachments>-<ack id>[…]`: [`write_ack`] with an attachment
/// count (see [`write_binary_event`]).
///
/// ```
/// # use wsgate::socketio::packet::write_binary_ack;
/// let mut buf = [0u8; 40];
/// let n = write_binary_ack("/", 1, 4, [&br#"{"_placeholder":true,"num":0}"#[..]], &mut buf);
/// assert_eq!(&buf[..n.unwrap()], br#"61-4[{"_placeholder":true,"num":0}]"#);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_binary_ack<'x>(
    namespace: &str,
    attachments: u8,
    ack_id: u32,
    args: impl IntoIterator<Item = &'x [u8]>,
    out: &mut [u8],
) -> Option<usize> {
    write_binary_ack_of(
        PacketType::BinaryAck,
        namespace,
        attachments,
        ack_id,
        args,
        out,
    )
}

/// The ACK and BINARY_ACK writer.
fn write_binary_ack_of<'x>(
    kind: PacketType,
    namespace: &str,
    attachments: u8,
    ack_id: u32,
    args: impl IntoIterator<Item = &'x [u8]>,
    out: &mut [u8],
) -> Option<usize> {
    let mut w = Writer::new(out);
    put_header(&mut w, kind, attachments, namespace, Some(ack_id))?;
    put_array(&mut w, None, args)?;
    Some(w.len())
}

/// Writes the Engine.IO `message` type, `4`, then lets `write` (one of the `write_*`
/// functions of this module) write the packet after it: the whole text of a WebSocket
/// frame. Returns the total length, or `None` if either part does not fit.
///
/// ```
/// # use wsgate::socketio::packet::{with_message_prefix, write_connect};
/// let mut buf = [0u8; 40];
/// let sid = "k9mhjQoR6llCPpBcAAAA";
/// let n = with_message_prefix(&mut buf, |out| write_connect("/", sid, out));
/// assert_eq!(&buf[..n.unwrap()], br#"40{"sid":"k9mhjQoR6llCPpBcAAAA"}"#);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn with_message_prefix(
    out: &mut [u8],
    write: impl FnOnce(&mut [u8]) -> Option<usize>,
) -> Option<usize> {
    let mut w = Writer::new(out);
    w.put(b"4")?;
    w.fill(write)?;
    Some(w.len())
}

#[cfg(test)]
mod tests;
