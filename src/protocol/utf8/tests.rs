//! Tests of [`super`]: the `utf8` module's unit tests, in a file of their own.

extern crate std;
use super::*;
use std::string::ToString;
use std::vec::Vec;

/// Oracle: `true` if `b` is valid UTF-8 or a valid UTF-8 prefix cut inside a code point.
fn is_valid_prefix(b: &[u8]) -> bool {
    match core::str::from_utf8(b) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Feeds `pieces` and checks each step against the oracle (fail-fast exactness),
/// then `finish` against `from_utf8` of the whole.
fn check_pieces(pieces: &[&[u8]]) {
    let mut v = Utf8Validator::new();
    let mut so_far = Vec::new();
    let mut failed = false;
    for p in pieces {
        so_far.extend_from_slice(p);
        let expect_ok = !failed && is_valid_prefix(&so_far);
        assert_eq!(
            v.feed(p).is_ok(),
            expect_ok,
            "pieces {pieces:02x?}, after {so_far:02x?}"
        );
        if !expect_ok {
            failed = true;
        }
        assert_eq!(
            v.is_complete(),
            !failed && core::str::from_utf8(&so_far).is_ok(),
            "is_complete after {so_far:02x?}"
        );
    }
    assert_eq!(
        v.finish().is_ok(),
        core::str::from_utf8(&so_far).is_ok(),
        "finish of {so_far:02x?}"
    );
    // finish resets.
    assert!(v.is_complete());
    assert_eq!(v.feed(b"ok"), Ok(()));
    assert_eq!(v.finish(), Ok(()));
}

/// Whole, one byte at a time, and every split into 2 and 3 pieces.
fn check_all_splits(b: &[u8]) {
    check_pieces(&[b]);
    let singles: Vec<&[u8]> = b.chunks(1).collect();
    check_pieces(&singles);
    for i in 0..=b.len() {
        let (x, y) = b.split_at(i);
        check_pieces(&[x, y]);
        for j in i..=b.len() {
            let (y1, z) = b.split_at(j);
            let y = &y1[i..];
            check_pieces(&[x, y, z]);
        }
    }
}

fn feed_all(b: &[u8]) -> Result<(), Utf8Error> {
    let mut v = Utf8Validator::new();
    v.feed(b)?;
    v.finish()
}

fn feed_bytewise(b: &[u8]) -> Result<(), Utf8Error> {
    let mut v = Utf8Validator::new();
    for x in b {
        v.feed(core::slice::from_ref(x))?;
    }
    v.finish()
}

#[test]
fn state_is_small() {
    assert_eq!(core::mem::size_of::<Utf8Validator>(), 4);
    assert_eq!(core::mem::size_of::<Utf8Error>(), 0);
}

#[test]
fn error_display() {
    assert_eq!(Utf8Error.to_string(), "text message is not valid UTF-8");
}

#[test]
fn empty_and_ascii() {
    let mut v = Utf8Validator::new();
    assert!(v.is_complete());
    assert_eq!(v.feed(&[]), Ok(()));
    assert_eq!(v.feed(b"Hello, world"), Ok(()));
    assert!(v.is_complete());
    assert_eq!(v.finish(), Ok(()));
    assert_eq!(feed_all(&[]), Ok(()));
    assert_eq!(feed_all(&[0x00, 0x7F]), Ok(()));
    let d = Utf8Validator::default();
    assert!(d.is_complete());
}

#[test]
fn fails_fast_on_first_bad_byte() {
    // Each of these fails on the call that delivers the last byte shown.
    let cases: &[&[u8]] = &[
        &[0xF4, 0x90], // > U+10FFFF
        &[0xED, 0xA0], // surrogate U+D800
        &[0xED, 0xBF], // surrogate U+DFFF
        &[0xE0, 0x80], // overlong 3-byte
        &[0xE0, 0x9F], // overlong 3-byte
        &[0xF0, 0x80], // overlong 4-byte
        &[0xF0, 0x8F], // overlong 4-byte
        &[0xC0],
        &[0xC1],
        &[0xF5],
        &[0xF8],
        &[0xFC],
        &[0xFE],
        &[0xFF],
        &[0x80], // stray continuation
        &[0xBF],
        &[0xC2, 0x41],             // missing continuation
        &[0xE2, 0x82, 0x41],       // missing 2nd continuation
        &[0xF0, 0x9F, 0x98, 0x41], // missing 3rd continuation
        &[0xF1, 0x80, 0x80, 0xC0],
        &[
            0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0,
        ],
    ];
    for &c in cases {
        let (last, head) = c.split_last().map(|(l, h)| (*l, h)).unwrap_or((0, &[]));
        // Delivered at once.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(c), Err(Utf8Error), "{c:02x?}");
        // Head first, then the bad byte.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(head), Ok(()), "head of {c:02x?}");
        assert_eq!(v.feed(&[last]), Err(Utf8Error), "{c:02x?}");
        // One byte at a time.
        let mut v = Utf8Validator::new();
        for (i, b) in c.iter().enumerate() {
            let r = v.feed(core::slice::from_ref(b));
            if i + 1 < c.len() {
                assert_eq!(r, Ok(()), "{c:02x?} byte {i}");
            } else {
                assert_eq!(r, Err(Utf8Error), "{c:02x?} byte {i}");
            }
        }
    }
}

#[test]
fn error_is_sticky_until_reset() {
    let mut v = Utf8Validator::new();
    assert_eq!(v.feed(&[0xC0]), Err(Utf8Error));
    assert!(!v.is_complete());
    assert_eq!(v.feed(b"abc"), Err(Utf8Error));
    v.reset();
    assert!(v.is_complete());
    assert_eq!(v.feed(b"abc"), Ok(()));
    assert_eq!(v.finish(), Ok(()));

    let mut v = Utf8Validator::new();
    assert_eq!(v.feed(&[0xFF]), Err(Utf8Error));
    assert_eq!(v.finish(), Err(Utf8Error));
    // finish reset it.
    assert_eq!(v.feed(b"x"), Ok(()));
    assert_eq!(v.finish(), Ok(()));
}

#[test]
fn truncated_at_end() {
    for c in [
        &[0xC2][..],
        &[0xE2],
        &[0xE2, 0x82],
        &[0xF0],
        &[0xF0, 0x9F],
        &[0xF0, 0x9F, 0x98],
        &[b'a', 0xF4, 0x8F, 0xBF],
    ] {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(c), Ok(()), "{c:02x?}");
        assert!(!v.is_complete(), "{c:02x?}");
        assert_eq!(v.finish(), Err(Utf8Error), "{c:02x?}");
        assert!(v.is_complete());
        assert_eq!(feed_bytewise(c), Err(Utf8Error), "{c:02x?}");
    }
}

#[test]
fn pending_then_completed_in_next_piece() {
    let mut v = Utf8Validator::new();
    assert_eq!(v.feed(&[b'a', 0xE2]), Ok(()));
    assert!(!v.is_complete());
    assert_eq!(v.feed(&[0x82]), Ok(()));
    assert!(!v.is_complete());
    assert_eq!(v.feed(&[0xAC, b'b', 0xF0, 0x9F]), Ok(()));
    assert!(!v.is_complete());
    assert_eq!(v.feed(&[0x98, 0x80, b'c']), Ok(()));
    assert!(v.is_complete());
    assert_eq!(v.finish(), Ok(()));
}

#[test]
fn boundary_code_points() {
    let valid: &[&[u8]] = &[
        &[0x00],
        &[0x7F],
        &[0xC2, 0x80],             // U+0080
        &[0xDF, 0xBF],             // U+07FF
        &[0xE0, 0xA0, 0x80],       // U+0800
        &[0xED, 0x9F, 0xBF],       // U+D7FF
        &[0xEE, 0x80, 0x80],       // U+E000
        &[0xEF, 0xBF, 0xBD],       // U+FFFD
        &[0xEF, 0xBF, 0xBF],       // U+FFFF
        &[0xF0, 0x90, 0x80, 0x80], // U+10000
        &[0xF4, 0x8F, 0xBF, 0xBF], // U+10FFFF
    ];
    for &c in valid {
        assert_eq!(feed_all(c), Ok(()), "{c:02x?}");
        assert_eq!(feed_bytewise(c), Ok(()), "{c:02x?}");
        check_all_splits(c);
    }
    let invalid: &[&[u8]] = &[
        &[0xC0, 0x80],                         // overlong NUL
        &[0xC1, 0xBF],                         // overlong U+007F
        &[0xE0, 0x9F, 0xBF],                   // overlong U+07FF
        &[0xED, 0xA0, 0x80],                   // U+D800
        &[0xED, 0xAD, 0xBF],                   // U+DB7F
        &[0xED, 0xAE, 0x80],                   // U+DB80
        &[0xED, 0xBF, 0xBF],                   // U+DFFF
        &[0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80], // surrogate pair
        &[0xF0, 0x8F, 0xBF, 0xBF],             // overlong U+FFFF
        &[0xF4, 0x90, 0x80, 0x80],             // U+110000
        &[0xF7, 0xBF, 0xBF, 0xBF],             // U+1FFFFF
        &[0xF8, 0x88, 0x80, 0x80, 0x80],
        &[0xFC, 0x84, 0x80, 0x80, 0x80, 0x80],
        &[0xFE],
        &[0xFF],
        &[0xFE, 0xFE, 0xFF, 0xFF],
    ];
    for &c in invalid {
        assert_eq!(feed_all(c), Err(Utf8Error), "{c:02x?}");
        assert_eq!(feed_bytewise(c), Err(Utf8Error), "{c:02x?}");
        check_all_splits(c);
    }
}

#[test]
fn valid_four_byte_split_at_every_position() {
    // U+1F600 😀 = F0 9F 98 80, surrounded by ASCII.
    let s = [b'a', 0xF0, 0x9F, 0x98, 0x80, b'b'];
    for i in 0..=s.len() {
        for j in i..=s.len() {
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(&s[..i]), Ok(()));
            assert_eq!(v.feed(&s[i..j]), Ok(()));
            assert_eq!(v.feed(&s[j..]), Ok(()));
            assert!(v.is_complete());
            assert_eq!(v.finish(), Ok(()));
        }
    }
}

#[test]
fn multilingual_one_byte_at_a_time() {
    // Autobahn 6.2.x "Hello-µ@ßöäüàá-UTF-8!!" and friends.
    let s = "Hello-\u{b5}@\u{df}\u{f6}\u{e4}\u{fc}\u{e0}\u{e1}-UTF-8!! \
             \u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5} \
             \u{41f}\u{440}\u{438}\u{432}\u{435}\u{442} \
             \u{3053}\u{3093}\u{306b}\u{3061}\u{306f} \u{4f60}\u{597d} \
             \u{c548}\u{b155} \u{5e9}\u{5dc}\u{5d5}\u{5dd} \u{645}\u{631}\u{62d}\u{628}\u{627} \
             \u{928}\u{92e}\u{938}\u{94d}\u{924}\u{947} \u{1f600}\u{1f30d}\u{10348}\u{10ffff}";
    let b = s.as_bytes();
    assert_eq!(feed_bytewise(b), Ok(()));
    assert_eq!(feed_all(b), Ok(()));
    let mut v = Utf8Validator::new();
    for (i, x) in b.iter().enumerate() {
        assert_eq!(v.feed(core::slice::from_ref(x)), Ok(()), "byte {i}");
        assert_eq!(v.is_complete(), s.is_char_boundary(i + 1), "byte {i}");
    }
    assert_eq!(v.finish(), Ok(()));
    // Every chunk size.
    for n in 1..=b.len() {
        let mut v = Utf8Validator::new();
        for c in b.chunks(n) {
            assert_eq!(v.feed(c), Ok(()), "chunk size {n}");
        }
        assert_eq!(v.finish(), Ok(()), "chunk size {n}");
    }
}

#[test]
fn autobahn_6_3_invalid_in_the_middle() {
    // κόσμε + U+D800 (encoded) + "edited": fails as soon as 0xA0 follows 0xED.
    let b = [
        0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65,
        0x64, 0x69, 0x74, 0x65, 0x64,
    ];
    let mut v = Utf8Validator::new();
    for (i, x) in b.iter().enumerate() {
        let r = v.feed(core::slice::from_ref(x));
        assert_eq!(r.is_ok(), i < 12, "byte {i}");
    }
    check_all_splits(&b);
}

#[test]
fn all_splits_of_samples_match_core() {
    let samples: &[&[u8]] = &[
        b"",
        b"plain ascii text",
        "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}".as_bytes(),
        "a\u{20ac}b\u{1f600}c\u{7ff}\u{800}\u{ffff}\u{10000}".as_bytes(),
        &[0xF4, 0x8F, 0xBF, 0xBF, 0xF4, 0x90, 0x80, 0x80],
        &[0x61, 0xED, 0x9F, 0xBF, 0xED, 0xA0, 0x80, 0x62],
        &[0xE0, 0xA0, 0x80, 0xE0, 0x9F, 0xBF],
        &[0xF0, 0x90, 0x80, 0x80, 0xF0, 0x8F, 0xBF, 0xBF],
        &[0xC2, 0x80, 0xC1, 0xBF],
        &[0xE2, 0x82, 0xAC, 0xE2, 0x82],
        &[0xF0, 0x9F, 0x98],
        &[0x80, 0x80, 0x80],
        &[0x41, 0xC3, 0xA9, 0xF5, 0x80],
        &[0xE1, 0x80, 0x41, 0x42],
        &[0xF1, 0x80, 0x80, 0x80, 0xF3, 0xBF, 0xBF, 0xBF, 0xF2],
        &[0xEF, 0xBB, 0xBF, 0x68, 0x69], // BOM is valid
        &[
            0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xF4, 0x90, 0x80,
            0x80, 0x65,
        ],
    ];
    for &s in samples {
        check_all_splits(s);
    }
}

#[test]
fn exhaustive_one_and_two_bytes() {
    for a in 0..=255u8 {
        check_pieces(&[&[a]]);
        for b in 0..=255u8 {
            let s = [a, b];
            let expect = core::str::from_utf8(&s).is_ok();
            assert_eq!(feed_all(&s).is_ok(), expect, "{s:02x?}");
            check_pieces(&[&[a], &[b]]);
        }
    }
}

#[test]
fn exhaustive_three_bytes_after_multibyte_leads() {
    // Every (second, third) byte after every 3- and 4-byte lead, split 1+1+1:
    // validity of the prefix decides each step.
    for a in 0xE0..=0xF7u8 {
        for b in 0..=255u8 {
            for c in 0..=255u8 {
                let s = [a, b, c];
                let mut v = Utf8Validator::new();
                let r1 = v.feed(&[a]).is_ok();
                let r2 = r1 && v.feed(&[b]).is_ok();
                let r3 = r2 && v.feed(&[c]).is_ok();
                assert_eq!(r1, is_valid_prefix(&s[..1]), "{s:02x?}");
                assert_eq!(r2, is_valid_prefix(&s[..2]), "{s:02x?}");
                assert_eq!(r3, is_valid_prefix(&s), "{s:02x?}");
                let mut w = Utf8Validator::new();
                assert_eq!(w.feed(&s).is_ok(), is_valid_prefix(&s), "{s:02x?}");
                assert_eq!(w.finish().is_ok(), core::str::from_utf8(&s).is_ok());
            }
        }
    }
}

#[test]
fn four_byte_sequences_at_range_edges() {
    let edges = [0x00u8, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF];
    for a in 0xF0..=0xFFu8 {
        for b in 0..=255u8 {
            for c in edges {
                for d in edges {
                    let s = [a, b, c, d];
                    let expect = core::str::from_utf8(&s).is_ok();
                    assert_eq!(feed_all(&s).is_ok(), expect, "{s:02x?}");
                    assert_eq!(feed_bytewise(&s).is_ok(), expect, "{s:02x?}");
                    let mut v = Utf8Validator::new();
                    let ok = v.feed(&s[..1]).is_ok() && v.feed(&s[1..]).is_ok();
                    assert_eq!(ok, is_valid_prefix(&s), "{s:02x?}");
                }
            }
        }
    }
}

#[test]
fn long_ascii_with_cut_code_point_at_piece_edges() {
    let mut msg = Vec::new();
    for i in 0..300u32 {
        msg.extend_from_slice(b"abcdefghijklmnopqrstuvwxyz0123456789");
        if i % 7 == 0 {
            msg.extend_from_slice("\u{1f600}".as_bytes());
        }
    }
    for n in [1usize, 2, 3, 5, 16, 63, 64, 65, 1000] {
        let mut v = Utf8Validator::new();
        for c in msg.chunks(n) {
            assert_eq!(v.feed(c), Ok(()), "chunk {n}");
        }
        assert_eq!(v.finish(), Ok(()));
    }
    // A bad byte deep inside ASCII is found on the piece that carries it.
    let mut bad = msg.clone();
    bad[5000] = 0xC0;
    let mut v = Utf8Validator::new();
    for (k, c) in bad.chunks(1000).enumerate() {
        assert_eq!(v.feed(c).is_ok(), k < 5, "piece {k}");
    }
}

#[test]
fn non_ascii_at_every_offset_around_the_ascii_chunks() {
    // Valid sequences, and bytes that are invalid where they stand, at every position
    // of ASCII text of lengths around one and two chunks, and both scans agreeing.
    let inserts: [&[u8]; 6] = [
        "\u{e9}".as_bytes(),
        "\u{20ac}".as_bytes(),
        "\u{1f600}".as_bytes(),
        &[0x80],
        &[0xFF],
        &[0xE2, 0x82],
    ];
    for len in [0usize, 1, 31, 63, 64, 65, 127, 128, 129, 200] {
        let ascii = std::vec![b'a'; len];
        assert!(is_utf8(&ascii));
        assert_eq!(feed_all(&ascii), Ok(()));
        assert_eq!(
            ascii_chunks_len(&ascii),
            if WIDE { len / 64 * 64 } else { 0 }
        );
        for at in 0..=len {
            for ins in inserts {
                let mut m = ascii.clone();
                m.splice(at..at, ins.iter().copied());
                let want = core::str::from_utf8(&m).is_ok();
                assert_eq!(is_utf8(&m), want, "{len} {at} {ins:02x?}");
                assert_eq!(feed_all(&m).is_ok(), want, "{len} {at} {ins:02x?}");
                assert!(ascii_chunks_len(&m) <= at, "{len} {at}");
                // Cut in two anywhere around the insert.
                for cut in at.saturating_sub(2)..(at + ins.len() + 2).min(m.len()) {
                    let (x, y) = m.split_at(cut);
                    check_pieces(&[x, y]);
                }
            }
        }
    }
}
