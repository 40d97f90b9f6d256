//! Tests of the envelope parsers: accepted shapes, every error and its precedence, the
//! `JSON.stringify` shortcut against the full parse, and differential tests against
//! serde_json.

extern crate std;

use super::*;
use crate::json::test_support::{LENGTHS, Rng, dec, jstr};
use crate::json::{compact_json, compact_len};
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

const E: EnvelopeError = EnvelopeError::InvalidJson;

/// Parses and returns (decoded event, data slice).
fn env(msg: &str) -> (String, Option<&[u8]>) {
    let e = parse_envelope(msg.as_bytes()).unwrap_or_else(|e| panic!("{msg:?}: {e:?}"));
    (dec(e.event).unwrap(), e.data)
}

fn data_of(msg: &str) -> Option<&str> {
    env(msg).1.map(|d| core::str::from_utf8(d).unwrap())
}

fn js(raw: &str, has_escapes: bool) -> JsonStr<'_> {
    JsonStr::from_parts(raw.as_bytes(), has_escapes)
}

/// [`crate::json::validate_json`] with its error as the envelope reports it, so that one
/// assertion checks a message against both.
fn validate_json(value: &[u8]) -> Result<(), EnvelopeError> {
    crate::json::validate_json(value).map_err(EnvelopeError::from)
}

// ---- parse_envelope: accepted shapes ----

#[test]
fn nestjs_sample() {
    let e = parse_envelope(br#"{"event":"events","data":"test"}"#).unwrap();
    assert_eq!(e.event.raw(), b"events");
    assert!(!e.event.has_escapes());
    assert_eq!(e.event.as_str(), Some("events"));
    assert!(e.event.eq_str("events"));
    assert!(!e.event.eq_str("event"));
    assert!(!e.event.eq_str("eventss"));
    assert_eq!(e.data, Some(&b"\"test\""[..]));
}

#[test]
fn key_order_free() {
    assert_eq!(
        env(r#"{"data":1,"event":"e"}"#),
        (String::from("e"), Some(&b"1"[..]))
    );
    assert_eq!(
        env(r#"{"x":[1,{"event":"no"}],"data":{"event":"inner"},"event":"e","y":null}"#),
        (String::from("e"), Some(&br#"{"event":"inner"}"#[..]))
    );
}

#[test]
fn whitespace_everywhere() {
    let msg = " \r\n\t{ \r\n\t\"event\" \r\n\t: \r\n\t\"e\" \r\n\t, \r\n\t\"data\" \r\n\t: \r\n\t[ 1 ,\t2 ,\r\n{ \"a\" : 3 } ] \r\n\t} \r\n\t";
    assert_eq!(
        env(msg),
        (
            String::from("e"),
            Some(&b"[ 1 ,\t2 ,\r\n{ \"a\" : 3 } ]"[..])
        )
    );
    assert_eq!(env("{\"event\":\"e\",\"data\" : 5 }").1, Some(&b"5"[..]));
}

#[test]
fn data_absent() {
    assert_eq!(env(r#"{"event":"ping"}"#), (String::from("ping"), None));
    assert_eq!(env(r#"{"event":"ping","datum":1,"Data":2}"#).1, None);
}

#[test]
fn data_of_every_type() {
    let values = [
        "null",
        "true",
        "false",
        "0",
        "-0",
        "1e-5",
        "1.5E+3",
        "-12.25e10",
        "123456789012345678901234567890",
        "0.5",
        "2E2",
        r#""""#,
        r#""plain""#,
        r#""\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \u0000""#,
        "\"caf\u{e9} \u{1F600}\"",
        "[]",
        "{}",
        "[[],[[]],{}]",
        r#"{"a":{"b":[1,"x",{"c":null}]},"d":[true,false]}"#,
        "[ 1 , [ 2 , { } ] ]",
    ];
    for v in values {
        for msg in [
            format!(r#"{{"event":"e","data":{v}}}"#),
            format!(r#"{{"data":{v},"event":"e"}}"#),
            format!("{{ \"event\" : \"e\" , \"data\" :\t{v}\n}}"),
            format!("{{\"data\"\r\n:\r\n{v}\r\n,\"event\":\"e\"}}"),
        ] {
            assert_eq!(data_of(&msg), Some(v), "{msg}");
        }
    }
}

#[test]
fn duplicate_keys_last_wins() {
    assert_eq!(env(r#"{"event":"a","event":"b"}"#).0, "b");
    assert_eq!(env(r#"{"event":5,"event":"b"}"#).0, "b");
    assert_eq!(
        parse_envelope(br#"{"event":"a","event":5}"#),
        Err(EnvelopeError::NoEvent)
    );
    assert_eq!(
        parse_envelope(br#"{"event":"a","event":null}"#),
        Err(EnvelopeError::NoEvent)
    );
    assert_eq!(
        env(r#"{"data":1,"event":"e","data":[2]}"#).1,
        Some(&b"[2]"[..])
    );
    assert_eq!(
        env(r#"{"data":1,"event":"e","data":null}"#).1,
        Some(&b"null"[..])
    );
    // An escaped duplicate also counts.
    assert_eq!(env(r#"{"event":"a","ev\u0065nt":"b"}"#).0, "b");
    assert_eq!(
        env(r#"{"data":1,"event":"e","\u0064ata":2}"#).1,
        Some(&b"2"[..])
    );
}

#[test]
fn escaped_keys() {
    assert_eq!(env(r#"{"ev\u0065nt":"x"}"#), (String::from("x"), None));
    assert_eq!(env(r#"{"\u0065\u0076\u0045NT":"x","event":"y"}"#).0, "y");
    assert_eq!(
        env(r#"{"event":"x","d\u0061t\u0061":[1]}"#).1,
        Some(&b"[1]"[..])
    );
    // Escapes that decode to something else are other keys.
    assert_eq!(
        parse_envelope(br#"{"event\n":"x"}"#),
        Err(EnvelopeError::NoEvent)
    );
    assert_eq!(
        parse_envelope(br#"{"\u0065vent\u0000":"x"}"#),
        Err(EnvelopeError::NoEvent)
    );
    assert_eq!(
        parse_envelope(br#"{"\ud800vent":"x"}"#),
        Err(EnvelopeError::NoEvent)
    );
    assert_eq!(
        parse_envelope(br#"{"Event":"x"}"#),
        Err(EnvelopeError::NoEvent)
    );
}

#[test]
fn escaped_event_name() {
    let e = parse_envelope(br#"{"event":"a\"b"}"#).unwrap();
    assert_eq!(e.event.raw(), br#"a\"b"#);
    assert!(e.event.has_escapes());
    assert_eq!(e.event.as_str(), None);
    assert!(e.event.eq_str(r#"a"b"#));
    assert!(!e.event.eq_str(r#"a\"b"#));
    assert!(!e.event.eq_str("a"));
    assert!(!e.event.eq_str(r#"a"bc"#));
    assert_eq!(dec(e.event).as_deref(), Some(r#"a"b"#));
}

#[test]
fn non_string_event_is_no_event() {
    for msg in [
        r#"{"event":5}"#,
        r#"{"event":null}"#,
        r#"{"event":true}"#,
        r#"{"event":["a"]}"#,
        r#"{"event":{"a":"b"}}"#,
        r#"{"data":"x"}"#,
        "{}",
        " { } ",
        r#"{"events":"x","Event":"y"}"#,
    ] {
        assert_eq!(
            parse_envelope(msg.as_bytes()),
            Err(EnvelopeError::NoEvent),
            "{msg}"
        );
    }
}

#[test]
fn not_an_object() {
    for msg in [
        "[]",
        "5",
        "\"s\"",
        "null",
        "true",
        "false",
        "-0.5e3",
        "[{\"event\":\"e\"}]",
        " [1, 2] \n",
    ] {
        assert_eq!(
            parse_envelope(msg.as_bytes()),
            Err(EnvelopeError::NotAnObject),
            "{msg}"
        );
    }
    // Invalid JSON takes precedence over the shape.
    for msg in ["[1,]", "5 5", "\"s", "nul", "[", "-"] {
        assert_eq!(parse_envelope(msg.as_bytes()), Err(E), "{msg}");
    }
}

#[test]
fn invalid_json() {
    let cases: &[&[u8]] = &[
        b"",
        b" ",
        b" \r\n\t ",
        b"{",
        b"}",
        br#"{"event":"a",}"#,
        br#"{"event":"a","data":[1,2,]}"#,
        br#"{"event":"a","data":{"x":1,}}"#,
        br#"{,"event":"a"}"#,
        br#"{"event":"a",,"data":1}"#,
        br#"{"event":"a"} x"#,
        br#"{"event":"a"}{}"#,
        br#"{"event":"a"},"#,
        br#"{'event':1}"#,
        br#"{"event":'a'}"#,
        br#"{event:"a"}"#,
        br#"{"a":01}"#,
        br#"{"a":-01}"#,
        br#"{"a":00}"#,
        br#"{"a":1.}"#,
        br#"{"a":.5}"#,
        br#"{"a":-}"#,
        br#"{"a":+1}"#,
        br#"{"a":1e}"#,
        br#"{"a":1e+}"#,
        br#"{"a":1.e5}"#,
        br#"{"a":0x10}"#,
        br#"{"a":NaN}"#,
        br#"{"a":Infinity}"#,
        br#"{"a":-Infinity}"#,
        br#"{"a":tru}"#,
        br#"{"a":True}"#,
        br#"{"a":nulls}"#,
        br#"{"a":undefined}"#,
        br#"{"event":"abc"#,
        br#"{"event":"abc}"#,
        b"{\"event\":\"a\x01b\"}",
        b"{\"event\":\"a\nb\"}",
        b"{\"event\":\"a\tb\"}",
        b"{\"event\":\"a\x1fb\"}",
        b"{\"event\":\"a\x00b\"}",
        b"{\"ev\x7f\x01ent\":\"a\"}",
        br#"{"event":"a\xb"}"#,
        br#"{"event":"a\u12"}"#,
        br#"{"event":"a\u12g4"}"#,
        br#"{"event":"a\U0041"}"#,
        br#"{"event":"a\'"}"#,
        br#"{"event":"a\"}"#,
        br#"{"event":"a\"#,
        br#"{"event" "a"}"#,
        br#"{"event"::"a"}"#,
        br#"{"event":}"#,
        br#"{"event"}"#,
        br#"{"event":"a" "data":1}"#,
        br#"{"event":"a"]"#,
        br#"{"event":["a"}"#,
        br#"{"event":"a","data":[1}]}"#,
        br#"/* c */{"event":"a"}"#,
        br#"{"event":"a"}// c"#,
        b"\xEF\xBB\xBF{\"event\":\"a\"}",
        b"\x0c{\"event\":\"a\"}",
        b"{\"event\":\"a\"}\x00",
        b"{\"event\":\"a\"}\xc2\xa0",
        "{\"event\":\"a\",\u{a0}\"data\":1}".as_bytes(),
        b"{\"event\":\xff\"a\"}",
    ];
    for c in cases {
        assert_eq!(
            parse_envelope(c),
            Err(E),
            "{:?}",
            String::from_utf8_lossy(c)
        );
        assert_eq!(validate_json(c), Err(E), "{:?}", String::from_utf8_lossy(c));
    }
}

#[test]
fn high_bytes_in_strings_are_accepted() {
    let e = parse_envelope(b"{\"event\":\"\xff\xfe\x80\",\"data\":\"\xc3\"}").unwrap();
    assert_eq!(e.event.raw(), b"\xff\xfe\x80");
    assert_eq!(e.event.as_str(), None);
    assert_eq!(dec(e.event), None);
    assert!(!e.event.eq_str("\u{fffd}"));
    assert_eq!(e.data, Some(&b"\"\xc3\""[..]));
    let e = parse_envelope("{\"event\":\"\u{1F600}\u{e9}\"}".as_bytes()).unwrap();
    assert_eq!(e.event.as_str(), Some("\u{1F600}\u{e9}"));
    assert!(e.event.eq_str("\u{1F600}\u{e9}"));
}

/// Messages whose every proper prefix is invalid JSON.
const VALID_MESSAGES: &[&str] = &[
    r#"{"event":"events","data":"test"}"#,
    r#"{"data":[1,-2.5e-3,true,false,null,{"k":"v\u00e9\n"}],"event":"a\"b","x":{}}"#,
    " \t{ \"event\" : \"e\" , \"data\" : { \"a\" : [ 10 , 0.25 , -0 ] } }",
    r#"{"ev\u0065nt":"\ud83d\ude00","data":"\/\\\b\f\r\t"}"#,
];

#[test]
fn truncation_at_every_position() {
    for msg in VALID_MESSAGES {
        let b = msg.as_bytes();
        assert!(parse_envelope(b).is_ok(), "{msg}");
        assert_eq!(validate_json(b), Ok(()));
        for n in 0..b.len() {
            let p = &b[..n];
            assert_eq!(parse_envelope(p), Err(E), "{msg} at {n}");
            assert_eq!(parse_array_envelope(p), Err(E), "{msg} at {n}");
            assert_eq!(validate_json(p), Err(E), "{msg} at {n}");
            // Garbage never panics in the helpers either.
            let mut out = [0u8; 256];
            let len = compact_len(p);
            assert_eq!(compact_json(p, &mut out), Some(len));
        }
    }
}

#[test]
fn depth_limit() {
    let nest = |n: usize, open: &str, close: &str| -> String {
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(open);
        }
        if open.ends_with(':') {
            s.push('0');
        }
        for _ in 0..n {
            s.push_str(close);
        }
        s
    };
    assert_eq!(validate_json(nest(128, "[", "]").as_bytes()), Ok(()));
    assert_eq!(
        validate_json(nest(129, "[", "]").as_bytes()),
        Err(EnvelopeError::TooDeep)
    );
    assert_eq!(validate_json(nest(128, "{\"a\":", "}").as_bytes()), Ok(()));
    assert_eq!(
        validate_json(nest(129, "{\"a\":", "}").as_bytes()),
        Err(EnvelopeError::TooDeep)
    );
    assert_eq!(
        validate_json(nest(128, "[{\"a\":", "}]").as_bytes()),
        Err(EnvelopeError::TooDeep)
    );
    assert_eq!(validate_json(nest(64, "[{\"a\":", "}]").as_bytes()), Ok(()));
    assert_eq!(
        validate_json(nest(100_000, "[", "]").as_bytes()),
        Err(EnvelopeError::TooDeep)
    );
    // Mixed: arrays and objects alternate and must close in the right order.
    assert_eq!(validate_json(nest(10, "[{\"a\":", "]}").as_bytes()), Err(E));

    // The envelope object itself is level 1.
    let msg = |n: usize| format!(r#"{{"event":"e","data":{}}}"#, nest(n, "[", "]"));
    let m = msg(127);
    assert_eq!(
        parse_envelope(m.as_bytes()).unwrap().data.unwrap().len(),
        254
    );
    assert_eq!(
        parse_envelope(msg(128).as_bytes()),
        Err(EnvelopeError::TooDeep)
    );
    let nested_obj = |n: usize| format!(r#"{{"data":{},"event":"e"}}"#, nest(n, "{\"x\":", "}"));
    assert!(parse_envelope(nested_obj(126).as_bytes()).is_ok());
    assert!(
        parse_envelope(
            format!(
                "{{\"event\":\"e\",\"data\":{{\"x\":{}}}}}",
                nest(126, "[", "]")
            )
            .as_bytes()
        )
        .is_ok()
    );
    assert_eq!(
        parse_envelope(nested_obj(128).as_bytes()),
        Err(EnvelopeError::TooDeep)
    );
    // Non-objects too deep.
    assert_eq!(
        parse_envelope(nest(128, "[", "]").as_bytes()),
        Err(EnvelopeError::NotAnObject)
    );
    assert_eq!(
        parse_envelope(nest(129, "[", "]").as_bytes()),
        Err(EnvelopeError::TooDeep)
    );
    // Array envelope: the outer array is level 1.
    let am = |n: usize| format!(r#"["e",{}]"#, nest(n, "[", "]"));
    assert!(parse_array_envelope(am(127).as_bytes()).is_ok());
    assert_eq!(
        parse_array_envelope(am(128).as_bytes()),
        Err(EnvelopeError::TooDeep)
    );
    // Unbalanced deep input is TooDeep as soon as the limit is crossed.
    assert_eq!(validate_json(&[b'['; 129]), Err(EnvelopeError::TooDeep));
    assert_eq!(validate_json(&[b'['; 128]), Err(E));
}

#[test]
fn strings_with_specials_at_every_offset() {
    // Exercises the word-at-a-time and chunked skipping around every alignment and
    // across the first chunk boundaries.
    for prefix in 0..70 {
        for filler in [
            b'a',
            0x7f,
            0x80,
            0xff,
            b' ',
            b'!',
            b'#',
            b'[',
            b']',
            0x21,
            0x1f + 1,
        ] {
            let mut body = vec![filler; prefix];
            let mut m = br#"{"event":""#.to_vec();
            m.extend_from_slice(&body);
            m.extend_from_slice(br#""}"#);
            let e = parse_envelope(&m).unwrap();
            assert_eq!(e.event.raw(), &body[..]);
            assert!(!e.event.has_escapes());

            for special in [&b"\\\""[..], b"\\\\", b"\\u0041", b"\\n"] {
                let mut m = br#"{"event":""#.to_vec();
                m.extend_from_slice(&body);
                m.extend_from_slice(special);
                m.extend_from_slice(&body);
                m.extend_from_slice(br#"","data":0}"#);
                let e = parse_envelope(&m).unwrap();
                assert_eq!(e.event.raw().len(), 2 * prefix + special.len());
                assert!(e.event.has_escapes());
                assert_eq!(e.data, Some(&b"0"[..]));
            }
            for ctl in [0u8, 1, 0x0a, 0x1f] {
                body.push(ctl);
                body.extend_from_slice(b"abcdefghijkl");
                let mut m = br#"{"event":""#.to_vec();
                m.extend_from_slice(&body);
                m.extend_from_slice(br#""}"#);
                assert_eq!(parse_envelope(&m), Err(E), "{prefix} {filler} {ctl}");
                body.truncate(prefix);
            }
        }
    }
}

#[test]
fn long_strings_in_envelopes() {
    for len in LENGTHS {
        for at in 0..=len {
            // A plain string with an escape (or nothing) at `at`, as event and as data.
            let mut body = vec![b'x'; len];
            let esc = at < len;
            if esc {
                body.splice(at..at + 1, *b"\\n");
            }
            let body = String::from_utf8(body).unwrap();
            let msg = format!(r#"{{"event":"{body}","data":["{body}","{body}"]}}"#);
            let e = parse_envelope(msg.as_bytes()).unwrap();
            assert_eq!(e.event.raw(), body.as_bytes());
            assert_eq!(e.event.has_escapes(), esc);
            let data = format!(r#"["{body}","{body}"]"#);
            assert_eq!(e.data, Some(data.as_bytes()));
            // Cut anywhere, it is invalid.
            for n in 0..msg.len() {
                assert_eq!(parse_envelope(&msg.as_bytes()[..n]), Err(E), "{msg} {n}");
            }
            // A raw control character anywhere in the string is refused.
            if at < len {
                let mut bad = msg.clone().into_bytes();
                let pos = r#"{"event":""#.len() + at;
                bad[pos] = 0x1f;
                assert_eq!(parse_envelope(&bad), Err(E), "{msg} {at}");
            }
        }
    }
}

#[test]
fn stringified_shortcut_agrees_with_the_full_parse() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let mut msgs: Vec<String> = Vec::new();
    for v in [
        "null",
        "true",
        "0",
        "-1.5e3",
        "1000000001",
        r#""""#,
        r#""a\"b""#,
        "[]",
        "{}",
        r#"{"seq":1000000001,"p":"xxxxxxxxxxxxxx"}"#,
        "[ 1 , { \"a\" : 2 } ]",
    ] {
        msgs.push(format!(r#"{{"event":"e","data":{v}}}"#));
        msgs.push(format!(r#"{{"event":"a\u0062c","data":{v}}}"#));
        msgs.push(format!("{{\"event\":\"e\",\"data\":{v}}} \r\n"));
        msgs.push(format!(r#"{{"event":"e","data":{v},"event":"f"}}"#));
        msgs.push(format!(r#"{{"event":"e","data":{v},"data":1}}"#));
        msgs.push(format!(r#"{{"event":"e","data":{v},"x":1}}"#));
    }
    for m in [
        r#"{"event":"e"}"#,
        r#"{"event":"e"} "#,
        r#"{"event":""}"#,
        r#"{"event":"e","data":}"#,
        r#"{"event":"e","data":1,}"#,
        r#"{"event":"e","data":1}x"#,
        r#"{"event":"e","data":1}}"#,
        r#"{"event":"e","data":01}"#,
        r#"{"event":"e","data":[1,]}"#,
        r#"{"event":"e","dat":1}"#,
        r#"{"event":"e" ,"data":1}"#,
        r#"{"event":"e","data" :1}"#,
        r#"{"event":"e","data": 1}"#,
        r#"{"event":"e","data":1 }"#,
        r#"{"event":5,"data":1}"#,
        r#"{"event":"e","data":"\x"}"#,
        "{\"event\":\"\u{1}\",\"data\":1}",
    ] {
        msgs.push(String::from(m));
    }
    msgs.push(format!(r#"{{"event":"e","data":{}}}"#, deep(127)));
    msgs.push(format!(r#"{{"event":"e","data":{}}}"#, deep(128)));
    msgs.push(format!(r#"{{"event":"e","data":{}"#, "[".repeat(200)));
    for m in &msgs {
        let b = m.as_bytes();
        assert_eq!(parse_envelope(b), parse_any_envelope(b), "{m}");
        for n in 0..b.len() {
            assert_eq!(
                parse_envelope(&b[..n]),
                parse_any_envelope(&b[..n]),
                "{m} {n}"
            );
        }
    }
    assert_eq!(
        parse_envelope(msgs[0].as_bytes()),
        Ok(Envelope {
            event: js("e", false),
            data: Some(b"null")
        })
    );
    assert_eq!(
        parse_envelope(format!(r#"{{"event":"e","data":{}}}"#, deep(128)).as_bytes()),
        Err(EnvelopeError::TooDeep)
    );
}

#[test]
fn unpaired_surrogates_never_match() {
    // They are valid JSON all the same (as for JSON.parse).
    let e = parse_envelope(br#"{"event":"\ud800"}"#).unwrap();
    assert_eq!(e.event.raw(), br#"\ud800"#);
    assert!(!e.event.eq_str("\u{fffd}"));
}

// ---- parse_array_envelope ----

#[test]
fn array_envelope() {
    let e = parse_array_envelope(br#"["events","test"]"#).unwrap();
    assert_eq!(e.event.as_str(), Some("events"));
    assert_eq!(e.data, Some(&br#""test""#[..]));
    let e = parse_array_envelope(b" [ \"a\\tb\" , { \"x\" : [ 1 ] } ] ").unwrap();
    assert!(e.event.eq_str("a\tb"));
    assert_eq!(e.data, Some(&b"{ \"x\" : [ 1 ] }"[..]));
    let e = parse_array_envelope(br#"["only"]"#).unwrap();
    assert_eq!((e.event.raw(), e.data), (&b"only"[..], None));
    let e = parse_array_envelope(br#"["e",null]"#).unwrap();
    assert_eq!(e.data, Some(&b"null"[..]));
    for m in [
        &br#"[]"#[..],
        br#"[1]"#,
        br#"[null,"e"]"#,
        br#"["a","b","c"]"#,
        br#"[["e"],1]"#,
        b" [ ] ",
    ] {
        assert_eq!(
            parse_array_envelope(m),
            Err(EnvelopeError::NoEvent),
            "{m:?}"
        );
    }
    for m in [&br#"{"event":"e"}"#[..], b"5", br#""e""#, b"null"] {
        assert_eq!(
            parse_array_envelope(m),
            Err(EnvelopeError::NotAnObject),
            "{m:?}"
        );
    }
    for m in [
        &br#"["e",]"#[..],
        br#"["e" 1]"#,
        br#"["e",1"#,
        br#"["e"],"#,
        br#"[,"e"]"#,
        br#"["e",1,]"#,
        b"",
    ] {
        assert_eq!(parse_array_envelope(m), Err(E), "{m:?}");
    }
}

/// Records the frames `send_raw_response` queues.
struct Frames(Vec<Vec<u8>>);

impl crate::connection::Outbox for Frames {
    fn send_with(
        &mut self,
        opcode: crate::protocol::frame::OpCode,
        fill: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
    ) -> Result<(), crate::connection::SendError> {
        assert_eq!(opcode, crate::protocol::frame::OpCode::Text);
        let mut buf = vec![0u8; 512];
        let n = fill(&mut buf).ok_or(crate::connection::SendError::Full)?;
        buf.truncate(n);
        self.0.push(buf);
        Ok(())
    }
    fn send(
        &mut self,
        opcode: crate::protocol::frame::OpCode,
        payload: &[u8],
    ) -> Result<(), crate::connection::SendError> {
        self.send_with(opcode, &mut |b| {
            b.get_mut(..payload.len())?.copy_from_slice(payload);
            Some(payload.len())
        })
    }
    fn free(&self) -> usize {
        512
    }
}

#[test]
fn raw_responses_check_utf8_and_compact_in_one_pass() {
    let send = |event: &str, data: &[u8]| {
        let mut f = Frames(Vec::new());
        let r = crate::gateway::send_raw_response(&mut f, event, data);
        (r, f.0.pop())
    };
    let ok = |event: &str, data: &[u8]| {
        let (r, frame) = send(event, data);
        assert_eq!(r, Ok(()), "{data:02x?}");
        String::from_utf8(frame.unwrap()).unwrap()
    };
    assert_eq!(ok("e", b"{\"a\":1}"), r#"{"event":"e","data":{"a":1}}"#);
    assert_eq!(ok("e", b" [1, 2] "), r#"{"event":"e","data":[1,2]}"#);
    assert_eq!(ok("e", b""), r#"{"event":"e"}"#);
    assert_eq!(ok("a\"b", b"1"), r#"{"event":"a\"b","data":1}"#);
    assert_eq!(
        ok("e", "[\"caf\u{e9}\", \"a b\"]".as_bytes()),
        "{\"event\":\"e\",\"data\":[\"caf\u{e9}\",\"a b\"]}"
    );
    // Not UTF-8: refused, nothing queued.
    assert_eq!(
        send("e", b"\"\xff\""),
        (Err(crate::connection::SendError::Serialize), None)
    );
    // Non-ASCII bytes, valid or not, at every offset of values around the chunk sizes,
    // with and without whitespace to remove.
    for len in LENGTHS {
        for at in 0..=len {
            for ins in [
                "\u{e9}".as_bytes(),
                "\u{1f600}".as_bytes(),
                b"\x80",
                b"\xc3",
            ] {
                for space in [false, true] {
                    let mut body = vec![b'x'; len];
                    if space {
                        body[..len / 2].fill(b' ');
                    }
                    body.splice(at..at, ins.iter().copied());
                    let mut data = b"[\"".to_vec();
                    data.extend_from_slice(&body);
                    data.extend_from_slice(b"\" ]");
                    let (r, frame) = send("e", &data);
                    if core::str::from_utf8(&data).is_ok() {
                        let mut want = br#"{"event":"e","data":["#.to_vec();
                        want.extend_from_slice(&data[1..data.len() - 2]);
                        want.extend_from_slice(b"]}");
                        assert_eq!((r, frame), (Ok(()), Some(want)), "{data:02x?}");
                    } else {
                        assert_eq!(
                            (r, frame),
                            (Err(crate::connection::SendError::Serialize), None),
                            "{data:02x?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn json_string_matches_serde_json_and_round_trips() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let alphabet = [
        'a',
        'Z',
        ' ',
        '"',
        '\\',
        '/',
        '\0',
        '\u{1}',
        '\u{8}',
        '\u{9}',
        '\n',
        '\u{b}',
        '\u{c}',
        '\r',
        '\u{1f}',
        '\u{7f}',
        '\u{e9}',
        '\u{2028}',
        '\u{1F600}',
    ];
    for _ in 0..300 {
        let len = rng.below(12);
        let s: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let ours = jstr(&s);
        assert_eq!(ours, serde_json::to_string(&s).unwrap(), "{s:?}");
        let msg = format!(r#"{{"event":{ours}}}"#);
        let e = parse_envelope(msg.as_bytes()).unwrap();
        assert!(e.event.eq_str(&s), "{s:?}");
        assert_eq!(dec(e.event).as_deref(), Some(s.as_str()));
    }
}

// ---- differential tests against serde_json ----

fn ws(rng: &mut Rng, out: &mut String) {
    const WS: [&str; 7] = ["", "", "", " ", "\t", "\r\n", "  \n "];
    out.push_str(WS[rng.below(WS.len())]);
}

fn gen_string(rng: &mut Rng, out: &mut String) {
    const PARTS: [&str; 20] = [
        "a",
        "event",
        "data",
        " ",
        "xyz0123",
        "\u{e9}",
        "\u{1F600}",
        "\\\"",
        "\\\\",
        "\\/",
        "\\b",
        "\\f",
        "\\n",
        "\\r",
        "\\t",
        "\\u0041",
        "\\u00E9",
        "\\ud83d\\ude00",
        "\\u0000",
        "long string with no specials at all",
    ];
    out.push('"');
    for _ in 0..rng.below(5) {
        out.push_str(PARTS[rng.below(PARTS.len())]);
    }
    out.push('"');
}

fn gen_value(rng: &mut Rng, depth: usize, out: &mut String) {
    const NUMS: [&str; 12] = [
        "0",
        "-0",
        "1",
        "-12",
        "1.5",
        "1e-5",
        "1.5E+3",
        "123456789",
        "0.001",
        "-3.25e10",
        "2E2",
        "0e0",
    ];
    let kind = if depth > 5 {
        rng.below(5)
    } else {
        rng.below(7)
    };
    match kind {
        0 => out.push_str(["null", "true", "false"][rng.below(3)]),
        1 | 2 => out.push_str(NUMS[rng.below(NUMS.len())]),
        3 | 4 => gen_string(rng, out),
        5 => {
            out.push('[');
            ws(rng, out);
            let n = rng.below(4);
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                    ws(rng, out);
                }
                gen_value(rng, depth + 1, out);
                ws(rng, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            ws(rng, out);
            let n = rng.below(4);
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                    ws(rng, out);
                }
                gen_string(rng, out);
                ws(rng, out);
                out.push(':');
                ws(rng, out);
                gen_value(rng, depth + 1, out);
                ws(rng, out);
            }
            out.push('}');
        }
    }
}

/// An object shaped like an envelope: event/data keys (sometimes escaped, duplicated or
/// of the wrong type) among other keys.
fn gen_envelope(rng: &mut Rng) -> String {
    const KEYS: [&str; 8] = [
        r#""event""#,
        r#""data""#,
        r#""ev\u0065nt""#,
        r#""\u0064ata""#,
        r#""other""#,
        r#""Event""#,
        r#""event ""#,
        r#""""#,
    ];
    let mut out = String::new();
    ws(rng, &mut out);
    out.push('{');
    ws(rng, &mut out);
    let n = rng.below(5);
    for i in 0..n {
        if i > 0 {
            out.push(',');
            ws(rng, &mut out);
        }
        let key = KEYS[rng.below(KEYS.len())];
        out.push_str(key);
        ws(rng, &mut out);
        out.push(':');
        ws(rng, &mut out);
        if key.contains("ev") && rng.chance(70) {
            gen_string(rng, &mut out);
        } else {
            gen_value(rng, 1, &mut out);
        }
        ws(rng, &mut out);
    }
    out.push('}');
    ws(rng, &mut out);
    out
}

/// An envelope as `JSON.stringify` writes it (sometimes without data), the shape
/// `parse_envelope` takes a shortcut for.
fn gen_stringified(rng: &mut Rng) -> String {
    let mut out = String::from(r#"{"event":"#);
    gen_string(rng, &mut out);
    if rng.chance(80) {
        out.push_str(r#","data":"#);
        gen_value(rng, 1, &mut out);
    }
    out.push('}');
    out
}

fn mutate(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    const INSERT: &[u8] = b"{}[],:\"\\ 0123456789.eE+-tfnulx'\x01/\t\x7f";
    let mut v = src.to_vec();
    for _ in 0..1 + rng.below(2) {
        let len = v.len();
        match rng.below(5) {
            0 if len > 0 => {
                v.remove(rng.below(len));
            }
            1 => v.insert(rng.below(len + 1), INSERT[rng.below(INSERT.len())]),
            2 if len > 0 => v[rng.below(len)] = INSERT[rng.below(INSERT.len())],
            3 => v.truncate(rng.below(len + 1)),
            _ if len > 1 => {
                let i = rng.below(len - 1);
                v.swap(i, i + 1);
            }
            _ => {}
        }
    }
    v
}

/// Checks one input against serde_json; returns whether it was a valid envelope.
fn check_against_serde(input: &[u8]) -> bool {
    let shown = String::from_utf8_lossy(input);
    // Pure syntax check (no UTF-8, surrogate or number-range checks, no depth limit).
    let serde_valid = serde_json::from_slice::<serde::de::IgnoredAny>(input).is_ok();
    let ours = parse_envelope(input);
    // The shortcut for `JSON.stringify`'s shape never changes the result.
    assert_eq!(ours, parse_any_envelope(input), "{shown:?}");
    assert_eq!(
        validate_json(input).is_ok(),
        serde_valid,
        "validate_json {shown:?}"
    );
    assert_eq!(ours != Err(E), serde_valid, "{shown:?}: {ours:?}");
    let arr = parse_array_envelope(input);
    assert_eq!(arr != Err(E), serde_valid, "array {shown:?}: {arr:?}");
    if !serde_valid {
        return false;
    }
    // Compaction keeps the value and drops all whitespace outside strings.
    let mut out = vec![0u8; input.len()];
    let n = compact_json(input, &mut out).unwrap();
    assert_eq!(n, compact_len(input));
    let compacted = &out[..n];
    assert_eq!(validate_json(compacted), Ok(()), "{shown:?}");
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(input) else {
        // Valid JSON that serde_json cannot hold as a Value (lone surrogates).
        return false;
    };
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(compacted).unwrap(),
        value
    );
    assert_eq!(compact_len(compacted), n);

    match &value {
        serde_json::Value::Object(map) => {
            assert_ne!(arr, Err(EnvelopeError::InvalidJson));
            assert_eq!(arr, Err(EnvelopeError::NotAnObject), "{shown:?}");
            match map.get("event") {
                Some(serde_json::Value::String(s)) => {
                    let e = ours.unwrap_or_else(|e| panic!("{shown:?}: {e:?}"));
                    assert!(e.event.eq_str(s), "{shown:?}");
                    assert_eq!(dec(e.event).as_deref(), Some(s.as_str()), "{shown:?}");
                    check_data(e.data, map.get("data"), &shown);
                    true
                }
                _ => {
                    assert_eq!(ours, Err(EnvelopeError::NoEvent), "{shown:?}");
                    false
                }
            }
        }
        serde_json::Value::Array(items) => {
            assert_eq!(ours, Err(EnvelopeError::NotAnObject), "{shown:?}");
            match (items.len(), items.first()) {
                (1 | 2, Some(serde_json::Value::String(s))) => {
                    let e = arr.unwrap_or_else(|e| panic!("{shown:?}: {e:?}"));
                    assert!(e.event.eq_str(s));
                    check_data(e.data, items.get(1), &shown);
                }
                _ => assert_eq!(arr, Err(EnvelopeError::NoEvent), "{shown:?}"),
            }
            false
        }
        _ => {
            assert_eq!(ours, Err(EnvelopeError::NotAnObject), "{shown:?}");
            assert_eq!(arr, Err(EnvelopeError::NotAnObject), "{shown:?}");
            false
        }
    }
}

fn check_data(ours: Option<&[u8]>, theirs: Option<&serde_json::Value>, shown: &str) {
    match (ours, theirs) {
        (None, None) => {}
        (Some(slice), Some(v)) => {
            assert_eq!(validate_json(slice), Ok(()));
            let first = slice.first().copied().unwrap();
            let last = slice.last().copied().unwrap();
            assert!(!matches!(first, b' ' | b'\t' | b'\n' | b'\r'), "{shown:?}");
            assert!(!matches!(last, b' ' | b'\t' | b'\n' | b'\r'), "{shown:?}");
            assert_eq!(
                &serde_json::from_slice::<serde_json::Value>(slice).unwrap(),
                v,
                "{shown:?}"
            );
        }
        (o, t) => panic!("{shown:?}: data {o:?} vs {t:?}"),
    }
}

#[test]
fn differential_generated() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let (mut envelopes, mut total) = (0, 0);
    for round in 0..1500 {
        let msg = if round % 5 == 0 {
            let mut s = String::new();
            gen_value(&mut rng, 0, &mut s);
            s
        } else if round % 5 == 1 {
            gen_stringified(&mut rng)
        } else {
            gen_envelope(&mut rng)
        };
        envelopes += usize::from(check_against_serde(msg.as_bytes()));
        total += 1;
        for _ in 0..4 {
            let m = mutate(&mut rng, msg.as_bytes());
            check_against_serde(&m);
            total += 1;
        }
    }
    // Short random byte strings over JSON's punctuation.
    const ALPHABET: &[u8] =
        b"{}[]{}[],,::\"\"\"\"\\ \t\n0123456789.-+eEtrufalsn u0041x\x01\x7f\xc3\xa9";
    for _ in 0..3000 {
        let len = rng.below(16);
        let v: Vec<u8> = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        check_against_serde(&v);
        total += 1;
    }
    // The generator produces a fair share of dispatchable envelopes.
    assert!(envelopes > 300, "{envelopes} of {total}");
}

#[test]
fn differential_hand_written() {
    let inputs: &[&[u8]] = &[
        br#"{"event":"events","data":"test"}"#,
        br#"{"data":1,"event":"e"}"#,
        br#"{"event":"a","event":"b","data":1,"data":{"x":[1,2]}}"#,
        br#"{"ev\u0065nt":"x"}"#,
        br#"{"event":"a\"b"}"#,
        br#"{"event":"\ud83d\ude00","data":"\ud83d\ude00"}"#,
        br#"{"event":"\ud800"}"#,
        br#"{"event":5}"#,
        br#"{"event":null}"#,
        b"[]",
        b"5",
        br#""s""#,
        b"null",
        b"[\"e\",1]",
        br#"{"event":"a",}"#,
        br#"{"event":"a"} x"#,
        br#"{'event':1}"#,
        br#"{"a":01}"#,
        br#"{"a":1.}"#,
        br#"{"a":.5}"#,
        br#"{"a":1e999}"#,
        br#"{"a":-0.0e-0}"#,
        br#"{"event":"x","data":1E400}"#,
        b"{\"event\":\"\xff\"}",
        b"{\"event\":\"a\x1f\"}",
        br#"{"event":"a\x"}"#,
        br#"{"event":"a\u12"}"#,
        b"",
        b" ",
        b" {\"event\" : \"e\" ,\"data\":[ ] } \r\n",
        b"{\"event\":\"e\",\"data\":\"\x7f\"}",
    ];
    for i in inputs {
        check_against_serde(i);
    }
}

#[test]
fn json_errors_map_to_envelope_errors() {
    assert_eq!(
        EnvelopeError::from(JsonError::Invalid),
        EnvelopeError::InvalidJson
    );
    assert_eq!(
        EnvelopeError::from(JsonError::TooDeep),
        EnvelopeError::TooDeep
    );
}

#[test]
fn error_display() {
    assert_eq!(
        format!("{}", EnvelopeError::InvalidJson),
        "message is not valid JSON (RFC 8259)"
    );
    assert!(format!("{}", EnvelopeError::NotAnObject).contains("not an envelope"));
    assert!(format!("{}", EnvelopeError::NoEvent).contains("\"event\" is missing or not a string"));
    assert_eq!(
        format!("{}", EnvelopeError::TooDeep),
        "message nests arrays and objects deeper than 128 levels"
    );
}
