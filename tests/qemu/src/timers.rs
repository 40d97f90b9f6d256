//! Timers, driven by `poll` with a later `now`: keepalive ping, idle and close timeouts.

use crate::check::Outcome;
use crate::client::*;
use crate::fixture::*;
use wsgate::protocol::frame::OpCode;
use wsgate::{CloseCode, Server};

pub fn ping_after_silence_then_drop_without_pong() -> Outcome {
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        ok!(server.add_gateway(&mut g));
        let id = connect(&mut server, "/", 1_000)?;
        check_eq!(server.next_deadline(id), Some(6_000));
        server.poll(id, 5_999);
        check!(server.output(id).is_empty());
        server.poll(id, 6_000);
        check_bytes!(drain(&mut server, id)?, server_frame(9, b"wsgate"));
        check_eq!(server.stats().pings_sent, 1);
        check_eq!(server.next_deadline(id), Some(8_000));
        server.poll(id, 7_999);
        check!(!server.wants_close(id));
        server.poll(id, 8_000);
        check!(server.output(id).is_empty());
        check!(server.wants_close(id));
        check_eq!(server.stats().closed_idle, 1);
        server.poll(id, 20_000);
        server.release(id);
        check_eq!(server.stats().closed_peer_gone, 0);
        check_eq!(server.stats().closed_idle, 1);
    }
    check_eq!(g.state().disconnects.len(), 1);
    check_eq!(g.state().disconnects.first().map(|d| d.1), Some(1006));
    Ok(())
}

pub fn pong_in_time_keeps_the_client() -> Outcome {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    ok!(server.add_gateway(&mut g));
    let id = connect(&mut server, "/", 0)?;
    server.poll(id, 5_000);
    check_bytes!(drain(&mut server, id)?, server_frame(9, b"wsgate"));
    let pong = frame(true, OpCode::Pong, b"wsgate");
    check_eq!(server.feed(id, &pong, 6_999), Ok(pong.len()));
    server.poll(id, 7_000);
    server.poll(id, 9_000);
    check!(!server.wants_close(id));
    check!(server.output(id).is_empty());
    // Silence again: the next ping comes 5 s after the pong.
    server.poll(id, 11_998);
    check!(server.output(id).is_empty());
    server.poll(id, 11_999);
    check_bytes!(drain(&mut server, id)?, server_frame(9, b"wsgate"));
    check_eq!(server.stats().pings_sent, 2);
    // Any data frame also counts as a sign of life.
    let f = text(&echo_message(30));
    check_bytes!(
        feed_all(&mut server, id, &f, 13_000)?,
        server_frame(1, &echo_message(30))
    );
    server.poll(id, 14_000);
    check!(!server.wants_close(id));
    check_eq!(server.stats().closed_idle, 0);
    Ok(())
}

pub fn timeouts_drop_a_client_that_does_not_read() -> Outcome {
    // Idle: the ping (and a broadcast) are never written; the socket is closed anyway.
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        let gid = ok!(server.add_gateway(&mut g));
        let id = connect(&mut server, "/", 0)?;
        server.broadcast_text(gid, "news");
        server.poll(id, 5_000);
        check_eq!(server.stats().pings_sent, 1);
        check!(!server.output(id).is_empty());
        server.poll(id, 7_000);
        check_eq!(server.stats().closed_idle, 1);
        check!(server.wants_close(id));
        server.release(id);
    }
    check_eq!(g.state().disconnects.first().map(|d| d.1), Some(1006));
    // Close: our close frame is never written; after close_timeout_ms the socket is closed.
    let mut g = gateway("/");
    {
        let mut server: Small<'_> = Server::new(CONFIG);
        ok!(server.add_gateway(&mut g));
        let id = connect(&mut server, "/", 0)?;
        ok!(server.close_client(id, CloseCode(4000), "kick", 100));
        check_bytes!(server.output(id), server_frame(8, b"\x0f\xa0kick"));
        check_eq!(server.next_deadline(id), Some(1_600));
        server.poll(id, 1_599);
        check!(!server.wants_close(id));
        server.poll(id, 1_600);
        check!(server.wants_close(id));
        check_eq!(server.stats().closed_close_timeout, 1);
        server.release(id);
        check_eq!(server.stats().closed_peer_gone, 0);
    }
    check_eq!(g.state().disconnects.first().map(|d| d.1), Some(1006));
    Ok(())
}

/// Timestamps past 2^32 ms (49.7 days of uptime) on a 32-bit target: `now` is a u64.
pub fn timers_past_u32_milliseconds() -> Outcome {
    const T0: u64 = (1 << 32) - 1_000;
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    ok!(server.add_gateway(&mut g));
    let id = connect(&mut server, "/", T0)?;
    check_eq!(server.next_deadline(id), Some(T0 + 5_000));
    server.poll(id, T0 + 4_999);
    check!(server.output(id).is_empty());
    server.poll(id, T0 + 5_000);
    check_bytes!(drain(&mut server, id)?, server_frame(9, b"wsgate"));
    server.poll(id, T0 + 7_000);
    check!(server.wants_close(id));
    check_eq!(server.stats().closed_idle, 1);
    Ok(())
}
