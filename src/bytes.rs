//! Byte helpers shared by the wire and the JSON layers: what the word-at-a-time scans know
//! about the target, short copies and compares, and the one bounded writer every response
//! and reply is written with.
//!
//! A leaf: it imports nothing from the crate. Nothing here allocates or panics; the
//! [`Writer`] fails (never truncates) when its slice is full.

/// Whether the target has 128-bit vector registers, which LLVM uses for the loops over
/// whole chunks of bytes (the JSON scanner's, the UTF-8 check's ASCII prefix). Without them
/// (e.g. a Cortex-M) such a loop is long scalar code, slower than a word at a time, so only
/// the word-at-a-time scans are used; such targets also keep the smaller code (byte loops,
/// `memcpy`, `bcmp`) where a word trick would only buy speed.
pub(crate) const WIDE: bool = cfg!(any(
    target_feature = "sse2",
    target_feature = "neon",
    target_feature = "simd128"
));

/// `a == b`. Up to 16 bytes (event names) are compared as two overlapping fixed-size
/// words rather than by a call to `bcmp`.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if b.len() != n {
        false
    } else if n > 16 || !WIDE {
        // (Small targets keep the smaller code.)
        a == b
    } else if n >= 8 {
        ends_eq::<8>(a, b)
    } else if n >= 4 {
        ends_eq::<4>(a, b)
    } else {
        // 0 to 3 bytes: the first, the middle and the last.
        [0, n / 2, n.saturating_sub(1)]
            .iter()
            .all(|&i| a.get(i) == b.get(i))
    }
}

/// Whether the first `N` and the last `N` bytes of `a` and `b` (same length, `N` to `2N`
/// bytes) are equal: all of them.
#[inline(always)]
fn ends_eq<const N: usize>(a: &[u8], b: &[u8]) -> bool {
    a.first_chunk::<N>() == b.first_chunk::<N>() && a.last_chunk::<N>() == b.last_chunk::<N>()
}

/// `dst.copy_from_slice(src)` for slices of the same length (anything else copies
/// nothing). Up to 16 bytes (an event name, a quote) are copied by two overlapping
/// fixed-size moves rather than a call to `memcpy`.
#[inline(always)]
pub(crate) fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if dst.len() != n {
        return;
    }
    if n > 16 || !WIDE {
        // (Small targets keep the smaller code.)
        dst.copy_from_slice(src);
    } else if n >= 8 {
        copy_ends::<8>(dst, src);
    } else if n >= 4 {
        copy_ends::<4>(dst, src);
    } else {
        // 0 to 3 bytes: the first, the middle and the last.
        for i in [0, n / 2, n.saturating_sub(1)] {
            if let (Some(d), Some(s)) = (dst.get_mut(i), src.get(i)) {
                *d = *s;
            }
        }
    }
}

/// Copies the first and the last `N` bytes of `src` (same length as `dst`, `N` to `2N`
/// bytes): all of it.
#[inline(always)]
fn copy_ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
    if let (Some(d), Some(s)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
        *d = *s;
    }
    if let (Some(d), Some(s)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) {
        *d = *s;
    }
}

/// Appends bytes, decimal numbers and the output of other writers to a fixed slice from its
/// start, failing (never truncating, never panicking) when the slice is full.
///
/// After a failure the bytes written so far stay in the slice and count in
/// [`len`](Self::len); callers give up on the whole output.
pub(crate) struct Writer<'b> {
    /// The destination.
    buf: &'b mut [u8],
    /// Bytes written so far, at most `buf.len()`.
    len: usize,
}

impl<'b> Writer<'b> {
    /// A writer that fills `buf` from its start.
    #[inline]
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    /// Appends `bytes`, or returns `None` (writing nothing) if they do not fit.
    #[inline]
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len.checked_add(bytes.len())?;
        copy_bytes(self.buf.get_mut(self.len..end)?, bytes);
        self.len = end;
        Some(())
    }

    /// Appends `n` in decimal (no sign, no leading zeros), or returns `None` if it does not
    /// fit.
    pub(crate) fn put_decimal(&mut self, n: usize) -> Option<()> {
        // u64::MAX has 20 digits; usize is at most 64 bits wide.
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = n;
        for slot in digits.iter_mut().rev() {
            // `rest % 10` is below 10, so the cast and the addition cannot overflow.
            *slot = b'0' + (rest % 10) as u8;
            start = start.saturating_sub(1);
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        self.put(digits.get(start..)?)
    }

    /// Lets `write` fill the room left (a writer that returns the length it wrote, such as
    /// `serde_json_core::to_slice`) and appends what it wrote. `None` when `write` does, or
    /// claims more than the room it was given.
    #[inline(always)]
    pub(crate) fn fill(&mut self, write: impl FnOnce(&mut [u8]) -> Option<usize>) -> Option<()> {
        let n = write(self.room())?;
        self.advance(n)
    }

    /// The part of the slice not written yet.
    #[inline(always)]
    pub(crate) fn room(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.len..).unwrap_or_default()
    }

    /// Counts `n` bytes written into [`room`](Self::room) by someone else; `None` (counting
    /// nothing) if the room is smaller.
    #[inline(always)]
    pub(crate) fn advance(&mut self, n: usize) -> Option<()> {
        let end = self.len.checked_add(n)?;
        if end > self.buf.len() {
            return None;
        }
        self.len = end;
        Some(())
    }

    /// Bytes written so far.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::format;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    fn decimal(n: usize) -> String {
        let mut out = [0u8; 20];
        let mut w = Writer::new(&mut out);
        w.put_decimal(n).expect("fits");
        let len = w.len();
        String::from_utf8(out[..len].to_vec()).expect("ascii")
    }

    #[test]
    fn decimal_formatting() {
        for n in [
            0usize,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            65535,
            1 << 20,
            4_294_967_295,
            usize::MAX,
        ] {
            assert_eq!(decimal(n), format!("{n}"));
        }
        for n in 0..2000usize {
            assert_eq!(decimal(n), format!("{n}"));
        }
    }

    #[test]
    fn writer_refuses_without_truncating() {
        let mut out = [0u8; 4];
        let mut w = Writer::new(&mut out);
        assert_eq!(w.put(b"abc"), Some(()));
        assert_eq!(w.put(b"de"), None);
        assert_eq!(w.len(), 3);
        assert_eq!(w.put_decimal(42), None);
        assert_eq!(w.put_decimal(7), Some(()));
        assert_eq!(w.len(), 4);
        assert_eq!(&out, b"abc7");
    }

    #[test]
    fn fill_counts_what_was_written_and_no_more() {
        let mut out = [0u8; 8];
        let mut w = Writer::new(&mut out);
        assert_eq!(w.put(b"ab"), Some(()));
        assert_eq!(
            w.fill(|room| {
                assert_eq!(room.len(), 6);
                room.get_mut(..3)?.copy_from_slice(b"cde");
                Some(3)
            }),
            Some(())
        );
        assert_eq!(w.len(), 5);
        // A writer that fails, or claims more than its room, counts nothing.
        assert_eq!(w.fill(|_| None), None);
        assert_eq!(w.fill(|room| Some(room.len() + 1)), None);
        assert_eq!(w.advance(usize::MAX), None);
        assert_eq!(w.len(), 5);
        assert_eq!(w.fill(|room| Some(room.len())), Some(()));
        assert_eq!(w.room().len(), 0);
        assert_eq!(w.put(b""), Some(()));
        assert_eq!(w.put(b"f"), None);
        assert_eq!(w.len(), 8);
        assert_eq!(&out[..5], b"abcde");
    }

    #[test]
    fn bytes_eq_every_length_and_position() {
        for n in 0..=40usize {
            let a: Vec<u8> = (1..=n as u8).collect();
            assert!(bytes_eq(&a, &a.clone()), "{n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x80;
                assert!(!bytes_eq(&a, &b), "{n} {i}");
                assert!(!bytes_eq(&b, &a), "{n} {i}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!bytes_eq(&a, &longer));
            assert!(!bytes_eq(&longer, &a));
        }
    }

    #[test]
    fn copy_bytes_every_length() {
        for n in 0..=40usize {
            let src: Vec<u8> = (1..=n as u8).collect();
            let mut dst = vec![0u8; n];
            copy_bytes(&mut dst, &src);
            assert_eq!(dst, src, "{n}");
            // Different lengths: nothing is copied.
            let mut longer = vec![0u8; n + 1];
            copy_bytes(&mut longer, &src);
            assert!(longer.iter().all(|&b| b == 0), "{n}");
        }
    }
}
