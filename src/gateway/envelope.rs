//! The NestJS `WsAdapter` message envelope: `{"event": <string>, "data": <any>}`.
//!
//! A client message (text or binary WebSocket message) holds one JSON text. NestJS runs
//! `JSON.parse` on it and dispatches `message.data` to the handler registered under
//! `message.event`. This module finds those two parts without allocating, in one forward pass
//! over the message, while validating the whole message as strict JSON (RFC 8259 sections 2-7,
//! with the scanner and the strictness of [`crate::json`]):
//!
//! - [`parse_envelope`] returns the event name as a raw [`JsonStr`] (escapes intact) and the
//!   exact byte slice of the `data` value. Key order is free, other keys are ignored, `data` may
//!   be absent, and with duplicate keys the last one wins, as with `JSON.parse`. Keys are
//!   compared after decoding their escapes (`"ev\u0065nt"` is `"event"`).
//! - [`parse_array_envelope`] is the alternative `[event, data]` shape (a NestJS custom
//!   `messageParser` example).
//!
//! Like the JSON layer, it never allocates, never recurses, never panics on any input and
//! never reads past the input slice.

use crate::json::{
    JsonError, JsonStr, before, expect_end, scan_key, scan_member_value, scan_string, skip_value,
    skip_ws,
};
use core::fmt;

/// What a message parser found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The event name (the handler to dispatch to), escapes intact.
    pub event: JsonStr<'a>,
    /// Raw JSON text of the `data` value (exact slice of the input, no surrounding
    /// whitespace), `None` when absent.
    pub data: Option<&'a [u8]>,
}

/// Why a message was not dispatched.
///
/// NestJS drops all of these silently; wsgate counts each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Not one valid JSON value (RFC 8259), e.g. a trailing comma, a comment, a truncated
    /// message, or bytes after the value.
    InvalidJson,
    /// Valid JSON but not an object (an array, number, string, `true`, `false` or `null`).
    /// [`parse_array_envelope`] uses it for valid JSON that is not an array.
    NotAnObject,
    /// An object without a string `"event"` (missing, or its last occurrence is not a
    /// string). [`parse_array_envelope`] uses it for an array that is not
    /// `[<string>]` or `[<string>, <any>]`.
    NoEvent,
    /// Arrays and objects nested deeper than [`MAX_DEPTH`](crate::json::MAX_DEPTH) levels. Reported as soon as the
    /// limit is crossed, without looking at the rest of the message.
    TooDeep,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvelopeError::InvalidJson => "message is not valid JSON (RFC 8259)",
            EnvelopeError::NotAnObject => {
                "message is valid JSON but not an envelope: expected an object {\"event\":...,\"data\":...} (or an [event, data] array for the array parser)"
            }
            EnvelopeError::NoEvent => {
                "message has no string event name: \"event\" is missing or not a string (or the array is not [event] or [event, data])"
            }
            EnvelopeError::TooDeep => {
                "message nests arrays and objects deeper than 128 levels"
            }
        })
    }
}

impl core::error::Error for EnvelopeError {}

/// The JSON layer's errors are the envelope's: [`JsonError::Invalid`] is
/// [`EnvelopeError::InvalidJson`], [`JsonError::TooDeep`] is [`EnvelopeError::TooDeep`].
impl From<JsonError> for EnvelopeError {
    #[inline]
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Invalid => EnvelopeError::InvalidJson,
            JsonError::TooDeep => EnvelopeError::TooDeep,
        }
    }
}

/// Validates a top-level value that has the wrong shape, then reports `shape_error`.
fn wrong_shape(t: &[u8], shape_error: EnvelopeError) -> EnvelopeError {
    match skip_value(t, 0).and_then(expect_end) {
        Ok(()) => shape_error,
        Err(e) => e.into(),
    }
}

/// Which member of the envelope a key names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Event,
    Data,
    Other,
}

/// Classifies a key, decoding its escapes only when it has some.
#[inline(always)]
fn key_kind(key: JsonStr<'_>) -> Key {
    if !key.has_escapes() {
        match key.raw() {
            b"event" => Key::Event,
            b"data" => Key::Data,
            _ => Key::Other,
        }
    } else if key.eq_str("event") {
        Key::Event
    } else if key.eq_str("data") {
        Key::Data
    } else {
        Key::Other
    }
}

/// The default NestJS envelope: an object with a string `"event"` and an optional `"data"`.
///
/// Validates the whole message in one pass. Key order is free, other keys are ignored, and
/// with duplicate keys the last one wins (for `"event"`, the last one must be a string).
/// Keys are compared after decoding escapes.
///
/// ```
/// # use wsgate::gateway::envelope::{parse_envelope, EnvelopeError};
/// let env = parse_envelope(br#"{"event":"events","data":"test"}"#).unwrap();
/// assert!(env.event.eq_str("events"));
/// assert_eq!(env.data, Some(&br#""test""#[..]));
/// assert_eq!(parse_envelope(b"[1]"), Err(EnvelopeError::NotAnObject));
/// ```
pub fn parse_envelope(msg: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    match parse_stringified_envelope(msg) {
        Some(env) => Ok(env),
        None => parse_any_envelope(msg),
    }
}

/// [`parse_envelope`] for any message: whitespace anywhere, keys in any order, other keys.
fn parse_any_envelope(msg: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let t = skip_ws(msg);
    let [b'{', rest @ ..] = t else {
        return Err(wrong_shape(t, EnvelopeError::NotAnObject));
    };
    let mut event: Option<JsonStr<'_>> = None;
    let mut data: Option<&[u8]> = None;
    let mut t = skip_ws(rest);
    if let [b'}', rest @ ..] = t {
        expect_end(rest)?;
        return Err(EnvelopeError::NoEvent);
    }
    loop {
        let (key, v) = scan_key(t)?;
        let kind = key_kind(key);
        let (s, after) = scan_member_value(v, 1)?;
        match kind {
            Key::Event => event = s,
            Key::Data => data = Some(before(v, after)?),
            Key::Other => {}
        }
        match skip_ws(after) {
            [b',', rest @ ..] => t = skip_ws(rest),
            [b'}', rest @ ..] => {
                expect_end(rest)?;
                return match event {
                    Some(event) => Ok(Envelope { event, data }),
                    None => Err(EnvelopeError::NoEvent),
                };
            }
            _ => return Err(EnvelopeError::InvalidJson),
        }
    }
}

/// The envelope exactly as `JSON.stringify({event, data})` writes it, what clients send:
/// `{"event":"…","data":…}` or `{"event":"…"}`, no whitespace inside the object. `None` for
/// any other message, valid or not, which [`parse_envelope`] then parses in full. Where
/// this succeeds the full parse gives the same result: the same two members, validated the
/// same way.
#[inline(always)]
fn parse_stringified_envelope(msg: &[u8]) -> Option<Envelope<'_>> {
    let (head, rest) = msg.split_first_chunk::<10>()?;
    if head != b"{\"event\":\"" {
        return None;
    }
    let (event, rest) = scan_string(rest).ok()?;
    let (data, end) = match rest {
        [b'}', end @ ..] => (None, end),
        _ => {
            let (head, v) = rest.split_first_chunk::<8>()?;
            if head != b",\"data\":" {
                return None;
            }
            let after = skip_value(v, 1).ok()?;
            let [b'}', end @ ..] = after else {
                return None;
            };
            (Some(before(v, after).ok()?), end)
        }
    };
    expect_end(end).ok()?;
    Some(Envelope { event, data })
}

/// Alternative parser for messages shaped `[event, data]` (the NestJS custom
/// `messageParser` example): an array of one or two elements whose first element is a
/// string. `data` is the second element, `None` for a one-element array.
///
/// Validates the whole message. Valid JSON that is not an array gives
/// [`EnvelopeError::NotAnObject`] (the variant means "not the envelope's container");
/// an array of another shape (empty, first element not a string, three or more elements)
/// gives [`EnvelopeError::NoEvent`].
///
/// ```
/// # use wsgate::gateway::envelope::parse_array_envelope;
/// let env = parse_array_envelope(br#"["events", {"n": 1}]"#).unwrap();
/// assert_eq!(env.event.as_str(), Some("events"));
/// assert_eq!(env.data, Some(&br#"{"n": 1}"#[..]));
/// ```
pub fn parse_array_envelope(msg: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let t = skip_ws(msg);
    let [b'[', rest @ ..] = t else {
        return Err(wrong_shape(t, EnvelopeError::NotAnObject));
    };
    let mut t = skip_ws(rest);
    if let [b']', rest @ ..] = t {
        expect_end(rest)?;
        return Err(EnvelopeError::NoEvent);
    }
    let mut event: Option<JsonStr<'_>> = None;
    let mut data: Option<&[u8]> = None;
    let mut index: usize = 0;
    loop {
        let (s, after) = scan_member_value(t, 1)?;
        match index {
            0 => event = s,
            1 => data = Some(before(t, after)?),
            _ => {}
        }
        index = index.saturating_add(1);
        match skip_ws(after) {
            [b',', rest @ ..] => t = skip_ws(rest),
            [b']', rest @ ..] => {
                expect_end(rest)?;
                return match event {
                    Some(event) if index <= 2 => Ok(Envelope { event, data }),
                    _ => Err(EnvelopeError::NoEvent),
                };
            }
            _ => return Err(EnvelopeError::InvalidJson),
        }
    }
}

#[cfg(test)]
mod tests;
