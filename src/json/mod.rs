//! JSON (RFC 8259) read and written in place: scanning, validation, strings and writing.
//!
//! What this module owns:
//!
//! - scanning: whitespace, runs of plain string bytes and digits are skipped a word (or, on
//!   targets with vector registers, a 32-byte chunk) at a time;
//! - validation: [`validate_json`] checks that a byte slice is exactly one JSON value, in one
//!   forward pass; the message formats built on it (the envelope) use the same scanner to
//!   validate a whole message while they pick out its parts;
//! - strings: a [`JsonStr`] is a string as it appears in the text, escapes intact, compared
//!   with a `&str` ([`JsonStr::eq_str`]) or decoded ([`JsonStr::decode_into`]) without
//!   allocating; [`write_json_string`] writes a string literal escaped exactly as
//!   JavaScript's `JSON.stringify` does;
//! - writing: [`compact_json`] copies a value without insignificant whitespace, as
//!   `JSON.stringify` prints it; output goes into a caller's slice and fails (never
//!   truncates) when it does not fit.
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
//! What it never does: allocate, recurse, panic on any input, or read past the input slice.
//! It does not convert numbers, does not check UTF-8, and does not copy strings unless asked
//! to ([`JsonStr::decode_into`]). It knows nothing of events, envelopes or WebSocket: the
//! NestJS envelope ([`crate::gateway::envelope`]) is built on it and maps a [`JsonError`] to
//! its own error.

use core::fmt;

mod scan;
mod string;
mod value;
mod write;

pub use string::{JsonStr, json_string_len, write_json_string};
pub use value::{MAX_DEPTH, validate_json};
pub use write::{compact_json, compact_len};

pub(crate) use scan::{before, byte_kinds, skip_ws};
pub(crate) use string::scan_string;
pub(crate) use value::{Visit, expect_end, scan_key, scan_member_value, skip_value, walk_value};
pub(crate) use write::compact_json_with;

/// Why a byte slice is not one acceptable JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JsonError {
    /// Not valid JSON (RFC 8259), e.g. a trailing comma, a comment, a truncated value, or
    /// bytes after the value.
    Invalid,
    /// Arrays and objects nested deeper than [`MAX_DEPTH`] levels. Reported as soon as the
    /// limit is crossed, without looking at the rest of the input.
    TooDeep,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonError::Invalid => "not valid JSON (RFC 8259)",
            JsonError::TooDeep => "arrays and objects nested deeper than 128 levels",
        })
    }
}

impl core::error::Error for JsonError {}

/// What the scanner's steps return.
type Res<T> = Result<T, JsonError>;

/// Test helpers shared by the JSON tests and the envelope's.
#[cfg(test)]
#[path = "tests/support.rs"]
pub(crate) mod test_support;
