//! Tests of [`super`]: the `handshake` module's unit tests, in a file of their own.

extern crate std;

use super::*;
use crate::protocol::http::write_error;
use std::format;
use std::string::String;
use std::vec::Vec;

const RFC_KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";
const RFC_ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const CHROME: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: 192.168.1.50:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://192.168.1.50:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: E4WSEcseoWr4csPLS2QJHA==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

const FIREFOX: &[u8] = b"GET /ws?token=abc&x=1 HTTP/1.1\r\n\
Host: localhost:3000\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n\
Accept: */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Sec-WebSocket-Version: 13\r\n\
Origin: http://localhost:3000\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Connection: keep-alive, Upgrade\r\n\
Sec-Fetch-Dest: empty\r\n\
Sec-Fetch-Mode: websocket\r\n\
Sec-Fetch-Site: same-origin\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
Upgrade: websocket\r\n\
\r\n";

/// A valid minimal upgrade head with `line` (a full header line incl. CRLF, or "")
/// replacing the header line that starts with `drop` (or appended if `drop` is "").
fn head_with(drop: &str, line: &str) -> Vec<u8> {
    let base = [
        "Host: example.com\r\n",
        "Upgrade: websocket\r\n",
        "Connection: Upgrade\r\n",
        "Sec-WebSocket-Version: 13\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    ];
    let mut s = String::from("GET /chat HTTP/1.1\r\n");
    let mut replaced = false;
    for h in base {
        if !drop.is_empty() && h.starts_with(drop) {
            s.push_str(line);
            replaced = true;
        } else {
            s.push_str(h);
        }
    }
    if !replaced {
        s.push_str(line);
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn validate(head: &[u8]) -> Result<Vec<u8>, HttpError> {
    let req = Request::parse(head)?;
    validate_upgrade(&req).map(|u| u.key.to_vec())
}

fn err(status: Status, reason: &'static str) -> HttpError {
    HttpError::new(status, reason)
}

fn bad(reason: &'static str) -> HttpError {
    err(Status::BadRequest, reason)
}

// ---- accept key and 101 ----

#[test]
fn rfc_sample_accept_key() {
    assert_eq!(&accept_key(RFC_KEY), RFC_ACCEPT);
    assert_eq!(
        &accept_key(b"x3JJHMbDL1EzLkh9GBhXDw=="),
        b"HSmrc0sMlYUkAGmm5OPpG2HaGWk="
    );
    assert_eq!(
        &accept_key(b"E4WSEcseoWr4csPLS2QJHA=="),
        b"7eQChgCtQMnVILefJAO6dK5JwPc="
    );
}

#[test]
fn accept_key_any_length() {
    assert_eq!(&accept_key(b""), b"Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
    assert_eq!(&accept_key(&[b'A'; 100]), b"WXqNWiGhe0+utGv47+HlLjR7KVw=");
    let big = [0xffu8; 10_000];
    assert_eq!(accept_key(&big).len(), 28);
}

#[test]
fn write_accept_exact_without_protocol() {
    let mut out = [0u8; 256];
    let n = write_accept(&mut out, RFC_KEY, None).expect("fits");
    assert_eq!(
        &out[..n],
        &b"HTTP/1.1 101 Switching Protocols\r\n\
           Upgrade: websocket\r\n\
           Connection: Upgrade\r\n\
           Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
           \r\n"[..]
    );
    assert_eq!(n, 129);
}

#[test]
fn write_accept_exact_with_protocol() {
    let mut out = [0u8; 256];
    let n = write_accept(&mut out, RFC_KEY, Some("chat")).expect("fits");
    assert_eq!(
        &out[..n],
        &b"HTTP/1.1 101 Switching Protocols\r\n\
           Upgrade: websocket\r\n\
           Connection: Upgrade\r\n\
           Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
           Sec-WebSocket-Protocol: chat\r\n\
           \r\n"[..]
    );
}

#[test]
fn write_accept_every_short_buffer() {
    for protocol in [None, Some("chat")] {
        let mut full = [0u8; 256];
        let n = write_accept(&mut full, RFC_KEY, protocol).expect("fits");
        let mut exact = std::vec![0u8; n];
        assert_eq!(write_accept(&mut exact, RFC_KEY, protocol), Some(n));
        assert_eq!(&exact[..], &full[..n]);
        for short in 0..n {
            let mut buf = std::vec![0u8; short];
            assert_eq!(write_accept(&mut buf, RFC_KEY, protocol), None);
        }
    }
}

// ---- real browsers ----

#[test]
fn chrome_request_accepted() {
    let end = find_head_end(CHROME, 0).expect("complete");
    assert_eq!(end, CHROME.len());
    let req = Request::parse(CHROME).expect("parses");
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/chat");
    assert_eq!(req.query, "");
    assert_eq!(req.minor_version, 1);
    assert!(req.wants_upgrade());
    assert_eq!(req.headers().count(), 12);
    assert_eq!(req.header("HOST"), Some(&b"192.168.1.50:8080"[..]));
    assert_eq!(req.header("origin"), Some(&b"http://192.168.1.50:8080"[..]));
    let up = validate_upgrade(&req).expect("valid");
    assert_eq!(up.key, b"E4WSEcseoWr4csPLS2QJHA==");
    assert_eq!(select_protocol(&req, &["chat"]), None);
    let mut out = [0u8; 256];
    let n = write_accept(&mut out, up.key, None).expect("fits");
    assert_eq!(
        &out[..n],
        &b"HTTP/1.1 101 Switching Protocols\r\n\
           Upgrade: websocket\r\n\
           Connection: Upgrade\r\n\
           Sec-WebSocket-Accept: 7eQChgCtQMnVILefJAO6dK5JwPc=\r\n\
           \r\n"[..]
    );
}

#[test]
fn firefox_request_accepted() {
    let req = Request::parse(FIREFOX).expect("parses");
    assert_eq!(req.path, "/ws");
    assert_eq!(req.query, "token=abc&x=1");
    assert_eq!(req.header("connection"), Some(&b"keep-alive, Upgrade"[..]));
    let up = validate_upgrade(&req).expect("valid");
    assert_eq!(up.key, b"x3JJHMbDL1EzLkh9GBhXDw==");
    let proto = select_protocol(&req, &["superchat", "chat"]);
    assert_eq!(proto, Some("chat"), "client order wins");
    let mut out = [0u8; 256];
    let n = write_accept(&mut out, up.key, proto).expect("fits");
    assert_eq!(
        &out[..n],
        &b"HTTP/1.1 101 Switching Protocols\r\n\
           Upgrade: websocket\r\n\
           Connection: Upgrade\r\n\
           Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\
           Sec-WebSocket-Protocol: chat\r\n\
           \r\n"[..]
    );
}

#[test]
fn minimal_rfc_request_accepted() {
    assert_eq!(validate(&head_with("", "")), Ok(RFC_KEY.to_vec()));
}

// ---- refusals, in check order ----

#[test]
fn post_is_405() {
    let mut head = head_with("", "");
    head.splice(0..3, b"POST".iter().copied());
    assert_eq!(
        validate(&head),
        Err(err(Status::MethodNotAllowed, "WebSocket upgrade needs GET"))
    );
    for method in ["HEAD", "PUT", "get", "OPTIONS"] {
        let mut head = head_with("", "");
        head.splice(0..3, method.bytes());
        assert_eq!(
            validate(&head).map_err(|e| e.status),
            Err(Status::MethodNotAllowed)
        );
    }
}

#[test]
fn http10_is_400() {
    let head = head_with("", "");
    let text = String::from_utf8(head).expect("ascii");
    let head = text.replacen("HTTP/1.1", "HTTP/1.0", 1).into_bytes();
    assert_eq!(validate(&head), Err(bad("WebSocket needs HTTP/1.1")));
}

#[test]
fn missing_host_is_400() {
    assert_eq!(
        validate(&head_with("Host:", "")),
        Err(bad("missing Host header"))
    );
}

#[test]
fn two_hosts_is_400() {
    assert_eq!(
        validate(&head_with("", "host: other.example\r\n")),
        Err(bad("more than one Host header"))
    );
}

#[test]
fn upgrade_header_checks() {
    let wrong = bad("missing or wrong Upgrade header (expected websocket)");
    assert_eq!(validate(&head_with("Upgrade:", "")), Err(wrong));
    for line in [
        "Upgrade: h2c\r\n",
        "Upgrade: websockets\r\n",
        "Upgrade: web socket\r\n",
        "Upgrade:\r\n",
        "Upgrade: ,\r\n",
    ] {
        assert_eq!(validate(&head_with("Upgrade:", line)), Err(wrong), "{line}");
    }
    for line in [
        "Upgrade: WebSocket\r\n",
        "Upgrade: WEBSOCKET\r\n",
        "upgrade:   websocket  \r\n",
        "Upgrade: h2c, websocket\r\n",
        "Upgrade: websocket,foo\r\n",
        "Upgrade: h2c\r\nUpgrade: websocket\r\n",
    ] {
        assert_eq!(
            validate(&head_with("Upgrade:", line)),
            Ok(RFC_KEY.to_vec()),
            "{line}"
        );
    }
}

#[test]
fn connection_header_checks() {
    let wrong = bad("Connection header lacks the upgrade token");
    assert_eq!(validate(&head_with("Connection:", "")), Err(wrong));
    for line in [
        "Connection: keep-alive\r\n",
        "Connection: upgraded\r\n",
        "Connection: keep-alive upgrade\r\n",
        "Connection: close\r\n",
        "Connection:\r\n",
    ] {
        assert_eq!(
            validate(&head_with("Connection:", line)),
            Err(wrong),
            "{line}"
        );
    }
    for line in [
        "Connection: upgrade\r\n",
        "Connection: UPGRADE\r\n",
        "Connection: keep-alive, Upgrade\r\n",
        "Connection: keep-alive,Upgrade\r\n",
        "Connection: Upgrade, keep-alive\r\n",
        "Connection:\t keep-alive ,\tUpgrade \t\r\n",
        "Connection: keep-alive\r\nConnection: Upgrade\r\n",
    ] {
        assert_eq!(
            validate(&head_with("Connection:", line)),
            Ok(RFC_KEY.to_vec()),
            "{line}"
        );
    }
}

#[test]
fn version_checks() {
    assert_eq!(
        validate(&head_with("Sec-WebSocket-Version:", "")),
        Err(bad("missing Sec-WebSocket-Version"))
    );
    let unsupported = err(
        Status::UpgradeRequired,
        "unsupported WebSocket version (this server speaks 13)",
    );
    for line in [
        "Sec-WebSocket-Version: 8\r\n",
        "Sec-WebSocket-Version: 12\r\n",
        "Sec-WebSocket-Version: 14\r\n",
        "Sec-WebSocket-Version: 013\r\n",
        "Sec-WebSocket-Version: 13, 8\r\n",
        "Sec-WebSocket-Version:\r\n",
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n",
    ] {
        assert_eq!(
            validate(&head_with("Sec-WebSocket-Version:", line)),
            Err(unsupported),
            "{line}"
        );
    }
    assert_eq!(
        validate(&head_with(
            "Sec-WebSocket-Version:",
            "sec-websocket-version:  13 \r\n"
        )),
        Ok(RFC_KEY.to_vec())
    );
}

#[test]
fn version_8_response_bytes() {
    let e = validate(&head_with(
        "Sec-WebSocket-Version:",
        "Sec-WebSocket-Version: 8\r\n",
    ))
    .expect_err("refused");
    let mut out = [0u8; 256];
    let n = write_error(&mut out, &e).expect("fits");
    assert_eq!(
        &out[..n],
        &b"HTTP/1.1 426 Upgrade Required\r\n\
           Upgrade: websocket\r\n\
           Sec-WebSocket-Version: 13\r\n\
           Content-Type: text/plain; charset=utf-8\r\n\
           Content-Length: 54\r\n\
           Connection: close\r\n\
           \r\n\
           unsupported WebSocket version (this server speaks 13)\n"[..]
    );
}

#[test]
fn key_checks() {
    let invalid = bad("missing or invalid Sec-WebSocket-Key");
    assert_eq!(validate(&head_with("Sec-WebSocket-Key:", "")), Err(invalid));
    let long = format!("Sec-WebSocket-Key: {}\r\n", "A".repeat(100));
    let huge = format!("Sec-WebSocket-Key: {}==\r\n", "QUFB".repeat(2000));
    let bad_keys = [
        long.as_str(),
        huge.as_str(),
        "Sec-WebSocket-Key:\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZWEx\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbX BsZSBub25jZQ==\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ-_\r\n",
        "Sec-WebSocket-Key: ========================\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==\r\n",
    ];
    for line in bad_keys {
        assert_eq!(
            validate(&head_with("Sec-WebSocket-Key:", line)),
            Err(invalid),
            "{}",
            &line[..line.len().min(60)]
        );
    }
    // Surrounding whitespace is not part of the key.
    assert_eq!(
        validate(&head_with(
            "Sec-WebSocket-Key:",
            "sec-websocket-key: \t dGhlIHNhbXBsZSBub25jZQ== \r\n"
        )),
        Ok(RFC_KEY.to_vec())
    );
}

#[test]
fn strict_key_check_agrees_with_decode() {
    // Every last-symbol and padding variant, and keys of other lengths.
    let decodes = |key: &[u8]| key.len() == 24 && base64::decode(key, &mut [0u8; 24]) == Some(16);
    let alphabet = b"AQgw+/=-_ a9z";
    for &c21 in alphabet {
        for &c22 in alphabet {
            for &c23 in alphabet {
                let mut key = *b"dGhlIHNhbXBsZSBub25jZQ==";
                key[21] = c21;
                key[22] = c22;
                key[23] = c23;
                assert_eq!(is_strict_key(&key), decodes(&key), "{key:?}");
                key[3] = b'=';
                assert_eq!(is_strict_key(&key), decodes(&key), "{key:?}");
            }
        }
    }
    for key in [
        &b""[..],
        b"==",
        b"Zg==",
        b"dGhlIHNhbXBsZSBub25jZQ=",
        b"dGhlIHNhbXBsZSBub25jZQ===",
    ] {
        assert_eq!(is_strict_key(key), decodes(key), "{key:?}");
    }
}

#[test]
fn hundred_byte_key_is_400_and_response_bytes() {
    let line = format!("Sec-WebSocket-Key: {}\r\n", "x".repeat(100));
    let e = validate(&head_with("Sec-WebSocket-Key:", &line)).expect_err("refused");
    assert_eq!(e.status, Status::BadRequest);
    let mut out = [0u8; 256];
    let n = write_error(&mut out, &e).expect("fits");
    assert_eq!(
        &out[..n],
        &b"HTTP/1.1 400 Bad Request\r\n\
           Content-Type: text/plain; charset=utf-8\r\n\
           Content-Length: 37\r\n\
           Connection: close\r\n\
           \r\n\
           missing or invalid Sec-WebSocket-Key\n"[..]
    );
}

#[test]
fn checks_run_in_order() {
    // Everything wrong: the method is reported first.
    let head = b"POST /x HTTP/1.0\r\nSec-WebSocket-Version: 8\r\n\r\n";
    assert_eq!(
        validate(head).map_err(|e| e.status),
        Err(Status::MethodNotAllowed)
    );
    let head = b"GET /x HTTP/1.0\r\nSec-WebSocket-Version: 8\r\n\r\n";
    assert_eq!(validate(head), Err(bad("WebSocket needs HTTP/1.1")));
    let head = b"GET /x HTTP/1.1\r\nSec-WebSocket-Version: 8\r\n\r\n";
    assert_eq!(validate(head), Err(bad("missing Host header")));
    let head = b"GET /x HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Version: 8\r\n\r\n";
    assert_eq!(
        validate(head),
        Err(bad("missing or wrong Upgrade header (expected websocket)"))
    );
    let head =
        b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n\r\n";
    assert_eq!(
        validate(head),
        Err(bad("Connection header lacks the upgrade token"))
    );
    let head = b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n";
    assert_eq!(
        validate(head).map_err(|e| e.status),
        Err(Status::UpgradeRequired)
    );
    let head = b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(
        validate(head),
        Err(bad("missing or invalid Sec-WebSocket-Key"))
    );
}

// ---- parsing ----

#[test]
fn thirty_two_headers_ok_thirty_three_is_431() {
    let too_many = err(
        Status::HeaderFieldsTooLarge,
        "too many header fields (max 32)",
    );
    let build = |n: usize| {
        let mut s = String::from("GET / HTTP/1.1\r\n");
        for i in 0..n {
            s.push_str(&format!("X-H{i}: {i}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    };
    let head = build(32);
    let req = Request::parse(&head).expect("32 fit");
    assert_eq!(req.headers().count(), 32);
    assert_eq!(req.header("x-h31"), Some(&b"31"[..]));
    for n in [33usize, 34, 64, 200] {
        let head = build(n);
        assert_eq!(Request::parse(&head).map(|_| ()), Err(too_many), "{n}");
    }
    // A full upgrade request padded with filler headers: 431 before any upgrade check.
    let mut head = head_with("", "");
    head.truncate(head.len() - 2);
    for i in 0..200 {
        head.extend_from_slice(format!("X-Filler-{i}: y\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    assert_eq!(validate(&head), Err(too_many));
}

#[test]
fn parse_errors() {
    let malformed = bad("malformed HTTP request");
    let incomplete = bad("incomplete HTTP request");
    let bad_target = bad("request target must be a path or an http(s) or ws(s) URL");
    let bare_lf = bad("bare LF in the request head: lines must end with CRLF");
    let cases: [(&[u8], HttpError); 20] = [
        (b"", incomplete),
        (b"GET / HTTP/1.1\r\n", incomplete),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", incomplete),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nextra", malformed),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n", malformed),
        (b"GET / HTTP/2.0\r\n\r\n", malformed),
        (b"GET / HTTX/1.1\r\n\r\n", malformed),
        (b"GET  / HTTP/1.1\r\n\r\n", malformed),
        (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", malformed),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", malformed),
        (b"G(T / HTTP/1.1\r\n\r\n", malformed),
        (b"GET * HTTP/1.1\r\n\r\n", bad_target),
        (b"GET ftp://a/ HTTP/1.1\r\n\r\n", bad_target),
        (b"GET http:///x HTTP/1.1\r\n\r\n", bad_target),
        (b"GET ?x HTTP/1.1\r\n\r\n", bad_target),
        (b"GET / HTTP/1.1\nHost: a\n\n", bare_lf),
        (b"GET / HTTP/1.1\r\nHost: a\n", bare_lf),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", bare_lf),
        (b"\nGET / HTTP/1.1\r\n\r\n", bare_lf),
        (b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", malformed),
    ];
    for (head, expected) in cases {
        assert_eq!(
            Request::parse(head).map(|_| ()),
            Err(expected),
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn absolute_form_targets_use_their_path_and_query() {
    // RFC 9112 §3.2.2: a server must accept the absolute-form; the authority is not
    // used for routing (Host is kept as sent).
    let cases = [
        ("http://device.local/chat", "/chat", ""),
        ("HTTP://device.local:8080/chat?a=1", "/chat", "a=1"),
        ("https://d/", "/", ""),
        ("ws://d", "/", ""),
        ("wss://d?x=2", "/", "x=2"),
        ("http://user@d:1/a/b", "/a/b", ""),
    ];
    for (target, path, query) in cases {
        let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        let req = Request::parse(head.as_bytes()).expect("parses");
        assert_eq!((req.path, req.query), (path, query), "{target}");
        assert_eq!(req.header("host"), Some(&b"a"[..]));
    }
}

#[test]
fn path_and_query_split() {
    let cases = [
        ("/", "/", ""),
        ("/chat", "/chat", ""),
        ("/chat?", "/chat", ""),
        ("/chat?a=1", "/chat", "a=1"),
        ("/chat?a=1?b=2", "/chat", "a=1?b=2"),
        ("/a/b/c?x", "/a/b/c", "x"),
        ("/?q", "/", "q"),
    ];
    for (target, path, query) in cases {
        let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        let req = Request::parse(head.as_bytes()).expect("parses");
        assert_eq!((req.path, req.query), (path, query), "{target}");
    }
}

#[test]
fn header_accessors() {
    let head = b"GET / HTTP/1.1\r\n\
X-A: first \r\n\
x-b:\tb\t\r\n\
X-a:  second\r\n\
Empty:\r\n\
X-A: third\r\n\
\r\n";
    let req = Request::parse(head).expect("parses");
    assert_eq!(req.header("x-a"), Some(&b"first"[..]));
    assert_eq!(req.header("X-B"), Some(&b"b"[..]));
    assert_eq!(req.header("empty"), Some(&b""[..]));
    assert_eq!(req.header("missing"), None);
    assert_eq!(req.header(""), None);
    let all: Vec<&[u8]> = req.headers_named("X-A").collect();
    assert_eq!(all, [&b"first"[..], b"second", b"third"]);
    let names: Vec<&str> = req.headers().map(|(n, _)| n).collect();
    assert_eq!(names, ["X-A", "x-b", "X-a", "Empty", "X-A"]);
    assert!(!req.wants_upgrade());
}

#[test]
fn header_name_match_is_ascii_only() {
    let req = Request::parse(b"GET / HTTP/1.1\r\nHOST: a\r\n\r\n").expect("parses");
    assert_eq!(req.header("host"), Some(&b"a"[..]));
    assert_eq!(req.header("hos"), None);
    assert_eq!(req.header("hostx"), None);
    assert_eq!(req.header("h\u{f8}st"), None);
}

#[test]
fn wants_upgrade_cases() {
    let plain = Request::parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").expect("parses");
    assert!(!plain.wants_upgrade());
    let up = Request::parse(b"GET / HTTP/1.1\r\nupgrade: foo\r\n\r\n").expect("parses");
    assert!(up.wants_upgrade());
    let key = Request::parse(b"GET / HTTP/1.1\r\nSec-WebSocket-Key: x\r\n\r\n").expect("parses");
    assert!(key.wants_upgrade());
    // A plain GET on a WebSocket path: the caller answers 426, and validation says why.
    assert_eq!(
        validate_upgrade(&plain).map(|_| ()),
        Err(bad("missing or wrong Upgrade header (expected websocket)"))
    );
}

#[test]
fn request_size() {
    #[cfg(target_pointer_width = "64")]
    assert_eq!(core::mem::size_of::<Request<'_>>(), 1088);
    #[cfg(target_pointer_width = "32")]
    assert_eq!(core::mem::size_of::<Request<'_>>(), 544);
}

#[test]
fn request_is_copy_and_debug() {
    let req = Request::parse(CHROME).expect("parses");
    let copy = req;
    assert_eq!(copy.header("upgrade"), req.header("upgrade"));
    let text = format!("{req:?}");
    assert!(text.contains("/chat"));
    let up = validate_upgrade(&req).expect("valid");
    assert!(format!("{up:?}").contains("key"));
}

// ---- subprotocols ----

fn proto_req(lines: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: a\r\n{lines}\r\n").into_bytes()
}

#[test]
fn select_protocol_cases() {
    let supported: &[&'static str] = &["json", "chat.v2", "chat"];
    let cases: [(&str, Option<&str>); 12] = [
        ("", None),
        ("Sec-WebSocket-Protocol: chat\r\n", Some("chat")),
        ("Sec-WebSocket-Protocol: chat, json\r\n", Some("chat")),
        ("Sec-WebSocket-Protocol: json, chat\r\n", Some("json")),
        ("Sec-WebSocket-Protocol: CHAT\r\n", None),
        ("Sec-WebSocket-Protocol: cha\r\n", None),
        ("Sec-WebSocket-Protocol: chatx\r\n", None),
        ("Sec-WebSocket-Protocol: ,, ,\r\n", None),
        ("Sec-WebSocket-Protocol:\r\n", None),
        (
            "Sec-WebSocket-Protocol: x,\t chat.v2 ,y\r\n",
            Some("chat.v2"),
        ),
        (
            "Sec-WebSocket-Protocol: x\r\nsec-websocket-protocol: y, chat\r\n",
            Some("chat"),
        ),
        (
            "Sec-WebSocket-Protocol: json\r\nSec-WebSocket-Protocol: chat\r\n",
            Some("json"),
        ),
    ];
    for (lines, expected) in cases {
        let head = proto_req(lines);
        let req = Request::parse(&head).expect("parses");
        assert_eq!(select_protocol(&req, supported), expected, "{lines}");
    }
    let head = proto_req("Sec-WebSocket-Protocol: chat\r\n");
    let req = Request::parse(&head).expect("parses");
    assert_eq!(select_protocol(&req, &[]), None);
}

#[test]
fn select_protocol_returns_the_servers_str() {
    static CHAT: &str = "chat";
    let head = proto_req("Sec-WebSocket-Protocol: chat\r\n");
    let req = Request::parse(&head).expect("parses");
    let chosen = select_protocol(&req, &[CHAT]).expect("chosen");
    assert!(core::ptr::eq(chosen, CHAT));
    assert!(!head.as_ptr_range().contains(&chosen.as_ptr()));
}

#[test]
fn select_protocol_huge_list_never_panics() {
    let mut list = String::new();
    for i in 0..3000 {
        list.push_str(&format!("p{i}, "));
    }
    list.push_str(&"z".repeat(5000));
    list.push_str(", chat");
    let head = proto_req(&format!("Sec-WebSocket-Protocol: {list}\r\n"));
    let req = Request::parse(&head).expect("parses");
    assert_eq!(select_protocol(&req, &["chat"]), Some("chat"));
    assert_eq!(select_protocol(&req, &["nope"]), None);
}

// ---- head end ----

#[test]
fn find_head_end_basic() {
    assert_eq!(find_head_end(b"", 0), None);
    assert_eq!(find_head_end(b"\r\n\r", 0), None);
    assert_eq!(find_head_end(b"\r\n\r\n", 0), Some(4));
    assert_eq!(find_head_end(b"a\r\n\r\nb\r\n\r\n", 0), Some(5));
    // A bare LF ends the head at once (Request::parse then refuses it with 400).
    assert_eq!(find_head_end(b"a\n\nb", 0), Some(2));
    assert_eq!(find_head_end(b"a\r\n\nb\r\r\n\n", 0), Some(4));
    assert_eq!(find_head_end(b"\n", 0), Some(1));
    assert_eq!(
        find_head_end(b"a\r\nb\r", 0),
        None,
        "CR alone is not an end"
    );
    assert_eq!(
        find_head_end(b"a\r\nb\r\n", 4),
        None,
        "CRLF is a line end only"
    );
    assert_eq!(
        find_head_end(b"\r\n\r\n", 100),
        None,
        "nothing past scanned"
    );
    assert_eq!(find_head_end(b"\r\n\r\n", 4), None);
    assert_eq!(find_head_end(b"\r\n\r\n", 3), Some(4));
    assert_eq!(find_head_end(b"xx\r\n\r\n", usize::MAX), None);
    assert_eq!(find_head_end(b"xxxxx\r\n\r\n", 6), Some(9));
    assert_eq!(find_head_end(b"xxxxx\r\n\r\n", 8), Some(9));
    assert_eq!(find_head_end(b"xxxxx\r\n\r\n", 9), None);
    assert_eq!(find_head_end(b"x\r\n\r\n", 4), Some(5));
    assert_eq!(find_head_end(CHROME, 0), Some(CHROME.len()));
    // With bytes after the head (e.g. a pipelined second request), the first end wins.
    let mut two = FIREFOX.to_vec();
    two.extend_from_slice(CHROME);
    assert_eq!(find_head_end(&two, 0), Some(FIREFOX.len()));
}

#[test]
fn find_head_end_resumes_across_every_split_point() {
    for msg in [
        CHROME,
        FIREFOX,
        b"\r\n\r\n".as_slice(),
        b"GET / HTTP/1.1\r\n\r\n",
    ] {
        let end = msg.len();
        // Two reads, split at every point.
        for split in 0..=end {
            let first = &msg[..split];
            let found = find_head_end(first, 0);
            if split < end {
                assert_eq!(found, None, "split {split}");
                assert_eq!(find_head_end(msg, split), Some(end), "split {split}");
            } else {
                assert_eq!(found, Some(end));
            }
        }
        // Byte by byte, resuming each time at the previous length.
        let mut scanned = 0;
        let mut result = None;
        for len in 1..=end {
            result = find_head_end(&msg[..len], scanned);
            if result.is_some() {
                assert_eq!(len, end);
                break;
            }
            scanned = len;
        }
        assert_eq!(result, Some(end));
        // Three reads, every pair of split points.
        for a in 0..end {
            for b in a..end {
                assert_eq!(find_head_end(&msg[..a], 0), None);
                assert_eq!(find_head_end(&msg[..b], a), None);
                assert_eq!(find_head_end(msg, b), Some(end), "{a} {b}");
            }
        }
    }
}

#[test]
fn split_request_end_to_end() {
    // A request arriving in 7-byte reads is found, parsed and accepted.
    let mut buf = Vec::new();
    let mut scanned = 0;
    let mut end = None;
    for chunk in FIREFOX.chunks(7) {
        buf.extend_from_slice(chunk);
        end = find_head_end(&buf, scanned);
        if end.is_some() {
            break;
        }
        scanned = buf.len();
    }
    let end = end.expect("found");
    let req = Request::parse(&buf[..end]).expect("parses");
    assert_eq!(
        validate_upgrade(&req).map(|u| u.key),
        Ok(&b"x3JJHMbDL1EzLkh9GBhXDw=="[..])
    );
}

// ---- refusal response bytes ----

#[test]
fn refusal_response_bytes() {
    let cases: [(HttpError, &[u8]); 4] = [
        (
            bad("missing Host header"),
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
              Content-Length: 20\r\nConnection: close\r\n\r\nmissing Host header\n",
        ),
        (
            err(Status::MethodNotAllowed, "WebSocket upgrade needs GET"),
            b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n\
              Content-Type: text/plain; charset=utf-8\r\nContent-Length: 28\r\n\
              Connection: close\r\n\r\nWebSocket upgrade needs GET\n",
        ),
        (
            err(
                Status::HeaderFieldsTooLarge,
                "too many header fields (max 32)",
            ),
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
              Content-Type: text/plain; charset=utf-8\r\nContent-Length: 32\r\n\
              Connection: close\r\n\r\ntoo many header fields (max 32)\n",
        ),
        (
            err(Status::NotFound, "no WebSocket gateway at this path"),
            b"HTTP/1.1 404 Not Found\r\n\
              Content-Type: text/plain; charset=utf-8\r\nContent-Length: 34\r\n\
              Connection: close\r\n\r\nno WebSocket gateway at this path\n",
        ),
    ];
    for (e, expected) in cases {
        let mut out = [0u8; 256];
        let n = write_error(&mut out, &e).expect("fits");
        assert_eq!(&out[..n], expected, "{e}");
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: mutate the Firefox request byte by byte.
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for _ in 0..3000 {
        let mut head = FIREFOX.to_vec();
        for _ in 0..(next() % 8 + 1) {
            let i = next() as usize % head.len();
            head[i] = next() as u8;
        }
        let cut = next() as usize % (head.len() + 1);
        let head = &head[..cut];
        let _ = find_head_end(head, next() as usize % (cut + 5));
        if let Ok(req) = Request::parse(head) {
            let _ = validate_upgrade(&req);
            let _ = select_protocol(&req, &["chat", "superchat"]);
            let _ = req.wants_upgrade();
        }
    }
}
