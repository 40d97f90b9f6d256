//! Tests of JSON strings: comparing and decoding a [`JsonStr`], writing a literal.

extern crate std;

use super::*;
use crate::json::test_support::{dec, jstr};
use std::format;
use std::vec;

fn js(raw: &str, has_escapes: bool) -> JsonStr<'_> {
    JsonStr {
        raw: raw.as_bytes(),
        has_escapes,
    }
}

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
