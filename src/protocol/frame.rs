//! WebSocket base framing: frame headers, masking and whole-frame encoding
//! (RFC 6455 §5.2 base framing, §5.3 masking, §5.4 fragmentation rules, §5.5 control frames).
//!
//! Pure functions over byte slices: [`parse_header`] reads a header from whatever is buffered
//! (returning `Ok(None)` until it is complete, so a header split across any number of reads
//! works) and refuses every header RFC 6455 forbids, checking as early as the buffered bytes
//! allow; [`encode_header`] and [`encode_frame`] write frames with minimal length encoding;
//! [`apply_mask`] and [`unmask_into`] apply the masking key a word at a time and can resume
//! anywhere inside a payload.
//!
//! Payload lengths stay `u64` here: they are never converted to `usize`, so the caller checks
//! them against its message limit (also on 32-bit targets) before reading the payload.
//!
//! This module never allocates, never panics, never reads a payload, never tracks
//! fragmentation state across frames (the connection does) and never negotiates extensions
//! (any RSV bit is refused).

use core::fmt;

use super::close::CloseCode;

/// Frame opcode (RFC 6455 §5.2, §11.8). Reserved opcodes (3-7, 11-15) are not representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continuation of a fragmented message.
    Continuation = 0,
    /// 0x1: first frame of a text message.
    Text = 1,
    /// 0x2: first frame of a binary message.
    Binary = 2,
    /// 0x8: connection close (control).
    Close = 8,
    /// 0x9: ping (control).
    Ping = 9,
    /// 0xA: pong (control).
    Pong = 10,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for a reserved value (3-7, 11-15) or a value
    /// above 15.
    pub const fn from_u8(v: u8) -> Option<OpCode> {
        match v {
            0 => Some(OpCode::Continuation),
            1 => Some(OpCode::Text),
            2 => Some(OpCode::Binary),
            8 => Some(OpCode::Close),
            9 => Some(OpCode::Ping),
            10 => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// `true` for control frames (Close, Ping, Pong): at most 125 bytes, never fragmented.
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x08 != 0
    }

    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

/// A parsed frame header (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// The masking key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes, as sent (below 2^63). Check it against your limit before
    /// converting it to `usize`.
    pub payload_len: u64,
}

/// Why a frame header is refused. All of these are protocol errors: fail the connection with
/// close code 1002 ([`FrameError::close_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// An RSV1-3 bit is set, but no extension was negotiated.
    ReservedBits,
    /// The opcode (carried here, 3-7 or 11-15) is reserved.
    ReservedOpcode(u8),
    /// A server received a frame without the MASK bit; client frames must be masked.
    Unmasked,
    /// A client received a frame with the MASK bit set; server frames must not be masked.
    MaskedFromServer,
    /// A control frame announces more than 125 payload bytes. Carries the 7-bit length field
    /// (126 or 127: an extended length follows), which is checked before the extended length
    /// is read, so the error is the same however the header is split across reads.
    ControlTooLong(u64),
    /// A control frame without FIN: control frames must not be fragmented.
    FragmentedControl,
    /// The most significant bit of a 64-bit payload length is set.
    LengthHighBit,
}

impl FrameError {
    /// The close code to fail the connection with: always 1002 (protocol error).
    pub const fn close_code(&self) -> CloseCode {
        CloseCode::PROTOCOL_ERROR
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedBits => f.write_str(
                "frame has an RSV bit set but no extension was negotiated (is the peer using permessage-deflate?)",
            ),
            FrameError::ReservedOpcode(op) => {
                write!(f, "frame uses reserved opcode {op:#x}")
            }
            FrameError::Unmasked => {
                f.write_str("client frame is not masked; clients must mask every frame")
            }
            FrameError::MaskedFromServer => {
                f.write_str("server frame is masked; servers must not mask frames")
            }
            FrameError::ControlTooLong(len) => write!(
                f,
                "control frame announces an extended payload length (7-bit length field {len}); control frames carry at most 125 bytes"
            ),
            FrameError::FragmentedControl => {
                f.write_str("control frame has FIN clear; control frames must not be fragmented")
            }
            FrameError::LengthHighBit => {
                f.write_str("frame's 64-bit payload length has its most significant bit set")
            }
        }
    }
}

impl core::error::Error for FrameError {}

/// The longest frame header: 2 bytes + 8-byte extended length + 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

const FIN_BIT: u8 = 0x80;
const RSV_BITS: u8 = 0x70;
const OPCODE_BITS: u8 = 0x0F;
const MASK_BIT: u8 = 0x80;
const LEN7_BITS: u8 = 0x7F;

/// Header length implied by the second header byte: 2, 4 or 10, plus 4 with the MASK bit.
const fn header_len_from_byte1(b1: u8) -> usize {
    let ext = match b1 & LEN7_BITS {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if b1 & MASK_BIT != 0 { 4 } else { 0 };
    2 + ext + mask
}

/// How many header bytes are needed given what is buffered so far: 2 if fewer than 2 bytes
/// are buffered; otherwise the exact header length read from byte 1 (2, 4 or 10, plus 4 when
/// the MASK bit is set). Never more than [`MAX_HEADER_LEN`].
pub fn header_len_needed(buf: &[u8]) -> usize {
    match buf.get(1) {
        Some(&b1) => header_len_from_byte1(b1),
        None => 2,
    }
}

/// Parses a frame header at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some((header, header_len)))` on success
/// (the payload starts at `buf[header_len]`).
///
/// `expect_masked`: `true` on a server (client frames must be masked, else
/// [`FrameError::Unmasked`]); `false` on a client (server frames must not be masked, else
/// [`FrameError::MaskedFromServer`]).
///
/// Checks, in this order, each as soon as the bytes it needs are buffered: RSV1-3 clear;
/// opcode known; MASK bit; for control frames FIN set and length at most 125 (from the 7-bit
/// length, before any extended length is read); the high bit of a 64-bit length clear. So a
/// header delivered in any split gives the same result as delivered whole.
///
/// Does not check that the length uses the minimal encoding (a longer one is accepted), nor
/// anything that depends on earlier frames (a continuation with no message started, a new
/// message inside a fragmented one).
pub fn parse_header(
    buf: &[u8],
    expect_masked: bool,
) -> Result<Option<(FrameHeader, usize)>, FrameError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    if b0 & RSV_BITS != 0 {
        return Err(FrameError::ReservedBits);
    }
    let op = b0 & OPCODE_BITS;
    let Some(opcode) = OpCode::from_u8(op) else {
        return Err(FrameError::ReservedOpcode(op));
    };
    let fin = b0 & FIN_BIT != 0;

    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    let masked = b1 & MASK_BIT != 0;
    match (expect_masked, masked) {
        (true, false) => return Err(FrameError::Unmasked),
        (false, true) => return Err(FrameError::MaskedFromServer),
        _ => {}
    }
    let len7 = b1 & LEN7_BITS;
    if opcode.is_control() {
        if !fin {
            return Err(FrameError::FragmentedControl);
        }
        if len7 > 125 {
            return Err(FrameError::ControlTooLong(u64::from(len7)));
        }
    }
    // Fail fast on the 64-bit length's high bit as soon as its first byte is here.
    if len7 == 127 && buf.get(2).is_some_and(|&b| b & 0x80 != 0) {
        return Err(FrameError::LengthHighBit);
    }

    let header_len = header_len_from_byte1(b1);
    let Some(header) = buf.get(..header_len) else {
        return Ok(None);
    };
    let Some((_, rest)) = header.split_at_checked(2) else {
        return Ok(None);
    };
    let (payload_len, rest) = match len7 {
        126 => match rest.split_first_chunk::<2>() {
            Some((ext, rest)) => (u64::from(u16::from_be_bytes(*ext)), rest),
            None => return Ok(None),
        },
        127 => match rest.split_first_chunk::<8>() {
            Some((ext, rest)) => (u64::from_be_bytes(*ext), rest),
            None => return Ok(None),
        },
        n => (u64::from(n), rest),
    };
    if payload_len >> 63 != 0 {
        return Err(FrameError::LengthHighBit);
    }
    let mask = if masked {
        match rest.first_chunk::<4>() {
            Some(key) => Some(*key),
            None => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some((
        FrameHeader {
            fin,
            opcode,
            mask,
            payload_len,
        },
        header_len,
    )))
}

/// Length of the header that [`encode_header`] writes: 2, 4 or 10 bytes (minimal length
/// encoding), plus 4 when `masked`.
pub const fn header_len(payload_len: u64, masked: bool) -> usize {
    let base = if payload_len <= 125 {
        2
    } else if payload_len <= 0xFFFF {
        4
    } else {
        10
    };
    if masked { base + 4 } else { base }
}

/// Writes a frame header into `out` with minimal length encoding; returns the number of
/// bytes written ([`header_len`]), or `None` if `out` is too small or `payload_len` is
/// 2^63 or more (not encodable).
///
/// Does not enforce the control-frame rules (FIN set, at most 125 bytes): the caller decides
/// what to send.
pub fn encode_header(
    out: &mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload_len: u64,
) -> Option<usize> {
    if payload_len >> 63 != 0 {
        return None;
    }
    let len = header_len(payload_len, mask.is_some());
    let out = out.get_mut(..len)?;
    let (first, rest) = out.split_first_chunk_mut::<2>()?;
    first[0] = if fin { FIN_BIT } else { 0 } | opcode.as_u8();
    let mask_bit = if mask.is_some() { MASK_BIT } else { 0 };
    let rest = if payload_len <= 125 {
        // Fits in 7 bits: the cast cannot truncate.
        first[1] = mask_bit | payload_len as u8;
        rest
    } else if let Ok(len16) = u16::try_from(payload_len) {
        first[1] = mask_bit | 126;
        let (ext, rest) = rest.split_first_chunk_mut::<2>()?;
        *ext = len16.to_be_bytes();
        rest
    } else {
        first[1] = mask_bit | 127;
        let (ext, rest) = rest.split_first_chunk_mut::<8>()?;
        *ext = payload_len.to_be_bytes();
        rest
    };
    if let Some(key) = mask {
        let k = rest.first_chunk_mut::<4>()?;
        *k = key;
    }
    Some(len)
}

/// The masking key rotated so that its first byte applies at payload position `offset`,
/// repeated twice: the mask of 8 payload bytes, as a little-endian word.
#[inline]
fn mask_word(key: [u8; 4], offset: u64) -> u64 {
    // `offset % 4` is at most 3: the cast cannot truncate. Rotating the little-endian
    // value right by 8 bits moves each key byte one position earlier.
    let k = u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32);
    u64::from(k) | (u64::from(k) << 32)
}

/// XORs `buf` in place with the masking key `key` (RFC 6455 §5.3), where `offset` is the
/// position of `buf[0]` within the frame's payload, so unmasking can resume across reads.
///
/// Masking and unmasking are the same operation. Works 8 bytes at a time (which LLVM
/// widens to vector registers); correct for any alignment, length and offset.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: u64) {
    let word = mask_word(key, offset);
    let (chunks, tail) = buf.as_chunks_mut::<8>();
    for chunk in chunks {
        *chunk = (u64::from_le_bytes(*chunk) ^ word).to_le_bytes();
    }
    // The tail starts at a multiple of 8 bytes from `buf[0]`, so the key phase is that of
    // `buf[0]` again.
    for (b, m) in tail.iter_mut().zip(word.to_le_bytes()) {
        *b ^= m;
    }
}

/// Copies `src` into `dst[..n]`, unmasking on the way (same `offset` semantics as
/// [`apply_mask`]), where `n = min(src.len(), dst.len())`; returns `n`.
pub fn unmask_into(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: u64) -> usize {
    let n = dst.len().min(src.len());
    let (Some(dst), Some(src)) = (dst.get_mut(..n), src.get(..n)) else {
        return 0;
    };
    let word = mask_word(key, offset);
    let (dchunks, dtail) = dst.as_chunks_mut::<8>();
    let (schunks, stail) = src.as_chunks::<8>();
    for (d, s) in dchunks.iter_mut().zip(schunks) {
        *d = (u64::from_le_bytes(*s) ^ word).to_le_bytes();
    }
    for ((d, s), m) in dtail.iter_mut().zip(stail).zip(word.to_le_bytes()) {
        *d = *s ^ m;
    }
    n
}

/// Encodes a whole frame (header, then the payload, masked with `mask` when it is `Some`)
/// into `out`; returns its length, or `None` if it does not fit (nothing useful is written
/// then).
///
/// Like [`encode_header`], does not enforce the control-frame rules.
pub fn encode_frame(
    out: &mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Option<usize> {
    let payload_len = u64::try_from(payload.len()).ok()?;
    let hlen = header_len(payload_len, mask.is_some());
    let total = hlen.checked_add(payload.len())?;
    let out = out.get_mut(..total)?;
    encode_header(out, fin, opcode, mask, payload_len)?;
    let body = out.get_mut(hlen..)?;
    match mask {
        Some(key) => {
            unmask_into(body, payload, key, 0);
        }
        None => body.copy_from_slice(payload),
    }
    Some(total)
}

#[cfg(test)]
mod tests;
