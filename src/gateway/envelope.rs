//! The NestJS `WsAdapter` message envelope: `{"event": <string>, "data": <any>}`.
//!
//! A client message (text or binary WebSocket message) holds one JSON text. NestJS runs
//! `JSON.parse` on it and dispatches `message.data` to the handler registered under
//! `message.event`. This module finds those two parts without allocating, in one forward pass
//! over the message, while validating the whole message as strict JSON (RFC 8259 sections 2-7):
//!
//! - [`parse_envelope`] returns the event name as a raw [`JsonStr`] (escapes intact) and the
//!   exact byte slice of the `data` value. Key order is free, other keys are ignored, `data` may
//!   be absent, and with duplicate keys the last one wins, as with `JSON.parse`. Keys are
//!   compared after decoding their escapes (`"ev\u0065nt"` is `"event"`).
//! - [`parse_array_envelope`] is the alternative `[event, data]` shape (a NestJS custom
//!   `messageParser` example).
//! - [`validate_json`] checks that a byte slice is exactly one JSON value.
//! - [`compact_json`] removes insignificant whitespace; [`write_json_string`] writes a string
//!   literal escaped exactly as JavaScript's `JSON.stringify` does.
//!
//! Strictness: no trailing commas, no comments, no leading zeros, no single quotes, no raw
//! control characters (< 0x20) in strings, only the escapes of RFC 8259 section 7 (`\uXXXX`
//! needs four hex digits; unpaired surrogates are accepted by the grammar, as `JSON.parse`
//! does, but never compare equal to a Rust string). Whitespace is space, tab, LF and CR only;
//! a byte order mark is invalid. Bytes >= 0x80 inside strings are accepted as they are: UTF-8
//! validity is checked by the WebSocket layer (RFC 6455 section 8.1) for text messages.
//! Nesting of arrays and objects is limited to [`MAX_DEPTH`] levels, tracked in a 128-bit
//! stack, so the scanner never recurses.
//!
//! It never allocates, never recurses, never panics on any input and never reads past the
//! input slice. It does not convert numbers, does not check UTF-8, and does not copy strings
//! unless asked to ([`JsonStr::decode_into`]).

use crate::bytes::{WIDE, Writer, bytes_eq};
use core::fmt;

/// Deepest nesting of arrays and objects accepted (the top-level container counts as 1).
///
/// A message nested deeper is refused with [`EnvelopeError::TooDeep`].
pub const MAX_DEPTH: u32 = 128;

/// A JSON string as it appears in the message, without its quotes, escapes intact.
///
/// Only the scanner creates these, so the escapes in [`raw`](Self::raw) are well formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonStr<'a> {
    raw: &'a [u8],
    has_escapes: bool,
}

impl<'a> JsonStr<'a> {
    /// The bytes between the quotes, exactly as in the message (escapes not decoded).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
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
    /// Arrays and objects nested deeper than [`MAX_DEPTH`] levels. Reported as soon as the
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

type Res<T> = Result<T, EnvelopeError>;

/// Skips JSON whitespace (space, tab, LF, CR).
///
/// Compact JSON has none, so the common case is one compare: no byte above `' '` is
/// whitespace.
#[inline(always)]
fn skip_ws(t: &[u8]) -> &[u8] {
    match t {
        [b, ..] if *b <= b' ' => skip_ws_run(t),
        _ => t,
    }
}

/// The loop of [`skip_ws`], out of line.
#[inline(never)]
fn skip_ws_run(mut t: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\n' | b'\r', rest @ ..] = t {
        t = rest;
    }
    t
}

/// `0x0101...01` for the native word.
const ONES: usize = usize::MAX / 0xFF;
/// `0x8080...80` for the native word.
const HIGHS: usize = ONES << 7;
/// Bytes read per step by the word-at-a-time scans.
const WORD: usize = core::mem::size_of::<usize>();

/// Bytes per step of the vectorised scans (on [`WIDE`] targets): two 128-bit registers.
const CHUNK: usize = 32;

/// Whether a byte ends a run of plain string bytes: `"`, `\` or a control character.
///
/// Bitwise `|`, not `||`: branch-free, so loops over it vectorise.
#[inline(always)]
fn is_string_special(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20)
}

/// Sets the high bit of each byte of `x` that is `"`, `\` or below 0x20. Borrows can only
/// add false positives above a true one, so the lowest set bit is exact, and bytes below
/// the first true one are never marked.
#[inline(always)]
fn special_bits(x: usize) -> usize {
    // Flipping bit 1 turns `"` (0x22) into 0x20 and keeps control characters below 0x20;
    // no other byte ends up below 0x21. So one "below 0x21" test finds both.
    let q = x ^ (ONES * 0x02);
    let s = x ^ (ONES * usize::from(b'\\'));
    ((q.wrapping_sub(ONES * 0x21) & !q) | (s.wrapping_sub(ONES) & !s)) & HIGHS
}

/// Index of the byte holding the lowest set bit of a little-endian word (the first byte in
/// memory is the lowest).
#[inline(always)]
fn lowest_byte(hit: usize) -> usize {
    (hit.trailing_zeros() / 8) as usize
}

/// Non-zero exactly for `"`, `\` and control characters: the flag of
/// [`is_string_special`] in plain `u8` arithmetic (xor, min, saturating subtraction), which
/// LLVM maps onto vector instructions where a `bool` per byte would defeat it.
#[inline(always)]
fn string_special_flag(b: u8) -> u8 {
    // As in `special_bits`: after flipping bit 1, `"` and the control characters are
    // exactly the bytes at or below 0x20.
    let level = ((b ^ 0x02).saturating_sub(0x20)).min(b ^ b'\\');
    1u8.saturating_sub(level)
}

/// Whether any byte of `chunk` has a non-zero `flag`: a branch-free OR over the chunk,
/// which LLVM turns into a few vector instructions.
#[inline(always)]
fn any_in_chunk(chunk: &[u8; CHUNK], flag: impl Fn(u8) -> u8) -> bool {
    chunk.iter().fold(0u8, |acc, &b| acc | flag(b)) != 0
}

/// Index of the first `"`, `\` or control character in `chunk` (`CHUNK` if none), a word
/// at a time.
#[inline(always)]
fn first_special_in(chunk: &[u8; CHUNK]) -> usize {
    let (words, _) = chunk.as_chunks::<WORD>();
    let mut base = 0;
    for w in words {
        let hit = special_bits(usize::from_le_bytes(*w));
        if hit != 0 {
            return base + lowest_byte(hit);
        }
        base += WORD;
    }
    CHUNK
}

/// Skips string bytes that are neither `"`, `\` nor a control character; returns the input
/// from the first such byte (or empty).
///
/// Most keys and event names are shorter than a word, so the first word is checked inline;
/// longer runs continue out of line.
#[inline(always)]
fn skip_plain(t: &[u8]) -> &[u8] {
    match t.first_chunk::<WORD>() {
        Some(first) => {
            let hit = special_bits(usize::from_le_bytes(*first));
            if hit != 0 {
                t.get(lowest_byte(hit)..).unwrap_or_default()
            } else {
                skip_plain_long::<WIDE>(t, WORD)
            }
        }
        // Shorter than a word: the end of the input, or a short string being escaped.
        None => skip_plain_short(t),
    }
}

/// [`special_bits`] for a 32-bit word.
#[inline(always)]
fn special_bits_u32(x: u32) -> u32 {
    const ONES32: u32 = u32::MAX / 0xFF;
    let q = x ^ (ONES32 * 0x02);
    let s = x ^ (ONES32 * u32::from(b'\\'));
    ((q.wrapping_sub(ONES32 * 0x21) & !q) | (s.wrapping_sub(ONES32) & !s)) & (ONES32 << 7)
}

/// [`skip_plain`] of at most 8 bytes: 4 to 8 bytes as two overlapping 32-bit words (the
/// bytes of the second that the first covered are plain, so they mark nothing and lend no
/// borrow), fewer a byte at a time.
#[inline(never)]
fn skip_plain_short(t: &[u8]) -> &[u8] {
    if t.len() > 8 || WORD < 8 {
        // Longer input, or a target whose words are 32 bits (then `t` is shorter than 4).
        return skip_plain_long::<WIDE>(t, 0);
    }
    let (Some(head), Some(tail)) = (t.first_chunk::<4>(), t.last_chunk::<4>()) else {
        return skip_plain_bytes(t);
    };
    let hit = special_bits_u32(u32::from_le_bytes(*head));
    let at = if hit != 0 {
        (hit.trailing_zeros() / 8) as usize
    } else {
        let hit = special_bits_u32(u32::from_le_bytes(*tail));
        let tail_at = t.len().saturating_sub(4);
        if hit != 0 {
            tail_at + (hit.trailing_zeros() / 8) as usize
        } else {
            t.len()
        }
    };
    t.get(at..).unwrap_or_default()
}

/// [`skip_plain`] a byte at a time.
#[inline(always)]
fn skip_plain_bytes(mut t: &[u8]) -> &[u8] {
    while let [b, rest @ ..] = t {
        if is_string_special(*b) {
            break;
        }
        t = rest;
    }
    t
}

/// [`skip_plain`] of `s`, whose first `done` bytes are known to be plain. `CHUNKS`: use the
/// vectorised [`CHUNK`]-byte steps before the word-at-a-time ones.
#[inline(never)]
fn skip_plain_long<const CHUNKS: bool>(s: &[u8], done: usize) -> &[u8] {
    let mut t = s.get(done..).unwrap_or_default();
    if CHUNKS {
        while let Some((chunk, rest)) = t.split_first_chunk::<CHUNK>() {
            if any_in_chunk(chunk, string_special_flag) {
                return t.get(first_special_in(chunk)..).unwrap_or_default();
            }
            t = rest;
        }
    }
    while let Some((chunk, rest)) = t.split_first_chunk::<WORD>() {
        let hit = special_bits(usize::from_le_bytes(*chunk));
        if hit != 0 {
            return t.get(lowest_byte(hit)..).unwrap_or_default();
        }
        t = rest;
    }
    if t.is_empty() || !CHUNKS {
        // (Small targets finish the last bytes with the smaller byte loop.)
        return skip_plain_bytes(t);
    }
    // Fewer than a word left. When `s` has a word, read its last one instead: the bytes of
    // it before `t` are plain, so they mark nothing and lend no borrow to `t`'s bytes.
    let last = s
        .len()
        .checked_sub(WORD)
        .and_then(|at| s.get(at..))
        .and_then(|w| w.first_chunk::<WORD>());
    if let Some(last) = last {
        // `t` holds 1..WORD bytes, so the shift is below the word's width.
        let before_t = WORD.saturating_sub(t.len()) as u32;
        let hit = special_bits(usize::from_le_bytes(*last))
            .checked_shr(before_t * 8)
            .unwrap_or(0);
        let at = if hit != 0 { lowest_byte(hit) } else { t.len() };
        return t.get(at..).unwrap_or_default();
    }
    skip_plain_bytes(t)
}

/// Skips a string whose opening quote is already consumed; returns the input after the
/// closing quote, or `None` when the string is malformed or unterminated.
///
/// The common string without escapes takes the inline path; see [`skip_escaped`].
#[inline(always)]
fn skip_string(s: &[u8]) -> Option<&[u8]> {
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
fn scan_string(s: &[u8]) -> Res<(JsonStr<'_>, &[u8])> {
    let (rest, has_escapes) = match skip_plain(s) {
        [b'"', rest @ ..] => (rest, false),
        t => (skip_escaped(t).ok_or(EnvelopeError::InvalidJson)?, true),
    };
    // `rest` is a suffix of `s`; the string is what precedes it, less the closing quote.
    let n = s
        .len()
        .checked_sub(rest.len())
        .and_then(|n| n.checked_sub(1))
        .ok_or(EnvelopeError::InvalidJson)?;
    let raw = s.get(..n).ok_or(EnvelopeError::InvalidJson)?;
    Ok((JsonStr { raw, has_escapes }, rest))
}

/// Skips ASCII digits, a word at a time on targets with vector registers (small targets
/// keep the smaller byte loop).
#[inline]
fn skip_digits(t: &[u8]) -> &[u8] {
    skip_digits_with::<WIDE>(t)
}

/// [`skip_digits`]; `WORDS`: a word at a time first.
#[inline]
fn skip_digits_with<const WORDS: bool>(mut t: &[u8]) -> &[u8] {
    while let Some((word, rest)) = t.split_first_chunk::<WORD>() {
        if !WORDS {
            break;
        }
        let x = usize::from_le_bytes(*word);
        // Non-zero in each byte that is not a digit: its high nibble is not 3, or adding 6
        // carries into it (0x3A-0x3F). A carry out of a byte (from 0xFA and above, not
        // digits) only disturbs bytes above the first non-digit.
        let high = ONES * 0xF0;
        let not_digit =
            ((x & high) ^ (ONES * 0x30)) | ((x.wrapping_add(ONES * 0x06) & high) ^ (ONES * 0x30));
        if not_digit != 0 {
            return t.get(lowest_byte(not_digit)..).unwrap_or_default();
        }
        t = rest;
    }
    while let [b'0'..=b'9', rest @ ..] = t {
        t = rest;
    }
    t
}

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
fn scan_key(t: &[u8]) -> Res<(JsonStr<'_>, &[u8])> {
    let [b'"', rest @ ..] = t else {
        return Err(EnvelopeError::InvalidJson);
    };
    let (key, rest) = scan_string(rest)?;
    match skip_ws(rest) {
        [b':', rest @ ..] => Ok((key, skip_ws(rest))),
        _ => Err(EnvelopeError::InvalidJson),
    }
}

/// Skips one complete value starting at `t` (whitespace before it already skipped), nested
/// inside `outer` containers. Returns the input right after the value.
fn skip_value(mut t: &[u8], outer: u32) -> Res<&[u8]> {
    let limit = MAX_DEPTH.saturating_sub(outer);
    // One bit per open container, innermost in bit 0: 1 for an object, 0 for an array.
    let mut stack: u128 = 0;
    let mut depth: u32 = 0;
    'value: loop {
        match t {
            [b'"', rest @ ..] => {
                t = skip_string(rest).ok_or(EnvelopeError::InvalidJson)?;
            }
            [b'{', rest @ ..] => {
                if depth >= limit {
                    return Err(EnvelopeError::TooDeep);
                }
                match skip_ws(rest) {
                    [b'}', rest @ ..] => t = rest,
                    rest => {
                        stack = (stack << 1) | 1;
                        depth += 1;
                        t = skip_key(rest).ok_or(EnvelopeError::InvalidJson)?;
                        continue 'value;
                    }
                }
            }
            [b'[', rest @ ..] => {
                if depth >= limit {
                    return Err(EnvelopeError::TooDeep);
                }
                match skip_ws(rest) {
                    [b']', rest @ ..] => t = rest,
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
                t = scan_number(t).ok_or(EnvelopeError::InvalidJson)?;
            }
            _ => return Err(EnvelopeError::InvalidJson),
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
                        skip_key(rest).ok_or(EnvelopeError::InvalidJson)?
                    } else {
                        rest
                    };
                    continue 'value;
                }
                [b'}', rest @ ..] if in_object => t = rest,
                [b']', rest @ ..] if !in_object => t = rest,
                _ => return Err(EnvelopeError::InvalidJson),
            }
            stack >>= 1;
            depth -= 1;
        }
    }
}

/// The part of `whole` before its suffix `rest`.
#[inline(always)]
fn before<'a>(whole: &'a [u8], rest: &[u8]) -> Res<&'a [u8]> {
    let n = whole
        .len()
        .checked_sub(rest.len())
        .ok_or(EnvelopeError::InvalidJson)?;
    whole.get(..n).ok_or(EnvelopeError::InvalidJson)
}

/// Checks that only whitespace is left after the top-level value.
#[inline(always)]
fn expect_end(t: &[u8]) -> Res<()> {
    if skip_ws(t).is_empty() {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidJson)
    }
}

/// Validates a top-level value that has the wrong shape, then reports `shape_error`.
fn wrong_shape(t: &[u8], shape_error: EnvelopeError) -> EnvelopeError {
    match skip_value(t, 0).and_then(expect_end) {
        Ok(()) => shape_error,
        Err(e) => e,
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
    if !key.has_escapes {
        match key.raw {
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

/// Parses a value that may be a string: returns the string (if it is one) and the input
/// after the value. `outer` is the nesting depth of the value.
#[inline(always)]
fn scan_member_value(v: &[u8], outer: u32) -> Res<(Option<JsonStr<'_>>, &[u8])> {
    match v {
        [b'"', rest @ ..] => {
            let (s, after) = scan_string(rest)?;
            Ok((Some(s), after))
        }
        _ => Ok((None, skip_value(v, outer)?)),
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

/// Validates that `value` is exactly one JSON value (RFC 8259), surrounding whitespace
/// allowed, nested at most [`MAX_DEPTH`] levels.
///
/// Errors are [`EnvelopeError::InvalidJson`] or [`EnvelopeError::TooDeep`].
pub fn validate_json(value: &[u8]) -> Result<(), EnvelopeError> {
    skip_value(skip_ws(value), 0).and_then(expect_end)
}

/// Receives the output of the compaction and escaping walks.
trait Sink {
    /// Appends `bytes`; false when they do not fit.
    fn put(&mut self, bytes: &[u8]) -> bool;
}

/// Counts bytes.
struct Counter(usize);

impl Sink for Counter {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) -> bool {
        self.0 = self.0.saturating_add(bytes.len());
        true
    }
}

impl Sink for Writer<'_> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) -> bool {
        Writer::put(self, bytes).is_some()
    }
}

/// Which kinds of bytes a text holds: what [`compact_json`] and a UTF-8 check need to
/// know, found in one pass by [`byte_kinds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteKinds {
    /// A byte at or below `' '`: whitespace, or a control character.
    pub(crate) space_or_control: bool,
    /// A byte above 0x7F (so the text is not ASCII).
    pub(crate) non_ascii: bool,
}

/// The [`ByteKinds`] of `s`, in one pass over it.
#[inline]
pub(crate) fn byte_kinds(s: &[u8]) -> ByteKinds {
    byte_kinds_with::<WIDE, true>(s)
}

/// [`byte_kinds`]; `CHUNKS`: as for [`skip_plain_long`]. Without `HIGH`, only
/// `space_or_control` is found (`non_ascii` is then always false), which stops at the first
/// such byte.
#[inline]
fn byte_kinds_with<const CHUNKS: bool, const HIGH: bool>(s: &[u8]) -> ByteKinds {
    // High bit set in each byte of `x` at or below 0x20 (plus false positives above a true
    // one only, which does not change whether any is set).
    let low = |x: usize| x.wrapping_sub(ONES * 0x21) & !x & HIGHS;
    let (mut space, mut high) = (false, false);
    let mut t = s;
    if CHUNKS {
        let (chunks, rest) = t.as_chunks::<CHUNK>();
        for c in chunks {
            space |= any_in_chunk(c, |b| 0x21u8.saturating_sub(b));
            if HIGH {
                high |= any_in_chunk(c, |b| b.saturating_sub(0x7F));
            }
            // Nothing more to learn; the exit also keeps LLVM vectorising each chunk
            // rather than across chunks.
            if space && (high || !HIGH) {
                break;
            }
        }
        t = rest;
    }
    let (words, _) = t.as_chunks::<WORD>();
    let (mut space_bits, mut high_bits) = (0usize, 0usize);
    for w in words {
        let x = usize::from_le_bytes(*w);
        space_bits |= low(x);
        high_bits |= x;
    }
    // The last bytes: the last word of `s` (re-reading some checked bytes is harmless).
    match s.last_chunk::<WORD>() {
        Some(w) => {
            let x = usize::from_le_bytes(*w);
            space_bits |= low(x);
            high_bits |= x;
        }
        None => {
            for &b in s {
                space |= b <= b' ';
                high |= b > 0x7F;
            }
        }
    }
    ByteKinds {
        space_or_control: space || space_bits != 0,
        non_ascii: HIGH && (high || high_bits & HIGHS != 0),
    }
}

/// Emits `src`, whose [`ByteKinds`] are `kinds`, without whitespace outside strings.
///
/// Input without any byte at or below `' '` has no whitespace to remove and is emitted in
/// one piece. Otherwise the input is emitted in runs broken only where whitespace is left
/// out.
fn compact_walk(src: &[u8], kinds: ByteKinds, sink: &mut impl Sink) -> bool {
    if !kinds.space_or_control {
        return sink.put(src);
    }
    // `run` is the input from the start of the run not yet emitted; `t` is the input from
    // the scan position, a suffix of `run`.
    let mut run = src;
    let mut t = src;
    loop {
        t = match t {
            [] => return sink.put(run),
            [b' ' | b'\t' | b'\n' | b'\r', ..] => {
                let Ok(kept) = before(run, t) else {
                    return false;
                };
                if !sink.put(kept) {
                    return false;
                }
                run = skip_ws(t);
                run
            }
            [b'"', body @ ..] => {
                // Find the end of the string; garbage (unterminated) runs to the end.
                let mut s = body;
                loop {
                    s = skip_plain(s);
                    match s {
                        [] => break,
                        [b'"', r @ ..] => {
                            s = r;
                            break;
                        }
                        [b'\\', _, r @ ..] => s = r,
                        [_, r @ ..] => s = r,
                    }
                }
                s
            }
            [_, rest @ ..] => rest,
        };
    }
}

/// Copies a valid JSON text into `out` without insignificant whitespace (outside strings),
/// spaced as `JSON.stringify` prints it (`{"a": [1, 2]}` becomes `{"a":[1,2]}`). Strings and
/// numbers are copied as they are. Returns the length written, or `None` if it does not fit.
///
/// The input is assumed valid; other input never panics but gives unspecified output.
pub fn compact_json(src: &[u8], out: &mut [u8]) -> Option<usize> {
    compact_json_with(src, space_kinds(src), out)
}

/// The [`ByteKinds`] compaction needs: only `space_or_control`, which stops at the first
/// such byte. (Small targets answer both questions, with the one copy of the code that
/// [`byte_kinds`] uses.)
#[inline]
fn space_kinds(src: &[u8]) -> ByteKinds {
    byte_kinds_with::<WIDE, { !WIDE }>(src)
}

/// [`compact_json`] of `src` whose [`ByteKinds`] the caller already has.
pub(crate) fn compact_json_with(src: &[u8], kinds: ByteKinds, out: &mut [u8]) -> Option<usize> {
    let mut w = Writer::new(out);
    compact_walk(src, kinds, &mut w).then_some(w.len())
}

/// Length [`compact_json`] would produce for `src`.
pub fn compact_len(src: &[u8]) -> usize {
    let mut c = Counter(0);
    compact_walk(src, space_kinds(src), &mut c);
    c.0
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
/// # use wsgate::gateway::envelope::write_json_string;
/// let mut buf = [0u8; 16];
/// let n = write_json_string("a\"b\u{1f}", &mut buf).unwrap();
/// assert_eq!(&buf[..n], br#""a\"b\u001f""#);
/// ```
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
mod tests {
    extern crate std;

    use super::*;
    use std::format;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    const E: EnvelopeError = EnvelopeError::InvalidJson;

    /// Decodes an event name into an owned string (test helper).
    fn dec(s: JsonStr<'_>) -> Option<String> {
        let mut buf = [0u8; 4096];
        s.decode_into(&mut buf).map(String::from)
    }

    /// Parses and returns (decoded event, data slice).
    fn env(msg: &str) -> (String, Option<&[u8]>) {
        let e = parse_envelope(msg.as_bytes()).unwrap_or_else(|e| panic!("{msg:?}: {e:?}"));
        (dec(e.event).unwrap(), e.data)
    }

    fn data_of(msg: &str) -> Option<&str> {
        env(msg).1.map(|d| core::str::from_utf8(d).unwrap())
    }

    fn js(raw: &str, has_escapes: bool) -> JsonStr<'_> {
        JsonStr {
            raw: raw.as_bytes(),
            has_escapes,
        }
    }

    // ---- parse_envelope: accepted shapes ----

    #[test]
    fn nestjs_sample() {
        let e = parse_envelope(br#"{"event":"events","data":"test"}"#).unwrap();
        assert_eq!(e.event.raw(), b"events");
        assert!(!e.event.has_escapes());
        assert_eq!(e.event.as_str(), Some("events"));
        assert!(e.event.eq_str("events"));
        assert!(!e.event.eq_str("event"));
        assert!(!e.event.eq_str("eventss"));
        assert_eq!(e.data, Some(&b"\"test\""[..]));
    }

    #[test]
    fn key_order_free() {
        assert_eq!(
            env(r#"{"data":1,"event":"e"}"#),
            (String::from("e"), Some(&b"1"[..]))
        );
        assert_eq!(
            env(r#"{"x":[1,{"event":"no"}],"data":{"event":"inner"},"event":"e","y":null}"#),
            (String::from("e"), Some(&br#"{"event":"inner"}"#[..]))
        );
    }

    #[test]
    fn whitespace_everywhere() {
        let msg = " \r\n\t{ \r\n\t\"event\" \r\n\t: \r\n\t\"e\" \r\n\t, \r\n\t\"data\" \r\n\t: \r\n\t[ 1 ,\t2 ,\r\n{ \"a\" : 3 } ] \r\n\t} \r\n\t";
        assert_eq!(
            env(msg),
            (
                String::from("e"),
                Some(&b"[ 1 ,\t2 ,\r\n{ \"a\" : 3 } ]"[..])
            )
        );
        assert_eq!(env("{\"event\":\"e\",\"data\" : 5 }").1, Some(&b"5"[..]));
    }

    #[test]
    fn data_absent() {
        assert_eq!(env(r#"{"event":"ping"}"#), (String::from("ping"), None));
        assert_eq!(env(r#"{"event":"ping","datum":1,"Data":2}"#).1, None);
    }

    #[test]
    fn data_of_every_type() {
        let values = [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1e-5",
            "1.5E+3",
            "-12.25e10",
            "123456789012345678901234567890",
            "0.5",
            "2E2",
            r#""""#,
            r#""plain""#,
            r#""\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \u0000""#,
            "\"caf\u{e9} \u{1F600}\"",
            "[]",
            "{}",
            "[[],[[]],{}]",
            r#"{"a":{"b":[1,"x",{"c":null}]},"d":[true,false]}"#,
            "[ 1 , [ 2 , { } ] ]",
        ];
        for v in values {
            for msg in [
                format!(r#"{{"event":"e","data":{v}}}"#),
                format!(r#"{{"data":{v},"event":"e"}}"#),
                format!("{{ \"event\" : \"e\" , \"data\" :\t{v}\n}}"),
                format!("{{\"data\"\r\n:\r\n{v}\r\n,\"event\":\"e\"}}"),
            ] {
                assert_eq!(data_of(&msg), Some(v), "{msg}");
            }
        }
    }

    #[test]
    fn duplicate_keys_last_wins() {
        assert_eq!(env(r#"{"event":"a","event":"b"}"#).0, "b");
        assert_eq!(env(r#"{"event":5,"event":"b"}"#).0, "b");
        assert_eq!(
            parse_envelope(br#"{"event":"a","event":5}"#),
            Err(EnvelopeError::NoEvent)
        );
        assert_eq!(
            parse_envelope(br#"{"event":"a","event":null}"#),
            Err(EnvelopeError::NoEvent)
        );
        assert_eq!(
            env(r#"{"data":1,"event":"e","data":[2]}"#).1,
            Some(&b"[2]"[..])
        );
        assert_eq!(
            env(r#"{"data":1,"event":"e","data":null}"#).1,
            Some(&b"null"[..])
        );
        // An escaped duplicate also counts.
        assert_eq!(env(r#"{"event":"a","ev\u0065nt":"b"}"#).0, "b");
        assert_eq!(
            env(r#"{"data":1,"event":"e","\u0064ata":2}"#).1,
            Some(&b"2"[..])
        );
    }

    #[test]
    fn escaped_keys() {
        assert_eq!(env(r#"{"ev\u0065nt":"x"}"#), (String::from("x"), None));
        assert_eq!(env(r#"{"\u0065\u0076\u0045NT":"x","event":"y"}"#).0, "y");
        assert_eq!(
            env(r#"{"event":"x","d\u0061t\u0061":[1]}"#).1,
            Some(&b"[1]"[..])
        );
        // Escapes that decode to something else are other keys.
        assert_eq!(
            parse_envelope(br#"{"event\n":"x"}"#),
            Err(EnvelopeError::NoEvent)
        );
        assert_eq!(
            parse_envelope(br#"{"\u0065vent\u0000":"x"}"#),
            Err(EnvelopeError::NoEvent)
        );
        assert_eq!(
            parse_envelope(br#"{"\ud800vent":"x"}"#),
            Err(EnvelopeError::NoEvent)
        );
        assert_eq!(
            parse_envelope(br#"{"Event":"x"}"#),
            Err(EnvelopeError::NoEvent)
        );
    }

    #[test]
    fn escaped_event_name() {
        let e = parse_envelope(br#"{"event":"a\"b"}"#).unwrap();
        assert_eq!(e.event.raw(), br#"a\"b"#);
        assert!(e.event.has_escapes());
        assert_eq!(e.event.as_str(), None);
        assert!(e.event.eq_str(r#"a"b"#));
        assert!(!e.event.eq_str(r#"a\"b"#));
        assert!(!e.event.eq_str("a"));
        assert!(!e.event.eq_str(r#"a"bc"#));
        assert_eq!(dec(e.event).as_deref(), Some(r#"a"b"#));
    }

    #[test]
    fn non_string_event_is_no_event() {
        for msg in [
            r#"{"event":5}"#,
            r#"{"event":null}"#,
            r#"{"event":true}"#,
            r#"{"event":["a"]}"#,
            r#"{"event":{"a":"b"}}"#,
            r#"{"data":"x"}"#,
            "{}",
            " { } ",
            r#"{"events":"x","Event":"y"}"#,
        ] {
            assert_eq!(
                parse_envelope(msg.as_bytes()),
                Err(EnvelopeError::NoEvent),
                "{msg}"
            );
        }
    }

    #[test]
    fn not_an_object() {
        for msg in [
            "[]",
            "5",
            "\"s\"",
            "null",
            "true",
            "false",
            "-0.5e3",
            "[{\"event\":\"e\"}]",
            " [1, 2] \n",
        ] {
            assert_eq!(
                parse_envelope(msg.as_bytes()),
                Err(EnvelopeError::NotAnObject),
                "{msg}"
            );
        }
        // Invalid JSON takes precedence over the shape.
        for msg in ["[1,]", "5 5", "\"s", "nul", "[", "-"] {
            assert_eq!(parse_envelope(msg.as_bytes()), Err(E), "{msg}");
        }
    }

    #[test]
    fn invalid_json() {
        let cases: &[&[u8]] = &[
            b"",
            b" ",
            b" \r\n\t ",
            b"{",
            b"}",
            br#"{"event":"a",}"#,
            br#"{"event":"a","data":[1,2,]}"#,
            br#"{"event":"a","data":{"x":1,}}"#,
            br#"{,"event":"a"}"#,
            br#"{"event":"a",,"data":1}"#,
            br#"{"event":"a"} x"#,
            br#"{"event":"a"}{}"#,
            br#"{"event":"a"},"#,
            br#"{'event':1}"#,
            br#"{"event":'a'}"#,
            br#"{event:"a"}"#,
            br#"{"a":01}"#,
            br#"{"a":-01}"#,
            br#"{"a":00}"#,
            br#"{"a":1.}"#,
            br#"{"a":.5}"#,
            br#"{"a":-}"#,
            br#"{"a":+1}"#,
            br#"{"a":1e}"#,
            br#"{"a":1e+}"#,
            br#"{"a":1.e5}"#,
            br#"{"a":0x10}"#,
            br#"{"a":NaN}"#,
            br#"{"a":Infinity}"#,
            br#"{"a":-Infinity}"#,
            br#"{"a":tru}"#,
            br#"{"a":True}"#,
            br#"{"a":nulls}"#,
            br#"{"a":undefined}"#,
            br#"{"event":"abc"#,
            br#"{"event":"abc}"#,
            b"{\"event\":\"a\x01b\"}",
            b"{\"event\":\"a\nb\"}",
            b"{\"event\":\"a\tb\"}",
            b"{\"event\":\"a\x1fb\"}",
            b"{\"event\":\"a\x00b\"}",
            b"{\"ev\x7f\x01ent\":\"a\"}",
            br#"{"event":"a\xb"}"#,
            br#"{"event":"a\u12"}"#,
            br#"{"event":"a\u12g4"}"#,
            br#"{"event":"a\U0041"}"#,
            br#"{"event":"a\'"}"#,
            br#"{"event":"a\"}"#,
            br#"{"event":"a\"#,
            br#"{"event" "a"}"#,
            br#"{"event"::"a"}"#,
            br#"{"event":}"#,
            br#"{"event"}"#,
            br#"{"event":"a" "data":1}"#,
            br#"{"event":"a"]"#,
            br#"{"event":["a"}"#,
            br#"{"event":"a","data":[1}]}"#,
            br#"/* c */{"event":"a"}"#,
            br#"{"event":"a"}// c"#,
            b"\xEF\xBB\xBF{\"event\":\"a\"}",
            b"\x0c{\"event\":\"a\"}",
            b"{\"event\":\"a\"}\x00",
            b"{\"event\":\"a\"}\xc2\xa0",
            "{\"event\":\"a\",\u{a0}\"data\":1}".as_bytes(),
            b"{\"event\":\xff\"a\"}",
        ];
        for c in cases {
            assert_eq!(
                parse_envelope(c),
                Err(E),
                "{:?}",
                String::from_utf8_lossy(c)
            );
            assert_eq!(validate_json(c), Err(E), "{:?}", String::from_utf8_lossy(c));
        }
    }

    #[test]
    fn high_bytes_in_strings_are_accepted() {
        let e = parse_envelope(b"{\"event\":\"\xff\xfe\x80\",\"data\":\"\xc3\"}").unwrap();
        assert_eq!(e.event.raw(), b"\xff\xfe\x80");
        assert_eq!(e.event.as_str(), None);
        assert_eq!(dec(e.event), None);
        assert!(!e.event.eq_str("\u{fffd}"));
        assert_eq!(e.data, Some(&b"\"\xc3\""[..]));
        let e = parse_envelope("{\"event\":\"\u{1F600}\u{e9}\"}".as_bytes()).unwrap();
        assert_eq!(e.event.as_str(), Some("\u{1F600}\u{e9}"));
        assert!(e.event.eq_str("\u{1F600}\u{e9}"));
    }

    /// Messages whose every proper prefix is invalid JSON.
    const VALID_MESSAGES: &[&str] = &[
        r#"{"event":"events","data":"test"}"#,
        r#"{"data":[1,-2.5e-3,true,false,null,{"k":"v\u00e9\n"}],"event":"a\"b","x":{}}"#,
        " \t{ \"event\" : \"e\" , \"data\" : { \"a\" : [ 10 , 0.25 , -0 ] } }",
        r#"{"ev\u0065nt":"\ud83d\ude00","data":"\/\\\b\f\r\t"}"#,
    ];

    #[test]
    fn truncation_at_every_position() {
        for msg in VALID_MESSAGES {
            let b = msg.as_bytes();
            assert!(parse_envelope(b).is_ok(), "{msg}");
            assert_eq!(validate_json(b), Ok(()));
            for n in 0..b.len() {
                let p = &b[..n];
                assert_eq!(parse_envelope(p), Err(E), "{msg} at {n}");
                assert_eq!(parse_array_envelope(p), Err(E), "{msg} at {n}");
                assert_eq!(validate_json(p), Err(E), "{msg} at {n}");
                // Garbage never panics in the helpers either.
                let mut out = [0u8; 256];
                let len = compact_len(p);
                assert_eq!(compact_json(p, &mut out), Some(len));
            }
        }
    }

    #[test]
    fn depth_limit() {
        let nest = |n: usize, open: &str, close: &str| -> String {
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(open);
            }
            if open.ends_with(':') {
                s.push('0');
            }
            for _ in 0..n {
                s.push_str(close);
            }
            s
        };
        assert_eq!(validate_json(nest(128, "[", "]").as_bytes()), Ok(()));
        assert_eq!(
            validate_json(nest(129, "[", "]").as_bytes()),
            Err(EnvelopeError::TooDeep)
        );
        assert_eq!(validate_json(nest(128, "{\"a\":", "}").as_bytes()), Ok(()));
        assert_eq!(
            validate_json(nest(129, "{\"a\":", "}").as_bytes()),
            Err(EnvelopeError::TooDeep)
        );
        assert_eq!(
            validate_json(nest(128, "[{\"a\":", "}]").as_bytes()),
            Err(EnvelopeError::TooDeep)
        );
        assert_eq!(validate_json(nest(64, "[{\"a\":", "}]").as_bytes()), Ok(()));
        assert_eq!(
            validate_json(nest(100_000, "[", "]").as_bytes()),
            Err(EnvelopeError::TooDeep)
        );
        // Mixed: arrays and objects alternate and must close in the right order.
        assert_eq!(validate_json(nest(10, "[{\"a\":", "]}").as_bytes()), Err(E));

        // The envelope object itself is level 1.
        let msg = |n: usize| format!(r#"{{"event":"e","data":{}}}"#, nest(n, "[", "]"));
        let m = msg(127);
        assert_eq!(
            parse_envelope(m.as_bytes()).unwrap().data.unwrap().len(),
            254
        );
        assert_eq!(
            parse_envelope(msg(128).as_bytes()),
            Err(EnvelopeError::TooDeep)
        );
        let nested_obj =
            |n: usize| format!(r#"{{"data":{},"event":"e"}}"#, nest(n, "{\"x\":", "}"));
        assert!(parse_envelope(nested_obj(126).as_bytes()).is_ok());
        assert!(
            parse_envelope(
                format!(
                    "{{\"event\":\"e\",\"data\":{{\"x\":{}}}}}",
                    nest(126, "[", "]")
                )
                .as_bytes()
            )
            .is_ok()
        );
        assert_eq!(
            parse_envelope(nested_obj(128).as_bytes()),
            Err(EnvelopeError::TooDeep)
        );
        // Non-objects too deep.
        assert_eq!(
            parse_envelope(nest(128, "[", "]").as_bytes()),
            Err(EnvelopeError::NotAnObject)
        );
        assert_eq!(
            parse_envelope(nest(129, "[", "]").as_bytes()),
            Err(EnvelopeError::TooDeep)
        );
        // Array envelope: the outer array is level 1.
        let am = |n: usize| format!(r#"["e",{}]"#, nest(n, "[", "]"));
        assert!(parse_array_envelope(am(127).as_bytes()).is_ok());
        assert_eq!(
            parse_array_envelope(am(128).as_bytes()),
            Err(EnvelopeError::TooDeep)
        );
        // Unbalanced deep input is TooDeep as soon as the limit is crossed.
        assert_eq!(validate_json(&[b'['; 129]), Err(EnvelopeError::TooDeep));
        assert_eq!(validate_json(&[b'['; 128]), Err(E));
    }

    #[test]
    fn strings_with_specials_at_every_offset() {
        // Exercises the word-at-a-time and chunked skipping around every alignment and
        // across the first chunk boundaries.
        for prefix in 0..70 {
            for filler in [
                b'a',
                0x7f,
                0x80,
                0xff,
                b' ',
                b'!',
                b'#',
                b'[',
                b']',
                0x21,
                0x1f + 1,
            ] {
                let mut body = vec![filler; prefix];
                let mut m = br#"{"event":""#.to_vec();
                m.extend_from_slice(&body);
                m.extend_from_slice(br#""}"#);
                let e = parse_envelope(&m).unwrap();
                assert_eq!(e.event.raw(), &body[..]);
                assert!(!e.event.has_escapes());

                for special in [&b"\\\""[..], b"\\\\", b"\\u0041", b"\\n"] {
                    let mut m = br#"{"event":""#.to_vec();
                    m.extend_from_slice(&body);
                    m.extend_from_slice(special);
                    m.extend_from_slice(&body);
                    m.extend_from_slice(br#"","data":0}"#);
                    let e = parse_envelope(&m).unwrap();
                    assert_eq!(e.event.raw().len(), 2 * prefix + special.len());
                    assert!(e.event.has_escapes());
                    assert_eq!(e.data, Some(&b"0"[..]));
                }
                for ctl in [0u8, 1, 0x0a, 0x1f] {
                    body.push(ctl);
                    body.extend_from_slice(b"abcdefghijkl");
                    let mut m = br#"{"event":""#.to_vec();
                    m.extend_from_slice(&body);
                    m.extend_from_slice(br#""}"#);
                    assert_eq!(parse_envelope(&m), Err(E), "{prefix} {filler} {ctl}");
                    body.truncate(prefix);
                }
            }
        }
    }

    #[test]
    fn skip_plain_matches_bytewise_scan() {
        // Byte values at the edges of every test the word-at-a-time scan makes.
        const EDGES: [u8; 20] = [
            0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0x81, 0x9f,
            0xa0, 0xa2, 0xdc, 0xfe, 0xff, b'a',
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let max = if rng.chance(50) { 24 } else { 100 };
            let len = rng.below(max);
            let plain_bias = rng.below(6);
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(4) < plain_bias {
                        [b'a', 0x80, 0xff, 0x21, 0xa2, 0xdc][rng.below(6)]
                    } else {
                        EDGES[rng.below(EDGES.len())]
                    }
                })
                .collect();
            let want = v
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(v.len());
            assert_eq!(v.len() - skip_plain(&v).len(), want, "{v:02x?}");
            // Both variants of the long scan (the one this target does not use included),
            // from every point known to be plain.
            for done in 0..=want {
                for got in [
                    skip_plain_long::<true>(&v, done).len(),
                    skip_plain_long::<false>(&v, done).len(),
                ] {
                    assert_eq!(v.len() - got, want, "{done} {v:02x?}");
                }
            }
        }
    }

    /// Every length and position around the word and chunk sizes.
    const LENGTHS: [usize; 17] = [
        0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 63, 64, 65, 70,
    ];

    #[test]
    fn skip_plain_finds_each_special_at_every_offset() {
        for len in LENGTHS {
            for filler in [b'a', 0x20, 0x21, 0x7f, 0x80, 0xff] {
                let plain = vec![filler; len];
                assert!(skip_plain(&plain).is_empty());
                assert!(skip_plain_long::<true>(&plain, 0).is_empty());
                assert!(skip_plain_long::<false>(&plain, 0).is_empty());
                for at in 0..len {
                    for special in [b'"', b'\\', 0x00, 0x0a, 0x1f] {
                        let mut v = plain.clone();
                        v[at] = special;
                        // A second special later must not hide the first.
                        if at + 3 < len {
                            v[at + 3] = b'"';
                        }
                        assert_eq!(len - skip_plain(&v).len(), at, "{len} {at} {special}");
                        for done in 0..=at {
                            assert_eq!(len - skip_plain_long::<true>(&v, done).len(), at);
                            assert_eq!(len - skip_plain_long::<false>(&v, done).len(), at);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn byte_tests_agree_for_every_byte() {
        for b in 0..=255u8 {
            let special = b == b'"' || b == b'\\' || b < 0x20;
            assert_eq!(is_string_special(b), special, "{b:#04x}");
            assert_eq!(string_special_flag(b) != 0, special, "{b:#04x}");
            let word = usize::from_le_bytes([b; WORD]);
            assert_eq!(special_bits(word) & 0x80 != 0, special, "{b:#04x}");
            assert_eq!(
                special_bits_u32(u32::from_le_bytes([b; 4])) & 0x80 != 0,
                special
            );
            // Every byte also in a chunk and a word of plain bytes, at every position.
            for at in 0..CHUNK {
                let mut chunk = [b'a'; CHUNK];
                chunk[at] = b;
                assert_eq!(any_in_chunk(&chunk, string_special_flag), special);
                if special {
                    assert_eq!(first_special_in(&chunk), at, "{b:#04x} {at}");
                }
            }
        }
    }

    #[test]
    fn short_scan_at_every_offset() {
        for len in 0..=8 {
            let plain = vec![b'a'; len];
            assert!(skip_plain_short(&plain).is_empty());
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    for filler in [b'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x80, 0xff] {
                        let mut v = vec![filler; len];
                        v[at] = special;
                        if at + 2 < len {
                            v[at + 2] = b'"';
                        }
                        assert_eq!(len - skip_plain_short(&v).len(), at, "{v:02x?}");
                    }
                }
            }
        }
        // Longer input is scanned in full all the same.
        let mut v = vec![b'a'; 20];
        v[15] = b'"';
        assert_eq!(skip_plain_short(&v).len(), 5);
    }

    #[test]
    fn long_strings_in_envelopes() {
        for len in LENGTHS {
            for at in 0..=len {
                // A plain string with an escape (or nothing) at `at`, as event and as data.
                let mut body = vec![b'x'; len];
                let esc = at < len;
                if esc {
                    body.splice(at..at + 1, *b"\\n");
                }
                let body = String::from_utf8(body).unwrap();
                let msg = format!(r#"{{"event":"{body}","data":["{body}","{body}"]}}"#);
                let e = parse_envelope(msg.as_bytes()).unwrap();
                assert_eq!(e.event.raw(), body.as_bytes());
                assert_eq!(e.event.has_escapes(), esc);
                let data = format!(r#"["{body}","{body}"]"#);
                assert_eq!(e.data, Some(data.as_bytes()));
                // Cut anywhere, it is invalid.
                for n in 0..msg.len() {
                    assert_eq!(parse_envelope(&msg.as_bytes()[..n]), Err(E), "{msg} {n}");
                }
                // A raw control character anywhere in the string is refused.
                if at < len {
                    let mut bad = msg.clone().into_bytes();
                    let pos = r#"{"event":""#.len() + at;
                    bad[pos] = 0x1f;
                    assert_eq!(parse_envelope(&bad), Err(E), "{msg} {at}");
                }
            }
        }
    }

    #[test]
    fn stringified_shortcut_agrees_with_the_full_parse() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let mut msgs: Vec<String> = Vec::new();
        for v in [
            "null",
            "true",
            "0",
            "-1.5e3",
            "1000000001",
            r#""""#,
            r#""a\"b""#,
            "[]",
            "{}",
            r#"{"seq":1000000001,"p":"xxxxxxxxxxxxxx"}"#,
            "[ 1 , { \"a\" : 2 } ]",
        ] {
            msgs.push(format!(r#"{{"event":"e","data":{v}}}"#));
            msgs.push(format!(r#"{{"event":"a\u0062c","data":{v}}}"#));
            msgs.push(format!("{{\"event\":\"e\",\"data\":{v}}} \r\n"));
            msgs.push(format!(r#"{{"event":"e","data":{v},"event":"f"}}"#));
            msgs.push(format!(r#"{{"event":"e","data":{v},"data":1}}"#));
            msgs.push(format!(r#"{{"event":"e","data":{v},"x":1}}"#));
        }
        for m in [
            r#"{"event":"e"}"#,
            r#"{"event":"e"} "#,
            r#"{"event":""}"#,
            r#"{"event":"e","data":}"#,
            r#"{"event":"e","data":1,}"#,
            r#"{"event":"e","data":1}x"#,
            r#"{"event":"e","data":1}}"#,
            r#"{"event":"e","data":01}"#,
            r#"{"event":"e","data":[1,]}"#,
            r#"{"event":"e","dat":1}"#,
            r#"{"event":"e" ,"data":1}"#,
            r#"{"event":"e","data" :1}"#,
            r#"{"event":"e","data": 1}"#,
            r#"{"event":"e","data":1 }"#,
            r#"{"event":5,"data":1}"#,
            r#"{"event":"e","data":"\x"}"#,
            "{\"event\":\"\u{1}\",\"data\":1}",
        ] {
            msgs.push(String::from(m));
        }
        msgs.push(format!(r#"{{"event":"e","data":{}}}"#, deep(127)));
        msgs.push(format!(r#"{{"event":"e","data":{}}}"#, deep(128)));
        msgs.push(format!(r#"{{"event":"e","data":{}"#, "[".repeat(200)));
        for m in &msgs {
            let b = m.as_bytes();
            assert_eq!(parse_envelope(b), parse_any_envelope(b), "{m}");
            for n in 0..b.len() {
                assert_eq!(
                    parse_envelope(&b[..n]),
                    parse_any_envelope(&b[..n]),
                    "{m} {n}"
                );
            }
        }
        assert_eq!(
            parse_envelope(msgs[0].as_bytes()),
            Ok(Envelope {
                event: js("e", false),
                data: Some(b"null")
            })
        );
        assert_eq!(
            parse_envelope(format!(r#"{{"event":"e","data":{}}}"#, deep(128)).as_bytes()),
            Err(EnvelopeError::TooDeep)
        );
    }

    #[test]
    fn skip_digits_matches_bytewise_scan() {
        // Digits, their neighbours, and the bytes whose +6 carries out of the byte.
        const BYTES: [u8; 14] = [
            b'0', b'5', b'9', b'/', b':', b'?', b'@', 0x36, 0x30, 0xF9, 0xFA, 0xFF, b'.', b'e',
        ];
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..20_000 {
            let len = rng.below(40);
            let digit_bias = rng.below(5);
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(5) < digit_bias {
                        b'0' + rng.below(10) as u8
                    } else {
                        BYTES[rng.below(BYTES.len())]
                    }
                })
                .collect();
            let want = v.iter().take_while(|b| b.is_ascii_digit()).count();
            assert_eq!(
                v.len() - skip_digits_with::<true>(&v).len(),
                want,
                "{v:02x?}"
            );
            assert_eq!(
                v.len() - skip_digits_with::<false>(&v).len(),
                want,
                "{v:02x?}"
            );
        }
        for len in 0..30 {
            for next in 0..=255u8 {
                let mut v = vec![b'7'; len];
                v.push(next);
                v.extend_from_slice(b"123456789");
                let want = if next.is_ascii_digit() { len + 10 } else { len };
                assert_eq!(v.len() - skip_digits_with::<true>(&v).len(), want, "{len}");
                assert_eq!(v.len() - skip_digits(&v).len(), want, "{len} {next}");
            }
        }
    }

    // ---- JsonStr ----

    #[test]
    fn eq_str_decodes_every_escape() {
        let s = js(r#"\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00x"#, true);
        let want = "\"\\/\u{8}\u{c}\n\r\tA\u{e9}\u{20ac}\u{1F600}x";
        assert!(s.eq_str(want));
        assert!(!s.eq_str(&want[..want.len() - 1]));
        assert!(!s.eq_str(&format!("{want}x")));
        assert!(!s.eq_str(""));
        assert_eq!(dec(s).as_deref(), Some(want));
        assert!(js(r#"\u0000"#, true).eq_str("\0"));
        assert!(js(r#"\uD83D\uDE00"#, true).eq_str("\u{1F600}"));
        assert!(js(r#"\uFFFF"#, true).eq_str("\u{FFFF}"));
        assert!(js("", false).eq_str(""));
        assert!(!js("", false).eq_str("a"));
        assert!(!js("a", false).eq_str(""));
    }

    #[test]
    fn unpaired_surrogates_never_match() {
        for raw in [
            r#"\ud800"#,
            r#"\udc00"#,
            r#"a\ud83dx"#,
            r#"\ud83d\u0041"#,
            r#"\ude00\ud83d"#,
            r#"\ud83d\ud83d"#,
            r#"\ud83d\n"#,
        ] {
            let s = js(raw, true);
            assert!(!s.eq_str(""), "{raw}");
            assert!(!s.eq_str("\u{fffd}"), "{raw}");
            assert!(!s.eq_str("a\u{fffd}x"), "{raw}");
            assert_eq!(dec(s), None, "{raw}");
        }
        // They are valid JSON all the same (as for JSON.parse).
        let e = parse_envelope(br#"{"event":"\ud800"}"#).unwrap();
        assert_eq!(e.event.raw(), br#"\ud800"#);
        assert!(!e.event.eq_str("\u{fffd}"));
    }

    #[test]
    fn decode_into_exact_and_bounded() {
        let s = js(r#"a\nb\u00e9"#, true);
        let mut buf = [0u8; 5];
        assert_eq!(s.decode_into(&mut buf), Some("a\nb\u{e9}"));
        let mut small = [0u8; 4];
        assert_eq!(s.decode_into(&mut small), None);
        let mut empty = [0u8; 0];
        assert_eq!(js("", false).decode_into(&mut empty), Some(""));
        assert_eq!(js("x", false).decode_into(&mut empty), None);
        let mut buf = [0u8; 8];
        assert_eq!(js("plain", false).decode_into(&mut buf), Some("plain"));
        assert_eq!(js("\u{e9}", false).as_str(), Some("\u{e9}"));
        // Malformed raw text (not produced by the scanner) is refused, never a panic.
        for raw in ["\\", "\\x", "\\u12", "\\u12zz", "a\\"] {
            assert_eq!(js(raw, true).decode_into(&mut buf), None, "{raw}");
            assert!(!js(raw, true).eq_str(raw));
        }
    }

    // ---- parse_array_envelope ----

    #[test]
    fn array_envelope() {
        let e = parse_array_envelope(br#"["events","test"]"#).unwrap();
        assert_eq!(e.event.as_str(), Some("events"));
        assert_eq!(e.data, Some(&br#""test""#[..]));
        let e = parse_array_envelope(b" [ \"a\\tb\" , { \"x\" : [ 1 ] } ] ").unwrap();
        assert!(e.event.eq_str("a\tb"));
        assert_eq!(e.data, Some(&b"{ \"x\" : [ 1 ] }"[..]));
        let e = parse_array_envelope(br#"["only"]"#).unwrap();
        assert_eq!((e.event.raw(), e.data), (&b"only"[..], None));
        let e = parse_array_envelope(br#"["e",null]"#).unwrap();
        assert_eq!(e.data, Some(&b"null"[..]));
        for m in [
            &br#"[]"#[..],
            br#"[1]"#,
            br#"[null,"e"]"#,
            br#"["a","b","c"]"#,
            br#"[["e"],1]"#,
            b" [ ] ",
        ] {
            assert_eq!(
                parse_array_envelope(m),
                Err(EnvelopeError::NoEvent),
                "{m:?}"
            );
        }
        for m in [&br#"{"event":"e"}"#[..], b"5", br#""e""#, b"null"] {
            assert_eq!(
                parse_array_envelope(m),
                Err(EnvelopeError::NotAnObject),
                "{m:?}"
            );
        }
        for m in [
            &br#"["e",]"#[..],
            br#"["e" 1]"#,
            br#"["e",1"#,
            br#"["e"],"#,
            br#"[,"e"]"#,
            br#"["e",1,]"#,
            b"",
        ] {
            assert_eq!(parse_array_envelope(m), Err(E), "{m:?}");
        }
    }

    // ---- validate_json ----

    #[test]
    fn validate_values() {
        for v in [
            "0",
            "-0",
            " 1 ",
            "1e5",
            "1E-5",
            "0.0e+0",
            "\"\"",
            "null",
            "[]",
            "{}",
            "[null,{\"a\":[]}]",
            "\t\"\\u0000\"\r\n",
        ] {
            assert_eq!(validate_json(v.as_bytes()), Ok(()), "{v}");
        }
        for v in [
            "",
            "1 2",
            "[] []",
            "{}}",
            "\"\\\"",
            "-",
            "--1",
            "1..2",
            "1e5.0",
            "[1 2]",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "{1:2}",
        ] {
            assert_eq!(validate_json(v.as_bytes()), Err(E), "{v}");
        }
    }

    // ---- compact_json ----

    fn compact(src: &str) -> String {
        let mut out = vec![0u8; src.len()];
        let n = compact_json(src.as_bytes(), &mut out).unwrap();
        assert_eq!(n, compact_len(src.as_bytes()));
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn compact_exact() {
        assert_eq!(
            compact(" { \"a\" : [ 1 , 2.5e3 , { } ] ,\r\n\t\"b\" : \"x y\\\" \\\\\" } "),
            r#"{"a":[1,2.5e3,{}],"b":"x y\" \\"}"#
        );
        assert_eq!(
            compact("[\"  \\\\\", \" \\\" , \" ]"),
            r#"["  \\"," \" , "]"#
        );
        assert_eq!(compact("\"\\u0020 \""), "\"\\u0020 \"");
        assert_eq!(
            compact(r#"{"event":"e","data":1}"#),
            r#"{"event":"e","data":1}"#
        );
        assert_eq!(compact(" null "), "null");
        assert_eq!(compact(""), "");
        assert_eq!(compact("   "), "");
        assert_eq!(
            compact("\"caf\u{e9}  \u{1F600}\" "),
            "\"caf\u{e9}  \u{1F600}\""
        );
    }

    #[test]
    fn compact_bounded_output() {
        let src = b"[ 1, \"a b\" ]";
        let want = br#"[1,"a b"]"#;
        assert_eq!(compact_len(src), want.len());
        for size in 0..want.len() {
            let mut out = vec![0u8; size];
            assert_eq!(compact_json(src, &mut out), None, "{size}");
        }
        let mut out = [0u8; 9];
        assert_eq!(compact_json(src, &mut out), Some(9));
        assert_eq!(&out, want);
    }

    #[test]
    fn compact_garbage_never_panics() {
        for g in [
            &b"\""[..],
            b"\"\\",
            b"\\\"",
            b" \" \\\" ",
            b"\"abc",
            b"\x00 \xff \"\x01 \"",
            b"]]]",
        ] {
            let mut out = [0u8; 32];
            assert_eq!(compact_json(g, &mut out), Some(compact_len(g)));
        }
        let mut out = [0u8; 32];
        let n = compact_json(b" \"a b", &mut out).unwrap();
        assert_eq!(&out[..n], b"\"a b");
    }

    /// The compaction as first written, a byte at a time: the reference for any input,
    /// garbage included.
    fn compact_reference(src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(&b) = src.get(i) {
            i += 1;
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'"' => {
                    out.push(b);
                    while let Some(&c) = src.get(i) {
                        out.push(c);
                        i += 1;
                        match c {
                            b'"' => break,
                            b'\\' => {
                                if let Some(&e) = src.get(i) {
                                    out.push(e);
                                    i += 1;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => out.push(b),
            }
        }
        out
    }

    fn check_compaction(src: &[u8]) {
        let want = compact_reference(src);
        let mut out = vec![0u8; src.len()];
        let n = compact_json(src, &mut out);
        assert_eq!(n, Some(want.len()), "{src:02x?}");
        assert_eq!(&out[..want.len()], &want[..], "{src:02x?}");
        assert_eq!(compact_len(src), want.len(), "{src:02x?}");
        let want = ByteKinds {
            space_or_control: src.iter().any(|&b| b <= b' '),
            non_ascii: !src.is_ascii(),
        };
        assert_eq!(byte_kinds_with::<true, true>(src), want, "{src:02x?}");
        assert_eq!(byte_kinds_with::<false, true>(src), want, "{src:02x?}");
        let space_only = ByteKinds {
            non_ascii: false,
            ..want
        };
        assert_eq!(
            byte_kinds_with::<true, false>(src),
            space_only,
            "{src:02x?}"
        );
        assert_eq!(
            byte_kinds_with::<false, false>(src),
            space_only,
            "{src:02x?}"
        );
    }

    #[test]
    fn compact_whitespace_at_every_offset() {
        for len in LENGTHS {
            let plain_string = format!("\"{}\"", "a".repeat(len));
            let array: String = std::iter::repeat_n("1,", len / 2 + 1).collect();
            let array = format!("[{}]", array.trim_end_matches(','));
            let mixed = format!("{{\"k\":{array},\"s\":{plain_string}}}");
            for value in [&plain_string, &array, &mixed] {
                let v = value.as_bytes();
                check_compaction(v);
                for at in 0..=v.len() {
                    for ws in [
                        &b" "[..],
                        b"\t",
                        b"\r\n",
                        b"    ",
                        b"\x01",
                        b"\x21",
                        "\u{e9}".as_bytes(),
                        b"\x7f\x80",
                    ] {
                        let mut w = v.to_vec();
                        w.splice(at..at, ws.iter().copied());
                        check_compaction(&w);
                    }
                }
            }
        }
    }

    #[test]
    fn compact_matches_reference_on_any_input() {
        const BYTES: &[u8] = b"  \t\n\r\"\"\\\\\x00\x1f\x20\x21\x7f\x80\xa0\xa1\xffab{}[],:";
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let max = if rng.chance(50) { 24 } else { 100 };
            let len = rng.below(max);
            let space_bias = rng.below(3);
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(4) < space_bias {
                        b'a'
                    } else {
                        BYTES[rng.below(BYTES.len())]
                    }
                })
                .collect();
            check_compaction(&v);
        }
    }

    /// Records the frames `send_raw_response` queues.
    struct Frames(Vec<Vec<u8>>);

    impl crate::connection::Outbox for Frames {
        fn is_open(&self) -> bool {
            true
        }
        fn send_with(
            &mut self,
            opcode: crate::protocol::frame::OpCode,
            fill: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
        ) -> Result<(), crate::connection::SendError> {
            assert_eq!(opcode, crate::protocol::frame::OpCode::Text);
            let mut buf = vec![0u8; 512];
            let n = fill(&mut buf).ok_or(crate::connection::SendError::Full)?;
            buf.truncate(n);
            self.0.push(buf);
            Ok(())
        }
        fn send(
            &mut self,
            opcode: crate::protocol::frame::OpCode,
            payload: &[u8],
        ) -> Result<(), crate::connection::SendError> {
            self.send_with(opcode, &mut |b| {
                b.get_mut(..payload.len())?.copy_from_slice(payload);
                Some(payload.len())
            })
        }
        fn free(&self) -> usize {
            512
        }
    }

    #[test]
    fn raw_responses_check_utf8_and_compact_in_one_pass() {
        let send = |event: &str, data: &[u8]| {
            let mut f = Frames(Vec::new());
            let r = crate::gateway::send_raw_response(&mut f, event, data);
            (r, f.0.pop())
        };
        let ok = |event: &str, data: &[u8]| {
            let (r, frame) = send(event, data);
            assert_eq!(r, Ok(()), "{data:02x?}");
            String::from_utf8(frame.unwrap()).unwrap()
        };
        assert_eq!(ok("e", b"{\"a\":1}"), r#"{"event":"e","data":{"a":1}}"#);
        assert_eq!(ok("e", b" [1, 2] "), r#"{"event":"e","data":[1,2]}"#);
        assert_eq!(ok("e", b""), r#"{"event":"e"}"#);
        assert_eq!(ok("a\"b", b"1"), r#"{"event":"a\"b","data":1}"#);
        assert_eq!(
            ok("e", "[\"caf\u{e9}\", \"a b\"]".as_bytes()),
            "{\"event\":\"e\",\"data\":[\"caf\u{e9}\",\"a b\"]}"
        );
        // Not UTF-8: refused, nothing queued.
        assert_eq!(
            send("e", b"\"\xff\""),
            (Err(crate::connection::SendError::Serialize), None)
        );
        // Non-ASCII bytes, valid or not, at every offset of values around the chunk sizes,
        // with and without whitespace to remove.
        for len in LENGTHS {
            for at in 0..=len {
                for ins in [
                    "\u{e9}".as_bytes(),
                    "\u{1f600}".as_bytes(),
                    b"\x80",
                    b"\xc3",
                ] {
                    for space in [false, true] {
                        let mut body = vec![b'x'; len];
                        if space {
                            body[..len / 2].fill(b' ');
                        }
                        body.splice(at..at, ins.iter().copied());
                        let mut data = b"[\"".to_vec();
                        data.extend_from_slice(&body);
                        data.extend_from_slice(b"\" ]");
                        let (r, frame) = send("e", &data);
                        if core::str::from_utf8(&data).is_ok() {
                            let mut want = br#"{"event":"e","data":["#.to_vec();
                            want.extend_from_slice(&data[1..data.len() - 2]);
                            want.extend_from_slice(b"]}");
                            assert_eq!((r, frame), (Ok(()), Some(want)), "{data:02x?}");
                        } else {
                            assert_eq!(
                                (r, frame),
                                (Err(crate::connection::SendError::Serialize), None),
                                "{data:02x?}"
                            );
                        }
                    }
                }
            }
        }
    }

    // ---- write_json_string ----

    fn jstr(s: &str) -> String {
        let mut out = vec![0u8; json_string_len(s)];
        let n = write_json_string(s, &mut out).unwrap();
        assert_eq!(n, out.len());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_string_exact() {
        assert_eq!(jstr(""), r#""""#);
        assert_eq!(jstr("events"), r#""events""#);
        assert_eq!(jstr("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(jstr("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(
            jstr("\0\u{1}\u{b}\u{e}\u{1a}\u{1f}"),
            r#""\u0000\u0001\u000b\u000e\u001a\u001f""#
        );
        assert_eq!(
            jstr("/ \u{7f} \u{e9} \u{2028} \u{1F600}"),
            "\"/ \u{7f} \u{e9} \u{2028} \u{1F600}\""
        );
        assert_eq!(jstr("Internal server error"), r#""Internal server error""#);
        assert_eq!(json_string_len("\u{1f}"), 8);
        assert_eq!(json_string_len("\n"), 4);
        assert_eq!(json_string_len("\u{e9}"), 4);
    }

    #[test]
    fn json_string_bounded() {
        let s = "a\n\u{1}";
        let want = br#""a\n\u0001""#;
        assert_eq!(json_string_len(s), want.len());
        for size in 0..want.len() {
            let mut out = vec![0u8; size];
            assert_eq!(write_json_string(s, &mut out), None, "{size}");
        }
        let mut out = [0u8; 32];
        let n = write_json_string(s, &mut out).unwrap();
        assert_eq!(&out[..n], want);
    }

    #[test]
    fn json_string_matches_serde_json_and_round_trips() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let alphabet = [
            'a',
            'Z',
            ' ',
            '"',
            '\\',
            '/',
            '\0',
            '\u{1}',
            '\u{8}',
            '\u{9}',
            '\n',
            '\u{b}',
            '\u{c}',
            '\r',
            '\u{1f}',
            '\u{7f}',
            '\u{e9}',
            '\u{2028}',
            '\u{1F600}',
        ];
        for _ in 0..300 {
            let len = rng.below(12);
            let s: String = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let ours = jstr(&s);
            assert_eq!(ours, serde_json::to_string(&s).unwrap(), "{s:?}");
            let msg = format!(r#"{{"event":{ours}}}"#);
            let e = parse_envelope(msg.as_bytes()).unwrap();
            assert!(e.event.eq_str(&s), "{s:?}");
            assert_eq!(dec(e.event).as_deref(), Some(s.as_str()));
        }
    }

    // ---- differential tests against serde_json ----

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }
    }

    fn ws(rng: &mut Rng, out: &mut String) {
        const WS: [&str; 7] = ["", "", "", " ", "\t", "\r\n", "  \n "];
        out.push_str(WS[rng.below(WS.len())]);
    }

    fn gen_string(rng: &mut Rng, out: &mut String) {
        const PARTS: [&str; 20] = [
            "a",
            "event",
            "data",
            " ",
            "xyz0123",
            "\u{e9}",
            "\u{1F600}",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "\\u0041",
            "\\u00E9",
            "\\ud83d\\ude00",
            "\\u0000",
            "long string with no specials at all",
        ];
        out.push('"');
        for _ in 0..rng.below(5) {
            out.push_str(PARTS[rng.below(PARTS.len())]);
        }
        out.push('"');
    }

    fn gen_value(rng: &mut Rng, depth: usize, out: &mut String) {
        const NUMS: [&str; 12] = [
            "0",
            "-0",
            "1",
            "-12",
            "1.5",
            "1e-5",
            "1.5E+3",
            "123456789",
            "0.001",
            "-3.25e10",
            "2E2",
            "0e0",
        ];
        let kind = if depth > 5 {
            rng.below(5)
        } else {
            rng.below(7)
        };
        match kind {
            0 => out.push_str(["null", "true", "false"][rng.below(3)]),
            1 | 2 => out.push_str(NUMS[rng.below(NUMS.len())]),
            3 | 4 => gen_string(rng, out),
            5 => {
                out.push('[');
                ws(rng, out);
                let n = rng.below(4);
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                        ws(rng, out);
                    }
                    gen_value(rng, depth + 1, out);
                    ws(rng, out);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                ws(rng, out);
                let n = rng.below(4);
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                        ws(rng, out);
                    }
                    gen_string(rng, out);
                    ws(rng, out);
                    out.push(':');
                    ws(rng, out);
                    gen_value(rng, depth + 1, out);
                    ws(rng, out);
                }
                out.push('}');
            }
        }
    }

    /// An object shaped like an envelope: event/data keys (sometimes escaped, duplicated or
    /// of the wrong type) among other keys.
    fn gen_envelope(rng: &mut Rng) -> String {
        const KEYS: [&str; 8] = [
            r#""event""#,
            r#""data""#,
            r#""ev\u0065nt""#,
            r#""\u0064ata""#,
            r#""other""#,
            r#""Event""#,
            r#""event ""#,
            r#""""#,
        ];
        let mut out = String::new();
        ws(rng, &mut out);
        out.push('{');
        ws(rng, &mut out);
        let n = rng.below(5);
        for i in 0..n {
            if i > 0 {
                out.push(',');
                ws(rng, &mut out);
            }
            let key = KEYS[rng.below(KEYS.len())];
            out.push_str(key);
            ws(rng, &mut out);
            out.push(':');
            ws(rng, &mut out);
            if key.contains("ev") && rng.chance(70) {
                gen_string(rng, &mut out);
            } else {
                gen_value(rng, 1, &mut out);
            }
            ws(rng, &mut out);
        }
        out.push('}');
        ws(rng, &mut out);
        out
    }

    /// An envelope as `JSON.stringify` writes it (sometimes without data), the shape
    /// `parse_envelope` takes a shortcut for.
    fn gen_stringified(rng: &mut Rng) -> String {
        let mut out = String::from(r#"{"event":"#);
        gen_string(rng, &mut out);
        if rng.chance(80) {
            out.push_str(r#","data":"#);
            gen_value(rng, 1, &mut out);
        }
        out.push('}');
        out
    }

    fn mutate(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
        const INSERT: &[u8] = b"{}[],:\"\\ 0123456789.eE+-tfnulx'\x01/\t\x7f";
        let mut v = src.to_vec();
        for _ in 0..1 + rng.below(2) {
            let len = v.len();
            match rng.below(5) {
                0 if len > 0 => {
                    v.remove(rng.below(len));
                }
                1 => v.insert(rng.below(len + 1), INSERT[rng.below(INSERT.len())]),
                2 if len > 0 => v[rng.below(len)] = INSERT[rng.below(INSERT.len())],
                3 => v.truncate(rng.below(len + 1)),
                _ if len > 1 => {
                    let i = rng.below(len - 1);
                    v.swap(i, i + 1);
                }
                _ => {}
            }
        }
        v
    }

    /// Checks one input against serde_json; returns whether it was a valid envelope.
    fn check_against_serde(input: &[u8]) -> bool {
        let shown = String::from_utf8_lossy(input);
        // Pure syntax check (no UTF-8, surrogate or number-range checks, no depth limit).
        let serde_valid = serde_json::from_slice::<serde::de::IgnoredAny>(input).is_ok();
        let ours = parse_envelope(input);
        // The shortcut for `JSON.stringify`'s shape never changes the result.
        assert_eq!(ours, parse_any_envelope(input), "{shown:?}");
        assert_eq!(
            validate_json(input).is_ok(),
            serde_valid,
            "validate_json {shown:?}"
        );
        assert_eq!(ours != Err(E), serde_valid, "{shown:?}: {ours:?}");
        let arr = parse_array_envelope(input);
        assert_eq!(arr != Err(E), serde_valid, "array {shown:?}: {arr:?}");
        if !serde_valid {
            return false;
        }
        // Compaction keeps the value and drops all whitespace outside strings.
        let mut out = vec![0u8; input.len()];
        let n = compact_json(input, &mut out).unwrap();
        assert_eq!(n, compact_len(input));
        let compacted = &out[..n];
        assert_eq!(validate_json(compacted), Ok(()), "{shown:?}");
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(input) else {
            // Valid JSON that serde_json cannot hold as a Value (lone surrogates).
            return false;
        };
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(compacted).unwrap(),
            value
        );
        assert_eq!(compact_len(compacted), n);

        match &value {
            serde_json::Value::Object(map) => {
                assert_ne!(arr, Err(EnvelopeError::InvalidJson));
                assert_eq!(arr, Err(EnvelopeError::NotAnObject), "{shown:?}");
                match map.get("event") {
                    Some(serde_json::Value::String(s)) => {
                        let e = ours.unwrap_or_else(|e| panic!("{shown:?}: {e:?}"));
                        assert!(e.event.eq_str(s), "{shown:?}");
                        assert_eq!(dec(e.event).as_deref(), Some(s.as_str()), "{shown:?}");
                        check_data(e.data, map.get("data"), &shown);
                        true
                    }
                    _ => {
                        assert_eq!(ours, Err(EnvelopeError::NoEvent), "{shown:?}");
                        false
                    }
                }
            }
            serde_json::Value::Array(items) => {
                assert_eq!(ours, Err(EnvelopeError::NotAnObject), "{shown:?}");
                match (items.len(), items.first()) {
                    (1 | 2, Some(serde_json::Value::String(s))) => {
                        let e = arr.unwrap_or_else(|e| panic!("{shown:?}: {e:?}"));
                        assert!(e.event.eq_str(s));
                        check_data(e.data, items.get(1), &shown);
                    }
                    _ => assert_eq!(arr, Err(EnvelopeError::NoEvent), "{shown:?}"),
                }
                false
            }
            _ => {
                assert_eq!(ours, Err(EnvelopeError::NotAnObject), "{shown:?}");
                assert_eq!(arr, Err(EnvelopeError::NotAnObject), "{shown:?}");
                false
            }
        }
    }

    fn check_data(ours: Option<&[u8]>, theirs: Option<&serde_json::Value>, shown: &str) {
        match (ours, theirs) {
            (None, None) => {}
            (Some(slice), Some(v)) => {
                assert_eq!(validate_json(slice), Ok(()));
                let first = slice.first().copied().unwrap();
                let last = slice.last().copied().unwrap();
                assert!(!matches!(first, b' ' | b'\t' | b'\n' | b'\r'), "{shown:?}");
                assert!(!matches!(last, b' ' | b'\t' | b'\n' | b'\r'), "{shown:?}");
                assert_eq!(
                    &serde_json::from_slice::<serde_json::Value>(slice).unwrap(),
                    v,
                    "{shown:?}"
                );
            }
            (o, t) => panic!("{shown:?}: data {o:?} vs {t:?}"),
        }
    }

    #[test]
    fn differential_generated() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let (mut envelopes, mut total) = (0, 0);
        for round in 0..1500 {
            let msg = if round % 5 == 0 {
                let mut s = String::new();
                gen_value(&mut rng, 0, &mut s);
                s
            } else if round % 5 == 1 {
                gen_stringified(&mut rng)
            } else {
                gen_envelope(&mut rng)
            };
            envelopes += usize::from(check_against_serde(msg.as_bytes()));
            total += 1;
            for _ in 0..4 {
                let m = mutate(&mut rng, msg.as_bytes());
                check_against_serde(&m);
                total += 1;
            }
        }
        // Short random byte strings over JSON's punctuation.
        const ALPHABET: &[u8] =
            b"{}[]{}[],,::\"\"\"\"\\ \t\n0123456789.-+eEtrufalsn u0041x\x01\x7f\xc3\xa9";
        for _ in 0..3000 {
            let len = rng.below(16);
            let v: Vec<u8> = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            check_against_serde(&v);
            total += 1;
        }
        // The generator produces a fair share of dispatchable envelopes.
        assert!(envelopes > 300, "{envelopes} of {total}");
    }

    #[test]
    fn differential_hand_written() {
        let inputs: &[&[u8]] = &[
            br#"{"event":"events","data":"test"}"#,
            br#"{"data":1,"event":"e"}"#,
            br#"{"event":"a","event":"b","data":1,"data":{"x":[1,2]}}"#,
            br#"{"ev\u0065nt":"x"}"#,
            br#"{"event":"a\"b"}"#,
            br#"{"event":"\ud83d\ude00","data":"\ud83d\ude00"}"#,
            br#"{"event":"\ud800"}"#,
            br#"{"event":5}"#,
            br#"{"event":null}"#,
            b"[]",
            b"5",
            br#""s""#,
            b"null",
            b"[\"e\",1]",
            br#"{"event":"a",}"#,
            br#"{"event":"a"} x"#,
            br#"{'event':1}"#,
            br#"{"a":01}"#,
            br#"{"a":1.}"#,
            br#"{"a":.5}"#,
            br#"{"a":1e999}"#,
            br#"{"a":-0.0e-0}"#,
            br#"{"event":"x","data":1E400}"#,
            b"{\"event\":\"\xff\"}",
            b"{\"event\":\"a\x1f\"}",
            br#"{"event":"a\x"}"#,
            br#"{"event":"a\u12"}"#,
            b"",
            b" ",
            b" {\"event\" : \"e\" ,\"data\":[ ] } \r\n",
            b"{\"event\":\"e\",\"data\":\"\x7f\"}",
        ];
        for i in inputs {
            check_against_serde(i);
        }
    }

    #[test]
    fn error_display() {
        assert_eq!(
            format!("{}", EnvelopeError::InvalidJson),
            "message is not valid JSON (RFC 8259)"
        );
        assert!(format!("{}", EnvelopeError::NotAnObject).contains("not an envelope"));
        assert!(
            format!("{}", EnvelopeError::NoEvent).contains("\"event\" is missing or not a string")
        );
        assert_eq!(
            format!("{}", EnvelopeError::TooDeep),
            "message nests arrays and objects deeper than 128 levels"
        );
    }
}
