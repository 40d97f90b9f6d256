//! JSON values: the validator ([`validate_json`]) and the steps a message format is parsed
//! with (an object's key, a member's value, the end of the text), nested at most
//! [`MAX_DEPTH`] levels without recursion.

use super::scan::{skip_digits, skip_ws};
use super::string::{JsonStr, scan_string, skip_string};
use super::{JsonError, Res};

/// Deepest nesting of arrays and objects accepted (the top-level container counts as 1).
///
/// A value nested deeper is refused with [`JsonError::TooDeep`].
pub const MAX_DEPTH: u32 = 128;

/// Skips one or more ASCII digits.
#[inline(always)]
fn digits1(t: &[u8]) -> Option<&[u8]> {
    match t {
        [b'0'..=b'9', rest @ ..] => Some(skip_digits(rest)),
        _ => None,
    }
}

/// Scans a number (RFC 8259 section 6) starting at `t`; returns the input after it. What
/// may follow (a delimiter) is checked by the caller. `None` when malformed.
#[inline]
fn scan_number(t: &[u8]) -> Option<&[u8]> {
    let t = match t {
        [b'-', rest @ ..] => rest,
        _ => t,
    };
    let t = match t {
        [b'0', rest @ ..] => rest,
        [b'1'..=b'9', rest @ ..] => skip_digits(rest),
        _ => return None,
    };
    let t = match t {
        [b'.', rest @ ..] => digits1(rest)?,
        _ => t,
    };
    match t {
        [b'e' | b'E', b'+' | b'-', rest @ ..] | [b'e' | b'E', rest @ ..] => digits1(rest),
        _ => Some(t),
    }
}

/// Skips `"key"` `:` and the whitespace after it; `t` starts at the key's opening quote.
/// Returns the input at the member's value, `None` when malformed.
#[inline(always)]
fn skip_key(t: &[u8]) -> Option<&[u8]> {
    let [b'"', rest @ ..] = t else {
        return None;
    };
    match skip_ws(skip_string(rest)?) {
        [b':', rest @ ..] => Some(skip_ws(rest)),
        _ => None,
    }
}

/// Scans `"key"` `:` and the whitespace after it; `t` starts at the key's opening quote.
/// Returns the key and the input at the member's value.
#[inline]
pub(crate) fn scan_key(t: &[u8]) -> Res<(JsonStr<'_>, &[u8])> {
    let [b'"', rest @ ..] = t else {
        return Err(JsonError::Invalid);
    };
    let (key, rest) = scan_string(rest)?;
    match skip_ws(rest) {
        [b':', rest @ ..] => Ok((key, skip_ws(rest))),
        _ => Err(JsonError::Invalid),
    }
}

/// What a value walk ([`walk_value`]) reports, for a format that looks inside the values it
/// validates (socket.io's binary placeholders). Every method does nothing by default, so the
/// plain walk ([`skip_value`]) compiles to the validator alone.
pub(crate) trait Visit {
    /// Whether [`Visit::key`] is wanted: keys are then scanned as strings rather than
    /// skipped.
    const KEYS: bool = false;
    /// An object or an array opened (`object` tells which).
    #[inline(always)]
    fn open(&mut self, object: bool) {
        let _ = object;
    }
    /// A member of the innermost object: its key, and the text at its value.
    #[inline(always)]
    fn key(&mut self, key: JsonStr<'_>, value: &[u8]) {
        let _ = (key, value);
    }
    /// The innermost container closed (`object` tells which).
    #[inline(always)]
    fn close(&mut self, object: bool) {
        let _ = object;
    }
}

/// The walk that looks at nothing: plain validation.
struct Skip;

impl Visit for Skip {}

/// A member's key (`t` at its opening quote) in a walk: skipped, or scanned and shown to
/// `visit`. Returns the input at the member's value.
#[inline(always)]
fn walk_key<'a, V: Visit>(t: &'a [u8], visit: &mut V) -> Res<&'a [u8]> {
    if V::KEYS {
        let (key, value) = scan_key(t)?;
        visit.key(key, value);
        Ok(value)
    } else {
        skip_key(t).ok_or(JsonError::Invalid)
    }
}

/// Skips one complete value starting at `t` (whitespace before it already skipped), nested
/// inside `outer` containers. Returns the input right after the value.
pub(crate) fn skip_value(t: &[u8], outer: u32) -> Res<&[u8]> {
    walk_value(t, outer, &mut Skip)
}

/// [`skip_value`] that reports the containers and keys it passes to `visit`.
#[inline(always)]
pub(crate) fn walk_value<'a, V: Visit>(
    mut t: &'a [u8],
    outer: u32,
    visit: &mut V,
) -> Res<&'a [u8]> {
    let limit = MAX_DEPTH.saturating_sub(outer);
    // One bit per open container, innermost in bit 0: 1 for an object, 0 for an array.
    let mut stack: u128 = 0;
    let mut depth: u32 = 0;
    'value: loop {
        match t {
            [b'"', rest @ ..] => {
                t = skip_string(rest).ok_or(JsonError::Invalid)?;
            }
            [b'{', rest @ ..] => {
                if depth >= limit {
                    return Err(JsonError::TooDeep);
                }
                visit.open(true);
                match skip_ws(rest) {
                    [b'}', rest @ ..] => {
                        visit.close(true);
                        t = rest;
                    }
                    rest => {
                        stack = (stack << 1) | 1;
                        depth += 1;
                        t = walk_key(rest, visit)?;
                        continue 'value;
                    }
                }
            }
            [b'[', rest @ ..] => {
                if depth >= limit {
                    return Err(JsonError::TooDeep);
                }
                visit.open(false);
                match skip_ws(rest) {
                    [b']', rest @ ..] => {
                        visit.close(false);
                        t = rest;
                    }
                    rest => {
                        stack <<= 1;
                        depth += 1;
                        t = rest;
                        continue 'value;
                    }
                }
            }
            [b't', b'r', b'u', b'e', rest @ ..] | [b'n', b'u', b'l', b'l', rest @ ..] => t = rest,
            [b'f', b'a', b'l', b's', b'e', rest @ ..] => t = rest,
            [b'-' | b'0'..=b'9', ..] => {
                t = scan_number(t).ok_or(JsonError::Invalid)?;
            }
            _ => return Err(JsonError::Invalid),
        }
        // A value ended: close containers until one continues with a comma.
        loop {
            if depth == 0 {
                return Ok(t);
            }
            let in_object = stack & 1 == 1;
            match skip_ws(t) {
                [b',', rest @ ..] => {
                    let rest = skip_ws(rest);
                    t = if in_object {
                        walk_key(rest, visit)?
                    } else {
                        rest
                    };
                    continue 'value;
                }
                [b'}', rest @ ..] if in_object => t = rest,
                [b']', rest @ ..] if !in_object => t = rest,
                _ => return Err(JsonError::Invalid),
            }
            visit.close(in_object);
            stack >>= 1;
            depth -= 1;
        }
    }
}

/// Checks that only whitespace is left after the top-level value.
#[inline(always)]
pub(crate) fn expect_end(t: &[u8]) -> Res<()> {
    if skip_ws(t).is_empty() {
        Ok(())
    } else {
        Err(JsonError::Invalid)
    }
}

/// Parses a value that may be a string: returns the string (if it is one) and the input
/// after the value. `outer` is the nesting depth of the value.
#[inline(always)]
pub(crate) fn scan_member_value(v: &[u8], outer: u32) -> Res<(Option<JsonStr<'_>>, &[u8])> {
    match v {
        [b'"', rest @ ..] => {
            let (s, after) = scan_string(rest)?;
            Ok((Some(s), after))
        }
        _ => Ok((None, skip_value(v, outer)?)),
    }
}

/// Validates that `value` is exactly one JSON value (RFC 8259), surrounding whitespace
/// allowed, nested at most [`MAX_DEPTH`] levels.
///
/// Errors are [`JsonError::Invalid`] or [`JsonError::TooDeep`].
pub fn validate_json(value: &[u8]) -> Result<(), JsonError> {
    skip_value(skip_ws(value), 0).and_then(expect_end)
}

#[cfg(test)]
#[path = "tests/value.rs"]
mod tests;
