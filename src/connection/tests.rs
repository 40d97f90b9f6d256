//! `Connection` alone, as smoltcp tests its TCP socket: bytes in, events and bytes out, time
//! as a number. No server, no gateway: the tests answer each `Event` themselves.

extern crate std;

use super::*;
use crate::protocol::frame::encode_frame;
use std::vec::Vec;

const T: Timeouts = Timeouts {
    handshake_ms: 1_000,
    ping_interval_ms: 5_000,
    pong_timeout_ms: 2_000,
    close_timeout_ms: 1_500,
    message_ms: 3_000,
};

const HEAD: &[u8] =
    b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

const ACCEPT_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

type Conn = Connection<512, 512>;

/// A masked client frame.
fn client(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = std::vec![0u8; payload.len() + 14];
    let n = encode_frame(&mut out, fin, opcode, Some([1, 2, 3, 4]), payload).unwrap();
    out.truncate(n);
    out
}

/// An unmasked server frame.
fn server(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = std::vec![0u8; payload.len() + 10];
    let n = encode_frame(&mut out, true, opcode, None, payload).unwrap();
    out.truncate(n);
    out
}

/// A close frame with a code and a reason.
fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// Everything the connection has to send, taken.
fn take(c: &mut Conn) -> Vec<u8> {
    let out = c.output().to_vec();
    c.consume(out.len());
    out
}

/// A connection through its handshake at `now`, the 101 taken.
fn open(now: u64) -> Conn {
    let mut c = Conn::new();
    c.start(now);
    assert_eq!(
        c.feed(HEAD, now, 512),
        Feed {
            consumed: HEAD.len(),
            event: Some(Event::Request)
        }
    );
    assert_eq!(c.request_head(), HEAD);
    c.accept(b"dGhlIHNhbXBsZSBub25jZQ==", None).unwrap();
    assert_eq!(take(&mut c), ACCEPT_101);
    assert!(c.is_open());
    c
}

/// Feeds `input` whole, answering each event as a server would (messages are released, not
/// answered); returns the events in order.
fn feed_all(c: &mut Conn, mut input: &[u8], now: u64) -> Vec<Event> {
    let mut events = Vec::new();
    while !input.is_empty() {
        let step = c.feed(input, now, 512);
        input = &input[step.consumed..];
        match step.event {
            Some(e) => {
                if let Event::Message { .. } = e {
                    c.message_done();
                }
                events.push(e);
            }
            None if step.consumed == 0 => break,
            None => {}
        }
    }
    events
}

#[test]
fn a_head_split_anywhere_is_one_request() {
    for split in 1..HEAD.len() {
        let mut c = Conn::new();
        c.start(0);
        let first = c.feed(&HEAD[..split], 0, 512);
        assert_eq!(
            first,
            Feed {
                consumed: split,
                event: None
            },
            "split at {split}"
        );
        let second = c.feed(&HEAD[split..], 0, 512);
        assert_eq!(second.event, Some(Event::Request));
        assert_eq!(second.consumed, HEAD.len() - split);
        assert_eq!(c.request_head(), HEAD);
        assert_eq!(c.phase(), Phase::Request);
    }
}

#[test]
fn bytes_after_the_head_wait_for_the_answer() {
    let mut c = Conn::new();
    c.start(0);
    let mut input = HEAD.to_vec();
    input.extend(client(true, OpCode::Text, b"hi"));
    let step = c.feed(&input, 0, 512);
    assert_eq!(step.consumed, HEAD.len());
    // Nothing is read until the request is answered.
    assert_eq!(c.feed(&input[HEAD.len()..], 0, 512).consumed, 0);
    c.accept(b"dGhlIHNhbXBsZSBub25jZQ==", Some("chat")).unwrap();
    let step = c.feed(&input[HEAD.len()..], 0, 512);
    assert_eq!(step.event, Some(Event::Message(MessageKind::Text)));
    assert_eq!(c.message(), b"hi");
}

#[test]
fn a_head_over_the_limit_is_431_and_a_bare_lf_ends_it() {
    let mut c = Conn::new();
    c.start(0);
    let step = c.feed(&[b'a'; 100], 0, 64);
    assert_eq!(step.event, Some(Event::HeadTooLarge));
    let out = take(&mut c);
    assert!(out.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(c.wants_close());

    let mut c = Conn::new();
    c.start(0);
    let step = c.feed(b"GET / HTTP/1.1\nHost: a\n\n", 0, 512);
    assert_eq!(
        step,
        Feed {
            consumed: 15,
            event: Some(Event::Request)
        }
    );
    assert_eq!(c.request_head(), b"GET / HTTP/1.1\n");
}

#[test]
fn messages_pings_and_fragments() {
    let mut c = open(0);
    let mut input = client(false, OpCode::Text, b"hel");
    input.extend(client(true, OpCode::Ping, b"p"));
    input.extend(client(true, OpCode::Continuation, b"lo"));
    input.extend(client(true, OpCode::Binary, &[0, 255]));
    let mut pos = 0;
    let step = c.feed(&input, 10, 512);
    pos += step.consumed;
    assert_eq!(step.event, Some(Event::Message(MessageKind::Text)));
    assert_eq!(c.message(), b"hello");
    // The message is held until it is released.
    assert_eq!(c.feed(&input[pos..], 10, 512).consumed, 0);
    c.message_done();
    let step = c.feed(&input[pos..], 10, 512);
    assert_eq!(step.event, Some(Event::Message(MessageKind::Binary)));
    assert_eq!(c.message(), &[0, 255]);
    assert_eq!(pos + step.consumed, input.len());
    // The ping between the fragments was answered with its payload.
    assert_eq!(take(&mut c), server(OpCode::Pong, b"p"));
}

#[test]
fn protocol_errors_fail_with_their_codes() {
    let cases: [(Vec<u8>, u16, &str, DisconnectCause); 4] = [
        // Unmasked client frame.
        (
            server(OpCode::Text, b"x"),
            1002,
            "protocol error",
            DisconnectCause::ProtocolError,
        ),
        // A continuation with nothing to continue.
        (
            client(true, OpCode::Continuation, b"x"),
            1002,
            "protocol error",
            DisconnectCause::ProtocolError,
        ),
        // Text that is not UTF-8.
        (
            client(true, OpCode::Text, &[0xff]),
            1007,
            "invalid UTF-8",
            DisconnectCause::InvalidUtf8,
        ),
        // Over the largest message (508 for 512-byte buffers), refused at its header.
        (
            client(true, OpCode::Binary, &[0; 509])[..8].to_vec(),
            1009,
            "message too big",
            DisconnectCause::TooBig,
        ),
    ];
    for (input, code, reason, why) in cases {
        let mut c = open(0);
        let events = feed_all(&mut c, &input, 1);
        assert_eq!(
            events,
            [Event::Closed(Disconnect {
                code: CloseCode(code),
                cause: why
            })],
            "{code}"
        );
        assert_eq!(
            take(&mut c),
            server(OpCode::Close, &close_payload(code, reason))
        );
        assert!(c.wants_close());
        assert_eq!(c.our_code(), CloseCode(code));
    }
    let mut c = open(0);
    assert_eq!(
        feed_all(&mut c, &client(true, OpCode::Binary, &[7; 508]), 1),
        [Event::Message(MessageKind::Binary)]
    );
}

#[test]
fn the_peers_close_is_echoed_and_ours_is_answered() {
    let mut c = open(0);
    let events = feed_all(
        &mut c,
        &client(true, OpCode::Close, &close_payload(4000, "bye")),
        5,
    );
    assert_eq!(
        events,
        [Event::Closed(Disconnect {
            code: CloseCode(4000),
            cause: DisconnectCause::Peer
        })]
    );
    assert_eq!(
        take(&mut c),
        server(OpCode::Close, &close_payload(4000, "bye"))
    );
    assert!(c.wants_close());

    let mut c = open(0);
    c.close(CloseCode::GOING_AWAY, "bye", 100);
    assert_eq!(c.phase(), Phase::Closing);
    assert_eq!(
        take(&mut c),
        server(OpCode::Close, &close_payload(1001, "bye"))
    );
    // Data after our close is read and dropped; the peer's close ends it.
    let mut input = client(true, OpCode::Text, b"late");
    input.extend(client(true, OpCode::Close, &close_payload(1001, "")));
    let events = feed_all(&mut c, &input, 200);
    assert_eq!(
        events,
        [Event::Closed(Disconnect {
            code: CloseCode(1001),
            cause: DisconnectCause::Server
        })]
    );
    assert!(c.wants_close());
}

#[test]
fn timers_ping_then_drop_and_close_timeout() {
    let mut c = open(1_000);
    assert_eq!(c.next_deadline(&T), Some(6_000));
    assert_eq!(c.poll(5_999, &T), None);
    assert_eq!(c.poll(6_000, &T), Some(Event::PingSent));
    assert_eq!(take(&mut c), server(OpCode::Ping, b"wsgate"));
    assert_eq!(c.next_deadline(&T), Some(8_000));
    assert_eq!(
        c.poll(8_000, &T),
        Some(Event::Closed(Disconnect {
            code: CloseCode::ABNORMAL,
            cause: DisconnectCause::IdleTimeout
        }))
    );
    assert!(c.wants_close());

    // Any byte answers the ping.
    let mut c = open(0);
    assert_eq!(c.poll(5_000, &T), Some(Event::PingSent));
    let pong = client(true, OpCode::Pong, b"wsgate");
    assert!(feed_all(&mut c, &pong, 5_100).is_empty());
    assert_eq!(c.next_deadline(&T), Some(10_100));

    // Our close unanswered: dropped at the close timeout.
    let mut c = open(0);
    c.close(CloseCode::NORMAL, "", 100);
    assert_eq!(c.next_deadline(&T), Some(1_600));
    assert_eq!(
        c.poll(1_600, &T),
        Some(Event::Closed(Disconnect {
            code: CloseCode::ABNORMAL,
            cause: DisconnectCause::CloseTimeout
        }))
    );
}

#[test]
fn a_message_must_arrive_within_its_deadline() {
    let mut c = open(0);
    let frame = client(true, OpCode::Text, b"slow");
    // The first byte starts the clock; more bytes move the idle timer, not this one.
    for (i, b) in frame.iter().take(3).enumerate() {
        let now = 100 + 1_000 * i as u64;
        assert!(feed_all(&mut c, &[*b], now).is_empty());
        assert_eq!(c.next_deadline(&T), Some(3_100));
        assert_eq!(c.poll(now, &T), None);
    }
    assert_eq!(
        c.poll(3_100, &T),
        Some(Event::Closed(Disconnect {
            code: CloseCode::POLICY_VIOLATION,
            cause: DisconnectCause::MessageTimeout
        }))
    );
    assert_eq!(
        take(&mut c),
        server(
            OpCode::Close,
            &close_payload(1008, "message not received in time")
        )
    );
    assert!(c.wants_close());

    // A message completed in time ends its deadline; the next one starts its own.
    let mut c = open(0);
    assert_eq!(feed_all(&mut c, &frame[..3], 100), []);
    assert_eq!(
        feed_all(&mut c, &frame[3..], 3_000),
        [Event::Message(MessageKind::Text)]
    );
    assert_eq!(c.next_deadline(&T), Some(8_000));
    assert_eq!(feed_all(&mut c, &frame[..1], 4_000), []);
    assert_eq!(c.next_deadline(&T), Some(7_000));
}

#[test]
fn a_pong_waits_for_room_and_input_waits_for_it() {
    // 256 bytes of TX: fill it, then a ping cannot be answered until output is taken.
    let mut c: Connection<256, 256> = Connection::new();
    c.start(0);
    let head = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(c.feed(head, 0, 256).event, Some(Event::Request));
    c.accept(b"dGhlIHNhbXBsZSBub25jZQ==", None).unwrap();
    let filler = [b'f'; 100];
    while c.outbox().send(OpCode::Text, &filler).is_ok() {}
    let mut input = client(true, OpCode::Ping, &[b'p'; 100]);
    input.extend(client(true, OpCode::Text, b"after"));
    let step = c.feed(&input, 1, 256);
    assert_eq!(step.event, None);
    let ping_len = 6 + 100;
    assert_eq!(
        step.consumed, ping_len,
        "the ping is read, the rest waits for the pong"
    );
    // The output drains; the pong goes out before anything else is read.
    let out = c.output().len();
    c.consume(out);
    let step = c.feed(&input[ping_len..], 2, 256);
    assert_eq!(step.event, Some(Event::Message(MessageKind::Text)));
    assert_eq!(c.message(), b"after");
    assert_eq!(c.output(), server(OpCode::Pong, &[b'p'; 100]).as_slice());
}
