//! Tests of the Socket.IO packet codec: the strings captured from socket.io 4.8.3
//! (SOCKETIO.md §3.2) decoded and written back byte for byte, the refusals of the
//! socket.io-protocol test suite, every error and its precedence, the event and ack views,
//! NestJS's `mapPayload`, placeholders, bounded output, and arbitrary input.

extern crate std;

use super::*;
use crate::json::test_support::Rng;
use proptest::prelude::*;
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use PacketError as E;
use PacketType as T;

/// Decodes `text` or fails the test, naming it.
fn ok(text: &[u8]) -> Packet<'_> {
    decode(text).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(text)))
}

/// Decodes `text` expecting `err`.
fn err(text: &[u8], want: PacketError) {
    assert_eq!(
        decode(text),
        Err(want),
        "{:?}",
        String::from_utf8_lossy(text)
    );
}

/// The arguments as strings.
fn args(p: &Packet<'_>) -> Vec<String> {
    let v: Vec<String> = p
        .args
        .iter()
        .map(|a| String::from_utf8(a.to_vec()).unwrap())
        .collect();
    assert_eq!(v.len(), p.args.len());
    v
}

/// The event name as a string (decoded).
fn name(p: &Packet<'_>) -> String {
    match p.event.expect("an event") {
        EventName::Str(s) => {
            let mut buf = [0u8; 256];
            String::from(s.decode_into(&mut buf).unwrap())
        }
        EventName::Number(n) => String::from_utf8(n.to_vec()).unwrap(),
    }
}

/// Runs a writer into a buffer of exactly the right size and returns the text; also
/// checks that every shorter buffer fails, and that a longer one gives the same text.
fn written(write: impl Fn(&mut [u8]) -> Option<usize>) -> String {
    let mut big = vec![0u8; 4096];
    let n = write(&mut big).expect("fits in 4096");
    let mut exact = vec![0u8; n];
    assert_eq!(write(&mut exact), Some(n));
    assert_eq!(exact[..], big[..n]);
    for len in 0..n {
        let mut short = vec![0u8; len];
        assert_eq!(write(&mut short), None, "{len} of {n} bytes");
    }
    String::from_utf8(exact).unwrap()
}

// ---- the captured strings (SOCKETIO.md §3.2), the Engine.IO `4` stripped ----

#[test]
fn captured_client_connects() {
    let p = ok(b"0");
    assert_eq!(
        (p.kind, p.attachments, p.namespace, p.ack_id, p.payload),
        (T::Connect, 0, "/", None, None)
    );
    assert_eq!((p.event, p.args.len()), (None, 0));

    let p = ok(br#"0{"token":"123"}"#);
    assert_eq!((p.kind, p.namespace), (T::Connect, "/"));
    assert_eq!(p.payload, Some(&br#"{"token":"123"}"#[..]));

    let p = ok(b"0/admin,");
    assert_eq!(
        (p.kind, p.namespace, p.payload),
        (T::Connect, "/admin", None)
    );

    let p = ok(br#"0/admin,{"token":"123"}"#);
    assert_eq!((p.kind, p.namespace), (T::Connect, "/admin"));
    assert_eq!(p.payload, Some(&br#"{"token":"123"}"#[..]));

    let p = ok(b"0/nope,");
    assert_eq!(p.namespace, "/nope");

    // The test suite's `40/random`: no comma, the namespace runs to the end.
    let p = ok(b"0/random");
    assert_eq!(
        (p.kind, p.namespace, p.payload),
        (T::Connect, "/random", None)
    );
    let p = ok(b"0/admin");
    assert_eq!(p.namespace, "/admin");
}

#[test]
fn captured_client_events() {
    let p = ok(br#"2["events","test"]"#);
    assert_eq!((p.kind, p.namespace, p.ack_id), (T::Event, "/", None));
    assert_eq!(name(&p), "events");
    assert!(p.event.unwrap().eq_str("events"));
    assert_eq!(args(&p), [r#""test""#]);
    assert_eq!(p.payload, Some(&br#"["events","test"]"#[..]));

    let p = ok(br#"20["events","test"]"#);
    assert_eq!((p.ack_id, name(&p)), (Some(0), String::from("events")));
    assert_eq!(args(&p), [r#""test""#]);

    let p = ok(br#"2/admin,0["events","x"]"#);
    assert_eq!((p.namespace, p.ack_id), ("/admin", Some(0)));
    assert_eq!(args(&p), [r#""x""#]);

    let p = ok(br#"2456["message-with-ack",1,"2",{"3":[false]}]"#);
    assert_eq!(
        (p.ack_id, name(&p)),
        (Some(456), String::from("message-with-ack"))
    );
    assert_eq!(args(&p), ["1", r#""2""#, r#"{"3":[false]}"#]);
    assert_eq!(p.args.raw(), br#"1,"2",{"3":[false]}"#);

    // The NestJS sample client.
    let p = ok(br#"2["events",{"test":"test"}]"#);
    assert_eq!(args(&p), [r#"{"test":"test"}"#]);
    let p = ok(br#"20["identity",0]"#);
    assert_eq!((p.ack_id, name(&p)), (Some(0), String::from("identity")));
    assert_eq!(args(&p), ["0"]);
    let p = ok(br#"22["multi",null]"#);
    assert_eq!(args(&p), ["null"]);
    let p = ok(br#"2["boom",{"x":1}]"#);
    assert_eq!(args(&p), [r#"{"x":1}"#]);
}

#[test]
fn captured_client_binary_and_leave() {
    let p = ok(br#"51-4["identity",{"_placeholder":true,"num":0}]"#);
    assert_eq!(
        (p.kind, p.attachments, p.namespace, p.ack_id),
        (T::BinaryEvent, 1, "/", Some(4))
    );
    assert_eq!(name(&p), "identity");
    assert_eq!(args(&p), [r#"{"_placeholder":true,"num":0}"#]);
    assert_eq!(placeholder_index(p.args.first().unwrap()), Ok(Some(0)));

    let p = ok(br#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    assert_eq!((p.kind, p.attachments, p.ack_id), (T::BinaryEvent, 2, None));
    let nums: Vec<_> = p.args.iter().map(placeholder_index).collect();
    assert_eq!(nums, [Ok(Some(0)), Ok(Some(1))]);

    let p = ok(b"1/admin,");
    assert_eq!(
        (p.kind, p.namespace, p.payload),
        (T::Disconnect, "/admin", None)
    );
    let p = ok(b"1");
    assert_eq!((p.kind, p.namespace, p.payload), (T::Disconnect, "/", None));
}

/// Every server frame captured: decoded to its parts, and written back byte for byte.
#[test]
fn captured_server_frames_decode_and_encode() {
    let sid = "k9mhjQoR6llCPpBcAAAA";
    let want = r#"0{"sid":"k9mhjQoR6llCPpBcAAAA"}"#;
    assert_eq!(written(|o| write_connect("/", sid, o)), want);
    let p = ok(want.as_bytes());
    assert_eq!((p.kind, p.namespace), (T::Connect, "/"));
    assert_eq!(p.payload, Some(&br#"{"sid":"k9mhjQoR6llCPpBcAAAA"}"#[..]));
    assert_eq!(
        written(|o| write_connect("/", "TdjgcJ0FFNodJY8SAAAA", o)),
        r#"0{"sid":"TdjgcJ0FFNodJY8SAAAA"}"#
    );
    let want = r#"0/admin,{"sid":"zO_RL0rQ8UQymtmTAAAB"}"#;
    assert_eq!(
        written(|o| write_connect("/admin", "zO_RL0rQ8UQymtmTAAAB", o)),
        want
    );
    assert_eq!(ok(want.as_bytes()).namespace, "/admin");

    let want = r#"4/nope,{"message":"Invalid namespace"}"#;
    assert_eq!(
        written(|o| write_connect_error("/nope", "Invalid namespace", None, o)),
        want
    );
    let p = ok(want.as_bytes());
    assert_eq!((p.kind, p.namespace), (T::ConnectError, "/nope"));
    assert_eq!(p.payload, Some(&br#"{"message":"Invalid namespace"}"#[..]));
    assert_eq!(
        written(|o| write_connect_error("/random", "Invalid namespace", None, o)),
        r#"4/random,{"message":"Invalid namespace"}"#
    );
    let want = r#"4{"message":"not authorized"}"#;
    assert_eq!(
        written(|o| write_connect_error("/", "not authorized", None, o)),
        want
    );
    assert_eq!(ok(want.as_bytes()).kind, T::ConnectError);
    let want = r#"4/admin,{"message":"not authorized","data":{"content":"retry later"}}"#;
    let data = br#"{ "content" : "retry later" }"#;
    assert_eq!(
        written(|o| write_connect_error("/admin", "not authorized", Some(data), o)),
        want
    );
    assert_eq!(ok(want.as_bytes()).namespace, "/admin");

    let want = r#"30["test"]"#;
    assert_eq!(written(|o| write_ack("/", 0, [&br#""test""#[..]], o)), want);
    let p = ok(want.as_bytes());
    assert_eq!((p.kind, p.ack_id, p.event), (T::Ack, Some(0), None));
    assert_eq!(args(&p), [r#""test""#]);

    let want = r#"3/admin,0["admin-ok"]"#;
    assert_eq!(
        written(|o| write_ack("/admin", 0, [&br#""admin-ok""#[..]], o)),
        want
    );
    let p = ok(want.as_bytes());
    assert_eq!((p.namespace, p.ack_id), ("/admin", Some(0)));

    let want = r#"3456[1,"2",{"3":[false]}]"#;
    let a: [&[u8]; 3] = [b"1", br#""2""#, br#"{"3": [false]}"#];
    assert_eq!(written(|o| write_ack("/", 456, a, o)), want);
    assert_eq!(
        args(&ok(want.as_bytes())),
        ["1", r#""2""#, r#"{"3":[false]}"#]
    );
    // The test suite's echo: the event's own arguments, passed as they are.
    let ev = ok(br#"2456["message-with-ack",1,"2",{"3":[false]}]"#);
    assert_eq!(
        written(|o| write_ack(ev.namespace, ev.ack_id.unwrap(), ev.args, o)),
        want
    );

    let ph = br#"{"_placeholder":true,"num":0}"#;
    let want = r#"61-4[{"_placeholder":true,"num":0}]"#;
    assert_eq!(written(|o| write_binary_ack("/", 1, 4, [&ph[..]], o)), want);
    let p = ok(want.as_bytes());
    assert_eq!(
        (p.kind, p.attachments, p.ack_id),
        (T::BinaryAck, 1, Some(4))
    );
    assert_eq!(
        written(|o| write_binary_event("/", 1, Some(4), "identity", [&ph[..]], o)),
        r#"51-4["identity",{"_placeholder":true,"num":0}]"#
    );

    assert_eq!(written(|o| write_disconnect("/", o)), "1");
    assert_eq!(written(|o| write_disconnect("/admin", o)), "1/admin,");
    assert_eq!(ok(b"1/admin,").namespace, "/admin");

    // The NestJS frames.
    for i in 1..=3 {
        let arg = format!("{i}");
        let want = format!(r#"2["events",{i}]"#);
        assert_eq!(
            written(|o| write_event("/", None, "events", [arg.as_bytes()], o)),
            want
        );
        assert_eq!(args(&ok(want.as_bytes())), [arg.as_str()]);
    }
    assert_eq!(written(|o| write_ack("/", 1, [&b"0"[..]], o)), "31[0]");
    assert_eq!(written(|o| write_ack("/", 2, [&b"10"[..]], o)), "32[10]");
    let exc = br#"{"status":"error","message":"test","cause":{"pattern":"boom","data":{"x":1}}}"#;
    let want = r#"2["exception",{"status":"error","message":"test","cause":{"pattern":"boom","data":{"x":1}}}]"#;
    assert_eq!(
        written(|o| write_event("/", None, "exception", [&exc[..]], o)),
        want
    );
    assert_eq!(name(&ok(want.as_bytes())), "exception");
    assert_eq!(
        written(|o| write_event("/admin", None, "exception", [&exc[..]], o)),
        format!("2/admin,{}", &want[1..])
    );
    assert_eq!(
        written(|o| write_event("/", None, "news", [&br#""from a non-Node node""#[..]], o)),
        r#"2["news","from a non-Node node"]"#
    );
}

#[test]
fn frames_with_the_engine_io_prefix() {
    assert_eq!(
        written(|o| with_message_prefix(o, |o| write_connect("/", "k9mhjQoR6llCPpBcAAAA", o))),
        r#"40{"sid":"k9mhjQoR6llCPpBcAAAA"}"#
    );
    assert_eq!(
        written(|o| with_message_prefix(o, |o| write_disconnect("/admin", o))),
        "41/admin,"
    );
    assert_eq!(
        written(|o| with_message_prefix(o, |o| write_ack("/", 0, [&b"0"[..]], o))),
        "430[0]"
    );
}

// ---- the socket.io-protocol test suite's refusals (SOCKETIO.md §2.6) ----

#[test]
fn test_suite_refusals() {
    // `4abc`: unknown packet type.
    err(b"abc", E::UnknownType);
    // `42{}`: the payload of an EVENT is not an array.
    err(b"2{}", E::InvalidPayload);
    // `42abc[…]`: "bad ack id". socket.io-parser reads no ack id and refuses the payload
    // `abc[…]`, which is not JSON.
    err(
        br#"2abc["message-with-ack",1,"2",{"3":[false]}]"#,
        E::InvalidJson,
    );
}

// ---- header ----

#[test]
fn every_type() {
    assert_eq!(ok(b"0").kind, T::Connect);
    assert_eq!(ok(b"1").kind, T::Disconnect);
    assert_eq!(ok(br#"2["a"]"#).kind, T::Event);
    assert_eq!(ok(b"3[]").kind, T::Ack);
    assert_eq!(ok(b"4{}").kind, T::ConnectError);
    assert_eq!(ok(br#"51-["a"]"#).kind, T::BinaryEvent);
    assert_eq!(ok(b"61-[]").kind, T::BinaryAck);
    for d in 0u8..=255 {
        let t = PacketType::from_digit(d);
        assert_eq!(t.is_some(), (b'0'..=b'6').contains(&d), "{d}");
        if let Some(t) = t {
            assert_eq!(t.digit(), d);
            assert_eq!(t as u8, d - b'0');
            assert_eq!(t.is_binary(), d == b'5' || d == b'6');
        }
    }
}

#[test]
fn empty_and_unknown_type() {
    err(b"", E::Empty);
    for t in [
        &b"7"[..],
        b"8[]",
        b"9",
        b"a",
        b" 0",
        b"-1",
        b"\xff",
        b"\x00",
        b"/admin,",
        br#"["a"]"#,
    ] {
        err(t, E::UnknownType);
    }
}

#[test]
fn attachments() {
    for n in 1..=10u8 {
        let text = format!(r#"5{n}-["a"]"#);
        let p = ok(text.as_bytes());
        assert_eq!((p.kind, p.attachments), (T::BinaryEvent, n));
        let text = format!("6{n}-7[]");
        let p = ok(text.as_bytes());
        assert_eq!(
            (p.kind, p.attachments, p.ack_id),
            (T::BinaryAck, n, Some(7))
        );
    }
    // 10 is the limit, 11 is too many.
    assert_eq!(ok(br#"510-["a"]"#).attachments, MAX_ATTACHMENTS);
    err(br#"511-["a"]"#, E::TooManyAttachments);
    err(b"611-[]", E::TooManyAttachments);
    err(b"6256-[]", E::TooManyAttachments);
    err(b"699999999999999999999999-[]", E::TooManyAttachments);
    // Leading zeros, as `Number` reads them.
    assert_eq!(ok(br#"5010-["a"]"#).attachments, 10);
    // A binary type needs `<digits>-`, and socket.io-parser 4.2.7 refuses a count of 0.
    for t in [
        &br#"50-["a"]"#[..],
        br#"500-["a"]"#,
        b"60-[]",
        b"60-",
        br#"5["a"]"#,
        br#"5-["a"]"#,
        b"5",
        b"5-",
        b"51",
        br#"51["a"]"#,
        br#"5a-["a"]"#,
        br#"5 1-["a"]"#,
        br#"5/admin,1-["a"]"#,
        br#"51/admin,-["a"]"#,
        b"6[]",
        b"6-[]",
    ] {
        err(t, E::BadAttachments);
    }
    // Other types have none.
    for t in [
        &br#"21-["a"]"#[..],
        b"31-[]",
        b"01-",
        b"10-",
        b"41-{}",
        br#"210-["a"]"#,
    ] {
        err(t, E::BadAttachments);
    }
    // Digits then something else are an ack id there.
    assert_eq!(ok(br#"21["a"]"#).ack_id, Some(1));
    // Binary packets carry namespace and ack id after the count.
    let p = ok(br#"52-/admin,9["a",{"_placeholder":true,"num":1}]"#);
    assert_eq!(
        (p.attachments, p.namespace, p.ack_id),
        (2, "/admin", Some(9))
    );
}

#[test]
fn namespaces() {
    let p = ok(br#"2/a/b c,["e"]"#);
    assert_eq!(p.namespace, "/a/b c");
    // The first comma ends it.
    let p = ok(br#"2/a,1["e"]"#);
    assert_eq!((p.namespace, p.ack_id), ("/a", Some(1)));
    err(br#"2/a,1,["e"]"#, E::InvalidJson);
    // `/` explicitly.
    assert_eq!(ok(br#"2/,["e"]"#).namespace, "/");
    // Non-ASCII UTF-8.
    assert_eq!(ok("0/caf\u{e9},".as_bytes()).namespace, "/caf\u{e9}");
    // No comma: the namespace is the rest of the text, so an event has no payload.
    assert_eq!(ok(br#"0/admin{"a":1}"#).namespace, r#"/admin{"a":1}"#);
    err(br#"2/admin["e"]"#, E::InvalidPayload);
    // Only right after the header.
    err(br#"21/admin,["e"]"#, E::InvalidJson);
    // Not UTF-8.
    err(b"0/\xff,", E::BadNamespace);
    err(b"0/\xc3", E::BadNamespace);
    err(b"2/a\xe9,[\"e\"]", E::BadNamespace);
}

#[test]
fn ack_ids() {
    assert_eq!(ok(br#"20["a"]"#).ack_id, Some(0));
    assert_eq!(ok(br#"2007["a"]"#).ack_id, Some(7));
    assert_eq!(ok(br#"24294967295["a"]"#).ack_id, Some(u32::MAX));
    err(br#"24294967296["a"]"#, E::BadAckId);
    err(b"399999999999999999999[]", E::BadAckId);
    err(b"3/admin,4294967296[]", E::BadAckId);
    // Any type may carry one.
    assert_eq!(ok(b"05").ack_id, Some(5));
    assert_eq!(ok(b"3").ack_id, None);
    assert_eq!(ok(b"1/admin,3").ack_id, Some(3));
    // Whitespace where socket.io-parser would read an ack id (`Number(" ")` is 0).
    for t in [
        &br#"2 1["a"]"#[..],
        br#"2 ["a"]"#,
        br#"21 ["a"]"#,
        br#"2/admin, ["a"]"#,
        b"0 {}",
        b"0\t",
        b"1\n",
        b"3\r[]",
        b"51-4 []",
        b"4 1",
    ] {
        err(t, E::BadAckId);
    }
}

// ---- payloads ----

#[test]
fn payload_rules_per_type() {
    // CONNECT: absent or an object.
    assert_eq!(ok(b"0").payload, None);
    assert_eq!(ok(b"0{}").payload, Some(&b"{}"[..]));
    assert_eq!(ok(b"0{ } \n").payload, Some(&b"{ }"[..]));
    for t in [
        &b"0[]"[..],
        b"0\"x\"",
        b"0null",
        b"0-1",
        b"0true",
        b"0/admin,[]",
    ] {
        err(t, E::InvalidPayload);
    }
    // DISCONNECT: absent.
    for t in [&b"1{}"[..], b"1[]", b"1\"x\"", b"1/admin,{}", b"1null"] {
        err(t, E::InvalidPayload);
    }
    // EVENT: a non-empty array led by a string or a number.
    for t in [
        &b"2"[..],
        b"2/admin,",
        b"27",
        b"2[]",
        b"2[ ]",
        b"2{}",
        b"2\"e\"",
        b"2null",
        b"2[null]",
        b"2[true,1]",
        b"2[{},1]",
        b"2[[\"e\"]]",
        b"2[{\"_placeholder\":true,\"num\":0}]",
    ] {
        err(t, E::InvalidPayload);
    }
    assert_eq!(name(&ok(b"2[42]")), "42");
    assert_eq!(name(&ok(b"2[-1.5e3,\"x\"]")), "-1.5e3");
    assert_eq!(ok(b"2[0]").event, Some(EventName::Number(b"0")));
    // ACK: absent or an array, empty included.
    assert_eq!(ok(b"3").payload, None);
    assert_eq!(ok(b"30").payload, None);
    let p = ok(b"30[]");
    assert_eq!((p.payload, p.args.len()), (Some(&b"[]"[..]), 0));
    assert_eq!(ok(b"30[ ]").args.len(), 0);
    // (`31` is an ack id.)
    assert_eq!(ok(b"31").ack_id, Some(1));
    for t in [&b"30{}"[..], b"3\"x\"", b"3-1", b"3null"] {
        err(t, E::InvalidPayload);
    }
    // CONNECT_ERROR: absent, an object or a string.
    assert_eq!(ok(b"4").payload, None);
    assert_eq!(ok(br#"4"nope""#).payload, Some(&br#""nope""#[..]));
    for t in [&b"4[]"[..], b"4null", b"4-1.5", b"4true"] {
        err(t, E::InvalidPayload);
    }
    // BINARY_EVENT as EVENT (a payload is required), BINARY_ACK as ACK.
    err(b"51-", E::InvalidPayload);
    err(b"51-[]", E::InvalidPayload);
    err(b"51-{}", E::InvalidPayload);
    err(b"51-[1.5e]", E::InvalidJson);
    assert_eq!(ok(b"61-").payload, None);
    err(b"61-{}", E::InvalidPayload);
}

#[test]
fn payload_must_be_one_json_value() {
    for t in [
        &br#"2["a",]"#[..],
        br#"2["a""#,
        br#"2["a"]]"#,
        br#"2["a"] x"#,
        br#"2["a"]["b"]"#,
        br#"2["a" "b"]"#,
        br#"2['a']"#,
        b"2[\"a\x01\"]",
        br#"2["a\x"]"#,
        b"2[",
        b"2[,]",
        b"2[\"a\",01]",
        b"0{",
        b"0{}}",
        b"0{'a':1}",
        b"3[1]]",
        b"3[1,]",
        b"3[,1]",
        b"4{\"message\":1}x",
        b"1x",
        b"1\x0b",
        b"2\x0c",
        b"2[\"a\"]\x00",
        b"2\xef\xbb\xbf[\"a\"]",
    ] {
        err(t, E::InvalidJson);
    }
    // Whitespace inside and after the value is JSON's; the payload is the value without
    // it.
    let p = ok(b"2[ \"a\" , 1 ,\n2 ] \r\n");
    assert_eq!(p.payload, Some(&b"[ \"a\" , 1 ,\n2 ]"[..]));
    assert_eq!(args(&p), ["1", "2"]);
    assert_eq!(p.args.raw(), b"1 ,\n2");
}

#[test]
fn depth_limit() {
    // The payload array is level 1: 127 more levels are allowed in an argument.
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    for kind in ["2[\"a\",", "51-[\"a\",", "3[", "61-["] {
        let t = format!("{kind}{}]", nest(127));
        assert!(decode(t.as_bytes()).is_ok(), "{kind}");
        let t = format!("{kind}{}]", nest(128));
        err(t.as_bytes(), E::TooDeep);
    }
    let objs = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    let t = format!("0{}", objs(128));
    assert!(decode(t.as_bytes()).is_ok());
    err(format!("0{}", objs(129)).as_bytes(), E::TooDeep);
    err(format!("4{}", objs(129)).as_bytes(), E::TooDeep);
    err(format!("1{}", objs(129)).as_bytes(), E::TooDeep);
    // In the name's place.
    err(format!("2[{}]", nest(128)).as_bytes(), E::TooDeep);
    err(format!("51-[{}]", nest(128)).as_bytes(), E::TooDeep);
}

#[test]
fn reserved_events() {
    for r in RESERVED_EVENTS {
        err(format!(r#"2["{r}"]"#).as_bytes(), E::ReservedEvent);
        err(
            format!(r#"2/admin,3["{r}",1,2]"#).as_bytes(),
            E::ReservedEvent,
        );
        err(format!(r#"51-["{r}"]"#).as_bytes(), E::ReservedEvent);
    }
    // Compared after decoding escapes, as JSON.parse does.
    err(br#"2["conn\u0065ct"]"#, E::ReservedEvent);
    err(br#"2["\u0064isconnect"]"#, E::ReservedEvent);
    for n in [
        "Connect",
        "connect ",
        "connec",
        "connects",
        "",
        "newlistener",
        "error",
    ] {
        let t = format!(r#"2["{n}"]"#);
        assert_eq!(name(&ok(t.as_bytes())), n);
    }
    // Only the name counts.
    assert_eq!(args(&ok(br#"2["e","connect"]"#)), [r#""connect""#]);
    // An ACK has no name.
    assert!(decode(br#"3["connect"]"#).is_ok());
}

#[test]
fn error_precedence() {
    // The header before the payload.
    err(b"7{", E::UnknownType);
    err(b"5{", E::BadAttachments);
    err(b"511-{", E::TooManyAttachments);
    err(b"2/\xff,{", E::BadNamespace);
    err(b"299999999999{", E::BadAckId);
    // Invalid JSON before the shape, the shape before the name, the name before the
    // placeholders.
    err(br#"2["connect",]"#, E::InvalidJson);
    err(br#"2["connect"] x"#, E::InvalidJson);
    err(b"2{]", E::InvalidJson);
    err(b"2[{},]", E::InvalidJson);
    err(b"1[", E::InvalidJson);
    err(br#"51-[{"_placeholder":true,"num":5}]"#, E::InvalidPayload);
    err(
        br#"51-["connect",{"_placeholder":true,"num":5}]"#,
        E::ReservedEvent,
    );
    err(
        br#"51-["a",{"_placeholder":true,"num":5},]"#,
        E::InvalidJson,
    );
    err(br#"61-[{"_placeholder":true,"num":5}"#, E::InvalidJson);
}

// ---- placeholders ----

#[test]
fn placeholders_in_binary_packets() {
    let ph = |n: &str| format!(r#"{{"_placeholder":true,"num":{n}}}"#);
    // Each num below the count, anywhere in the arguments.
    let t = format!(
        r#"53-["a",{},[1,{{"x":{}}}],{{"deep":[[{}]]}}]"#,
        ph("0"),
        ph("1"),
        ph("2")
    );
    assert_eq!(ok(t.as_bytes()).attachments, 3);
    let t = format!(r#"62-5[{},{}]"#, ph("1"), ph("0"));
    assert_eq!(ok(t.as_bytes()).args.len(), 2);
    // Not below the count.
    for (kind, count) in [("5", 1), ("5", 2), ("6", 1), ("6", 10)] {
        let head = if kind == "5" { "[\"a\"," } else { "[" };
        let t = format!("{kind}{count}-{head}{}]", ph(&format!("{count}")));
        err(t.as_bytes(), E::BadPlaceholder);
    }
    // Not a plain integer, or missing.
    for n in [
        "-1",
        "0.0",
        "1e0",
        "0E0",
        "\"0\"",
        "null",
        "true",
        "[0]",
        "4294967296",
    ] {
        let t = format!(r#"51-["a",{}]"#, ph(n));
        err(t.as_bytes(), E::BadPlaceholder);
    }
    err(br#"51-["a",{"_placeholder":true}]"#, E::BadPlaceholder);
    err(
        br#"61-[{"_placeholder":true,"num":0,"num":1}]"#,
        E::BadPlaceholder,
    );
    // The last duplicate counts.
    assert!(decode(br#"61-[{"_placeholder":true,"num":1,"num":0}]"#).is_ok());
    assert!(decode(br#"61-[{"_placeholder":true,"_placeholder":false,"num":9}]"#).is_ok());
    err(
        br#"61-[{"_placeholder":false,"_placeholder":true,"num":9}]"#,
        E::BadPlaceholder,
    );
    // Key order, whitespace and escapes are JSON's.
    assert!(decode(b"61-[ { \"num\" : 0 ,\n\"_placeholder\" : true } ]").is_ok());
    err(
        b"61-[{\"num\":1,\"\\u005fplaceholder\":true}]",
        E::BadPlaceholder,
    );
    err(
        b"61-[{\"n\\u0075m\":1,\"_placeholder\":true}]",
        E::BadPlaceholder,
    );
    assert!(decode(b"61-[{\"n\\u0075m\":0,\"_placeholder\":true}]").is_ok());
    // Only `true` marks one.
    for v in ["false", "\"true\"", "1", "null", "{}", "[true]"] {
        let t = format!(r#"61-[{{"_placeholder":{v},"num":9}}]"#);
        assert!(decode(t.as_bytes()).is_ok(), "{v}");
    }
    // A placeholder inside a placeholder is checked too.
    err(
        br#"61-[{"_placeholder":true,"num":0,"x":{"_placeholder":true,"num":1}}]"#,
        E::BadPlaceholder,
    );
    // Packets that are not binary have no placeholders.
    assert!(decode(br#"2["a",{"_placeholder":true,"num":5}]"#).is_ok());
    assert!(decode(br#"3[{"_placeholder":true}]"#).is_ok());
    assert!(decode(br#"0{"_placeholder":true}"#).is_ok());
}

#[test]
fn placeholder_index_reads_one_value() {
    assert_eq!(
        placeholder_index(br#"{"_placeholder":true,"num":0}"#),
        Ok(Some(0))
    );
    assert_eq!(
        placeholder_index(b" {\t\"num\" :\r\n 7 , \"_placeholder\": true }\n"),
        Ok(Some(7))
    );
    assert_eq!(
        placeholder_index(br#"{"a":[1,{"b":2}],"_placeholder":true,"num":4294967295}"#),
        Ok(Some(u32::MAX))
    );
    assert_eq!(
        placeholder_index(br#"{"\u005fplaceholder":true,"nu\u006d":3}"#),
        Ok(Some(3))
    );
    for v in [
        &b"{}"[..],
        b"[]",
        b"1",
        b"\"x\"",
        b"null",
        br#"{"num":1}"#,
        br#"{"_placeholder":false,"num":1}"#,
        br#"{"_placeholder":"true","num":1}"#,
        br#"{"_placeholder":true,"_placeholder":false,"num":1}"#,
        br#"[{"_placeholder":true,"num":1}]"#,
    ] {
        assert_eq!(placeholder_index(v), Ok(None), "{v:?}");
    }
    for v in [
        &br#"{"_placeholder":true}"#[..],
        br#"{"_placeholder":true,"num":-1}"#,
        br#"{"_placeholder":true,"num":1.5}"#,
        br#"{"_placeholder":true,"num":1e1}"#,
        br#"{"_placeholder":true,"num":"1"}"#,
        br#"{"_placeholder":true,"num":4294967296}"#,
        br#"{"_placeholder":true,"num":1,"num":null}"#,
    ] {
        assert_eq!(placeholder_index(v), Err(E::BadPlaceholder), "{v:?}");
    }
    for v in [
        &b""[..],
        b"{",
        br#"{"_placeholder":true,"num":0"#,
        br#"{"_placeholder":true,"num":01}"#,
        br#"{"_placeholder":truex,"num":0}"#,
        br#"{"_placeholder":true,"num":0} x"#,
        br#"{"_placeholder":true,"num":0,}"#,
        b"{} x",
        b"1 2",
    ] {
        assert_eq!(placeholder_index(v), Err(E::InvalidJson), "{v:?}");
    }
    let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(128), "]".repeat(128));
    assert_eq!(placeholder_index(deep.as_bytes()), Err(E::TooDeep));
}

#[test]
fn check_placeholders_walks_once() {
    let p = br#"["a",{"_placeholder":true,"num":0},[{"num":1,"_placeholder":true}],{"x":{"_placeholder":true,"num":0}}]"#;
    assert_eq!(check_placeholders(p, 2), Ok(3));
    assert_eq!(check_placeholders(p, 10), Ok(3));
    assert_eq!(check_placeholders(p, 1), Err(E::BadPlaceholder));
    assert_eq!(check_placeholders(p, 0), Err(E::BadPlaceholder));
    assert_eq!(check_placeholders(b" [1, 2, {}] ", 0), Ok(0));
    assert_eq!(check_placeholders(b"\"x\"", 0), Ok(0));
    assert_eq!(
        check_placeholders(br#"{"_placeholder":true,"num":0}"#, 1),
        Ok(1)
    );
    assert_eq!(
        check_placeholders(br#"{"_placeholder":true,"num":1}"#, 1),
        Err(E::BadPlaceholder)
    );
    assert_eq!(check_placeholders(b"[1,]", 1), Err(E::InvalidJson));
    assert_eq!(check_placeholders(b"[1] 2", 1), Err(E::InvalidJson));
    assert_eq!(check_placeholders(b"{\"a\" 1}", 1), Err(E::InvalidJson));
    assert_eq!(check_placeholders(b"{\"a\":1]", 1), Err(E::InvalidJson));
    assert_eq!(check_placeholders(b"", 1), Err(E::InvalidJson));
    let deep = |n: usize| format!("{}0{}", "[{\"a\":".repeat(n), "}]".repeat(n));
    assert_eq!(check_placeholders(deep(64).as_bytes(), 0), Ok(0));
    assert_eq!(check_placeholders(deep(65).as_bytes(), 0), Err(E::TooDeep));
}

// ---- the event and ack views, NestJS's mapPayload ----

#[test]
fn args_and_map_payload() {
    // emit("e"): no data.
    let p = ok(br#"2["e"]"#);
    assert_eq!(p.args.map_payload(), MapPayload::Absent);
    assert!(p.args.is_empty());
    assert_eq!(p.args.first(), None);
    assert_eq!(p.args.raw(), b"");
    // emit("e", cb): no data either (the callback is the ack id).
    assert_eq!(ok(br#"27["e"]"#).args.map_payload(), MapPayload::Absent);
    // emit("e", x) and emit("e", x, cb): x.
    for t in [
        &br#"2["e",{"a":[1]}]"#[..],
        br#"27["e",{"a":[1]}]"#,
        b"2[\"e\" , {\"a\":[1]} ]",
    ] {
        assert_eq!(ok(t).args.map_payload(), MapPayload::One(br#"{"a":[1]}"#));
    }
    // An array argument is one argument.
    assert_eq!(
        ok(br#"2["e",[1,2]]"#).args.map_payload(),
        MapPayload::One(b"[1,2]")
    );
    // emit("e", a, b) and emit("e", a, b, cb): [a, b].
    for t in [
        &br#"2["e",1,"b"]"#[..],
        br#"27["e",1,"b"]"#,
        b"2[ \"e\",1 ,\t\"b\"\n]",
    ] {
        let p = ok(t);
        let MapPayload::Array(a) = p.args.map_payload() else {
            panic!("{t:?}")
        };
        assert_eq!(a.len(), 2);
        assert_eq!(written(|o| a.write_array(o)), r#"[1,"b"]"#);
        let mut wrapped = b"[".to_vec();
        wrapped.extend_from_slice(a.raw());
        wrapped.push(b']');
        assert!(crate::json::validate_json(&wrapped).is_ok());
        assert_eq!(args(&p), ["1", r#""b""#]);
    }
    let p = ok(br#"2["e",1,[2,{"x":" , ]"}],null,"s"]"#);
    assert_eq!(args(&p), ["1", r#"[2,{"x":" , ]"}]"#, "null", r#""s""#]);
    assert_eq!(p.args.raw(), br#"1,[2,{"x":" , ]"}],null,"s""#);
    assert_eq!(
        written(|o| p.args.write_array(o)),
        r#"[1,[2,{"x":" , ]"}],null,"s"]"#
    );
    // With no argument the array is empty.
    assert_eq!(written(|o| ok(br#"2["e"]"#).args.write_array(o)), "[]");
    // Ack arguments: every element.
    let p = ok(br#"3/admin,5["a",1]"#);
    assert_eq!(
        (p.event, args(&p)),
        (None, vec![String::from(r#""a""#), String::from("1")])
    );
    // Other types have none.
    assert!(ok(br#"0{"a":1}"#).args.is_empty());
    // The iterator: size hint and into_iter.
    let p = ok(br#"2["e",1,2,3]"#);
    let mut it = p.args.into_iter();
    assert_eq!(it.size_hint(), (0, Some(3)));
    assert_eq!(it.next(), Some(&b"1"[..]));
    assert_eq!(it.clone().count(), 2);
    assert_eq!(it.next(), Some(&b"2"[..]));
    assert_eq!(it.next(), Some(&b"3"[..]));
    assert_eq!(it.next(), None);
    assert_eq!(it.size_hint(), (0, Some(0)));
}

#[test]
fn event_names() {
    let p = ok(br#"2["ev\"ent\u00e9",1]"#);
    let n = p.event.unwrap();
    assert!(n.eq_str("ev\"ent\u{e9}"));
    assert!(!n.eq_str("event"));
    assert_eq!(n.as_json_str().unwrap().raw(), br#"ev\"ent\u00e9"#);
    let p = ok(b"2[12,1]");
    let n = p.event.unwrap();
    assert_eq!(n, EventName::Number(b"12"));
    assert!(n.eq_str("12"));
    assert!(!n.eq_str("1"));
    assert_eq!(n.as_json_str(), None);
    assert_eq!(args(&p), ["1"]);
    assert!(!ok(b"2[1.0]").event.unwrap().eq_str("1"));
}

// ---- writing ----

#[test]
fn writers_check_namespace_and_attachments() {
    let mut out = [0u8; 64];
    // `/` and the empty namespace are left out.
    assert_eq!(written(|o| write_disconnect("", o)), "1");
    assert_eq!(written(|o| write_connect("", "x", o)), r#"0{"sid":"x"}"#);
    // A namespace a decoder could not read back is refused.
    for ns in ["admin", "/a,b", ",", " /a"] {
        assert_eq!(write_disconnect(ns, &mut out), None, "{ns}");
        assert_eq!(write_event(ns, None, "e", [], &mut out), None, "{ns}");
        assert_eq!(write_ack(ns, 1, [], &mut out), None, "{ns}");
        assert_eq!(write_connect(ns, "x", &mut out), None, "{ns}");
        assert_eq!(write_connect_error(ns, "x", None, &mut out), None, "{ns}");
    }
    // Attachments only on binary types.
    assert_eq!(
        write_packet(T::Event, 1, "/", None, Some(b"[\"e\"]"), &mut out),
        None
    );
    for n in [0, 11, 255] {
        assert_eq!(
            write_packet(T::BinaryEvent, n, "/", None, Some(b"[\"e\"]"), &mut out),
            None
        );
        assert_eq!(write_binary_ack("/", n, 1, [], &mut out), None);
        assert_eq!(write_binary_event("/", n, None, "e", [], &mut out), None);
    }
    assert_eq!(
        written(|o| write_packet(T::BinaryEvent, 1, "/", None, Some(b"[\"e\"]"), o)),
        r#"51-["e"]"#
    );
    assert_eq!(
        written(|o| write_packet(T::BinaryAck, 10, "/x", Some(u32::MAX), Some(b"[]"), o)),
        "610-/x,4294967295[]"
    );
    assert_eq!(
        written(|o| write_packet(T::Connect, 0, "/x", None, None, o)),
        "0/x,"
    );
    assert_eq!(
        written(|o| write_packet(T::ConnectError, 0, "/", Some(3), Some(b" \"no\" "), o)),
        r#"43"no""#
    );
}

#[test]
fn writers_escape_and_compact() {
    assert_eq!(
        written(|o| write_event("/", None, "a\"b\\c\n\u{1}", [], o)),
        r#"2["a\"b\\c\n\u0001"]"#
    );
    assert_eq!(
        written(|o| write_event("/", Some(0), "", [&b" [ 1 , { \"a b\" : 2 } ] "[..]], o)),
        r#"20["",[1,{"a b":2}]]"#
    );
    assert_eq!(
        written(|o| write_connect("/", "a\"b", o)),
        r#"0{"sid":"a\"b"}"#
    );
    assert_eq!(
        written(|o| write_connect_error("/", "caf\u{e9}\t", Some(b" [ ] "), o)),
        "4{\"message\":\"caf\u{e9}\\t\",\"data\":[]}"
    );
    assert_eq!(written(|o| write_ack("/", 0, [], o)), "30[]");
    assert_eq!(written(|o| write_binary_ack("/", 1, 1, [], o)), "61-1[]");
    assert_eq!(
        written(|o| write_binary_event("/admin", 2, None, "e", [&b"1"[..], b"2"], o)),
        "52-/admin,[\"e\",1,2]"
    );
}

/// What the writers produce, the decoder reads back.
#[test]
fn written_packets_decode() {
    let mut out = [0u8; 256];
    let n = write_event(
        "/chat",
        Some(9),
        "msg",
        [&b"{\"a\":1}"[..], b"[2]", b"\"x\""],
        &mut out,
    )
    .unwrap();
    let p = ok(&out[..n]);
    assert_eq!(
        (p.kind, p.namespace, p.ack_id, name(&p)),
        (T::Event, "/chat", Some(9), String::from("msg"))
    );
    assert_eq!(args(&p), ["{\"a\":1}", "[2]", "\"x\""]);
    let ph = br#"{"_placeholder":true,"num":1}"#;
    let n = write_binary_ack("/chat", 2, 3, [&ph[..], b"0"], &mut out).unwrap();
    let p = ok(&out[..n]);
    assert_eq!(
        (p.kind, p.attachments, p.ack_id, p.args.len()),
        (T::BinaryAck, 2, Some(3), 2)
    );
    let n = write_connect_error("/", "m", Some(b"{\"k\":[1]}"), &mut out).unwrap();
    assert_eq!(ok(&out[..n]).kind, T::ConnectError);
}

// ---- errors ----

#[test]
fn errors_display_and_convert() {
    let all = [
        E::Empty,
        E::UnknownType,
        E::BadAttachments,
        E::TooManyAttachments,
        E::BadNamespace,
        E::BadAckId,
        E::InvalidJson,
        E::TooDeep,
        E::InvalidPayload,
        E::ReservedEvent,
        E::BadPlaceholder,
    ];
    let mut seen = Vec::new();
    for e in all {
        let s = format!("{e}");
        assert!(!s.is_empty());
        assert!(!seen.contains(&s), "{s}");
        seen.push(s);
        let dyn_e: &dyn core::error::Error = &e;
        assert!(dyn_e.source().is_none());
    }
    assert_eq!(E::from(JsonError::Invalid), E::InvalidJson);
    assert_eq!(E::from(JsonError::TooDeep), E::TooDeep);
}

// ---- arbitrary input ----

/// Checks what a successful decode promises, and that writing the packet back gives a
/// packet that decodes to the same parts.
fn check_decoded(text: &[u8]) {
    let Ok(p) = decode(text) else {
        return;
    };
    assert!(p.attachments <= MAX_ATTACHMENTS);
    assert_eq!(p.attachments != 0, p.kind.is_binary());
    assert!(p.namespace.starts_with('/') && !p.namespace.contains(','));
    assert_eq!(
        p.event.is_some(),
        matches!(p.kind, T::Event | T::BinaryEvent)
    );
    if let Some(payload) = p.payload {
        assert!(crate::json::validate_json(payload).is_ok());
        assert_eq!(payload.first().map(u8::is_ascii_whitespace), Some(false));
        assert_eq!(payload.last().map(u8::is_ascii_whitespace), Some(false));
    }
    if p.kind.is_binary()
        && let Some(payload) = p.payload
    {
        assert!(check_placeholders(payload, p.attachments).is_ok());
    }
    let all: Vec<&[u8]> = p.args.iter().collect();
    assert_eq!(all.len(), p.args.len());
    for a in &all {
        assert!(crate::json::validate_json(a).is_ok());
    }
    let mut out = vec![0u8; text.len() + 16];
    let n = write_packet(
        p.kind,
        p.attachments,
        p.namespace,
        p.ack_id,
        p.payload,
        &mut out,
    )
    .expect("a decoded packet is written back");
    let q = decode(&out[..n]).expect("a written packet decodes");
    assert_eq!(
        (q.kind, q.attachments, q.namespace, q.ack_id),
        (p.kind, p.attachments, p.namespace, p.ack_id)
    );
    assert_eq!(q.args.len(), p.args.len());
    assert_eq!(
        q.event.map(|e| e.as_json_str().map(|s| s.raw())),
        p.event.map(|e| e.as_json_str().map(|s| s.raw()))
    );
    assert_eq!(q.payload.is_some(), p.payload.is_some());
}

/// Valid packets of every type, to mutate.
const SEEDS: &[&[u8]] = &[
    b"0",
    br#"0{"token":"123"}"#,
    b"0/admin,",
    br#"0/admin,{"token":"123"}"#,
    br#"2["events","test"]"#,
    br#"20["events","test"]"#,
    br#"2/admin,0["events","x"]"#,
    br#"2456["message-with-ack",1,"2",{"3":[false]}]"#,
    br#"51-4["identity",{"_placeholder":true,"num":0}]"#,
    br#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    br#"61-4[{"_placeholder":true,"num":0}]"#,
    b"1/admin,",
    b"1",
    br#"4/admin,{"message":"not authorized","data":{"content":"retry later"}}"#,
    br#"3/admin,0["admin-ok"]"#,
    b"2[ 1 , [ { \"a\" : [ ] } ] , \"\\u00e9\" ]",
];

/// Bytes a mutation inserts: the packet grammar's and JSON's.
const ALPHABET: &[u8] = b"0123456789-/,[]{}\":_ \t\n\\uetrfalsnmpch.eE+\xff\xc3";

#[test]
fn mutated_packets_never_panic() {
    let mut rng = Rng(0x5eed_50c1_0000_0001);
    for _ in 0..60_000 {
        let mut t = SEEDS[rng.below(SEEDS.len())].to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(t.len() + 1);
            match rng.below(4) {
                0 if at < t.len() => {
                    t.remove(at);
                }
                1 if at < t.len() => t[at] = ALPHABET[rng.below(ALPHABET.len())],
                2 => t.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                _ => t.truncate(at),
            }
        }
        check_decoded(&t);
    }
}

#[test]
fn seeds_decode() {
    for s in SEEDS {
        assert!(decode(s).is_ok(), "{:?}", String::from_utf8_lossy(s));
        check_decoded(s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(t in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_decoded(&t);
        let _ = placeholder_index(&t);
        let _ = check_placeholders(&t, 3);
    }

    #[test]
    fn grammar_bytes_never_panic(
        t in proptest::collection::vec(proptest::sample::select(ALPHABET), 0..48),
        head in 0u8..7,
    ) {
        let mut text = vec![b'0' + head];
        text.extend_from_slice(&t);
        check_decoded(&text);
        let _ = placeholder_index(&t);
        let _ = check_placeholders(&t, 2);
    }

    #[test]
    fn writers_never_panic(
        ns in "(/[a-z,]{0,4})?",
        event in "\\PC{0,8}",
        arg in proptest::collection::vec(any::<u8>(), 0..16),
        id in proptest::option::of(any::<u32>()),
        size in 0usize..48,
    ) {
        let mut out = vec![0u8; size];
        let n = write_event(&ns, id, &event, [arg.as_slice()], &mut out);
        prop_assert!(n.is_none_or(|n| n <= size));
        let _ = write_connect_error(&ns, &event, Some(&arg), &mut out);
        let _ = write_binary_ack(&ns, 1, id.unwrap_or(0), [arg.as_slice()], &mut out);
    }
}
