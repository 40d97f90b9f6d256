//! RFC 6455 strictness (DESIGN §5): every protocol error is a 1002, bad UTF-8 a 1007, a
//! message over the receive buffer a 1009, decided from 64-bit lengths on this 32-bit core.
//! Also pings, pongs and both close handshakes.

use crate::check::Outcome;
use crate::client::*;
use crate::fixture::*;
use wsgate::protocol::frame::{OpCode, encode_header, header_len, parse_header};
use wsgate::{CloseCode, Server};

pub fn unmasked_frame_is_1002() -> Outcome {
    fails_with(&[&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']], 1002)
}

pub fn rsv_bits_are_1002() -> Outcome {
    for b0 in [0xC1u8, 0xA1, 0x91, 0xF1] {
        fails_with(&[&raw_frame(b0, br#"{"event":"echo"}"#)], 1002)?;
    }
    Ok(())
}

pub fn reserved_opcodes_are_1002() -> Outcome {
    for op in (3u8..=7).chain(11..=15) {
        fails_with(&[&raw_frame(0x80 | op, b"")], 1002)?;
        fails_with(&[&raw_frame(0x80 | op, b"abc")], 1002)?;
    }
    Ok(())
}

pub fn ping_of_126_bytes_is_1002() -> Outcome {
    let f = frame(true, OpCode::Ping, &[b'p'; 126]);
    fails_with(&[&f], 1002)?;
    // Also when only the first two header bytes have arrived.
    fails_with(&[&f[..2]], 1002)?;
    // 125 is fine.
    let s = session(&[&frame(true, OpCode::Ping, &[b'p'; 125])])?;
    check_bytes!(s.out, server_frame(0xA, &[b'p'; 125]));
    check!(!s.wants_close);
    Ok(())
}

pub fn fragmented_control_is_1002() -> Outcome {
    fails_with(&[&frame(false, OpCode::Ping, b"hi")], 1002)?;
    fails_with(
        &[&frame(false, OpCode::Close, &1000u16.to_be_bytes())],
        1002,
    )?;
    fails_with(&[&frame(false, OpCode::Pong, b"")], 1002)
}

pub fn continuation_without_start_is_1002() -> Outcome {
    fails_with(&[&frame(true, OpCode::Continuation, b"abc")], 1002)?;
    fails_with(&[&frame(false, OpCode::Continuation, b"abc")], 1002)
}

pub fn new_message_inside_fragmented_is_1002() -> Outcome {
    let first = frame(false, OpCode::Text, br#"{"event":"ec"#);
    fails_with(&[&first, &text(br#"ho"}"#)], 1002)?;
    fails_with(&[&first, &frame(true, OpCode::Binary, b"x")], 1002)?;
    fails_with(&[&first, &frame(false, OpCode::Text, b"x")], 1002)
}

/// A masked binary frame header with a 64-bit length (`len` as sent, not checked).
fn header64(b0: u8, len: u64) -> Bytes {
    cat(&[&[b0, 0xFF], &len.to_be_bytes(), &MASK])
}

pub fn length_2_pow_63_is_1002() -> Outcome {
    let f = header64(0x82, 1 << 63);
    fails_with(&[&f], 1002)?;
    // Fails as soon as the first length byte is in.
    fails_with(&[&f[..3]], 1002)?;
    fails_with(&[&header64(0x82, u64::MAX)], 1002)
}

/// 64-bit lengths that a 32-bit `usize` cannot hold. Cast carelessly (`len as usize`), they
/// wrap to small numbers that fit a 512-byte buffer: 2^32 + 5 to 5, 2^32 to 0, and
/// 2^32 - 100 added to 300 bytes already received wraps to 200.
pub fn lengths_over_4_gib_are_1009() -> Outcome {
    const WRAPS_TO_5: u64 = (1 << 32) + 5;
    // The codec keeps all 64 bits on this target.
    let f = header64(0x82, WRAPS_TO_5);
    let parsed = parse_header(&f, true);
    check!(matches!(parsed, Ok(Some(_))));
    if let Ok(Some((h, hlen))) = parsed {
        check_eq!(h.payload_len, 4_294_967_301u64);
        check_eq!(hlen, 14);
        check_eq!(h.mask, Some(MASK));
    }
    check_eq!(header_len(WRAPS_TO_5, false), 10);
    let mut out = [0u8; 14];
    check_eq!(
        encode_header(&mut out, true, OpCode::Binary, None, WRAPS_TO_5),
        Some(10)
    );
    check_bytes!(out[..10], [0x82, 127, 0, 0, 0, 1, 0, 0, 0, 5]);

    // The server refuses it before reading any payload, whole or a byte at a time.
    fails_with(&[&f], 1009)?;
    let bytes: [&[u8]; 14] = core::array::from_fn(|i| &f[i..i + 1]);
    fails_with(&bytes, 1009)?;
    // With 5 payload bytes behind it (what a wrapped length would read as a whole frame).
    let s = session(&[&cat(&[
        &f,
        b"hello",
        &text(br#"{"event":"echo","data":1}"#),
    ])])?;
    check_failed(&s, 1009)?;
    fails_with(&[&header64(0x81, WRAPS_TO_5)], 1009)?;
    // 2^32 (wraps to 0: an empty frame), and 2^32 - 1 (the largest length a usize holds here).
    fails_with(&[&header64(0x82, 1 << 32)], 1009)?;
    fails_with(&[&header64(0x82, u64::from(u32::MAX))], 1009)?;
    // A continuation whose length overflows the message size in 32 bits: 300 bytes are in,
    // 2^32 - 100 more would wrap the total to 200.
    let first = frame(false, OpCode::Text, &[b' '; 300]);
    fails_with(&[&first, &header64(0x80, (1 << 32) - 100)], 1009)?;
    fails_with(&[&first, &header64(0x80, (1 << 32) + 5)], 1009)
}

pub fn message_one_byte_over_rx_is_1009() -> Outcome {
    // RX and TX are 512: the largest message is 508 (its echo and the 4-byte header fill
    // the transmit buffer), 509 is not, although it fits RX.
    check_eq!(wsgate::Connection::<512, 512>::MAX_MESSAGE, 508);
    let fine = padded(r#"{"event":"size","data":1"#, 508);
    let s = session(&[&text(&fine)])?;
    check_bytes!(s.out, server_frame(1, b"y"));
    check!(!s.wants_close);
    check_eq!(s.stats.dispatched, 1);

    let over = padded(r#"{"event":"size","data":1"#, 509);
    let f = text(&over);
    fails_with(&[&f], 1009)?;
    // The close comes as soon as the header is in, before any payload byte.
    fails_with(&[&f[..8]], 1009)?;
    // Fragmented: 300 + 209 crosses the limit on the second fragment.
    let first = frame(false, OpCode::Text, &over[..300]);
    let second = frame(true, OpCode::Continuation, &over[300..]);
    let s = session(&[&first])?;
    check!(s.out.is_empty() && !s.wants_close);
    fails_with(&[&first, &second], 1009)?;
    // Fragmented exactly to the limit is fine.
    let first = frame(false, OpCode::Text, &fine[..300]);
    let second = frame(true, OpCode::Continuation, &fine[300..]);
    let s = session(&[&first, &second])?;
    check_bytes!(s.out, server_frame(1, b"y"));
    Ok(())
}

pub fn invalid_utf8_is_1007() -> Outcome {
    fails_with(&[&text(b"{\"event\":\"echo\",\"data\":\"\xff\"}")], 1007)?;
    // Overlong encoding, surrogate, code point over U+10FFFF.
    fails_with(&[&text(b"\xc0\xaf")], 1007)?;
    fails_with(&[&text(b"\xed\xa0\x80")], 1007)?;
    fails_with(&[&text(b"\xf4\x90\x80\x80")], 1007)?;
    // A message that ends inside a code point.
    fails_with(&[&text(b"{\"event\":\"echo\",\"data\":\"\xe2\x82")], 1007)?;
    // Binary messages are not checked.
    let s = session(&[&frame(true, OpCode::Binary, b"\xff\xfe")])?;
    check!(s.out.is_empty() && !s.wants_close);
    check_eq!(s.stats.dropped_invalid_json, 1);
    // "€" cut across two fragments is fine; the same cut continued badly is not.
    let msg = "{\"event\":\"echo\",\"data\":\"€\"}".as_bytes();
    let cut = msg.iter().position(|&b| b == 0xE2).unwrap_or(0) + 2;
    let s = session(&[
        &frame(false, OpCode::Text, &msg[..cut]),
        &frame(true, OpCode::Continuation, &msg[cut..]),
    ])?;
    check_bytes!(s.out, server_frame(1, msg));
    let mut bad = cat(&[msg]);
    bad[cut] = b'(';
    fails_with(
        &[
            &frame(false, OpCode::Text, &bad[..cut]),
            &frame(true, OpCode::Continuation, &bad[cut..]),
        ],
        1007,
    )?;
    // Fails fast: the close goes out when the bad byte arrives, mid-frame.
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    ok!(server.add_gateway(&mut g));
    let id = connect(&mut server, "/", 0)?;
    let mut payload = [b'a'; 103];
    payload[..3].copy_from_slice(b"ab\xc0");
    let f = text(&payload);
    check_eq!(server.feed(id, &f[..6 + 3], 1), Ok(9));
    check_bytes!(drain(&mut server, id)?, fail_frame(1007));
    check!(server.wants_close(id));
    check_eq!(server.stats().closed_invalid_utf8, 1);
    Ok(())
}

pub fn close_codes_not_allowed_are_1002() -> Outcome {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        fails_with(&[&close(code, b"")], 1002)?;
        fails_with(&[&close(code, b"bye")], 1002)?;
    }
    Ok(())
}

pub fn close_of_one_byte_is_1002() -> Outcome {
    fails_with(&[&frame(true, OpCode::Close, &[0x03])], 1002)
}

pub fn close_reason_not_utf8_is_1007() -> Outcome {
    fails_with(&[&close(1000, b"\xff")], 1007)?;
    fails_with(&[&close(1000, b"ok\xe2\x82")], 1007)
}

pub fn ping_gets_pong_with_the_same_payload() -> Outcome {
    let s = session(&[&frame(true, OpCode::Ping, b"hello")])?;
    check_bytes!(s.out, [0x8A, 0x05, b'h', b'e', b'l', b'l', b'o']);
    check!(!s.wants_close);
    let s = session(&[&frame(true, OpCode::Ping, b"")])?;
    check_bytes!(s.out, [0x8A, 0x00]);
    // Between fragments, with an unsolicited pong too.
    let msg = echo_message(60);
    let s = session(&[
        &frame(false, OpCode::Text, &msg[..20]),
        &frame(true, OpCode::Ping, b"mid"),
        &frame(false, OpCode::Continuation, &msg[20..40]),
        &frame(true, OpCode::Pong, b"unsolicited"),
        &frame(true, OpCode::Continuation, &msg[40..]),
    ])?;
    check_bytes!(
        s.out,
        cat(&[&server_frame(0xA, b"mid"), &server_frame(1, &msg)])
    );
    check!(!s.wants_close);
    check_eq!((s.stats.messages, s.stats.dispatched), (1, 1));
    Ok(())
}

pub fn client_close_is_echoed() -> Outcome {
    for code in [1000u16, 1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999] {
        let mut g = gateway("/");
        let id = {
            let mut server: Small<'_> = Server::new(CONFIG);
            ok!(server.add_gateway(&mut g));
            let id = connect(&mut server, "/", 0)?;
            let f = close(code, b"done");
            check_eq!(server.feed(id, &f, 1), Ok(f.len()));
            check!(!server.wants_close(id));
            // The whole close frame comes back, code and reason, as Node's `ws` answers.
            let out = cat(&[server.output(id)]);
            check_bytes!(out, server_frame(8, &cat(&[&code.to_be_bytes(), b"done"])));
            server.consume(id, out.len());
            check!(server.wants_close(id));
            check_eq!(server.stats().closed_by_peer, 1);
            server.release(id);
            id
        };
        check_eq!(g.state().disconnects.as_slice(), [(id, code)].as_slice());
    }
    // An empty close is answered with an empty close, and reported as 1005.
    let s = session(&[&frame(true, OpCode::Close, b"")])?;
    check_bytes!(s.out, [0x88, 0x00]);
    check!(s.wants_close);
    check_eq!(s.disconnects.first().map(|d| d.1), Some(1005));
    check_eq!(s.stats.closed_by_peer, 1);
    Ok(())
}

pub fn server_close_waits_for_the_client() -> Outcome {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        ok!(server.add_gateway(&mut g));
        let id = connect(&mut server, "/", 0)?;
        ok!(server.close_client(id, CloseCode::NORMAL, "bye", 100));
        check_bytes!(drain(&mut server, id)?, server_frame(8, b"\x03\xe8bye"));
        check!(!server.wants_close(id));
        // Data from the client while closing is discarded.
        let f = text(&echo_message(30));
        check_eq!(server.feed(id, &f, 200), Ok(f.len()));
        check!(server.output(id).is_empty());
        check_eq!(server.stats().dispatched, 0);
        let c = close(1000, b"");
        check_eq!(server.feed(id, &c, 300), Ok(c.len()));
        check!(server.output(id).is_empty());
        check!(server.wants_close(id));
        check_eq!(server.stats().closed_by_server, 1);
        server.release(id);
    }
    check_eq!(g.state().disconnects.first().map(|d| d.1), Some(1000));
    // Once our close is out, a bad frame ends it without a second close frame.
    let bad_inputs: [(Bytes, u16); 3] = [
        (close(1005, b""), 1002),
        (close(1000, b"\xff"), 1007),
        (cat(&[&[0x81, 0x00]]), 1002),
    ];
    for (input, code) in bad_inputs {
        let mut g = gateway("/");
        {
            let mut server: Small<'_> = Server::new(CONFIG);
            ok!(server.add_gateway(&mut g));
            let id = connect(&mut server, "/", 0)?;
            ok!(server.close_client(id, CloseCode::NORMAL, "bye", 0));
            check_bytes!(drain(&mut server, id)?, server_frame(8, b"\x03\xe8bye"));
            check_eq!(server.feed(id, &input, 1), Ok(input.len()));
            check_bytes!(drain(&mut server, id)?, b"");
            check!(server.wants_close(id));
            server.release(id);
        }
        check_eq!(g.state().disconnects.len(), 1);
        check_eq!(g.state().disconnects.first().map(|d| d.1), Some(code));
    }
    Ok(())
}

pub fn shutdown_sends_1001_and_503() -> Outcome {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        ok!(server.add_gateway(&mut g));
        let open = connect(&mut server, "/", 0)?;
        let mid = ok!(server.accept(0));
        let req = upgrade_request("/", SAMPLE_KEY);
        ok!(server.feed(mid, &req[..20], 0));
        server.close(50);
        check!(server.is_closing());
        check_bytes!(
            drain(&mut server, open)?,
            server_frame(8, b"\x03\xe9server shutting down")
        );
        check_bytes!(
            drain(&mut server, mid)?,
            http(
                "503 Service Unavailable",
                "Retry-After: 1\r\n",
                "server shutting down"
            )
        );
        check!(server.wants_close(mid));
        check!(!server.wants_close(open));
        check_eq!(server.accept(60), Err(wsgate::server::Refused::Closing));
        server.release(mid);
        let c = close(1001, b"");
        check_eq!(server.feed(open, &c, 70), Ok(c.len()));
        check!(server.output(open).is_empty());
        check!(server.wants_close(open));
        server.release(open);
        check_eq!(server.client_count(), 0);
    }
    check_eq!(g.state().disconnects.first().map(|d| d.1), Some(1001));
    Ok(())
}
