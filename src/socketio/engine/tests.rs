//! Tests of [`super`]: the Engine.IO codec's unit tests, in a file of their own.

extern crate std;
use super::*;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

/// What `write` writes into a buffer of exactly the length it needs, after checking that
/// every shorter buffer is refused.
fn written(write: impl Fn(&mut [u8]) -> Option<usize>) -> Vec<u8> {
    let mut big = vec![0u8; 4096];
    let n = write(&mut big).expect("fits in 4096 bytes");
    let mut exact = vec![0u8; n];
    assert_eq!(write(&mut exact), Some(n), "exact fit");
    assert_eq!(exact[..], big[..n]);
    for short in 0..n {
        let mut buf = vec![0u8; short];
        assert_eq!(write(&mut buf), None, "a buffer of {short} < {n} bytes");
    }
    exact
}

// ---- packet types ----

#[test]
fn digits_both_ways() {
    for (i, kind) in PacketType::ALL.iter().enumerate() {
        assert_eq!(kind.digit(), b'0' + i as u8);
        assert_eq!(PacketType::from_digit(kind.digit()), Some(*kind));
    }
    let known = (0..=255u8)
        .filter(|&b| PacketType::from_digit(b).is_some())
        .count();
    assert_eq!(known, 7);
}

// ---- decoding ----

#[test]
fn every_type_decodes_with_and_without_data() {
    for kind in PacketType::ALL {
        let bare = [kind.digit()];
        assert_eq!(
            decode_text(&bare),
            Ok(Packet {
                kind,
                payload: Payload::Text(b"")
            })
        );
        let mut frame = vec![kind.digit()];
        frame.extend_from_slice(b"probe");
        let packet = decode_text(&frame).expect("decodes");
        assert_eq!(packet.kind, kind);
        assert_eq!(packet.payload, Payload::Text(b"probe"));
        // Zero-copy: the payload is the frame's own bytes.
        assert!(core::ptr::eq(packet.payload.bytes(), &frame[1..]));
    }
}

#[test]
fn captured_frames_decode() {
    let open = b"0{\"sid\":\"SMlMmzCjTTfIN6aiAAAA\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}";
    let p = decode_text(open).expect("open");
    assert_eq!(p.kind, PacketType::Open);
    assert_eq!(p.payload.bytes(), &open[1..]);
    let cases: [(&[u8], PacketType, &[u8]); 6] = [
        (b"2probe", PacketType::Ping, b"probe"),
        (b"3probe", PacketType::Pong, b"probe"),
        (b"5", PacketType::Upgrade, b""),
        (b"6", PacketType::Noop, b""),
        (b"1", PacketType::Close, b""),
        (
            b"40{\"token\":\"123\"}",
            PacketType::Message,
            b"0{\"token\":\"123\"}",
        ),
    ];
    for (frame, kind, data) in cases {
        assert_eq!(
            decode_text(frame),
            Ok(Packet {
                kind,
                payload: Payload::Text(data)
            })
        );
    }
}

#[test]
fn empty_and_unknown_types_are_errors() {
    assert_eq!(decode_text(b""), Err(EngineError::Empty));
    for b in 0..=255u8 {
        let frame = [b, b'4', b'2'];
        let expected_ok = matches!(b, b'0'..=b'6' | b'b');
        match decode_text(&frame) {
            Ok(_) => assert!(expected_ok, "{b:#x} accepted"),
            Err(e) => {
                assert!(!expected_ok, "{b:#x} refused");
                assert_eq!(e, EngineError::UnknownType(b));
            }
        }
    }
    // Neither a capital B, nor a space, nor a multi-digit type.
    assert_eq!(decode_text(b"B"), Err(EngineError::UnknownType(b'B')));
    assert_eq!(decode_text(b" 4"), Err(EngineError::UnknownType(b' ')));
    assert_eq!(decode_text(b"7"), Err(EngineError::UnknownType(b'7')));
}

#[test]
fn base64_text_is_a_binary_message() {
    let p = decode_text(b"bAQID").expect("decodes");
    assert_eq!(p.kind, PacketType::Message);
    assert_eq!(p.payload, Payload::Base64(b"AQID"));
    let mut raw = [0u8; 3];
    assert_eq!(base64::decode(p.payload.bytes(), &mut raw), Some(3));
    assert_eq!(raw, [1, 2, 3]);
    assert_eq!(
        decode_text(b"b").map(|p| p.payload),
        Ok(Payload::Base64(b""))
    );
}

#[test]
fn binary_frames_are_messages() {
    for frame in [&b""[..], b"\x01\x02\x03", b"4abc", b"\xff\x00", b"b"] {
        let p = decode_binary(frame);
        assert_eq!(p.kind, PacketType::Message);
        assert_eq!(p.payload, Payload::Binary(frame));
        assert!(core::ptr::eq(p.payload.bytes(), frame));
    }
}

#[test]
fn error_display() {
    assert_eq!(
        EngineError::Empty.to_string(),
        "empty Engine.IO packet: no type digit"
    );
    assert_eq!(
        EngineError::UnknownType(b'7').to_string(),
        "unknown Engine.IO packet type 0x37 (expected 0 to 6 or b)"
    );
    let e: &dyn core::error::Error = &EngineError::Empty;
    assert!(e.source().is_none());
}

/// Every frame of up to 2 bytes, and a few longer ones: decoding never panics, and what it
/// accepts writes back to the same frame.
#[test]
fn decoder_total_on_short_frames() {
    let mut frames: Vec<Vec<u8>> = vec![Vec::new()];
    for a in 0..=255u8 {
        frames.push(vec![a]);
        for b in 0..=255u8 {
            frames.push(vec![a, b]);
        }
    }
    for frame in &frames {
        check_round_trip(frame);
        let p = decode_binary(frame);
        assert_eq!(p.payload.bytes(), &frame[..]);
    }
}

fn check_round_trip(frame: &[u8]) {
    let mut out = vec![0u8; frame.len() + 8];
    match decode_text(frame) {
        Ok(Packet {
            kind,
            payload: Payload::Text(data),
        }) => {
            let n = write_packet(&mut out, kind, data).expect("fits");
            assert_eq!(&out[..n], frame);
        }
        Ok(Packet {
            kind: PacketType::Message,
            payload: Payload::Base64(data),
        }) => {
            assert_eq!(frame.first(), Some(&b'b'));
            assert!(core::ptr::eq(data, &frame[1..]));
        }
        Ok(other) => panic!("unexpected {other:?}"),
        Err(EngineError::Empty) => assert!(frame.is_empty()),
        Err(EngineError::UnknownType(b)) => assert_eq!(frame.first(), Some(&b)),
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn decoder_never_panics(frame in proptest::collection::vec(any::<u8>(), 0..64)) {
            check_round_trip(&frame);
            prop_assert_eq!(decode_binary(&frame).payload, Payload::Binary(&frame));
        }

        #[test]
        fn query_parsing_never_panics(
            query in "([a-zA-Z0-9%+=&#_-]|EIO|sid|transport|b64|websocket){0,40}",
            method in "GET|POST|",
            upgrade in any::<bool>(),
        ) {
            let q = EngineQuery::parse(&query);
            let verdict = q.verify(&method, upgrade, |sid| sid.raw().len() % 2 == 0);
            if verdict.is_ok() {
                prop_assert_eq!(q.transport_kind(), Some(Transport::WebSocket));
            }
            for value in [q.eio, q.transport, q.sid, q.t, q.b64].into_iter().flatten() {
                // Every value is a piece of the query, and decodes to at most as many bytes.
                prop_assert!(query.contains(value.raw()));
                prop_assert!(value.decoded().count() <= value.raw().len());
            }
        }
    }
}

// ---- encoding ----

#[test]
fn every_type_encodes() {
    for kind in PacketType::ALL {
        let out = written(|o| write_packet(o, kind, b""));
        assert_eq!(out, [kind.digit()]);
        let out = written(|o| write_packet(o, kind, b"probe"));
        assert_eq!(out[0], kind.digit());
        assert_eq!(&out[1..], b"probe");
        assert_eq!(
            decode_text(&out),
            Ok(Packet {
                kind,
                payload: Payload::Text(b"probe")
            })
        );
    }
    assert_eq!(
        written(|o| write_packet(o, PacketType::Message, b"2[\"events\",1]")),
        b"42[\"events\",1]"
    );
}

#[test]
fn base64_messages_encode() {
    assert_eq!(written(|o| write_base64_message(o, b"")), b"b");
    assert_eq!(written(|o| write_base64_message(o, &[1, 2, 3])), b"bAQID");
    assert_eq!(written(|o| write_base64_message(o, b"hello")), b"baGVsbG8=");
    let all: Vec<u8> = (0..=255u8).collect();
    let out = written(|o| write_base64_message(o, &all));
    let p = decode_text(&out).expect("decodes");
    let mut raw = [0u8; 256];
    assert_eq!(base64::decode(p.payload.bytes(), &mut raw), Some(256));
    assert_eq!(raw[..], all[..]);
}

// ---- session ids ----

/// Ids captured from socket.io 4.8.3 (`SOCKETIO.md` §2.2, §2.5, §3.2), their 12 random
/// bytes (decoded independently) and their sequence numbers.
const CAPTURED_SIDS: [(&str, [u8; 12], u32); 5] = [
    (
        "SMlMmzCjTTfIN6aiAAAA",
        [72, 201, 76, 155, 48, 163, 77, 55, 200, 55, 166, 162],
        0,
    ),
    (
        "k9mhjQoR6llCPpBcAAAA",
        [147, 217, 161, 141, 10, 17, 234, 89, 66, 62, 144, 92],
        0,
    ),
    (
        "zO_RL0rQ8UQymtmTAAAB",
        [204, 239, 209, 47, 74, 208, 241, 68, 50, 154, 217, 147],
        1,
    ),
    (
        "TdjgcJ0FFNodJY8SAAAA",
        [77, 216, 224, 112, 157, 5, 20, 218, 29, 37, 143, 18],
        0,
    ),
    (
        "4iTfnEQo9Y1KrdrUAAAA",
        [226, 36, 223, 156, 68, 40, 245, 141, 74, 173, 218, 212],
        0,
    ),
];

#[test]
fn captured_sids_give_their_sequence_and_rebuild() {
    for (text, random, sequence) in CAPTURED_SIDS {
        let sid = Sid::parse(text.as_bytes()).expect("a valid id");
        assert_eq!(sid.sequence(), sequence, "{text}");
        assert_eq!(sid.as_str(), text);
        assert_eq!(Sid::new(random, sequence), sid, "{text}");
    }
}

#[test]
fn fixed_inputs_give_fixed_ids() {
    // Both substituted symbols: fb ef be is "++++" and ff ff ff is "////" in base64.
    let random = [0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5];
    assert_eq!(
        Sid::new(random, 0x0123_4567).as_str(),
        "----____AAECAwQFI0Vn"
    );
    // Only the low 24 bits of the sequence count.
    assert_eq!(
        Sid::new(random, 0x00ff_ffff).as_str(),
        "----____AAECAwQF____"
    );
    assert_eq!(Sid::new(random, u32::MAX), Sid::new(random, 0x00ff_ffff));
    assert_eq!(Sid::new(random, 1 << 24).as_str(), "----____AAECAwQFAAAA");
    assert_eq!(Sid::new([0; 12], 0).as_str(), "AAAAAAAAAAAAAAAAAAAA");
    assert_eq!(Sid::new([0; 12], 1).as_str(), "AAAAAAAAAAAAAAAAAAAB");
}

#[test]
fn sequences_round_trip() {
    for seq in (0..70_000u32).chain([0x00ff_fffe, 0x00ff_ffff, 0x1234_5678, u32::MAX]) {
        let sid = Sid::new([seq as u8; 12], seq);
        assert_eq!(sid.sequence(), seq & 0x00ff_ffff);
        assert_eq!(sid.as_str().len(), Sid::LEN);
        assert!(
            sid.as_bytes()
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        );
        assert_eq!(Sid::parse(sid.as_bytes()), Some(sid));
    }
}

#[test]
fn sid_parse_refuses_anything_else() {
    let good = *b"zO_RL0rQ8UQymtmTAAAB";
    assert!(Sid::parse(&good).is_some());
    assert_eq!(Sid::parse(b""), None);
    assert_eq!(Sid::parse(&good[..19]), None);
    let mut long = good.to_vec();
    long.push(b'A');
    assert_eq!(Sid::parse(&long), None);
    for bad in [b'+', b'/', b'=', b' ', b'.', b'%', 0, 0x80, 0xff] {
        for i in [0, 7, 19] {
            let mut text = good;
            text[i] = bad;
            assert_eq!(Sid::parse(&text), None, "{bad:#x} at {i}");
        }
    }
}

#[test]
fn sid_formatting() {
    let sid = Sid::parse(b"SMlMmzCjTTfIN6aiAAAA").expect("valid");
    assert_eq!(sid.to_string(), "SMlMmzCjTTfIN6aiAAAA");
    assert_eq!(std::format!("{sid:?}"), "Sid(\"SMlMmzCjTTfIN6aiAAAA\")");
}

// ---- the open packet ----

#[test]
fn open_packet_exact_bytes() {
    let sid = Sid::parse(b"SMlMmzCjTTfIN6aiAAAA").expect("valid");
    // Captured: the first polling response of a default server.
    assert_eq!(
        written(|o| write_open(o, &sid, Transport::Polling, &EngineConfig::DEFAULT)),
        b"0{\"sid\":\"SMlMmzCjTTfIN6aiAAAA\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"
    );
    // A WebSocket session announces no upgrade.
    assert_eq!(
        written(|o| write_open(o, &sid, Transport::WebSocket, &EngineConfig::DEFAULT)),
        b"0{\"sid\":\"SMlMmzCjTTfIN6aiAAAA\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"
    );
    // Captured with pingInterval 1500, pingTimeout 1000 (SOCKETIO.md §2.5).
    let fast = EngineConfig {
        ping_interval_ms: 1500,
        ping_timeout_ms: 1000,
        ..EngineConfig::DEFAULT
    };
    assert_eq!(
        written(|o| write_open(o, &sid, Transport::Polling, &fast)),
        b"0{\"sid\":\"SMlMmzCjTTfIN6aiAAAA\",\"upgrades\":[\"websocket\"],\"pingInterval\":1500,\"pingTimeout\":1000,\"maxPayload\":1000000}"
    );
    // The extremes of every number.
    let extreme = EngineConfig {
        ping_interval_ms: 0,
        ping_timeout_ms: u32::MAX,
        max_payload: 1,
    };
    let out = written(|o| write_open(o, &sid, Transport::WebSocket, &extreme));
    assert!(out.ends_with(b"\"pingInterval\":0,\"pingTimeout\":4294967295,\"maxPayload\":1}"));
}

#[test]
fn open_packet_is_json_the_client_reads() {
    let sid = Sid::new([7; 12], 3);
    let out = written(|o| write_open(o, &sid, Transport::WebSocket, &EngineConfig::default()));
    let p = decode_text(&out).expect("decodes");
    assert_eq!(p.kind, PacketType::Open);
    let v: serde_json::Value = serde_json::from_slice(p.payload.bytes()).expect("JSON");
    assert_eq!(v["sid"], sid.as_str());
    assert_eq!(v["upgrades"], serde_json::json!([]));
    assert_eq!(v["pingInterval"], 25000);
    assert_eq!(v["pingTimeout"], 20000);
    assert_eq!(v["maxPayload"], 1_000_000);
    assert_eq!(Transport::Polling.name(), "polling");
    assert_eq!(Transport::WebSocket.name(), "websocket");
}

// ---- the request's query ----

#[test]
fn captured_queries_parse() {
    let q = EngineQuery::parse("EIO=4&transport=polling&t=0zwy07ob&sid=SMlMmzCjTTfIN6aiAAAA");
    assert_eq!(q.eio.map(|v| v.raw()), Some("4"));
    assert_eq!(q.transport.map(|v| v.raw()), Some("polling"));
    assert_eq!(q.t.map(|v| v.raw()), Some("0zwy07ob"));
    assert_eq!(q.sid.map(|v| v.raw()), Some("SMlMmzCjTTfIN6aiAAAA"));
    assert_eq!(q.b64, None);
    assert!(q.is_v4());
    assert_eq!(q.transport_kind(), Some(Transport::Polling));
    assert!(!q.wants_base64());

    let q = EngineQuery::parse("EIO=4&transport=websocket");
    assert_eq!(q.transport_kind(), Some(Transport::WebSocket));
    assert_eq!((q.sid, q.t, q.b64), (None, None, None));
    assert!(q.is_v4());
}

#[test]
fn any_order_unknown_keys_and_odd_pairs() {
    let q = EngineQuery::parse("&foo=bar&b64=1&&sid=abc&transport=websocket&x&EIO=4&t=");
    assert_eq!(q.sid.map(|v| v.raw()), Some("abc"));
    assert_eq!(q.transport_kind(), Some(Transport::WebSocket));
    assert!(q.is_v4());
    assert!(q.wants_base64());
    assert_eq!(q.t.map(|v| v.raw()), Some(""));
    assert_eq!(EngineQuery::parse(""), EngineQuery::default());
    assert_eq!(EngineQuery::parse("&&&="), EngineQuery::default());
    // A key without `=` has an empty value; keys are case-sensitive.
    let q = EngineQuery::parse("EIO&eio=4&Transport=websocket&SID=x");
    assert_eq!(q.eio.map(|v| v.raw()), Some(""));
    assert!(!q.is_v4());
    assert_eq!(q.transport, None);
    assert_eq!(q.sid, None);
    // The value runs to the next `&`, `=` included.
    let q = EngineQuery::parse("t=a=b&EIO=4");
    assert_eq!(q.t.map(|v| v.raw()), Some("a=b"));
}

#[test]
fn the_last_of_a_repeated_key_counts() {
    let q = EngineQuery::parse("EIO=3&EIO=4&transport=websocket&transport=polling");
    assert!(q.is_v4());
    assert_eq!(q.transport_kind(), Some(Transport::Polling));
    // An empty last sid is no sid; an empty last b64 is no base64.
    let q = EngineQuery::parse("sid=abc&sid=&b64=1&b64=");
    assert_eq!(q.sid, None);
    assert!(!q.wants_base64());
    let q = EngineQuery::parse("sid=&sid=abc&b64=0");
    assert_eq!(q.sid.map(|v| v.raw()), Some("abc"));
    // `b64=0` is a non-empty string: engine.io sends base64.
    assert!(q.wants_base64());
}

#[test]
fn percent_encoding_as_url_search_params() {
    let q = EngineQuery::parse("%45IO=%34&trans%70ort=web%73ocket&%73id=a%2Bb+c");
    assert!(q.is_v4());
    assert_eq!(q.transport_kind(), Some(Transport::WebSocket));
    let sid = q.sid.expect("sid");
    assert_eq!(sid.raw(), "a%2Bb+c");
    assert!(sid.eq_str("a+b c"));
    assert!(!sid.eq_str("a%2Bb+c"));
    // A `%` without two hex digits stays a `%`.
    for (raw, decoded) in [
        ("%", "%"),
        ("%4", "%4"),
        ("%zz", "%zz"),
        ("%%41", "%A"),
        ("%4g1", "%4g1"),
        ("100%", "100%"),
        ("%2f%2F", "//"),
        ("%e2%82%ac", "€"),
        ("++", "  "),
    ] {
        let v = QueryValue(raw);
        assert!(v.eq_str(decoded), "{raw}");
        assert_eq!(
            v.decoded().collect::<Vec<u8>>(),
            decoded.as_bytes(),
            "{raw}"
        );
    }
    // Decoded, not prefix-matched.
    assert!(!QueryValue("4").eq_str("40"));
    assert!(!QueryValue("40").eq_str("4"));
    assert!(!QueryValue("%34%30").eq_str("4"));
}

#[test]
fn a_fragment_ends_the_query() {
    let q = EngineQuery::parse("EIO=4&transport=websocket#&sid=abc");
    assert_eq!(q.sid, None);
    assert!(q.is_v4());
    let q = EngineQuery::parse("EIO=4#x");
    assert!(q.is_v4());
    assert_eq!(EngineQuery::parse("#EIO=4"), EngineQuery::default());
}

#[test]
fn only_two_transports_are_known() {
    for t in [
        "webtransport",
        "WebSocket",
        "websocket ",
        "poll",
        "",
        "flashsocket",
    ] {
        let query = std::format!("transport={t}");
        assert_eq!(EngineQuery::parse(&query).transport_kind(), None, "{t}");
    }
    assert_eq!(EngineQuery::parse("EIO=4").transport_kind(), None);
}

/// A known session, for `verify`.
const LIVE: &str = "SMlMmzCjTTfIN6aiAAAA";

fn verify(query: &str, method: &str, upgrade: bool) -> Result<(), RequestError> {
    EngineQuery::parse(query).verify(method, upgrade, |sid| sid.eq_str(LIVE))
}

#[test]
fn verify_takes_a_websocket_handshake_and_a_live_session() {
    assert_eq!(verify("EIO=4&transport=websocket", "GET", true), Ok(()));
    assert_eq!(
        verify("transport=websocket&EIO=4&b64=1&t=x&j=0", "GET", true),
        Ok(())
    );
    let live = std::format!("EIO=4&transport=websocket&sid={LIVE}");
    assert_eq!(verify(&live, "GET", true), Ok(()));
}

#[test]
fn verify_answers_each_code() {
    use RequestError::*;
    let cases: [(&str, &str, bool, Result<(), RequestError>); 14] = [
        // 0: no transport, an unknown one, and polling (this server runs WebSocket only).
        ("EIO=4", "GET", true, Err(UnknownTransport)),
        (
            "EIO=4&transport=carrier-pigeon",
            "GET",
            true,
            Err(UnknownTransport),
        ),
        (
            "EIO=4&transport=webtransport",
            "GET",
            true,
            Err(UnknownTransport),
        ),
        // Captured: the default client's first request.
        (
            "EIO=4&transport=polling&t=10e03pv9",
            "GET",
            false,
            Err(UnknownTransport),
        ),
        // 1: a sid no session has.
        (
            "EIO=4&transport=websocket&sid=zO_RL0rQ8UQymtmTAAAB",
            "GET",
            true,
            Err(UnknownSid),
        ),
        // 2: a handshake that is not a GET (methods are case-sensitive).
        (
            "EIO=4&transport=websocket",
            "POST",
            true,
            Err(BadHandshakeMethod),
        ),
        (
            "EIO=4&transport=websocket",
            "get",
            true,
            Err(BadHandshakeMethod),
        ),
        // 3: a websocket handshake without an upgrade.
        ("EIO=4&transport=websocket", "GET", false, Err(BadRequest)),
        // 5: EIO missing, 3, or anything but 4.
        (
            "transport=websocket",
            "GET",
            true,
            Err(UnsupportedProtocolVersion),
        ),
        (
            "EIO=3&transport=websocket",
            "GET",
            true,
            Err(UnsupportedProtocolVersion),
        ),
        (
            "EIO=&transport=websocket",
            "GET",
            true,
            Err(UnsupportedProtocolVersion),
        ),
        (
            "EIO=04&transport=websocket",
            "GET",
            true,
            Err(UnsupportedProtocolVersion),
        ),
        (
            "EIO=5&transport=websocket",
            "GET",
            true,
            Err(UnsupportedProtocolVersion),
        ),
        (
            "EIO=4&EIO=3&transport=websocket",
            "GET",
            true,
            Err(UnsupportedProtocolVersion),
        ),
    ];
    for (query, method, upgrade, expected) in cases {
        assert_eq!(
            verify(query, method, upgrade),
            expected,
            "{method} ?{query}"
        );
    }
}

#[test]
fn verify_checks_in_engine_io_order() {
    use RequestError::*;
    // The transport comes first: before the version, the sid and the method.
    assert_eq!(
        verify("transport=polling", "POST", false),
        Err(UnknownTransport)
    );
    assert_eq!(
        verify("EIO=3&sid=nope", "POST", false),
        Err(UnknownTransport)
    );
    // Then the sid: a request for a session is checked for neither method, upgrade nor
    // version (engine.io checks those on handshakes only).
    assert_eq!(
        verify("EIO=3&transport=websocket&sid=nope", "POST", false),
        Err(UnknownSid)
    );
    let live = std::format!("transport=websocket&sid={LIVE}");
    assert_eq!(verify(&live, "POST", false), Ok(()));
    // Then the method, before the upgrade and the version.
    assert_eq!(
        verify("EIO=3&transport=websocket", "POST", false),
        Err(BadHandshakeMethod)
    );
    // Then the upgrade, before the version.
    assert_eq!(
        verify("EIO=3&transport=websocket", "GET", false),
        Err(BadRequest)
    );
}

#[test]
fn verify_asks_about_the_sid_only_when_there_is_one() {
    let mut asked = 0;
    let q = EngineQuery::parse("EIO=4&transport=websocket");
    assert_eq!(
        q.verify("GET", true, |_| {
            asked += 1;
            true
        }),
        Ok(())
    );
    assert_eq!(asked, 0);
    let q = EngineQuery::parse("EIO=4&transport=websocket&sid=abc");
    assert_eq!(
        q.verify("GET", true, |sid| {
            asked += 1;
            sid.raw() == "abc"
        }),
        Ok(())
    );
    assert_eq!(asked, 1);
    // Not for a refused transport either.
    let q = EngineQuery::parse("EIO=4&transport=polling&sid=abc");
    assert_eq!(
        q.verify("GET", false, |_| {
            asked += 1;
            true
        }),
        Err(RequestError::UnknownTransport)
    );
    assert_eq!(asked, 1);
}

// ---- the HTTP errors ----

#[test]
fn request_errors_codes_messages_statuses() {
    let expected = [
        (0, "Transport unknown", 400),
        (1, "Session ID unknown", 400),
        (2, "Bad handshake method", 400),
        (3, "Bad request", 400),
        (4, "Forbidden", 403),
        (5, "Unsupported protocol version", 400),
    ];
    for (err, (code, message, status)) in RequestError::ALL.into_iter().zip(expected) {
        assert_eq!(err.code(), code);
        assert_eq!(err.message(), message);
        assert_eq!(err.status().code(), status);
        assert_eq!(
            err.to_string(),
            std::format!("{message} (engine.io error {code})")
        );
    }
}

#[test]
fn error_responses_exact_bytes() {
    let expected: [&[u8]; 6] = [
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{\"code\":0,\"message\":\"Transport unknown\"}",
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 41\r\nConnection: close\r\n\r\n{\"code\":1,\"message\":\"Session ID unknown\"}",
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 43\r\nConnection: close\r\n\r\n{\"code\":2,\"message\":\"Bad handshake method\"}",
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 34\r\nConnection: close\r\n\r\n{\"code\":3,\"message\":\"Bad request\"}",
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 32\r\nConnection: close\r\n\r\n{\"code\":4,\"message\":\"Forbidden\"}",
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 51\r\nConnection: close\r\n\r\n{\"code\":5,\"message\":\"Unsupported protocol version\"}",
    ];
    for (err, expected) in RequestError::ALL.into_iter().zip(expected) {
        let out = written(|o| write_error_response(o, err));
        assert_eq!(
            out,
            expected,
            "{err}: {}",
            std::string::String::from_utf8_lossy(&out)
        );
        check_content_length(&out);
    }
}

/// The body after the blank line is as long as `Content-Length` says, and is JSON.
fn check_content_length(response: &[u8]) {
    let text = core::str::from_utf8(response).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a blank line");
    let length = head
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .expect("Content-Length");
    assert_eq!(length, body.len().to_string());
    assert!(head.ends_with("\r\nConnection: close"));
}

#[test]
fn error_response_with_a_message_escapes_it() {
    let out = written(|o| {
        write_error_response_with(o, RequestError::Forbidden, "not \"you\"\n\\ é\u{1}")
    });
    check_content_length(&out);
    assert!(out.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    let text = core::str::from_utf8(&out).expect("UTF-8");
    let (_, body) = text.split_once("\r\n\r\n").expect("blank line");
    assert_eq!(
        body,
        "{\"code\":4,\"message\":\"not \\\"you\\\"\\n\\\\ é\\u0001\"}"
    );
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(v["code"], 4);
    assert_eq!(v["message"], "not \"you\"\n\\ é\u{1}");
    // An empty message.
    let out = written(|o| write_error_response_with(o, RequestError::BadRequest, ""));
    assert!(out.ends_with(b"\r\n\r\n{\"code\":3,\"message\":\"\"}"));
    check_content_length(&out);
}

#[test]
fn upgrade_errors_exact_bytes() {
    for err in RequestError::ALL {
        let out = written(|o| write_upgrade_error(o, err));
        let expected = std::format!(
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: {}\r\n\r\n{}",
            err.message().len(),
            err.message()
        );
        assert_eq!(out, expected.as_bytes(), "{err}");
    }
    assert_eq!(
        written(|o| write_upgrade_error(o, RequestError::UnknownTransport)),
        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 17\r\n\r\nTransport unknown"
    );
    // Forbidden too is a 400 on an upgrade.
    assert_eq!(
        written(|o| write_upgrade_error(o, RequestError::Forbidden)),
        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 9\r\n\r\nForbidden"
    );
}

#[test]
fn a_hand_made_empty_sid_is_no_sid() {
    let q = EngineQuery {
        eio: Some(QueryValue::new("4")),
        transport: Some(QueryValue::new("websocket")),
        sid: Some(QueryValue::new("")),
        ..EngineQuery::default()
    };
    assert_eq!(q.verify("GET", true, |_| unreachable!()), Ok(()));
}
