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
