//! Messages: dispatch to handlers and their exact replies, NestJS exceptions, drops, frames
//! of every length class both ways, backpressure and broadcast.

use crate::check::Outcome;
use crate::client::*;
use crate::fixture::*;
use wsgate::gateway::{Broadcast, ClientId, DropReason, GatewayId};
use wsgate::protocol::frame::OpCode;
use wsgate::{Config, Server};

pub fn echo_reply_exact() -> Outcome {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    ok!(server.add_gateway(&mut g));
    server.init();
    let id = connect(&mut server, "/", 0)?;
    // Whitespace compacted as `JSON.stringify` prints it.
    let msg = br#"{"event":"echo","data":{"a": [1, 2], "s": "x y"}}"#;
    let out = feed_all(&mut server, id, &text(msg), 1)?;
    let reply = br#"{"event":"echo","data":{"a":[1,2],"s":"x y"}}"#;
    check_bytes!(out, cat(&[&[0x81, reply.len() as u8], reply]));
    // Key order free, `data` last or first; a binary frame is answered in text.
    let msg = br#"{"data":"hi","event":"echo"}"#;
    let out = feed_all(&mut server, id, &frame(true, OpCode::Binary, msg), 2)?;
    check_bytes!(out, server_frame(1, br#"{"event":"echo","data":"hi"}"#));
    check_eq!(server.stats().messages, 2);
    check_eq!(server.stats().dispatched, 2);
    check_eq!(server.stats().frames_sent, 2);
    Ok(())
}

pub fn nestjs_events_one_two_three() -> Outcome {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        ok!(server.add_gateway(&mut g));
        let id = connect(&mut server, "/", 0)?;
        let out = feed_all(
            &mut server,
            id,
            &text(br#"{"event":"events","data":"test"}"#),
            1,
        )?;
        check_bytes!(
            out,
            cat(&[
                &server_frame(1, br#"{"event":"events","data":1}"#),
                &server_frame(1, br#"{"event":"events","data":2}"#),
                &server_frame(1, br#"{"event":"events","data":3}"#),
            ])
        );
        check_eq!(server.stats().frames_sent, 3);
        check_eq!(server.stats().exceptions, 0);
    }
    check_eq!(g.state().events_calls, 1);
    Ok(())
}

pub fn exception_frames_byte_for_byte() -> Outcome {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    ok!(server.add_gateway(&mut g));
    let id = connect(&mut server, "/", 0)?;
    let cases: [(&[u8], &[u8]); 5] = [
        (
            br#"{"event":"login","data":{"user":"a"}}"#,
            br#"{"event":"exception","data":{"status":"error","message":"Invalid credentials","cause":{"pattern":"login","data":{"user":"a"}}}}"#,
        ),
        // The cause's data is the client's data, compacted.
        (
            br#"{"event": "login", "data": {"user": "a"}}"#,
            br#"{"event":"exception","data":{"status":"error","message":"Invalid credentials","cause":{"pattern":"login","data":{"user":"a"}}}}"#,
        ),
        (
            br#"{"event":"boom","data":[1,2]}"#,
            br#"{"event":"exception","data":{"status":"error","message":"Internal server error","cause":{"pattern":"boom","data":[1,2]}}}"#,
        ),
        // data absent: the cause has only the pattern.
        (
            br#"{"event":"login"}"#,
            br#"{"event":"exception","data":{"status":"error","message":"Invalid credentials","cause":{"pattern":"login"}}}"#,
        ),
        (
            br#"{"event":"obj","data":1}"#,
            br#"{"event":"exception","data":{"code":42}}"#,
        ),
    ];
    for (i, (msg, reply)) in cases.iter().enumerate() {
        let out = feed_all(&mut server, id, &text(msg), i as u64)?;
        check_bytes!(out, server_frame(1, reply));
    }
    // Still open.
    let msg = echo_message(40);
    check_bytes!(
        feed_all(&mut server, id, &text(&msg), 9)?,
        server_frame(1, &msg)
    );
    let st = server.stats();
    check_eq!(st.exceptions, 5);
    check_eq!(st.dispatched, 6);
    check_eq!(st.frames_sent, 1);
    check_eq!(st.send_failed, 0);
    Ok(())
}

pub fn drops_are_silent_and_counted() -> Outcome {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        ok!(server.add_gateway(&mut g));
        let id = connect(&mut server, "/", 0)?;
        for msg in [
            &br#"{"event":"echo","data":"#[..],
            br#"["echo","x"]"#,
            br#"{"data":1}"#,
            br#"{"event":"nope","data":1}"#,
            b"",
        ] {
            check_bytes!(feed_all(&mut server, id, &text(msg), 1)?, b"");
        }
        let st = server.stats();
        check_eq!(
            (
                st.dropped_invalid_json,
                st.dropped_not_object,
                st.dropped_no_event,
                st.dropped_unknown_event
            ),
            (2, 1, 1, 1)
        );
        check_eq!(st.dropped(), 5);
        check_eq!(st.messages, 5);
        check_eq!(st.dispatched, 0);
        check!(!server.wants_close(id));
    }
    check_eq!(
        g.state().drops.as_slice(),
        [
            DropReason::InvalidJson,
            DropReason::NotAnObject,
            DropReason::NoEvent,
            DropReason::UnknownEvent,
            DropReason::InvalidJson,
        ]
        .as_slice()
    );
    Ok(())
}

pub fn request_and_first_frames_in_one_feed() -> Outcome {
    let mut g = gateway("/");
    // Reply room 400: with the 101 (129 bytes) unsent in the 512-byte TX, the first
    // message's 37 + 400 bytes do not fit.
    let mut server: Small<'_> = Server::new(Config {
        reply_room: 400,
        ..CONFIG
    });
    ok!(server.add_gateway(&mut g));
    let id = ok!(server.accept(0));
    let msg = br#"{"event":"echo","data":{"a":[1,2,3]}}"#;
    let bytes = cat(&[
        &upgrade_request("/", SAMPLE_KEY),
        &text(msg),
        &frame(true, OpCode::Ping, b"p"),
        &text(msg),
    ]);
    // The 101 waits in the TX, so the first message waits for it to be written
    // (`reply_room`); a transport writes, resumes and feeds the rest.
    let first = ok!(server.feed(id, &bytes, 0));
    check!(first < bytes.len());
    let expected = cat(&[
        SAMPLE_101,
        &server_frame(1, msg),
        &server_frame(0xA, b"p"),
        &server_frame(1, msg),
    ]);
    let mut out = drain(&mut server, id)?;
    check_eq!(server.resume(id, 0), Ok(true));
    let rest = feed_all(&mut server, id, &bytes[first..], 0)?;
    ok!(out.extend_from_slice(&rest));
    check_bytes!(out, expected);
    check_eq!(server.stats().dispatched, 2);
    Ok(())
}

pub fn message_waits_for_reply_room() -> Outcome {
    // TX 1024, reply_room 600: with 500 bytes unsent the next message waits.
    let mut g = gateway("/");
    let mut server: Server<'_, 1, 1024, 1024> = Server::new(Config {
        reply_room: 600,
        ..CONFIG
    });
    ok!(server.add_gateway(&mut g));
    let id = connect(&mut server, "/", 0)?;
    let a = echo_message(480);
    let b = echo_message(480);
    let bytes = cat(&[&text(&a), &text(&b)]);
    check_eq!(server.feed(id, &bytes, 1), Ok(bytes.len()));
    check_eq!(server.stats().messages, 2);
    check_eq!(server.stats().dispatched, 1);
    check_bytes!(drain(&mut server, id)?, server_frame(1, &a));
    let ta = text(&a);
    check_eq!(server.feed(id, &ta, 2), Ok(ta.len()));
    check_eq!(server.stats().dispatched, 2);
    check_bytes!(drain(&mut server, id)?, server_frame(1, &b));
    check_eq!(server.resume(id, 3), Ok(true));
    check_eq!(server.stats().dispatched, 3);
    check_bytes!(drain(&mut server, id)?, server_frame(1, &a));
    check_eq!(server.resume(id, 3), Ok(false));
    check_eq!(server.stats().send_failed, 0);
    Ok(())
}

pub fn reply_larger_than_tx_is_an_error() -> Outcome {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        ok!(server.add_gateway(&mut g));
        let id = connect(&mut server, "/", 0)?;
        check_bytes!(
            feed_all(&mut server, id, &text(br#"{"event":"big"}"#), 1)?,
            b""
        );
        check_eq!(server.stats().send_failed, 1);
        check_eq!(server.stats().frames_sent, 0);
        check_eq!(server.stats().exceptions, 0);
        check!(!server.wants_close(id));
        let msg = echo_message(40);
        check_bytes!(
            feed_all(&mut server, id, &text(&msg), 2)?,
            server_frame(1, &msg)
        );
    }
    check_eq!(
        g.state().send_errors.as_slice(),
        [wsgate::connection::SendError::Full].as_slice()
    );
    Ok(())
}

pub fn broadcast_to_two_clients() -> Outcome {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        let gid = ok!(server.add_gateway(&mut g));
        let a = connect(&mut server, "/", 0)?;
        let b = connect(&mut server, "/", 0)?;
        check!(a != b);
        let shout = text(br#"{"event":"shout"}"#);
        let z = server_frame(1, &[b'z'; 400]);
        // Both get it: a from its own handler, b through the broadcast.
        check_eq!(server.feed(a, &shout, 1), Ok(shout.len()));
        check_bytes!(drain(&mut server, a)?, z);
        check_eq!(server.take_wake(), Some(b.index()));
        check_bytes!(server.output(b), z);
        // b does not read: its TX holds 404 of 512 bytes, the next one is dropped for it.
        check_eq!(server.feed(a, &shout, 2), Ok(shout.len()));
        check_bytes!(drain(&mut server, a)?, z);
        check_bytes!(server.output(b), z);
        check_eq!(server.stats().broadcast_dropped, 1);
        // From outside a handler too.
        let r = server.broadcast_text(gid, core::str::from_utf8(&[b'z'; 400]).unwrap_or(""));
        check_eq!(
            r,
            Broadcast {
                queued: 1,
                dropped: 1
            }
        );
        check_eq!(server.stats().broadcast_dropped, 2);
        check_bytes!(drain(&mut server, a)?, z);
        check_bytes!(drain(&mut server, b)?, z);
        check_eq!(
            server.broadcast_text(gid, "hi"),
            Broadcast {
                queued: 2,
                dropped: 0
            }
        );
        check_bytes!(drain(&mut server, a)?, server_frame(1, b"hi"));
        check_bytes!(drain(&mut server, b)?, server_frame(1, b"hi"));
        // Serialised broadcast from outside.
        check_eq!(
            server.broadcast(gid, "tick", &7u32),
            Broadcast {
                queued: 2,
                dropped: 0
            }
        );
        let tick = server_frame(1, br#"{"event":"tick","data":7}"#);
        check_bytes!(drain(&mut server, a)?, tick);
        check_bytes!(drain(&mut server, b)?, tick);
    }
    check_eq!(
        g.state().broadcasts.as_slice(),
        [
            Broadcast {
                queued: 2,
                dropped: 0
            },
            Broadcast {
                queued: 1,
                dropped: 1
            }
        ]
        .as_slice()
    );
    Ok(())
}

/// 70 KB buffers: room for a 65,536-byte message and its 65,546-byte reply.
type Big<'g> = Server<'g, 1, 70_000, 70_000>;

pub fn frame_lengths_both_ways() -> Outcome {
    let mut g = gateway("/");
    let mut server: Big<'_> = Server::new(CONFIG);
    ok!(server.add_gateway(&mut g));
    server.init();
    let id = connect(&mut server, "/", 0)?;
    let mut msg_buf = [0u8; 65_536];
    let mut frame_buf = [0u8; 65_536 + 14];
    let mut want_buf = [0u8; 65_536 + 10];

    // Client to server: echo messages of exactly these lengths, text and binary frames;
    // the reply is the same JSON, so the server's frame has the same length.
    for len in [125usize, 126, 65_535, 65_536] {
        let msg = echo_message_into(&mut msg_buf, len);
        let header = server_header(1, len);
        let want = {
            want_buf[..header.len()].copy_from_slice(&header);
            want_buf[header.len()..header.len() + len].copy_from_slice(msg);
            &want_buf[..header.len() + len]
        };
        let expected_header: &[u8] = match len {
            125 => &[0x81, 125],
            126 => &[0x81, 126, 0, 126],
            65_535 => &[0x81, 126, 0xff, 0xff],
            _ => &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0],
        };
        check_bytes!(header, expected_header);
        for opcode in [OpCode::Text, OpCode::Binary] {
            let f = frame_into(&mut frame_buf, true, opcode, MASK, msg);
            let hlen = match len {
                0..=125 => 6,
                126..=65_535 => 8,
                _ => 14,
            };
            check_eq!(f.len(), hlen + len);
            let mut sink = Expect::new(want);
            feed_all_into(&mut server, id, f, 1, &mut sink)?;
            check_eq!((sink.mismatch, sink.pos), (None, want.len()));
        }
    }
    check_eq!(server.stats().dispatched, 8);

    // Server to client: text and binary frames of exactly these lengths.
    for len in [0usize, 125, 126, 65_535, 65_536] {
        for (event, opcode, fill) in [("size", 1u8, b'y'), ("bin", 2, b'b')] {
            let mut req: heapless::String<48> = heapless::String::new();
            let _ = core::fmt::write(
                &mut req,
                format_args!(r#"{{"event":"{event}","data":{len}}}"#),
            );
            let header = server_header(opcode, len);
            want_buf[..header.len()].copy_from_slice(&header);
            want_buf[header.len()..header.len() + len].fill(fill);
            let want = &want_buf[..header.len() + len];
            let mut sink = Expect::new(want);
            feed_all_into(&mut server, id, &text(req.as_bytes()), 3, &mut sink)?;
            check_eq!((sink.mismatch, sink.pos), (None, want.len()));
        }
    }
    check!(!server.wants_close(id));
    check_eq!(server.stats().send_failed, 0);
    check_eq!(server.stats().frames_sent, 8 + 10);
    Ok(())
}

/// Leaves exactly `free` bytes free in the TX of `id` (TX bytes in all, output empty) with
/// broadcast frames, then has the handler send a text frame of `len` bytes; returns whether
/// the handler's frame was queued (checked byte for byte).
fn send_into<const RX: usize, const TX: usize>(
    server: &mut Server<'_, 1, RX, TX>,
    id: ClientId,
    free: usize,
    len: usize,
) -> Result<bool, crate::check::Failure> {
    let gid = GatewayId(0);
    check!(server.output(id).is_empty());
    let mut pending = TX - free;
    let mut filler_total = 0;
    while pending > 0 {
        // One frame of `pending` bytes if its header size allows, else a small one first.
        let take = match pending {
            n @ 2..=127 => n,
            n @ 130..=65_539 => n,
            n if n > 65_539 + 10 => 65_546,
            n => n.min(100).min(n - 2).max(2),
        };
        let payload_len = match take {
            n @ 2..=127 => n - 2,
            n @ 130..=65_539 => n - 4,
            n => n - 10,
        };
        let filler = core::str::from_utf8(&YS[..payload_len]).unwrap_or("");
        check_eq!(
            server.broadcast_text(gid, filler),
            Broadcast {
                queued: 1,
                dropped: 0
            }
        );
        filler_total += take;
        pending -= take;
    }
    check_eq!(server.output(id).len(), filler_total);
    let sent_before = server.stats().frames_sent;
    let mut req: heapless::String<48> = heapless::String::new();
    let _ = core::fmt::write(&mut req, format_args!(r#"{{"event":"size","data":{len}}}"#));
    let msg = text(req.as_bytes());
    check_eq!(server.feed(id, &msg, 1), Ok(msg.len()));
    let queued = server.stats().frames_sent == sent_before + 1;
    let out = server.output(id);
    check_eq!(out.len() >= filler_total, true);
    let rest = &out[filler_total..];
    if queued {
        let header = server_header(1, len);
        check_bytes!(&rest[..header.len().min(rest.len())], header);
        check_eq!(rest.len(), header.len() + len);
        check!(rest[header.len()..].iter().all(|&b| b == b'y'));
    } else {
        // The handler's `?` turned the error into an exception frame (when that fits).
        if !rest.is_empty() {
            let frames = parse_frames(rest);
            check!(frames.is_some());
            let frames = frames.unwrap_or_default();
            check_eq!(frames.len(), 1);
            check!(frames[0].payload.starts_with(br#"{"event":"exception","#));
        }
    }
    let n = out.len();
    server.consume(id, n);
    Ok(queued)
}

pub fn short_frame_that_fits_exactly() -> Outcome {
    // 125 bytes need 127: they fit in 127 and in 128 free bytes, not in 126.
    let mut g = gateway("/");
    let mut server: Server<'_, 1, 512, 256> = Server::new(Config {
        reply_room: 0,
        ..CONFIG
    });
    ok!(server.add_gateway(&mut g));
    let id = connect(&mut server, "/", 0)?;
    check!(!send_into(&mut server, id, 126, 125)?);
    check!(send_into(&mut server, id, 127, 125)?);
    check!(send_into(&mut server, id, 128, 125)?);
    check!(send_into(&mut server, id, 129, 125)?);
    Ok(())
}

pub fn long_frame_that_fits_exactly() -> Outcome {
    // 65535 bytes need 65539: they fit in 65539 free bytes and more, not in 65538.
    let mut g = gateway("/");
    let mut server: Server<'_, 1, 70_000, 70_000> = Server::new(Config {
        reply_room: 0,
        ..CONFIG
    });
    ok!(server.add_gateway(&mut g));
    let id = connect(&mut server, "/", 0)?;
    check!(!send_into(&mut server, id, 65_538, 65_535)?);
    for free in 65_539..=65_546 {
        check!(send_into(&mut server, id, free, 65_535)?);
    }
    Ok(())
}
