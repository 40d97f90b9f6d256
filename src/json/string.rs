//! JSON strings: [`JsonStr`] (a string as it appears in the text, compared and decoded
//! without allocating), scanning a string literal, and writing one escaped as
//! `JSON.stringify` does.

use super::scan::{before, skip_plain};
use super::write::Sink;
use super::{JsonError, Res};
use crate::bytes::{Writer, bytes_eq};

/// A JSON string as it appears in the text, without its quotes, escapes intact.
///
/// Only the scanner creates these, so the escapes in [`raw`](Self::raw) are well formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonStr<'a> {
    raw: &'a [u8],
    has_escapes: bool,
}

impl<'a> JsonStr<'a> {
    /// The bytes between the quotes, exactly as in the text (escapes not decoded).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// A string of `raw` text as it stands (tests only: elsewhere only the scanner creates
    /// these).
    #[cfg(test)]
    pub(crate) fn from_parts(raw: &'a [u8], has_escapes: bool) -> Self {
        JsonStr { raw, has_escapes }
    }

    /// Whether the string contains at least one backslash escape.
    pub fn has_escapes(&self) -> bool {
        self.has_escapes
    }

    /// The text when it has no escapes and is valid UTF-8, borrowed from the message.
    ///
    /// ```
    /// # use wsgate::gateway::envelope::parse_envelope;
    /// let env = parse_envelope(br#"{"event":"events","data":"test"}"#).unwrap();
    /// assert_eq!(env.event.as_str(), Some("events"));
    /// ```
    pub fn as_str(&self) -> Option<&'a str> {
        if self.has_escapes {
            None
        } else {
            core::str::from_utf8(self.raw).ok()
        }
    }

    /// Compares the decoded string with `s` without allocating.
    ///
    /// Decodes `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` and `\uXXXX` (including
    /// surrogate pairs) on the fly; a string holding an unpaired surrogate never equals any
    /// `&str`. This is how a handler table matches an event name.
    #[inline]
    pub fn eq_str(&self, s: &str) -> bool {
        if !self.has_escapes {
            return bytes_eq(self.raw, s.as_bytes());
        }
        self.eq_str_escaped(s)
    }

    /// [`eq_str`](Self::eq_str) of a string with escapes.
    fn eq_str_escaped(&self, s: &str) -> bool {
        let mut rest = s.as_bytes();
        for piece in (Pieces { rest: self.raw }) {
            let mut buf = [0u8; 4];
            let bytes = match piece {
                Piece::Bytes(b) => b,
                Piece::Char(c) => c.encode_utf8(&mut buf).as_bytes(),
                Piece::Bad => return false,
            };
            match rest.split_at_checked(bytes.len()) {
                Some((head, tail)) if head == bytes => rest = tail,
                _ => return false,
            }
        }
        rest.is_empty()
    }

    /// Decodes the string into `buf` and returns the text.
    ///
    /// Returns `None` when it does not fit, is not valid UTF-8, or holds an unpaired
    /// surrogate.
    pub fn decode_into<'b>(&self, buf: &'b mut [u8]) -> Option<&'b str> {
        let mut len = 0usize;
        for piece in (Pieces { rest: self.raw }) {
            let mut tmp = [0u8; 4];
            let bytes = match piece {
                Piece::Bytes(b) => b,
                Piece::Char(c) => c.encode_utf8(&mut tmp).as_bytes(),
                Piece::Bad => return None,
            };
            let end = len.checked_add(bytes.len())?;
            buf.get_mut(len..end)?.copy_from_slice(bytes);
            len = end;
        }
        core::str::from_utf8(buf.get(..len)?).ok()
    }
}

/// One decoded part of a string: a run of literal bytes, or one escaped character.
enum Piece<'a> {
    Bytes(&'a [u8]),
    Char(char),
    Bad,
}

/// Splits the raw text of a string into [`Piece`]s; stops after the first `Bad`.
struct Pieces<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        let t = self.rest;
        let (piece, rest) = match t {
            [] => return None,
            [b'\\', e, r @ ..] => {
                let simple = match e {
                    b'"' => Some('"'),
                    b'\\' => Some('\\'),
                    b'/' => Some('/'),
                    b'b' => Some('\u{8}'),
                    b'f' => Some('\u{c}'),
                    b'n' => Some('\n'),
                    b'r' => Some('\r'),
                    b't' => Some('\t'),
                    _ => None,
                };
                match (simple, r) {
                    (Some(c), _) => (Piece::Char(c), r),
                    (None, [a, b, c, d, r2 @ ..]) if *e == b'u' => {
                        decode_u(hex4(*a, *b, *c, *d), r2)
                    }
                    _ => (Piece::Bad, &[][..]),
                }
            }
            [b'\\'] => (Piece::Bad, &[][..]),
            _ => {
                let n = t.iter().position(|&b| b == b'\\').unwrap_or(t.len());
                match t.split_at_checked(n) {
                    Some((run, rest)) => (Piece::Bytes(run), rest),
                    None => (Piece::Bad, &[][..]),
                }
            }
        };
        self.rest = if matches!(piece, Piece::Bad) {
            &[]
        } else {
            rest
        };
        Some(piece)
    }
}

/// Turns the code unit of a `\uXXXX` escape (and, for a high surrogate, the following
/// `\uXXXX` low surrogate in `r`) into a character.
fn decode_u(unit: Option<u16>, r: &[u8]) -> (Piece<'_>, &[u8]) {
    let Some(unit) = unit else {
        return (Piece::Bad, &[]);
    };
    match unit {
        0xD800..=0xDBFF => match r {
            [b'\\', b'u', a, b, c, d, r2 @ ..] => match hex4(*a, *b, *c, *d) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    let cp =
                        0x1_0000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    match char::from_u32(cp) {
                        Some(c) => (Piece::Char(c), r2),
                        None => (Piece::Bad, &[]),
                    }
                }
                _ => (Piece::Bad, &[]),
            },
            _ => (Piece::Bad, &[]),
        },
        0xDC00..=0xDFFF => (Piece::Bad, &[]),
        _ => match char::from_u32(u32::from(unit)) {
            Some(c) => (Piece::Char(c), r),
            None => (Piece::Bad, &[]),
        },
    }
}

/// Value of one hex digit.
fn hex_val(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

/// Value of four hex digits.
fn hex4(a: u8, b: u8, c: u8, d: u8) -> Option<u16> {
    Some((hex_val(a)? << 12) | (hex_val(b)? << 8) | (hex_val(c)? << 4) | hex_val(d)?)
}

/// Skips a string whose opening quote is already consumed; returns the input after the
/// closing quote, or `None` when the string is malformed or unterminated.
///
/// The common string without escapes takes the inline path; see [`skip_escaped`].
#[inline(always)]
pub(super) fn skip_string(s: &[u8]) -> Option<&[u8]> {
    match skip_plain(s) {
        [b'"', rest @ ..] => Some(rest),
        t => skip_escaped(t),
    }
}

/// The rest of a string from its first byte that is not plain; returns the input after the
/// closing quote, or `None` when malformed. When it returns `Some` and `t` did not start
/// at the closing quote, the string holds at least one escape.
#[inline(never)]
fn skip_escaped(mut t: &[u8]) -> Option<&[u8]> {
    loop {
        t = match t {
            [b'"', rest @ ..] => return Some(rest),
            [b'\\', e, rest @ ..] => match e {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => rest,
                b'u' => match rest {
                    [a, b, c, d, r @ ..] if hex4(*a, *b, *c, *d).is_some() => r,
                    _ => return None,
                },
                _ => return None,
            },
            // End of input, a lone backslash at the end, or a control character.
            _ => return None,
        };
        t = skip_plain(t);
    }
}

/// Scans a string whose opening quote is already consumed; returns it and the input after
/// the closing quote.
#[inline(always)]
pub(crate) fn scan_string(s: &[u8]) -> Res<(JsonStr<'_>, &[u8])> {
    let (rest, has_escapes) = match skip_plain(s) {
        [b'"', rest @ ..] => (rest, false),
        t => (skip_escaped(t).ok_or(JsonError::Invalid)?, true),
    };
    // `rest` is a suffix of `s`; the string is what precedes it, less the closing quote.
    let n = s
        .len()
        .checked_sub(rest.len())
        .and_then(|n| n.checked_sub(1))
        .ok_or(JsonError::Invalid)?;
    let raw = s.get(..n).ok_or(JsonError::Invalid)?;
    Ok((JsonStr { raw, has_escapes }, rest))
}

/// Lowercase hex digits.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Emits `s` as a JSON string literal escaped as `JSON.stringify` does.
fn escape_walk(s: &str, sink: &mut impl Sink) -> bool {
    if !sink.put(b"\"") {
        return false;
    }
    let mut t = s.as_bytes();
    loop {
        // The bytes `JSON.stringify` escapes are exactly those that end a plain run.
        let rest = skip_plain(t);
        let Ok(run) = before(t, rest) else {
            return false;
        };
        if !sink.put(run) {
            return false;
        }
        let [b, rest @ ..] = rest else {
            return sink.put(b"\"");
        };
        let mut u = [b'\\', b'u', b'0', b'0', 0, 0];
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0C => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => {
                u[4] = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
                u[5] = HEX.get(usize::from(b & 0x0F)).copied().unwrap_or(b'0');
                &u
            }
        };
        if !sink.put(esc) {
            return false;
        }
        t = rest;
    }
}

/// Writes `s` as a JSON string literal (with quotes) escaped exactly as JavaScript's
/// `JSON.stringify` does: `"` as `\"`, `\` as `\\`, `\b \f \n \r \t`, other characters below
/// U+0020 as `\u00XX` with lowercase hex (e.g. `\u001f`), everything else (including `/`,
/// DEL and non-ASCII) literally. Returns the length, or `None` if it does not fit.
///
/// ```
/// # use wsgate::json::write_json_string;
/// let mut buf = [0u8; 16];
/// let n = write_json_string("a\"b\u{1f}", &mut buf).unwrap();
/// assert_eq!(&buf[..n], br#""a\"b\u001f""#);
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_json_string(s: &str, out: &mut [u8]) -> Option<usize> {
    let mut w = Writer::new(out);
    escape_walk(s, &mut w).then_some(w.len())
}

/// Length [`write_json_string`] would produce for `s`.
pub fn json_string_len(s: &str) -> usize {
    s.bytes().fold(2usize, |n, b| {
        n.saturating_add(match b {
            b'"' | b'\\' | 0x08 | 0x0C | b'\n' | b'\r' | b'\t' => 2,
            0..=0x1F => 6,
            _ => 1,
        })
    })
}

#[cfg(test)]
#[path = "tests/string.rs"]
mod tests;
