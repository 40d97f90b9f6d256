//! Writing JSON into a caller's slice: the [`Sink`] the compaction and escaping walks emit
//! into (a bounded [`Writer`] or a [`Counter`] of the length), and compaction.

use super::scan::{ByteKinds, before, byte_kinds_with, skip_plain, skip_ws};
use crate::bytes::{WIDE, Writer};

/// Receives the output of the compaction and escaping walks.
pub(super) trait Sink {
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
#[must_use = "the length written is the only way to know what was written"]
pub fn compact_json(src: &[u8], out: &mut [u8]) -> Option<usize> {
    compact_json_with(src, space_kinds(src), out)
}

/// The [`ByteKinds`] compaction needs: only `space_or_control`, which stops at the first
/// such byte. (Small targets answer both questions, with the one copy of the code that
/// [`byte_kinds`](super::byte_kinds) uses.)
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

#[cfg(test)]
#[path = "tests/write.rs"]
mod tests;
