//! The opening handshake: the exact 101, every HTTP refusal, a request split into single
//! bytes, 503 when full, 408 by the timer.

use crate::check::Outcome;
use crate::client::*;
use crate::fixture::*;
use wsgate::protocol::frame::OpCode;
use wsgate::protocol::handshake::accept_key;
use wsgate::protocol::http::SERVER_FULL_RESPONSE;
use wsgate::server::Refused;
use wsgate::{Config, Server, Stats};

pub fn exact_101_for_the_rfc_sample_key() -> Outcome {
    check_bytes!(accept_key(SAMPLE_KEY.as_bytes()), SAMPLE_ACCEPT.as_bytes());
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    check!(server.add_gateway(&mut g).is_ok());
    server.init();
    let id = ok!(server.accept(0));
    let req = upgrade_request("/", SAMPLE_KEY);
    check_eq!(server.feed(id, &req, 0), Ok(req.len()));
    check_bytes!(
        server.output(id),
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    let n = server.output(id).len();
    server.consume(id, n);
    check!(!server.wants_close(id));
    check_eq!(server.stats().accepted, 1);
    check_eq!(server.stats().upgraded, 1);
    Ok(())
}

pub fn firefox_connection_keep_alive_upgrade() -> Outcome {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    check!(server.add_gateway(&mut g).is_ok());
    let id = ok!(server.accept(0));
    let req = request(
        "GET / HTTP/1.1",
        &[
            "Host: device.local",
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Connection: keep-alive, Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Extensions: permessage-deflate",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ],
    );
    check_eq!(server.feed(id, &req, 0), Ok(req.len()));
    check_bytes!(drain(&mut server, id)?, SAMPLE_101);
    check_eq!(server.stats().upgraded, 1);
    Ok(())
}

pub fn one_byte_per_feed() -> Outcome {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    check!(server.add_gateway(&mut g).is_ok());
    let id = ok!(server.accept(0));
    let req = upgrade_request("/", SAMPLE_KEY);
    for (i, b) in req.iter().enumerate() {
        check_eq!(server.feed(id, &[*b], i as u64), Ok(1));
        if i + 1 < req.len() {
            check!(server.output(id).is_empty());
        }
    }
    check_bytes!(drain(&mut server, id)?, SAMPLE_101);
    // A 200-byte message (16-bit length) a byte at a time.
    let msg = echo_message(200);
    let f = frame_with_mask(true, OpCode::Text, [0xde, 0xad, 0xbe, 0xef], &msg);
    for (i, b) in f.iter().enumerate() {
        check_eq!(server.feed(id, &[*b], 1_000), Ok(1));
        if i + 1 < f.len() {
            check!(server.output(id).is_empty());
        }
    }
    check_bytes!(drain(&mut server, id)?, server_frame(1, &msg));
    // A ping a byte at a time.
    for b in frame(true, OpCode::Ping, b"hello") {
        check_eq!(server.feed(id, &[b], 1_001), Ok(1));
    }
    check_bytes!(drain(&mut server, id)?, server_frame(0xA, b"hello"));
    check_eq!(server.stats().dispatched, 1);
    Ok(())
}

/// Feeds one request to a fresh server (gateway at `/ws`, RX 8 KiB, head limit `max_head`)
/// and checks the exact response, the counter and `wants_close` (only once every byte of
/// the response is written).
fn refused(req: &[u8], max_head: usize, expected: &[u8], counter: fn(&Stats) -> u32) -> Outcome {
    let mut g = gateway("/ws");
    {
        let mut server: Server<'_, 2, 8192, 1024> = Server::new(Config { max_head, ..CONFIG });
        check!(server.add_gateway(&mut g).is_ok());
        server.init();
        let id = ok!(server.accept(0));
        check_eq!(server.feed(id, req, 0), Ok(req.len()));
        let out = cat(&[server.output(id)]);
        check_bytes!(out, expected);
        check!(!server.wants_close(id));
        server.consume(id, out.len() - 1);
        check!(!server.wants_close(id));
        server.consume(id, 1);
        check!(server.output(id).is_empty());
        check!(server.wants_close(id));
        let s = *server.stats();
        check_eq!(counter(&s), 1);
        let refusals = s.http_400
            + s.http_401_403
            + s.http_404
            + s.http_405
            + s.http_408
            + s.http_426
            + s.http_431
            + s.http_other;
        check_eq!(refusals, 1);
        check_eq!(s.upgraded, 0);
        server.release(id);
    }
    check!(g.state().disconnects.is_empty());
    Ok(())
}

const H: &str = "Host: device.local";
const UP: &str = "Upgrade: websocket";
const CONN: &str = "Connection: Upgrade";
const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
const V13: &str = "Sec-WebSocket-Version: 13";

pub fn refusal_400() -> Outcome {
    let bad_key = http(
        "400 Bad Request",
        "",
        "missing or invalid Sec-WebSocket-Key",
    );
    refused(
        &request("GET /ws HTTP/1.1", &[H, UP, CONN, V13]),
        4096,
        &bad_key,
        |s| s.http_400,
    )?;
    for key in [
        "Sec-WebSocket-Key: AAAA",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=",
        "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==",
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=",
    ] {
        refused(
            &request("GET /ws HTTP/1.1", &[H, UP, CONN, key, V13]),
            4096,
            &bad_key,
            |s| s.http_400,
        )?;
    }
    refused(
        &request(
            "GET /ws HTTP/1.1",
            &[H, UP, "Connection: keep-alive", KEY, V13],
        ),
        4096,
        &http(
            "400 Bad Request",
            "",
            "Connection header lacks the upgrade token",
        ),
        |s| s.http_400,
    )?;
    refused(
        &request("GET /ws HTTP/1.1", &[H, CONN, KEY, V13]),
        4096,
        &http(
            "400 Bad Request",
            "",
            "missing or wrong Upgrade header (expected websocket)",
        ),
        |s| s.http_400,
    )?;
    refused(
        &request("GET /ws HTTP/1.0", &[H, UP, CONN, KEY, V13]),
        4096,
        &http("400 Bad Request", "", "WebSocket needs HTTP/1.1"),
        |s| s.http_400,
    )
}

pub fn refusal_404() -> Outcome {
    refused(
        &request("GET /nope HTTP/1.1", &[H, UP, CONN, KEY, V13]),
        4096,
        &http("404 Not Found", "", "no WebSocket gateway at this path"),
        |s| s.http_404,
    )?;
    refused(
        &request("GET /nope HTTP/1.1", &[H]),
        4096,
        &http("404 Not Found", "", "nothing at this path"),
        |s| s.http_404,
    )
}

pub fn refusal_405() -> Outcome {
    refused(
        &request("POST /ws HTTP/1.1", &[H, UP, CONN, KEY, V13]),
        4096,
        &http(
            "405 Method Not Allowed",
            "Allow: GET\r\n",
            "WebSocket upgrade needs GET",
        ),
        |s| s.http_405,
    )?;
    refused(
        &request("POST /ws HTTP/1.1", &[H, "Content-Length: 0"]),
        4096,
        &http(
            "405 Method Not Allowed",
            "Allow: GET\r\n",
            "only GET is served here",
        ),
        |s| s.http_405,
    )
}

pub fn refusal_426() -> Outcome {
    refused(
        &request(
            "GET /ws HTTP/1.1",
            &[H, UP, CONN, KEY, "Sec-WebSocket-Version: 8"],
        ),
        4096,
        &http(
            "426 Upgrade Required",
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            "unsupported WebSocket version (this server speaks 13)",
        ),
        |s| s.http_426,
    )?;
    refused(
        &request("GET /ws HTTP/1.1", &[H, "Accept: text/html"]),
        4096,
        &http(
            "426 Upgrade Required",
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            "this path is a WebSocket endpoint: send a WebSocket upgrade request",
        ),
        |s| s.http_426,
    )
}

/// An upgrade request to `/ws` padded with an `X-Pad` header to exactly `len` bytes.
fn padded_request(len: usize) -> Bytes {
    let base = upgrade_request("/ws", SAMPLE_KEY);
    let pad = len - base.len() - "X-Pad: \r\n".len();
    let mut req = cat(&[&base[..base.len() - 2], b"X-Pad: "]);
    req.resize(req.len() + pad, b'p').expect("Bytes capacity");
    req.extend_from_slice(b"\r\n\r\n").expect("Bytes capacity");
    req
}

pub fn refusal_431() -> Outcome {
    let max_head = 1024;
    // A head of exactly `max_head` bytes is accepted...
    let req = padded_request(max_head);
    check_eq!(req.len(), max_head);
    {
        let mut g = gateway("/ws");
        let mut server: Server<'_, 2, 8192, 1024> = Server::new(Config { max_head, ..CONFIG });
        check!(server.add_gateway(&mut g).is_ok());
        let id = ok!(server.accept(0));
        check_eq!(server.feed(id, &req, 0), Ok(req.len()));
        check_bytes!(drain(&mut server, id)?, SAMPLE_101);
    }
    // ...one byte more is refused with 431.
    let req = padded_request(max_head + 1);
    refused(
        &req,
        max_head,
        &http(
            "431 Request Header Fields Too Large",
            "",
            "request head too large",
        ),
        |s| s.http_431,
    )?;
    // 200 header fields, well under the size limit.
    let mut many = cat(&[&upgrade_request("/ws", SAMPLE_KEY)]);
    many.truncate(many.len() - 2);
    for i in 0..200u32 {
        let mut line: heapless::String<32> = heapless::String::new();
        let _ = core::fmt::write(&mut line, format_args!("X-H{i}: v\r\n"));
        many.extend_from_slice(line.as_bytes())
            .expect("Bytes capacity");
    }
    many.extend_from_slice(b"\r\n").expect("Bytes capacity");
    check!(many.len() < 8192);
    refused(
        &many,
        8192,
        &http(
            "431 Request Header Fields Too Large",
            "",
            "too many header fields (max 32)",
        ),
        |s| s.http_431,
    )
}

pub fn refusal_503_when_full() -> Outcome {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    check!(server.add_gateway(&mut g).is_ok());
    let a = ok!(server.accept(0));
    let b = ok!(server.accept(0));
    check!(a != b);
    check_eq!(server.accept(0), Err(Refused::Full));
    check_eq!(server.stats().refused_full, 1);
    check_eq!(server.stats().accepted, 2);
    check_bytes!(
        SERVER_FULL_RESPONSE,
        http(
            "503 Service Unavailable",
            "Retry-After: 1\r\n",
            "server full: no free connection slot"
        )
    );
    // A freed slot is given out again.
    server.release(a);
    let c = server.accept(0);
    check_eq!(c.map(|c| c.index()), Ok(a.index()));
    Ok(())
}

pub fn refusal_408_by_timer() -> Outcome {
    let mut g = gateway("/");
    let mut server: Small<'_> = Server::new(CONFIG);
    check!(server.add_gateway(&mut g).is_ok());
    let id = ok!(server.accept(100));
    let req = upgrade_request("/", SAMPLE_KEY);
    let part = &req[..req.len() - 3];
    check_eq!(server.feed(id, part, 200), Ok(part.len()));
    check_eq!(server.next_deadline(id), Some(100 + 1_000));
    server.poll(id, 100 + 999);
    check!(server.output(id).is_empty());
    check!(!server.wants_close(id));
    server.poll(id, 100 + 1_000);
    check_bytes!(
        drain(&mut server, id)?,
        http(
            "408 Request Timeout",
            "",
            "request head not received in time"
        )
    );
    check!(server.wants_close(id));
    check_eq!(server.stats().http_408, 1);
    // The rest of the head arriving late changes nothing.
    check_eq!(server.feed(id, &req[req.len() - 3..], 1_200), Ok(3));
    check!(server.output(id).is_empty());
    check_eq!(server.stats().upgraded, 0);
    Ok(())
}
