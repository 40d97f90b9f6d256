//! Tests of the value validator and its depth limit.

extern crate std;

use super::*;
use std::string::String;

const E: JsonError = JsonError::Invalid;

#[test]
fn validate_values() {
    for v in [
        "0",
        "-0",
        " 1 ",
        "1e5",
        "1E-5",
        "0.0e+0",
        "\"\"",
        "null",
        "[]",
        "{}",
        "[null,{\"a\":[]}]",
        "\t\"\\u0000\"\r\n",
    ] {
        assert_eq!(validate_json(v.as_bytes()), Ok(()), "{v}");
    }
    for v in [
        "",
        "1 2",
        "[] []",
        "{}}",
        "\"\\\"",
        "-",
        "--1",
        "1..2",
        "1e5.0",
        "[1 2]",
        "{\"a\" 1}",
        "{\"a\":1 \"b\":2}",
        "{1:2}",
    ] {
        assert_eq!(validate_json(v.as_bytes()), Err(E), "{v}");
    }
}

/// The depth limit as the JSON layer reports it (the envelope's `depth_limit` test covers
/// the same limits through `EnvelopeError`).
#[test]
fn depth_limit_is_json_error() {
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
    let depth = MAX_DEPTH as usize;
    assert_eq!(validate_json(nest(depth, "[", "]").as_bytes()), Ok(()));
    assert_eq!(
        validate_json(nest(depth + 1, "[", "]").as_bytes()),
        Err(JsonError::TooDeep)
    );
    assert_eq!(
        validate_json(nest(depth, "{\"a\":", "}").as_bytes()),
        Ok(())
    );
    assert_eq!(
        validate_json(nest(depth + 1, "{\"a\":", "}").as_bytes()),
        Err(JsonError::TooDeep)
    );
    // Found as soon as the limit is crossed, even when the rest is missing.
    assert_eq!(validate_json(&[b'['; 129]), Err(JsonError::TooDeep));
    assert_eq!(validate_json(&[b'['; 128]), Err(E));
    // `outer` containers already open count towards the limit.
    let inner = nest(depth - 1, "[", "]");
    assert_eq!(skip_value(inner.as_bytes(), 1), Ok(&b""[..]));
    assert_eq!(skip_value(inner.as_bytes(), 2), Err(JsonError::TooDeep));
}

#[test]
fn error_display() {
    assert_eq!(
        std::format!("{}", JsonError::Invalid),
        "not valid JSON (RFC 8259)"
    );
    assert_eq!(
        std::format!("{}", JsonError::TooDeep),
        std::format!("arrays and objects nested deeper than {MAX_DEPTH} levels")
    );
}
