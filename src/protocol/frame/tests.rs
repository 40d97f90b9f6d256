//! Tests of [`super`]: the `frame` module's unit tests, in a file of their own.

extern crate std;
use super::*;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

fn enc_header(fin: bool, op: OpCode, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mut out = [0u8; MAX_HEADER_LEN];
    let n = encode_header(&mut out, fin, op, mask, len).unwrap_or(usize::MAX);
    assert_eq!(n, header_len(len, mask.is_some()));
    out[..n].to_vec()
}

fn enc_frame(fin: bool, op: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; payload.len() + MAX_HEADER_LEN];
    let n = encode_frame(&mut out, fin, op, mask, payload).unwrap_or(usize::MAX);
    out.truncate(n);
    out
}

fn naive_mask(buf: &mut [u8], key: [u8; 4], offset: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset.wrapping_add(i as u64) % 4) as usize];
    }
}

#[test]
fn opcode_values() {
    for (v, op) in [
        (0u8, OpCode::Continuation),
        (1, OpCode::Text),
        (2, OpCode::Binary),
        (8, OpCode::Close),
        (9, OpCode::Ping),
        (10, OpCode::Pong),
    ] {
        assert_eq!(OpCode::from_u8(v), Some(op));
        assert_eq!(op.as_u8(), v);
        assert_eq!(op.is_control(), v >= 8);
    }
    for v in [3u8, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16, 0x81, 255] {
        assert_eq!(OpCode::from_u8(v), None, "{v}");
    }
}

#[test]
fn header_bytes_unmasked() {
    assert_eq!(enc_header(true, OpCode::Text, None, 0), [0x81, 0x00]);
    assert_eq!(enc_header(true, OpCode::Binary, None, 125), [0x82, 0x7D]);
    assert_eq!(
        enc_header(true, OpCode::Binary, None, 126),
        [0x82, 0x7E, 0x00, 0x7E]
    );
    assert_eq!(
        enc_header(true, OpCode::Binary, None, 65535),
        [0x82, 0x7E, 0xFF, 0xFF]
    );
    assert_eq!(
        enc_header(true, OpCode::Binary, None, 65536),
        [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]
    );
    assert_eq!(
        enc_header(false, OpCode::Continuation, None, (1 << 63) - 1),
        [0x00, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
    );
    assert_eq!(enc_header(false, OpCode::Text, None, 3), [0x01, 0x03]);
    assert_eq!(enc_header(true, OpCode::Close, None, 2), [0x88, 0x02]);
    assert_eq!(enc_header(true, OpCode::Pong, None, 0), [0x8A, 0x00]);
}

#[test]
fn header_bytes_masked() {
    let k = [0x01, 0x02, 0x03, 0x04];
    assert_eq!(
        enc_header(true, OpCode::Text, Some(k), 0),
        [0x81, 0x80, 1, 2, 3, 4]
    );
    assert_eq!(
        enc_header(true, OpCode::Text, Some(k), 125),
        [0x81, 0xFD, 1, 2, 3, 4]
    );
    assert_eq!(
        enc_header(true, OpCode::Text, Some(k), 126),
        [0x81, 0xFE, 0x00, 0x7E, 1, 2, 3, 4]
    );
    assert_eq!(
        enc_header(true, OpCode::Binary, Some(k), 65535),
        [0x82, 0xFE, 0xFF, 0xFF, 1, 2, 3, 4]
    );
    assert_eq!(
        enc_header(true, OpCode::Binary, Some(k), 65536),
        [0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00, 1, 2, 3, 4]
    );
}

#[test]
fn header_len_values() {
    for (len, un, m) in [
        (0u64, 2usize, 6usize),
        (125, 2, 6),
        (126, 4, 8),
        (65535, 4, 8),
        (65536, 10, 14),
        (u64::MAX, 10, 14),
    ] {
        assert_eq!(header_len(len, false), un, "{len}");
        assert_eq!(header_len(len, true), m, "{len}");
    }
    assert_eq!(MAX_HEADER_LEN, header_len(u64::MAX, true));
}

#[test]
fn encode_header_refuses_small_buffer_and_huge_length() {
    let mut out = [0u8; MAX_HEADER_LEN];
    assert_eq!(
        encode_header(&mut out[..1], true, OpCode::Text, None, 0),
        None
    );
    assert_eq!(
        encode_header(&mut out[..2], true, OpCode::Text, None, 0),
        Some(2)
    );
    assert_eq!(
        encode_header(&mut out[..3], true, OpCode::Text, None, 126),
        None
    );
    assert_eq!(
        encode_header(&mut out[..4], true, OpCode::Text, None, 126),
        Some(4)
    );
    assert_eq!(
        encode_header(&mut out[..9], true, OpCode::Text, None, 65536),
        None
    );
    assert_eq!(
        encode_header(&mut out[..13], true, OpCode::Text, Some(KEY), 65536),
        None
    );
    assert_eq!(
        encode_header(&mut out[..14], true, OpCode::Text, Some(KEY), 65536),
        Some(14)
    );
    assert_eq!(
        encode_header(&mut out[..5], true, OpCode::Text, Some(KEY), 1),
        None
    );
    assert_eq!(encode_header(&mut [], true, OpCode::Text, None, 0), None);
    assert_eq!(
        encode_header(&mut out, true, OpCode::Binary, None, 1 << 63),
        None
    );
    assert_eq!(
        encode_header(&mut out, true, OpCode::Binary, None, u64::MAX),
        None
    );
}

#[test]
fn header_len_needed_values() {
    assert_eq!(header_len_needed(&[]), 2);
    assert_eq!(header_len_needed(&[0x81]), 2);
    assert_eq!(header_len_needed(&[0x81, 0x05]), 2);
    assert_eq!(header_len_needed(&[0x81, 0x85]), 6);
    assert_eq!(header_len_needed(&[0x81, 0x7D]), 2);
    assert_eq!(header_len_needed(&[0x81, 0x7E]), 4);
    assert_eq!(header_len_needed(&[0x81, 0xFE, 0x00]), 8);
    assert_eq!(header_len_needed(&[0x81, 0x7F]), 10);
    assert_eq!(header_len_needed(&[0x81, 0xFF]), 14);
    // Byte 0 does not matter, even when it is invalid.
    assert_eq!(header_len_needed(&[0xFF, 0xFF]), 14);
}

#[test]
fn rfc_5_7_examples() {
    // A single-frame unmasked text message "Hello".
    let f = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(enc_frame(true, OpCode::Text, None, b"Hello"), f);
    let (h, n) = parse_header(&f, false)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!());
    assert_eq!(
        h,
        FrameHeader {
            fin: true,
            opcode: OpCode::Text,
            mask: None,
            payload_len: 5
        }
    );
    assert_eq!(n, 2);

    // A single-frame masked text message "Hello".
    let f = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(enc_frame(true, OpCode::Text, Some(KEY), b"Hello"), f);
    let (h, n) = parse_header(&f, true)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!());
    assert_eq!(
        h,
        FrameHeader {
            fin: true,
            opcode: OpCode::Text,
            mask: Some(KEY),
            payload_len: 5
        }
    );
    assert_eq!(n, 6);
    let mut p = [0u8; 5];
    assert_eq!(unmask_into(&mut p, &f[6..], KEY, 0), 5);
    assert_eq!(&p, b"Hello");
    let mut q = f[6..].to_vec();
    apply_mask(&mut q, KEY, 0);
    assert_eq!(q, b"Hello");

    // A fragmented unmasked text message: "Hel" then "lo".
    let f1 = [0x01, 0x03, 0x48, 0x65, 0x6c];
    let f2 = [0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(enc_frame(false, OpCode::Text, None, b"Hel"), f1);
    assert_eq!(enc_frame(true, OpCode::Continuation, None, b"lo"), f2);
    let (h, _) = parse_header(&f1, false)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!());
    assert!(!h.fin);
    assert_eq!(h.opcode, OpCode::Text);
    let (h, _) = parse_header(&f2, false)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!());
    assert!(h.fin);
    assert_eq!(h.opcode, OpCode::Continuation);

    // Unmasked Ping "Hello", and a masked Pong "Hello".
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(enc_frame(true, OpCode::Ping, None, b"Hello"), ping);
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(enc_frame(true, OpCode::Pong, Some(KEY), b"Hello"), pong);
    let (h, n) = parse_header(&pong, true)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!());
    assert_eq!(h.opcode, OpCode::Pong);
    assert_eq!((h.payload_len, n), (5, 6));

    // 256 bytes binary message in a single unmasked frame.
    let body = [0xAAu8; 256];
    let f = enc_frame(true, OpCode::Binary, None, &body);
    assert_eq!(&f[..4], &[0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(&f[4..], &body[..]);
    // 64KiB binary message in a single unmasked frame.
    let body = vec![0x55u8; 65536];
    let f = enc_frame(true, OpCode::Binary, None, &body);
    assert_eq!(&f[..10], &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
    assert_eq!(f.len(), 65546);
}

#[test]
fn round_trip() {
    let lens = [
        0u64,
        1,
        5,
        125,
        126,
        127,
        1000,
        65535,
        65536,
        1 << 32,
        (1 << 63) - 1,
    ];
    let ops = [
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ];
    for &op in &ops {
        for &len in &lens {
            if op.is_control() && len > 125 {
                continue;
            }
            for fin in [true, false] {
                if op.is_control() && !fin {
                    continue;
                }
                for mask in [None, Some(KEY), Some([0, 0, 0, 0]), Some([0xFF; 4])] {
                    let bytes = enc_header(fin, op, mask, len);
                    let expect_masked = mask.is_some();
                    let parsed = parse_header(&bytes, expect_masked);
                    assert_eq!(
                        parsed,
                        Ok(Some((
                            FrameHeader {
                                fin,
                                opcode: op,
                                mask,
                                payload_len: len
                            },
                            bytes.len()
                        ))),
                        "{op:?} {len} {fin} {mask:?}"
                    );
                    // Trailing payload bytes do not change the result.
                    let mut more = bytes.clone();
                    more.extend_from_slice(&[0xFF; 20]);
                    assert_eq!(parse_header(&more, expect_masked), parsed);
                }
            }
        }
    }
}

#[test]
fn frame_round_trip_with_payload() {
    let payload: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for len in [0usize, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 70_000] {
        for mask in [None, Some(KEY)] {
            let p = &payload[..len];
            let f = enc_frame(true, OpCode::Binary, mask, p);
            let Ok(Some((h, n))) = parse_header(&f, mask.is_some()) else {
                panic!("parse failed for {len}");
            };
            assert_eq!(h.payload_len, len as u64);
            assert_eq!(n + len, f.len());
            let mut body = f[n..].to_vec();
            if let Some(k) = h.mask {
                if len > 0 {
                    assert_ne!(&body[..], p, "masked payload differs");
                }
                apply_mask(&mut body, k, 0);
            }
            assert_eq!(&body[..], p);
        }
    }
}

#[test]
fn encode_frame_too_small() {
    let mut out = [0u8; 10];
    assert_eq!(
        encode_frame(&mut out, true, OpCode::Text, None, b"Hello"),
        Some(7)
    );
    assert_eq!(
        encode_frame(&mut out[..6], true, OpCode::Text, None, b"Hello"),
        None
    );
    assert_eq!(
        encode_frame(&mut out, true, OpCode::Text, Some(KEY), b"Hello"),
        None
    );
    assert_eq!(
        encode_frame(&mut out, true, OpCode::Text, Some(KEY), b"Hell"),
        Some(10)
    );
    assert_eq!(
        &out,
        &[0x81, 0x84, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51]
    );
    assert_eq!(encode_frame(&mut [], true, OpCode::Ping, None, b""), None);
    let mut two = [0u8; 2];
    assert_eq!(
        encode_frame(&mut two, true, OpCode::Ping, None, b""),
        Some(2)
    );
    assert_eq!(two, [0x89, 0x00]);
}

#[test]
fn error_reserved_bits() {
    for b0 in [0xC1u8, 0xA1, 0x91, 0xF1, 0x41, 0x21, 0x11] {
        assert_eq!(
            parse_header(&[b0], true),
            Err(FrameError::ReservedBits),
            "{b0:#x}"
        );
        assert_eq!(
            parse_header(&[b0, 0x80, 1, 2, 3, 4], true),
            Err(FrameError::ReservedBits)
        );
    }
    // RSV is checked before the opcode and the mask.
    assert_eq!(
        parse_header(&[0xF3, 0x00], true),
        Err(FrameError::ReservedBits)
    );
}

#[test]
fn error_reserved_opcode() {
    for op in [3u8, 4, 5, 6, 7, 11, 12, 13, 14, 15] {
        assert_eq!(
            parse_header(&[0x80 | op], true),
            Err(FrameError::ReservedOpcode(op))
        );
        assert_eq!(
            parse_header(&[op, 0x00], true),
            Err(FrameError::ReservedOpcode(op)),
            "opcode before mask"
        );
        assert_eq!(
            parse_header(&[0x80 | op, 0x80, 1, 2, 3, 4], false),
            Err(FrameError::ReservedOpcode(op))
        );
    }
}

#[test]
fn error_mask_bit() {
    assert_eq!(parse_header(&[0x81, 0x05], true), Err(FrameError::Unmasked));
    assert_eq!(
        parse_header(&[0x81, 0x85], false),
        Err(FrameError::MaskedFromServer)
    );
    assert_eq!(
        parse_header(&[0x81, 0x85, 1, 2, 3, 4], false),
        Err(FrameError::MaskedFromServer)
    );
    // Mask is checked before the control-frame rules.
    assert_eq!(parse_header(&[0x09, 0x7E], true), Err(FrameError::Unmasked));
    assert_eq!(
        parse_header(&[0x09, 0xFE], false),
        Err(FrameError::MaskedFromServer)
    );
}

#[test]
fn error_control_frames() {
    for op in [0x8u8, 0x9, 0xA] {
        // FIN clear.
        assert_eq!(
            parse_header(&[op, 0x80], true),
            Err(FrameError::FragmentedControl),
            "{op}"
        );
        assert_eq!(
            parse_header(&[op, 0x00], false),
            Err(FrameError::FragmentedControl)
        );
        // FIN is checked before the length.
        assert_eq!(
            parse_header(&[op, 0xFE], true),
            Err(FrameError::FragmentedControl)
        );
        // Extended length, refused from byte 1 alone.
        assert_eq!(
            parse_header(&[0x80 | op, 0xFE], true),
            Err(FrameError::ControlTooLong(126))
        );
        assert_eq!(
            parse_header(&[0x80 | op, 0xFF], true),
            Err(FrameError::ControlTooLong(127))
        );
        assert_eq!(
            parse_header(&[0x80 | op, 0x7E, 0x00, 0x7E], false),
            Err(FrameError::ControlTooLong(126))
        );
        // Even a non-minimal encoding of a small length.
        assert_eq!(
            parse_header(&[0x80 | op, 0xFE, 0x00, 0x05, 1, 2, 3, 4], true),
            Err(FrameError::ControlTooLong(126))
        );
        // 125 is fine.
        assert_eq!(
            parse_header(&[0x80 | op, 0xFD, 1, 2, 3, 4], true)
                .map(|r| r.map(|(h, n)| (h.payload_len, n))),
            Ok(Some((125, 6)))
        );
    }
    // A data frame may be fragmented and long.
    assert!(matches!(
        parse_header(&[0x01, 0xFE, 0x01, 0x00, 0, 0, 0, 0], true),
        Ok(Some(_))
    ));
}

#[test]
fn error_length_high_bit() {
    let mut f = [0x82u8, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(parse_header(&f, true), Err(FrameError::LengthHighBit));
    // Found as soon as the first length byte arrives.
    assert_eq!(parse_header(&f[..3], true), Err(FrameError::LengthHighBit));
    f[2] = 0xFF;
    assert_eq!(parse_header(&f, true), Err(FrameError::LengthHighBit));
    f[2] = 0x7F;
    let Ok(Some((h, 14))) = parse_header(&f, true) else {
        panic!("2^63 - 1 style length must parse");
    };
    assert_eq!(h.payload_len, 0x7F00_0000_0000_0000);
    // Exactly 2^63, unmasked client side.
    let g = [0x82u8, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(parse_header(&g, false), Err(FrameError::LengthHighBit));
    // u64::MAX.
    let g = [0x82u8, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    assert_eq!(parse_header(&g, false), Err(FrameError::LengthHighBit));
}

#[test]
fn non_minimal_lengths_accepted() {
    assert_eq!(
        parse_header(&[0x82, 0x7E, 0x00, 0x05], false),
        Ok(Some((
            FrameHeader {
                fin: true,
                opcode: OpCode::Binary,
                mask: None,
                payload_len: 5
            },
            4
        )))
    );
    assert_eq!(
        parse_header(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0x05], false),
        Ok(Some((
            FrameHeader {
                fin: true,
                opcode: OpCode::Binary,
                mask: None,
                payload_len: 5
            },
            10
        )))
    );
}

#[test]
fn header_one_byte_at_a_time() {
    for (bytes, expect_masked) in [
        (enc_header(true, OpCode::Text, Some(KEY), 5), true),
        (enc_header(true, OpCode::Text, Some(KEY), 300), true),
        (enc_header(false, OpCode::Binary, Some(KEY), 1 << 40), true),
        (enc_header(true, OpCode::Text, None, 5), false),
        (enc_header(true, OpCode::Binary, None, 70_000), false),
        (enc_header(true, OpCode::Ping, Some(KEY), 0), true),
    ] {
        for i in 0..bytes.len() {
            assert_eq!(
                parse_header(&bytes[..i], expect_masked),
                Ok(None),
                "{bytes:02x?} at {i}"
            );
            if i >= 2 {
                assert_eq!(header_len_needed(&bytes[..i]), bytes.len());
            }
        }
        let Ok(Some((_, n))) = parse_header(&bytes, expect_masked) else {
            panic!("complete header must parse: {bytes:02x?}");
        };
        assert_eq!(n, bytes.len());
    }
}

#[test]
fn errors_same_for_any_split() {
    let bad: &[(&[u8], bool, FrameError)] = &[
        (&[0xC1, 0x85, 1, 2, 3, 4], true, FrameError::ReservedBits),
        (
            &[0x83, 0x85, 1, 2, 3, 4],
            true,
            FrameError::ReservedOpcode(3),
        ),
        (&[0x81, 0x05], true, FrameError::Unmasked),
        (
            &[0x81, 0x85, 1, 2, 3, 4],
            false,
            FrameError::MaskedFromServer,
        ),
        (
            &[0x89, 0xFE, 0, 126, 1, 2, 3, 4],
            true,
            FrameError::ControlTooLong(126),
        ),
        (
            &[0x08, 0x80, 1, 2, 3, 4],
            true,
            FrameError::FragmentedControl,
        ),
        (
            &[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            true,
            FrameError::LengthHighBit,
        ),
    ];
    for &(bytes, expect_masked, err) in bad {
        let mut seen_err = false;
        for i in 0..=bytes.len() {
            match parse_header(&bytes[..i], expect_masked) {
                Ok(None) => assert!(!seen_err, "{bytes:02x?} at {i}"),
                Err(e) => {
                    assert_eq!(e, err, "{bytes:02x?} at {i}");
                    seen_err = true;
                }
                Ok(Some(_)) => panic!("{bytes:02x?} accepted at {i}"),
            }
        }
        assert!(seen_err);
        assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn empty_buffer_needs_more() {
    assert_eq!(parse_header(&[], true), Ok(None));
    assert_eq!(parse_header(&[], false), Ok(None));
    assert_eq!(parse_header(&[0x81], true), Ok(None));
}

#[test]
fn error_display_and_code() {
    let all = [
        (
            FrameError::ReservedBits,
            "frame has an RSV bit set but no extension was negotiated (is the peer using permessage-deflate?)",
        ),
        (
            FrameError::ReservedOpcode(3),
            "frame uses reserved opcode 0x3",
        ),
        (
            FrameError::ReservedOpcode(0xB),
            "frame uses reserved opcode 0xb",
        ),
        (
            FrameError::Unmasked,
            "client frame is not masked; clients must mask every frame",
        ),
        (
            FrameError::MaskedFromServer,
            "server frame is masked; servers must not mask frames",
        ),
        (
            FrameError::ControlTooLong(126),
            "control frame announces an extended payload length (7-bit length field 126); control frames carry at most 125 bytes",
        ),
        (
            FrameError::FragmentedControl,
            "control frame has FIN clear; control frames must not be fragmented",
        ),
        (
            FrameError::LengthHighBit,
            "frame's 64-bit payload length has its most significant bit set",
        ),
    ];
    for (e, msg) in all {
        assert_eq!(e.to_string(), msg);
        assert_eq!(e.close_code(), CloseCode(1002));
    }
}

#[test]
fn apply_mask_matches_naive() {
    let keys = [KEY, [0, 0, 0, 0], [0xFF, 0x00, 0xAA, 0x55], [1, 2, 3, 4]];
    let data: Vec<u8> = (0..80u32).map(|i| (i * 37 + 11) as u8).collect();
    for key in keys {
        for offset in (0..8u64).chain([u64::MAX - 3, u64::MAX, 1 << 40]) {
            for start in 0..8usize {
                for len in 0..70usize {
                    if start + len > data.len() {
                        continue;
                    }
                    // `start` shifts the slice's alignment in memory.
                    let mut a = data.clone();
                    let mut b = data.clone();
                    apply_mask(&mut a[start..start + len], key, offset);
                    naive_mask(&mut b[start..start + len], key, offset);
                    assert_eq!(a, b, "key {key:?} offset {offset} start {start} len {len}");
                    // Involution.
                    apply_mask(&mut a[start..start + len], key, offset);
                    assert_eq!(a, data);

                    let mut dst = vec![0u8; len + 3];
                    let n = unmask_into(&mut dst, &data[start..start + len], key, offset);
                    assert_eq!(n, len);
                    assert_eq!(&dst[..len], &b[start..start + len]);
                    assert_eq!(&dst[len..], &[0, 0, 0]);
                }
            }
        }
    }
}

#[test]
fn apply_mask_resumes_across_reads() {
    let payload: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
    let mut whole = payload.clone();
    apply_mask(&mut whole, KEY, 0);
    for cut1 in 0..20usize {
        for cut2 in [cut1, cut1 + 1, cut1 + 9, 100, 199, 200] {
            if cut2 < cut1 {
                continue;
            }
            let mut pieces = payload.clone();
            let (a, rest) = pieces.split_at_mut(cut1);
            let (b, c) = rest.split_at_mut(cut2 - cut1);
            apply_mask(a, KEY, 0);
            apply_mask(b, KEY, cut1 as u64);
            apply_mask(c, KEY, cut2 as u64);
            assert_eq!(pieces, whole, "cuts {cut1} {cut2}");
        }
    }
}

#[test]
fn unmask_into_lengths() {
    let src = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
    let mut dst = [0u8; 3];
    assert_eq!(unmask_into(&mut dst, &src, KEY, 0), 3);
    assert_eq!(&dst, b"Hel");
    let mut dst = [0u8; 2];
    assert_eq!(unmask_into(&mut dst, &src[3..], KEY, 3), 2);
    assert_eq!(&dst, b"lo");
    assert_eq!(unmask_into(&mut [], &src, KEY, 0), 0);
    let mut dst = [9u8; 4];
    assert_eq!(unmask_into(&mut dst, &[], KEY, 0), 0);
    assert_eq!(dst, [9; 4]);
}
