//! The byte scanner under the JSON grammar: whitespace, runs of plain string bytes and
//! digits skipped a word at a time (and, on [`WIDE`] targets, a 32-byte chunk at a time),
//! and the kinds of bytes a text holds, found in one pass.
//!
//! The skips return the input from the first byte they did not skip (a suffix of their
//! input). Nothing here reads past its input or panics.

use super::{JsonError, Res};
use crate::bytes::WIDE;

/// Skips JSON whitespace (space, tab, LF, CR).
///
/// Compact JSON has none, so the common case is one compare: no byte above `' '` is
/// whitespace.
#[inline(always)]
pub(crate) fn skip_ws(t: &[u8]) -> &[u8] {
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
pub(super) fn skip_plain(t: &[u8]) -> &[u8] {
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

/// Skips ASCII digits, a word at a time on targets with vector registers (small targets
/// keep the smaller byte loop).
#[inline]
pub(super) fn skip_digits(t: &[u8]) -> &[u8] {
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

/// The part of `whole` before its suffix `rest`.
#[inline(always)]
pub(crate) fn before<'a>(whole: &'a [u8], rest: &[u8]) -> Res<&'a [u8]> {
    let n = whole
        .len()
        .checked_sub(rest.len())
        .ok_or(JsonError::Invalid)?;
    whole.get(..n).ok_or(JsonError::Invalid)
}

/// Which kinds of bytes a text holds: what [`compact_json`](super::compact_json) and a UTF-8 check need to
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
pub(super) fn byte_kinds_with<const CHUNKS: bool, const HIGH: bool>(s: &[u8]) -> ByteKinds {
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

#[cfg(test)]
#[path = "tests/scan.rs"]
mod tests;
