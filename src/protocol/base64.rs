//! Base64 (RFC 4648 §4: standard alphabet, `=` padding) into caller-provided buffers.
//!
//! The WebSocket opening handshake (RFC 6455 §4.2.1 and §4.2.2) uses base64 twice: the
//! client's `Sec-WebSocket-Key` must decode to exactly 16 bytes, and the server's
//! `Sec-WebSocket-Accept` is the base64 of a SHA-1 digest. This module does just that.
//!
//! Decoding is strict (canonical encodings only): the input length must be a multiple of 4,
//! every symbol must come from the standard alphabet, `=` may appear only as the final one or
//! two symbols, and the bits left unused by a padded final group must be zero. Whitespace,
//! the URL-safe alphabet and missing padding are all refused.
//!
//! It never allocates, never panics and never writes past the output slice: an output that is
//! too small is reported as `None`.

/// Number of base64 symbols (padding included) that encode `n` input bytes: `4 * ceil(n / 3)`.
///
/// Saturates at `usize::MAX` for inputs so large that the exact value does not fit, which no
/// output buffer can hold, so [`encode`] then returns `None`.
///
/// ```
/// # use wsgate::protocol::base64::encoded_len;
/// assert_eq!(encoded_len(0), 0);
/// assert_eq!(encoded_len(16), 24);
/// assert_eq!(encoded_len(20), 28);
/// ```
pub const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3).saturating_mul(4)
}

/// Encodes `input` as padded standard base64 into the start of `out`.
///
/// Returns the number of bytes written (always [`encoded_len`]`(input.len())`), or `None`
/// if `out` is shorter than that; nothing is written in that case.
///
/// ```
/// # use wsgate::protocol::base64::encode;
/// let mut out = [0u8; 8];
/// assert_eq!(encode(b"hello", &mut out), Some(8));
/// assert_eq!(&out, b"aGVsbG8=");
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn encode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = encoded_len(input.len());
    let dst = out.get_mut(..n)?;
    for (src, quad) in input.chunks(3).zip(dst.chunks_exact_mut(4)) {
        let b0 = src.first().copied().unwrap_or(0);
        let b1 = src.get(1).copied().unwrap_or(0);
        let b2 = src.get(2).copied().unwrap_or(0);
        let values = [
            b0 >> 2,
            ((b0 & 0x03) << 4) | (b1 >> 4),
            ((b1 & 0x0f) << 2) | (b2 >> 6),
            b2 & 0x3f,
        ];
        // 1, 2 or 3 input bytes need 2, 3 or 4 symbols; the rest of the group is padding.
        let symbols = src.len() + 1;
        for (i, (d, v)) in quad.iter_mut().zip(values).enumerate() {
            *d = if i < symbols { symbol(v) } else { b'=' };
        }
    }
    Some(n)
}

/// Strictly decodes padded standard base64 `input` into the start of `out`.
///
/// Returns the number of bytes written, or `None` if `input` is not canonical base64 (length
/// not a multiple of 4, a byte outside the alphabet, `=` anywhere but the last one or two
/// positions, non-zero unused bits in the last group) or if `out` is too small for the
/// decoded bytes. On `None` the contents of `out` are unspecified.
///
/// ```
/// # use wsgate::protocol::base64::decode;
/// let mut out = [0u8; 16];
/// assert_eq!(decode(b"aGVsbG8=", &mut out), Some(5));
/// assert_eq!(&out[..5], b"hello");
/// assert_eq!(decode(b"aGVsbG9=", &mut out), None); // unused bits set
/// assert_eq!(decode(b"aGVsbG8", &mut out), None); // padding missing
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let pad = match input {
        [.., b'=', b'='] => 2,
        [.., b'='] => 1,
        _ => 0,
    };
    let n = (input.len() / 4).checked_mul(3)?.checked_sub(pad)?;
    let dst = out.get_mut(..n)?;
    // Every group yields 3 bytes except a padded last one (2 or 1); `chunks_mut(3)` over
    // exactly `n` bytes pairs each group of 4 symbols with the bytes it produces.
    for (quad, bytes) in input.chunks_exact(4).zip(dst.chunks_mut(3)) {
        let mut values = [0u8; 4];
        // Data symbols in this group; any remaining positions are the `=` found above.
        let symbols = bytes.len() + 1;
        for (v, &c) in values.iter_mut().zip(quad).take(symbols) {
            *v = value(c)?;
        }
        let [v0, v1, v2, v3] = values;
        let unused_bits_set = match bytes.len() {
            1 => v1 & 0x0f != 0,
            2 => v2 & 0x03 != 0,
            _ => false,
        };
        if unused_bits_set {
            return None;
        }
        let decoded = [
            (v0 << 2) | (v1 >> 4),
            ((v1 & 0x0f) << 4) | (v2 >> 2),
            ((v2 & 0x03) << 6) | v3,
        ];
        for (d, b) in bytes.iter_mut().zip(decoded) {
            *d = b;
        }
    }
    Some(n)
}

/// The symbol for a 6-bit value (the top two bits of `v` are ignored).
const fn symbol(v: u8) -> u8 {
    let v = v & 0x3f;
    match v {
        0..=25 => b'A' + v,
        26..=51 => b'a' + (v - 26),
        52..=61 => b'0' + (v - 52),
        62 => b'+',
        _ => b'/',
    }
}

/// The 6-bit value of a symbol, `None` for anything outside the standard alphabet
/// (including `=`).
pub(crate) const fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn enc(input: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; encoded_len(input.len())];
        assert_eq!(encode(input, &mut out), Some(out.len()));
        out
    }

    fn dec(input: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; input.len()];
        let n = decode(input, &mut out)?;
        out.truncate(n);
        Some(out)
    }

    #[test]
    fn rfc4648_vectors() {
        let vectors: [(&[u8], &[u8]); 7] = [
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(enc(plain), coded);
            assert_eq!(dec(coded).as_deref(), Some(plain));
        }
    }

    #[test]
    fn encoded_len_values() {
        assert_eq!(encoded_len(0), 0);
        assert_eq!(encoded_len(1), 4);
        assert_eq!(encoded_len(2), 4);
        assert_eq!(encoded_len(3), 4);
        assert_eq!(encoded_len(4), 8);
        assert_eq!(encoded_len(16), 24);
        assert_eq!(encoded_len(20), 28);
        assert_eq!(encoded_len(usize::MAX), usize::MAX);
        assert_eq!(encoded_len(usize::MAX / 3 * 3), usize::MAX);
    }

    #[test]
    fn whole_alphabet_both_ways() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        let coded = enc(&bytes);
        assert_eq!(
            &coded[..64],
            b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"
        );
        assert_eq!(&coded[coded.len() - 8..], b"/P3+/w==");
        assert_eq!(dec(&coded).as_deref(), Some(&bytes[..]));
        // Every symbol decodes to its index.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (i, &c) in alphabet.iter().enumerate() {
            assert_eq!(value(c), Some(i as u8));
            assert_eq!(symbol(i as u8), c);
        }
    }

    #[test]
    fn round_trips_every_length_and_value() {
        for len in 0..70usize {
            let data: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(37).wrapping_add(len as u8))
                .collect();
            let coded = enc(&data);
            assert_eq!(coded.len(), encoded_len(len));
            assert_eq!(dec(&coded).as_deref(), Some(&data[..]), "len {len}");
        }
        for a in 0..=255u8 {
            for b in [0u8, 1, 0x7f, 0x80, 0xfe, 0xff] {
                for input in [&[a][..], &[a, b][..], &[b, a, b][..]] {
                    assert_eq!(dec(&enc(input)).as_deref(), Some(input));
                }
            }
        }
    }

    #[test]
    fn encode_out_too_small() {
        let mut out = [0xaau8; 7];
        assert_eq!(encode(b"hello", &mut out), None);
        assert_eq!(out, [0xaa; 7], "nothing written");
        let mut empty = [0u8; 0];
        assert_eq!(encode(b"", &mut empty), Some(0));
        assert_eq!(encode(b"a", &mut empty), None);
        // A larger buffer is fine; bytes after the encoding are left alone.
        let mut big = [0xaau8; 10];
        assert_eq!(encode(b"hi", &mut big), Some(4));
        assert_eq!(&big, b"aGk=\xaa\xaa\xaa\xaa\xaa\xaa");
    }

    #[test]
    fn decode_out_too_small() {
        let mut out = [0u8; 4];
        assert_eq!(decode(b"Zm9vYg==", &mut out), Some(4));
        assert_eq!(&out, b"foob");
        assert_eq!(decode(b"Zm9vYmE=", &mut out), None);
        let mut out = [0u8; 0];
        assert_eq!(decode(b"", &mut out), Some(0));
        assert_eq!(decode(b"Zg==", &mut out), None);
        // The sample WebSocket key needs exactly 16 bytes.
        let mut key = [0u8; 16];
        assert_eq!(decode(b"dGhlIHNhbXBsZSBub25jZQ==", &mut key), Some(16));
        assert_eq!(&key, b"the sample nonce");
        let mut short = [0u8; 15];
        assert_eq!(decode(b"dGhlIHNhbXBsZSBub25jZQ==", &mut short), None);
    }

    #[test]
    fn decode_rejects_bad_lengths() {
        for bad in [
            &b"Z"[..],
            b"Zg",
            b"Zg=",
            b"Zm9",
            b"Zm9vY",
            b"Zm9vYg=",
            b"Zm9vYg===",
        ] {
            assert_eq!(dec(bad), None, "{:?}", std::str::from_utf8(bad));
        }
    }

    #[test]
    fn decode_rejects_bad_symbols() {
        for bad in [
            &b"Zm9v YmFy"[..],
            b"Zm9v\nYmFy",
            b"Zm9-",
            b"Zm9_",
            b"Zm9v\0mFy",
            b"Zm9v\xffmFy",
            b" Zg=",
            b"Zg= ",
            b"Zm9.",
        ] {
            assert_eq!(dec(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn decode_rejects_misplaced_padding() {
        for bad in [
            &b"===="[..],
            b"A===",
            b"=AAA",
            b"A=AA",
            b"AA=A",
            b"Zg==Zg==",
            b"Zm8=Zm9v",
            b"Zg==AAAA",
            b"AAAA====",
            b"AAAAA===",
        ] {
            assert_eq!(dec(bad), None, "{:?}", std::str::from_utf8(bad));
        }
    }

    #[test]
    fn decode_rejects_nonzero_unused_bits() {
        // "Zg==" is canonical for "f"; "Zh==" .. "Zv==" carry stray low bits.
        assert_eq!(dec(b"Zg==").as_deref(), Some(&b"f"[..]));
        for c in b"hijklmnopqrstuv" {
            assert_eq!(dec(&[b'Z', *c, b'=', b'=']), None);
        }
        // "Zm8=" is canonical for "fo"; "Zm9=", "Zm+=" carry stray low bits.
        assert_eq!(dec(b"Zm8=").as_deref(), Some(&b"fo"[..]));
        assert_eq!(dec(b"Zm9="), None);
        assert_eq!(dec(b"Zm+="), None);
        assert_eq!(dec(b"Zm/="), None);
        assert_eq!(dec(b"dGhlIHNhbXBsZSBub25jZR=="), None);
        // Exhaustively: of the 64 possible last symbols, exactly 4 (2 pad) or 16 (1 pad) pass.
        let ok2 = (0..64u8)
            .filter(|&v| dec(&[b'A', symbol(v), b'=', b'=']).is_some())
            .count();
        let ok1 = (0..64u8)
            .filter(|&v| dec(&[b'A', b'A', symbol(v), b'=']).is_some())
            .count();
        assert_eq!((ok2, ok1), (4, 16));
    }

    #[test]
    fn decode_never_panics_on_arbitrary_short_inputs() {
        let alphabet = b"Aa0+/=\0\xff ";
        let mut out = [0u8; 8];
        for len in 0..=5usize {
            let total = alphabet.len().pow(len as u32);
            for mut idx in 0..total {
                let mut input = Vec::with_capacity(len);
                for _ in 0..len {
                    input.push(alphabet[idx % alphabet.len()]);
                    idx /= alphabet.len();
                }
                if let Some(n) = decode(&input, &mut out) {
                    // Anything accepted must re-encode to exactly the input.
                    assert_eq!(enc(&out[..n]), input);
                }
            }
        }
    }
}
