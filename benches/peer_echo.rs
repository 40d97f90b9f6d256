//! Peer server for the benchmark suite: the throughput ceiling. A trivial but conforming
//! WebSocket echo server written by hand on tokio, with no JSON and no WebSocket crate.
//!
//! `benches/run.sh` starts it (pinned to one core) in the place of wsgate's own server and
//! drives it with the same load generator. The generator's requests are NestJS WsAdapter
//! messages `{"event":"echo","data":{...}}`, so echoing a message's bytes unchanged is a
//! valid NestJS reply: what this server costs per message is roughly the least any server
//! can spend on the same traffic (read, unmask, check UTF-8, copy, write), which bounds what
//! the servers that parse and dispatch JSON can hope for.
//!
//! What it does:
//! - its own minimal opening handshake: read until the HTTP head is complete (httparse),
//!   check it is a WebSocket upgrade (`GET`, HTTP/1.1, `Upgrade: websocket`,
//!   `Connection: upgrade`, `Sec-WebSocket-Version: 13`), compute `Sec-WebSocket-Accept`
//!   from `Sec-WebSocket-Key` (SHA-1 from the sha1 crate, base64 written here) and answer
//!   101; anything else gets a 400 (426 for another version) and the connection is closed;
//! - then per connection one loop: read into a 64 KiB buffer, parse every complete frame in
//!   it (masked client frames, 7/16/64-bit lengths, FIN, opcodes), unmask the payload in
//!   place eight bytes at a time, and append each reply frame (unmasked) to an output
//!   buffer: text and binary messages are echoed with their opcode (text checked with
//!   `std::str::from_utf8`, 1007 if it is not UTF-8), fragmented messages are reassembled
//!   and echoed as one frame, ping gets pong, pong is ignored, close is echoed and the
//!   connection shut down; protocol errors (reserved bits or opcodes, unmasked frames, bad
//!   control frames or continuations, bad close codes) get close 1002, messages over
//!   `MAX_MESSAGE` close 1009;
//! - everything one read produced is answered with ONE `write_all` of all its replies; a
//!   partial frame at the end of the buffer is kept for the next read (the buffer grows
//!   when one frame does not fit in it).
//!
//! Accepted sockets get `TCP_NODELAY`, as wsgate's tokio transport and Node's `ws` set it,
//! so no server in the comparison waits on Nagle's algorithm. One task per connection on a
//! tokio `current_thread` runtime.
//!
//! Usage: `peer_echo --port N` (0 = any free port). It binds 127.0.0.1, prints exactly one
//! line `listening on 127.0.0.1:PORT` to stdout once it listens, and runs until killed
//! (SIGTERM's default action). Without `--port` (as plain `cargo bench` runs it, with
//! `--bench`) it prints a one-line usage and exits 0.

#[path = "support/mod.rs"]
mod support;

use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Size of each connection's read buffer, and the most one read takes.
const READ_BUF: usize = 64 * 1024;
/// The longest HTTP request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// The longest message (one frame, or all fragments together) accepted; longer gets 1009.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

const CLOSE_PROTOCOL_ERROR: u16 = 1002;
const CLOSE_INVALID_PAYLOAD: u16 = 1007;
const CLOSE_TOO_BIG: u16 = 1009;

const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const UPGRADE_REQUIRED: &[u8] = b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\
    Connection: close\r\nContent-Length: 0\r\n\r\n";
const HEAD_TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
    Connection: close\r\nContent-Length: 0\r\n\r\n";

fn main() {
    let Some(port) = support::port_arg("peer_echo") else {
        println!(
            "peer_echo: a benchmark peer server started by benches/run.sh \
             (usage: peer_echo --port N)"
        );
        return;
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(serve(port));
}

async fn serve(port: u16) {
    let listener = support::listen("peer_echo", port).await;

    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream));
            }
            // Out of file descriptors and the like: back off a little rather than spin.
            Err(e) => {
                eprintln!("peer_echo: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn connection(mut stream: TcpStream) {
    let mut buf = vec![0u8; READ_BUF];
    let Some((head_len, mut filled)) = handshake(&mut stream, &mut buf).await else {
        let _ = stream.shutdown().await;
        return;
    };
    // Frames the client sent right behind its request head.
    buf.copy_within(head_len..filled, 0);
    filled -= head_len;

    let mut out = Vec::with_capacity(READ_BUF);
    let mut frames = Frames::default();
    loop {
        let (consumed, end) = frames.process(&mut buf[..filled], &mut out);
        if let Some(End::Error(code)) = end {
            push_frame(&mut out, OP_CLOSE, &code.to_be_bytes());
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if end.is_some() {
            let _ = stream.shutdown().await;
            return;
        }
        // Keep the partial frame at the end for the next read; make room if it fills the
        // buffer (`process` has already refused frames longer than `MAX_MESSAGE`).
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    }
}

/// Reads the request head into `buf` and answers it. On success the 101 has been sent and
/// the result is (length of the head, bytes in `buf`); on failure an error response has
/// been sent (if there was a request at all) and the connection should be closed.
async fn handshake(stream: &mut TcpStream, buf: &mut [u8]) -> Option<(usize, usize)> {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buf[filled..]).await.ok()?;
        if n == 0 {
            return None;
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let response = match request.parse(&buf[..filled]) {
            Ok(httparse::Status::Complete(head_len)) => match upgrade(&request) {
                Ok(accept) => {
                    let response = format!(
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                    );
                    stream.write_all(response.as_bytes()).await.ok()?;
                    return Some((head_len, filled));
                }
                Err(response) => response,
            },
            Ok(httparse::Status::Partial) if filled < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => HEAD_TOO_LARGE,
            Err(_) => BAD_REQUEST,
        };
        let _ = stream.write_all(response).await;
        return None;
    }
}

/// Checks that `request` asks for a WebSocket upgrade; its `Sec-WebSocket-Accept`, or the
/// response that refuses it.
fn upgrade(request: &httparse::Request) -> Result<String, &'static [u8]> {
    if request.method != Some("GET") || request.version != Some(1) {
        return Err(BAD_REQUEST);
    }
    let (mut key, mut version, mut upgrade, mut connection) = (None, None, false, false);
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("sec-websocket-key") {
            key = Some(header.value);
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            version = Some(header.value);
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(header.value, "websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= has_token(header.value, "upgrade");
        }
    }
    if !upgrade || !connection {
        return Err(BAD_REQUEST);
    }
    if version.map(<[u8]>::trim_ascii) != Some(b"13") {
        return Err(UPGRADE_REQUIRED);
    }
    // A key is the base64 of 16 bytes: 24 characters ending in "==".
    let key = key.map(<[u8]>::trim_ascii).ok_or(BAD_REQUEST)?;
    if key.len() != 24 || !key.ends_with(b"==") {
        return Err(BAD_REQUEST);
    }
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    Ok(base64(&sha1.finalize()))
}

/// Whether the comma-separated header `value` lists `token` (case-insensitive).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Standard base64 with padding.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Why a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The client closed; its close frame has been echoed.
    Closed,
    /// A protocol error: close with this code.
    Error(u16),
}

/// Per-connection frame state: the message being reassembled from fragments.
#[derive(Default)]
struct Frames {
    /// Opcode of the fragmented message in progress, `OP_CONTINUATION` if none.
    fragmented: u8,
    /// Its payload so far.
    message: Vec<u8>,
}

impl Frames {
    /// Handles every complete frame at the start of `buf` (unmasking it in place) and
    /// appends the replies to `out`. Returns how many bytes were consumed and, if the
    /// connection ends, why.
    fn process(&mut self, buf: &mut [u8], out: &mut Vec<u8>) -> (usize, Option<End>) {
        let mut pos = 0;
        loop {
            let rest = &mut buf[pos..];
            if rest.len() < 2 {
                return (pos, None);
            }
            let (b0, b1) = (rest[0], rest[1]);
            let fin = b0 & 0x80 != 0;
            let opcode = b0 & 0x0F;
            // No extension was negotiated, so RSV1-3 must be clear; client frames are masked.
            if b0 & 0x70 != 0 || b1 & 0x80 == 0 {
                return (pos, Some(End::Error(CLOSE_PROTOCOL_ERROR)));
            }
            let (len, header) = match b1 & 0x7F {
                126 if rest.len() < 4 => return (pos, None),
                126 => (u64::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
                127 if rest.len() < 10 => return (pos, None),
                127 => {
                    let len = u64::from_be_bytes(rest[2..10].try_into().expect("8 bytes"));
                    if len >> 63 != 0 {
                        return (pos, Some(End::Error(CLOSE_PROTOCOL_ERROR)));
                    }
                    (len, 10)
                }
                n => (u64::from(n), 2),
            };
            let control = opcode & 0x08 != 0;
            if control && (!fin || len > 125) {
                return (pos, Some(End::Error(CLOSE_PROTOCOL_ERROR)));
            }
            if len > MAX_MESSAGE as u64 {
                return (pos, Some(End::Error(CLOSE_TOO_BIG)));
            }
            let len = len as usize;
            let total = header + 4 + len;
            if rest.len() < total {
                return (pos, None);
            }
            let mask: [u8; 4] = rest[header..header + 4].try_into().expect("4 bytes");
            let payload = &mut rest[header + 4..total];
            unmask(payload, mask);
            pos += total;

            match opcode {
                OP_TEXT | OP_BINARY => {
                    if self.fragmented != OP_CONTINUATION {
                        return (pos, Some(End::Error(CLOSE_PROTOCOL_ERROR)));
                    }
                    if fin {
                        if opcode == OP_TEXT && std::str::from_utf8(payload).is_err() {
                            return (pos, Some(End::Error(CLOSE_INVALID_PAYLOAD)));
                        }
                        push_frame(out, opcode, payload);
                    } else {
                        self.fragmented = opcode;
                        self.message.clear();
                        self.message.extend_from_slice(payload);
                    }
                }
                OP_CONTINUATION => {
                    if self.fragmented == OP_CONTINUATION {
                        return (pos, Some(End::Error(CLOSE_PROTOCOL_ERROR)));
                    }
                    if self.message.len() + len > MAX_MESSAGE {
                        return (pos, Some(End::Error(CLOSE_TOO_BIG)));
                    }
                    self.message.extend_from_slice(payload);
                    if fin {
                        let opcode = std::mem::replace(&mut self.fragmented, OP_CONTINUATION);
                        if opcode == OP_TEXT && std::str::from_utf8(&self.message).is_err() {
                            return (pos, Some(End::Error(CLOSE_INVALID_PAYLOAD)));
                        }
                        push_frame(out, opcode, &self.message);
                        self.message.clear();
                    }
                }
                OP_CLOSE => {
                    if let Some(code) = close_error(payload) {
                        return (pos, Some(End::Error(code)));
                    }
                    push_frame(out, OP_CLOSE, payload);
                    return (pos, Some(End::Closed));
                }
                OP_PING => push_frame(out, OP_PONG, payload),
                OP_PONG => {}
                _ => return (pos, Some(End::Error(CLOSE_PROTOCOL_ERROR))),
            }
        }
    }
}

/// The close code to answer a malformed close frame's `payload` with, `None` if it is fine:
/// empty, or a valid status code followed by a UTF-8 reason.
fn close_error(payload: &[u8]) -> Option<u16> {
    match payload {
        [] => None,
        [_] => Some(CLOSE_PROTOCOL_ERROR),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999) {
                Some(CLOSE_PROTOCOL_ERROR)
            } else if std::str::from_utf8(reason).is_err() {
                Some(CLOSE_INVALID_PAYLOAD)
            } else {
                None
            }
        }
    }
}

/// XORs `payload` with the repeating 4-byte `mask`, eight bytes at a time.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let [m0, m1, m2, m3] = mask;
    let word = u64::from_ne_bytes([m0, m1, m2, m3, m0, m1, m2, m3]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let value = u64::from_ne_bytes((&*chunk).try_into().expect("8 bytes")) ^ word;
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so of 4: the mask starts over.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// Appends one unmasked, final frame with `opcode` and `payload` to `out`.
fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}
