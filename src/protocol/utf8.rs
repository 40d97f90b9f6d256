//! Incremental UTF-8 validation of a text message that arrives in pieces
//! (RFC 6455 §5.6, §8.1; UTF-8 as in RFC 3629).
//!
//! A text message may be split across frames and each frame across reads, so a code point
//! may be cut anywhere. [`Utf8Validator`] keeps only what is needed to finish a cut code point
//! (how many continuation bytes are still due and the range the next one must fall in: 4
//! bytes of state) and fails *fast*: as soon as the bytes seen so far cannot be the start of
//! valid UTF-8, so the connection can be failed with 1007 without waiting for the end of the
//! message (Autobahn case 6.4.x).
//!
//! The bulk of each piece goes through `core::str::from_utf8`, which is heavily optimised for
//! ASCII; only the 1-3 bytes of a code point cut between pieces are checked byte by byte.
//!
//! This module never allocates, never panics and never copies or stores message bytes.

use crate::bytes::WIDE;
use core::fmt;

/// The input is not valid UTF-8 (or, from [`Utf8Validator::finish`], ends inside a code point).
///
/// A text message failing this is closed with 1007 (invalid payload data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Utf8Error;

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text message is not valid UTF-8")
    }
}

impl core::error::Error for Utf8Error {}

/// Incremental UTF-8 validator for a message arriving in pieces.
///
/// Feed every piece of the message in order with [`feed`](Self::feed), then call
/// [`finish`](Self::finish) at the end of the message. After an error the validator stays
/// failed (every call returns `Err`) until [`reset`](Self::reset) or `finish`.
///
/// State is 4 bytes (`size_of::<Utf8Validator>() == 4`).
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Utf8Validator {
    /// Continuation bytes still due for the pending code point (0 when none is pending).
    need: u8,
    /// Lowest value allowed for the next continuation byte (meaningful when `need > 0`).
    lo: u8,
    /// Highest value allowed for the next continuation byte (meaningful when `need > 0`).
    hi: u8,
    /// An error was seen; sticky until `reset`/`finish`.
    failed: bool,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Utf8Validator {
            need: 0,
            lo: 0,
            hi: 0,
            failed: false,
        }
    }

    /// Forgets any pending code point and any error: ready for a new message.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Validates the next piece of the message.
    ///
    /// Fails as soon as the bytes seen so far cannot be the prefix of valid UTF-8: e.g.
    /// `[0xF4, 0x90]` (above U+10FFFF), `[0xED, 0xA0]` (a surrogate), `[0xE0, 0x80]`
    /// (overlong), `[0xC0]`, `[0xC1]` and `[0xF5]`..`[0xFF]` fail at once, even when the
    /// bytes arrive in separate calls. A code point split across pieces at any position
    /// (including one byte per call) is accepted.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        if self.failed {
            return Err(Utf8Error);
        }
        let result = self.feed_inner(bytes);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn feed_inner(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        // 1. Finish a code point left pending by the previous piece (at most 3 bytes).
        let mut rest = bytes;
        while self.need > 0 {
            let Some((&b, tail)) = rest.split_first() else {
                return Ok(());
            };
            self.step(b)?;
            rest = tail;
        }
        // 2. The bulk: leading ASCII chunks (the usual case) first, then the optimised
        //    validator of `core` from the first chunk holding a non-ASCII byte (a character
        //    boundary, since everything before it is ASCII).
        let rest = rest.get(ascii_chunks_len(rest)..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(());
        }
        match core::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) => {
                if e.error_len().is_some() {
                    return Err(Utf8Error);
                }
                // 3. A valid but incomplete code point at the end (1-3 bytes): remember what
                //    it still needs. `step` re-checks these bytes, which costs nothing and keeps
                //    the state exact.
                let tail = rest.get(e.valid_up_to()..).unwrap_or(&[]);
                tail.iter().try_for_each(|&b| self.step(b))
            }
        }
    }

    /// Advances the state by one byte.
    fn step(&mut self, b: u8) -> Result<(), Utf8Error> {
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                return Err(Utf8Error);
            }
            self.need -= 1;
            self.lo = 0x80;
            self.hi = 0xBF;
            return Ok(());
        }
        // Leading byte: how many continuation bytes follow, and the range of the first one
        // (RFC 3629 §4), which rules out overlongs, surrogates and code points > U+10FFFF.
        let (need, lo, hi) = match b {
            0x00..=0x7F => return Ok(()),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            // 0x80..=0xBF (stray continuation), 0xC0, 0xC1 (overlong), 0xF5..=0xFF.
            _ => return Err(Utf8Error),
        };
        self.need = need;
        self.lo = lo;
        self.hi = hi;
        Ok(())
    }

    /// `true` when no partial code point is pending and no error was seen: the message may
    /// end here.
    pub fn is_complete(&self) -> bool {
        self.need == 0 && !self.failed
    }

    /// Call at the end of the message: `Err` if a code point is incomplete (or an error was
    /// seen earlier). Resets the validator for the next message either way.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let result = if self.is_complete() {
            Ok(())
        } else {
            Err(Utf8Error)
        };
        self.reset();
        result
    }
}

/// Bytes per step of [`ascii_chunks_len`].
const ASCII_CHUNK: usize = 64;

/// Length of the longest prefix of `bytes` made of whole [`ASCII_CHUNK`]-byte chunks that
/// are all ASCII (0 on targets without vector registers, see [`WIDE`]: there
/// `core::str::from_utf8`'s word-at-a-time ASCII path is faster).
#[inline]
fn ascii_chunks_len(bytes: &[u8]) -> usize {
    if !WIDE {
        return 0;
    }
    let (chunks, _) = bytes.as_chunks::<ASCII_CHUNK>();
    // An OR over the chunk (no early exit inside), which LLVM vectorises.
    let ascii = chunks
        .iter()
        .take_while(|c| c.iter().fold(0u8, |acc, &b| acc | b.saturating_sub(0x7F)) == 0)
        .count();
    ascii.saturating_mul(ASCII_CHUNK)
}

/// Whether `bytes` is valid UTF-8, as `core::str::from_utf8(bytes).is_ok()`, faster when
/// it starts with long ASCII runs. (Callers that know `bytes` is all ASCII skip it.)
pub(crate) fn is_utf8(bytes: &[u8]) -> bool {
    let rest = bytes.get(ascii_chunks_len(bytes)..).unwrap_or_default();
    core::str::from_utf8(rest).is_ok()
}

#[cfg(test)]
mod tests;
