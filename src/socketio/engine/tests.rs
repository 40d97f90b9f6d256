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
