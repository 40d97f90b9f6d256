//! A tiny client-side codec and driver helpers for the sans-IO tests.
//!
//! Client frames are built with `wsgate::protocol::frame::encode_frame` (masked, as a client
//! must); server frames are parsed with `parse_header(.., false)` (a server frame carrying a
//! mask is an error here). Everything allocates freely: it runs outside the code under test.
#![allow(dead_code)]

pub mod raw;

use wsgate::Server;
use wsgate::gateway::ClientId;
use wsgate::protocol::frame::{MAX_HEADER_LEN, OpCode, encode_frame, parse_header};

/// The RFC 6455 §1.3 sample key and its accept value.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The exact 101 the server sends for [`SAMPLE_KEY`] without a subprotocol.
pub const SAMPLE_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
\r\n";

/// The masking key used by [`frame`] unless told otherwise.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A well-formed upgrade request for `path` with `key`.
pub fn upgrade_request(path: &str, key: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: device.local\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// A request head from a request line and header lines (each without CRLF).
pub fn request(line: &str, headers: &[&str]) -> Vec<u8> {
    let mut s = String::from(line);
    s.push_str("\r\n");
    for h in headers {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A masked client frame.
pub fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    frame_with_mask(fin, opcode, MASK, payload)
}

/// A masked client frame with this key.
pub fn frame_with_mask(fin: bool, opcode: OpCode, mask: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; payload.len() + MAX_HEADER_LEN];
    let n = encode_frame(&mut out, fin, opcode, Some(mask), payload).expect("frame fits");
    out.truncate(n);
    out
}

/// A masked final text frame.
pub fn text(payload: &[u8]) -> Vec<u8> {
    frame(true, OpCode::Text, payload)
}

/// A masked close frame with a code and reason.
pub fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    frame(true, OpCode::Close, &p)
}

/// A frame written raw: first byte `b0`, then the masked payload with the minimal length.
/// For reserved opcodes and RSV bits, which `encode_frame` cannot express.
pub fn raw_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = frame(true, OpCode::Binary, payload);
    f[0] = b0;
    f
}

/// One frame the server sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFrame {
    pub fin: bool,
    pub opcode: OpCode,
    pub payload: Vec<u8>,
    /// The header bytes exactly as sent.
    pub header: Vec<u8>,
}

impl ServerFrame {
    /// The close code of a close frame (None when the payload is empty).
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, OpCode::Close, "not a close frame: {self:?}");
        match self.payload.as_slice() {
            [] => None,
            [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
            _ => panic!("one-byte close payload from the server"),
        }
    }

    /// The close reason of a close frame.
    pub fn close_reason(&self) -> &str {
        std::str::from_utf8(self.payload.get(2..).unwrap_or(&[])).expect("UTF-8 reason")
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.payload).expect("UTF-8 text frame")
    }
}

/// Parses a byte stream of complete unmasked server frames. Panics on anything else.
pub fn parse_frames(mut bytes: &[u8]) -> Vec<ServerFrame> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (h, hlen) = parse_header(bytes, false)
            .expect("valid server frame header")
            .expect("complete server frame header");
        let len = usize::try_from(h.payload_len).unwrap();
        let end = hlen + len;
        assert!(end <= bytes.len(), "truncated server frame");
        out.push(ServerFrame {
            fin: h.fin,
            opcode: h.opcode,
            payload: bytes[hlen..end].to_vec(),
            header: bytes[..hlen].to_vec(),
        });
        bytes = &bytes[end..];
    }
    out
}

/// Takes everything the server has for `id` (looping, for pages streamed through TX).
pub fn drain<const N: usize, const RX: usize, const TX: usize, const G: usize>(
    server: &mut Server<'_, N, RX, TX, G>,
    id: ClientId,
) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        let out = server.output(id);
        if out.is_empty() {
            return all;
        }
        assert!(out.len() <= TX);
        all.extend_from_slice(out);
        let n = out.len();
        server.consume(id, n);
    }
}

/// Drains and parses the server's frames for `id`.
pub fn frames<const N: usize, const RX: usize, const TX: usize, const G: usize>(
    server: &mut Server<'_, N, RX, TX, G>,
    id: ClientId,
) -> Vec<ServerFrame> {
    parse_frames(&drain(server, id))
}

/// Feeds all of `bytes`, draining the output between calls when the server stops early;
/// returns everything the server wrote meanwhile.
pub fn feed_all<const N: usize, const RX: usize, const TX: usize, const G: usize>(
    server: &mut Server<'_, N, RX, TX, G>,
    id: ClientId,
    mut bytes: &[u8],
    now: u64,
) -> Vec<u8> {
    // What a transport does: feed, write the output, resume a message that waited for
    // transmit room, and feed the rest.
    let mut out = Vec::new();
    loop {
        let n = if bytes.is_empty() {
            0
        } else {
            server.feed(id, bytes, now).expect("known client")
        };
        assert!(n <= bytes.len());
        bytes = &bytes[n..];
        let more = drain(server, id);
        out.extend_from_slice(&more);
        let resumed = server.resume(id, now).unwrap_or(false);
        if bytes.is_empty() && !resumed {
            break;
        }
        if n == 0 && more.is_empty() && !resumed {
            panic!("server made no progress with {} bytes left", bytes.len());
        }
    }
    out.extend_from_slice(&drain(server, id));
    out
}

/// Accepts a client and completes its upgrade on `path` at time `now`; the 101 is consumed.
pub fn connect<const N: usize, const RX: usize, const TX: usize, const G: usize>(
    server: &mut Server<'_, N, RX, TX, G>,
    path: &str,
    now: u64,
) -> ClientId {
    let id = server.accept(now).expect("a free slot");
    let req = upgrade_request(path, SAMPLE_KEY);
    assert_eq!(server.feed(id, &req, now), Ok(req.len()));
    let out = drain(server, id);
    assert!(
        out.starts_with(SAMPLE_101),
        "expected a 101, got {:?}",
        String::from_utf8_lossy(&out)
    );
    id
}

/// An `{"event":"echo","data":"xxx…"}` message of exactly `len` bytes (`len >= 26`).
pub fn echo_message(len: usize) -> Vec<u8> {
    const OVERHEAD: usize = br#"{"event":"echo","data":""}"#.len();
    assert!(len >= OVERHEAD);
    let mut m = br#"{"event":"echo","data":""#.to_vec();
    m.extend(std::iter::repeat_n(b'x', len - OVERHEAD));
    m.extend_from_slice(br#""}"#);
    assert_eq!(m.len(), len);
    m
}

/// Runs `f` on a thread with a 64 MiB stack (for servers with large buffers in debug builds).
pub fn big_stack<F: FnOnce() + Send + 'static>(f: F) {
    let handle = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(f)
        .expect("spawn");
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}
