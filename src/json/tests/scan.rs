//! Tests of the byte scanner: every fast path against a byte-at-a-time scan, at every
//! offset around the word and chunk sizes.

extern crate std;

use super::*;
use crate::json::test_support::{LENGTHS, Rng};
use std::vec;
use std::vec::Vec;

#[test]
fn skip_plain_matches_bytewise_scan() {
    // Byte values at the edges of every test the word-at-a-time scan makes.
    const EDGES: [u8; 20] = [
        0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0x81, 0x9f, 0xa0,
        0xa2, 0xdc, 0xfe, 0xff, b'a',
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
