//! The client side, without a heap: requests and masked frames built into fixed buffers,
//! the frames the server is expected to write, and the loops a transport runs (feed, write the
//! output, resume). The same helpers as `tests/support/mod.rs` on the host.

use crate::check::{Failure, Outcome};
use core::fmt::Write as _;
use wsgate::Server;
use wsgate::gateway::ClientId;
use wsgate::protocol::frame::{MAX_HEADER_LEN, OpCode, encode_frame, parse_header};

/// Bytes built or collected by a test (requests, frames, what the server wrote).
pub type Bytes = heapless::Vec<u8, 8192>;

/// The RFC 6455 §1.3 sample key and its accept value.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The exact 101 the server sends for [`SAMPLE_KEY`] without a subprotocol.
pub const SAMPLE_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
\r\n";

/// The masking key used by [`frame`].
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The pieces, one after the other. A harness bug (not a failure of the core) when they do
/// not fit: that panics, which ends the run with exit code 1.
pub fn cat(parts: &[&[u8]]) -> Bytes {
    let mut out = Bytes::new();
    for p in parts {
        out.extend_from_slice(p).expect("Bytes capacity");
    }
    out
}

/// A well-formed upgrade request for `path` with `key`.
pub fn upgrade_request(path: &str, key: &str) -> Bytes {
    cat(&[
        b"GET ",
        path.as_bytes(),
        b" HTTP/1.1\r\nHost: device.local\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: ",
        key.as_bytes(),
        b"\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ])
}

/// A request head from a request line and header lines (each without CRLF).
pub fn request(line: &str, headers: &[&str]) -> Bytes {
    let mut out = cat(&[line.as_bytes(), b"\r\n"]);
    for h in headers {
        out.extend_from_slice(h.as_bytes()).expect("Bytes capacity");
        out.extend_from_slice(b"\r\n").expect("Bytes capacity");
    }
    out.extend_from_slice(b"\r\n").expect("Bytes capacity");
    out
}

/// An HTTP refusal as wsgate writes it.
pub fn http(status: &str, extra_headers: &str, body: &str) -> Bytes {
    let mut s: heapless::String<1024> = heapless::String::new();
    write!(
        s,
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    )
    .expect("String capacity");
    cat(&[s.as_bytes()])
}

/// A masked client frame written into `buf` (for frames larger than [`Bytes`]).
pub fn frame_into<'b>(
    buf: &'b mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: [u8; 4],
    payload: &[u8],
) -> &'b [u8] {
    let n = encode_frame(buf, fin, opcode, Some(mask), payload).expect("frame buffer size");
    &buf[..n]
}

/// A masked client frame with this key.
pub fn frame_with_mask(fin: bool, opcode: OpCode, mask: [u8; 4], payload: &[u8]) -> Bytes {
    let mut buf = [0u8; 8192];
    assert!(
        payload.len() + MAX_HEADER_LEN <= buf.len(),
        "frame too big for Bytes"
    );
    cat(&[frame_into(&mut buf, fin, opcode, mask, payload)])
}

/// A masked client frame.
pub fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Bytes {
    frame_with_mask(fin, opcode, MASK, payload)
}

/// A masked final text frame.
pub fn text(payload: &[u8]) -> Bytes {
    frame(true, OpCode::Text, payload)
}

/// A masked close frame with a code and reason.
pub fn close(code: u16, reason: &[u8]) -> Bytes {
    frame(true, OpCode::Close, &cat(&[&code.to_be_bytes(), reason]))
}

/// A frame written raw: first byte `b0`, then the masked payload with the minimal length.
/// For reserved opcodes and RSV bits, which `encode_frame` cannot express.
pub fn raw_frame(b0: u8, payload: &[u8]) -> Bytes {
    let mut f = frame(true, OpCode::Binary, payload);
    f[0] = b0;
    f
}

/// The header of an unmasked server frame as the server writes it (minimal length).
pub fn server_header(opcode: u8, len: usize) -> heapless::Vec<u8, 10> {
    let mut h = heapless::Vec::new();
    let _ = h.push(0x80 | opcode);
    match len {
        0..=125 => {
            let _ = h.push(len as u8);
        }
        126..=65_535 => {
            let _ = h.push(126);
            let _ = h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            let _ = h.push(127);
            let _ = h.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    h
}

/// A whole unmasked server frame.
pub fn server_frame(opcode: u8, payload: &[u8]) -> Bytes {
    cat(&[&server_header(opcode, payload.len()), payload])
}

/// The close frame the server writes when it fails a connection.
pub fn fail_frame(code: u16) -> Bytes {
    let reason: &[u8] = match code {
        1002 => b"protocol error",
        1007 => b"invalid UTF-8",
        1009 => b"message too big",
        _ => b"?",
    };
    server_frame(8, &cat(&[&code.to_be_bytes(), reason]))
}

/// An `{"event":"echo","data":"xxx…"}` message of exactly `len` bytes (`len >= 26`) in `buf`.
pub fn echo_message_into(buf: &mut [u8], len: usize) -> &[u8] {
    const HEAD: &[u8] = br#"{"event":"echo","data":""#;
    const TAIL: &[u8] = br#""}"#;
    let m = &mut buf[..len];
    m.fill(b'x');
    m[..HEAD.len()].copy_from_slice(HEAD);
    m[len - TAIL.len()..].copy_from_slice(TAIL);
    m
}

/// [`echo_message_into`] for messages that fit [`Bytes`].
pub fn echo_message(len: usize) -> Bytes {
    let mut buf = [0u8; 8192];
    cat(&[echo_message_into(&mut buf, len)])
}

/// `prefix` (an unfinished JSON object) padded with spaces and closed to exactly `len` bytes.
pub fn padded(prefix: &str, len: usize) -> Bytes {
    let mut m = cat(&[prefix.as_bytes()]);
    m.resize(len - 1, b' ').expect("Bytes capacity");
    m.push(b'}').expect("Bytes capacity");
    m
}

/// Where the server's output goes while a test drives it.
pub trait Sink {
    fn take(&mut self, bytes: &[u8]) -> Outcome;
}

impl Sink for Bytes {
    fn take(&mut self, bytes: &[u8]) -> Outcome {
        if self.extend_from_slice(bytes).is_err() {
            return Err(Failure {
                file: file!(),
                line: line!(),
                what: "the server wrote more than the test's output buffer holds",
            });
        }
        Ok(())
    }
}

/// Compares the output as it comes with the bytes expected (for outputs too large to copy).
pub struct Expect<'a> {
    pub want: &'a [u8],
    pub pos: usize,
    pub mismatch: Option<usize>,
}

impl<'a> Expect<'a> {
    /// Expects exactly `want`; after the run, `mismatch` is where it first differed (None
    /// when it did not) and `pos` how many bytes came.
    pub fn new(want: &'a [u8]) -> Self {
        Expect {
            want,
            pos: 0,
            mismatch: None,
        }
    }
}

impl Sink for Expect<'_> {
    fn take(&mut self, bytes: &[u8]) -> Outcome {
        let end = self.pos + bytes.len();
        let want = self.want.get(self.pos..end);
        if self.mismatch.is_none() && want != Some(bytes) {
            let at = match want {
                Some(w) => w.iter().zip(bytes).position(|(a, b)| a != b).unwrap_or(0),
                None => self.want.len().saturating_sub(self.pos),
            };
            self.mismatch = Some(self.pos + at);
        }
        self.pos = end;
        Ok(())
    }
}

/// Takes everything the server has for `id` (looping, as a transport writes).
pub fn drain_into<const N: usize, const RX: usize, const TX: usize, const G: usize>(
    server: &mut Server<'_, N, RX, TX, G>,
    id: ClientId,
    sink: &mut dyn Sink,
) -> Outcome {
    loop {
        let out = server.output(id);
        if out.is_empty() {
            return Ok(());
        }
        if out.len() > TX {
            return Err(Failure {
                file: file!(),
                line: line!(),
                what: "output longer than the transmit buffer",
            });
        }
        sink.take(out)?;
        let n = out.len();
        server.consume(id, n);
    }
}

/// Everything the server has for `id`.
pub fn drain<const N: usize, const RX: usize, const TX: usize, const G: usize>(
    server: &mut Server<'_, N, RX, TX, G>,
    id: ClientId,
) -> Result<Bytes, Failure> {
    let mut out = Bytes::new();
    drain_into(server, id, &mut out)?;
    Ok(out)
}

/// Feeds all of `bytes` as a transport does: feed, write the output, resume a message that
/// waited for transmit room, feed the rest. The output goes to `sink`.
pub fn feed_all_into<const N: usize, const RX: usize, const TX: usize, const G: usize>(
    server: &mut Server<'_, N, RX, TX, G>,
    id: ClientId,
    mut bytes: &[u8],
    now: u64,
    sink: &mut dyn Sink,
) -> Outcome {
    loop {
        let n = if bytes.is_empty() {
            0
        } else {
            match server.feed(id, bytes, now) {
                Ok(n) => n,
                Err(_) => {
                    return Err(Failure {
                        file: file!(),
                        line: line!(),
                        what: "feed: unknown client",
                    });
                }
            }
        };
        if n > bytes.len() {
            return Err(Failure {
                file: file!(),
                line: line!(),
                what: "feed used more bytes than it was given",
            });
        }
        bytes = &bytes[n..];
        let had_output = !server.output(id).is_empty();
        drain_into(server, id, sink)?;
        let resumed = server.resume(id, now).unwrap_or(false);
        if bytes.is_empty() && !resumed {
            break;
        }
        if n == 0 && !had_output && !resumed {
            return Err(Failure {
                file: file!(),
                line: line!(),
                what: "the server made no progress with input left",
            });
        }
    }
    drain_into(server, id, sink)
}

/// [`feed_all_into`], collecting the output.
pub fn feed_all<const N: usize, const RX: usize, const TX: usize, const G: usize>(
    server: &mut Server<'_, N, RX, TX, G>,
    id: ClientId,
    bytes: &[u8],
    now: u64,
) -> Result<Bytes, Failure> {
    let mut out = Bytes::new();
    feed_all_into(server, id, bytes, now, &mut out)?;
    Ok(out)
}

/// Accepts a client and completes its upgrade on `path` at time `now`; the 101 is consumed.
pub fn connect<const N: usize, const RX: usize, const TX: usize, const G: usize>(
    server: &mut Server<'_, N, RX, TX, G>,
    path: &str,
    now: u64,
) -> Result<ClientId, Failure> {
    let id = ok!(server.accept(now));
    let req = upgrade_request(path, SAMPLE_KEY);
    check_eq!(server.feed(id, &req, now), Ok(req.len()));
    let out = drain(server, id)?;
    check_bytes!(out, SAMPLE_101);
    Ok(id)
}

/// One frame the server wrote: opcode, FIN and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerFrame<'a> {
    pub fin: bool,
    pub opcode: OpCode,
    pub payload: &'a [u8],
}

/// Splits a byte stream of complete unmasked server frames; `None` when it is anything else
/// (a masked or truncated frame, or more than 16 frames).
pub fn parse_frames(mut bytes: &[u8]) -> Option<heapless::Vec<ServerFrame<'_>, 16>> {
    let mut out = heapless::Vec::new();
    while !bytes.is_empty() {
        let (h, hlen) = parse_header(bytes, false).ok()??;
        let len = usize::try_from(h.payload_len).ok()?;
        let payload = bytes.get(hlen..hlen.checked_add(len)?)?;
        out.push(ServerFrame {
            fin: h.fin,
            opcode: h.opcode,
            payload,
        })
        .ok()?;
        bytes = &bytes[hlen + len..];
    }
    Some(out)
}

/// The close code of the last frame in `bytes`, when that is a close frame with a code.
pub fn parse_close_code(bytes: &[u8]) -> Option<u16> {
    let frames = parse_frames(bytes)?;
    let last = frames.last()?;
    match (last.opcode, last.payload) {
        (OpCode::Close, [hi, lo, ..]) => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}
