//! Tests of the compaction: exact output, bounded output, and agreement with a
//! byte-at-a-time reference on any input, garbage included.

extern crate std;

use super::*;
use crate::json::test_support::{LENGTHS, Rng};
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

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
