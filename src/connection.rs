//! One client's sans-IO state machine (RFC 6455 §4 opening handshake, §5 framing, §7 closing).
//!
//! A [`Connection`] owns a receive buffer of `RX` bytes (the largest message it accepts, and
//! the room for the request head during the handshake) and a transmit buffer of `TX` bytes.
//! Bytes go in through [`Connection::feed`], bytes to send come out of
//! [`Connection::output`], and what happened comes back as an [`Event`]. It parses a request
//! head or a frame header split across any number of reads, reassembles fragmented messages,
//! validates text as UTF-8 as it arrives, answers pings, completes the close handshake and
//! fails the connection with 1002, 1007 or 1009 as RFC 6455 requires.
//!
//! It never allocates, never reads a clock (time comes in as milliseconds), never touches a
//! socket, and never decides what a request or a message means: that is the server's job.

use crate::protocol::close::{CloseCode, parse_close_payload};
use crate::protocol::frame::{self, FrameHeader, OpCode};
use crate::protocol::handshake;
use crate::protocol::http::{self, HttpError};
use crate::protocol::utf8::Utf8Validator;
use crate::stats::Counter;

/// Largest control frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Why a connection ended, as the server counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DisconnectCause {
    /// The peer started the close handshake and we answered it.
    Peer,
    /// We started the close handshake (application, server shutdown) and the peer answered.
    Server,
    /// The peer broke the protocol: we sent 1002 and dropped it.
    ProtocolError,
    /// A text message or close reason was not UTF-8: we sent 1007 and dropped it.
    InvalidUtf8,
    /// A message was larger than the receive buffer: we sent 1009 and dropped it.
    TooBig,
    /// The peer did not answer our ping in time (it vanished): dropped, reported as 1006.
    IdleTimeout,
    /// The peer did not answer our close frame in time: dropped, reported as 1006.
    CloseTimeout,
    /// The transport lost the TCP connection before a close handshake: reported as 1006.
    PeerGone,
    /// A message (or a frame) took longer than `Timeouts::message_ms` to arrive: we sent 1008
    /// and dropped the client, which was holding a slot with a trickle of bytes.
    MessageTimeout,
}

impl DisconnectCause {
    /// The [`Stats`](crate::Stats) counter of a connection that ended this way.
    pub(crate) const fn counter(self) -> Counter {
        match self {
            DisconnectCause::Peer => Counter::ClosedByPeer,
            DisconnectCause::Server => Counter::ClosedByServer,
            DisconnectCause::ProtocolError => Counter::ClosedProtocolError,
            DisconnectCause::InvalidUtf8 => Counter::ClosedInvalidUtf8,
            DisconnectCause::TooBig => Counter::ClosedTooBig,
            DisconnectCause::IdleTimeout => Counter::ClosedIdle,
            DisconnectCause::CloseTimeout => Counter::ClosedCloseTimeout,
            DisconnectCause::PeerGone => Counter::ClosedPeerGone,
            DisconnectCause::MessageTimeout => Counter::ClosedMessageTimeout,
        }
    }
}

/// What a complete message is: text (UTF-8, checked on arrival) or binary.
///
/// The discriminants start at 1, so `Option<MessageKind>` is one byte and `None` is zero: a
/// connection or slot with no message is all zero bytes (a `static` of them lands in `.bss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum MessageKind {
    /// A text message (opcode 0x1): valid UTF-8.
    Text = 1,
    /// A binary message (opcode 0x2).
    Binary = 2,
}

impl MessageKind {
    /// The opcode of the message's first frame.
    pub const fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }
}

/// How a connection ended: the code reported to `handle_disconnect` and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Disconnect {
    /// The close code: the peer's code when it sent one (1005 when its close frame had none),
    /// the code we failed the connection with, or 1006 when there was no close handshake.
    pub code: CloseCode,
    /// Why the connection ended.
    pub cause: DisconnectCause,
}

/// What [`Connection::feed`] or [`Connection::poll`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event {
    /// A complete request head is in [`Connection::request_head`]. Answer it with
    /// [`Connection::accept`], [`Connection::refuse`] or [`Connection::serve_page`].
    Request,
    /// A complete message is in [`Connection::message`]. Call
    /// [`Connection::message_done`] when it has been handled.
    Message(MessageKind),
    /// A ping from us went out (for counters).
    PingSent,
    /// The request head did not arrive in time: a 408 is queued.
    HandshakeTimeout,
    /// The request head is larger than the head limit: a 431 is queued.
    HeadTooLarge,
    /// The WebSocket connection is over; flush [`Connection::output`] and close the socket.
    Closed(Disconnect),
}

/// The result of one [`Connection::feed`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "`consumed` says how much input was taken; the rest must be fed again"]
pub struct Feed {
    /// How many input bytes were used. The caller keeps the rest and feeds it again after
    /// handling `event` (or after flushing output when `event` is `None` and bytes are left).
    pub consumed: usize,
    /// What happened, if anything.
    pub event: Option<Event>,
}

/// Why a frame could not be queued for sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SendError {
    /// The transmit buffer has no room for this frame now (the peer reads slowly, or the
    /// frame is larger than the buffer). Nothing was queued.
    Full,
    /// The connection is not open (handshake not done, closing or closed).
    NotOpen,
    /// The value could not be serialised as JSON.
    Serialize,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::Full => "transmit buffer full: the frame does not fit now",
            SendError::NotOpen => "connection is not open",
            SendError::Serialize => {
                "not JSON in UTF-8: the value could not be written as a text frame"
            }
        })
    }
}

impl core::error::Error for SendError {}

/// Timer settings a connection needs, all in milliseconds. 0 disables a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timeouts {
    /// Time allowed from accept to a complete request head; then 408.
    pub handshake_ms: u32,
    /// Silence after which the server sends a ping.
    pub ping_interval_ms: u32,
    /// Time allowed for the pong (or any byte) after our ping; then the client is dropped.
    pub pong_timeout_ms: u32,
    /// Time allowed for the peer's close frame after ours; then the socket is closed.
    pub close_timeout_ms: u32,
    /// Time allowed for one message, from the first byte of its first frame to the last
    /// byte of its last (and for a control frame, from its first byte to its last); then
    /// the client is failed with 1008. Bytes that keep trickling in reset the idle timer
    /// but not this one, so a client cannot hold a slot by sending one byte now and then.
    pub message_ms: u32,
}

impl Timeouts {
    /// Handshake 5 s, ping after 30 s of silence, pong within 10 s, close within 2 s, a
    /// message within 10 s.
    pub const DEFAULT: Timeouts = Timeouts {
        handshake_ms: 5_000,
        ping_interval_ms: 30_000,
        pong_timeout_ms: 10_000,
        close_timeout_ms: 2_000,
        message_ms: 10_000,
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// Not in use.
    Idle,
    /// Reading the request head.
    Handshake,
    /// A complete request head waits for the server's answer.
    Request,
    /// WebSocket open.
    Open,
    /// We sent a close frame and wait for the peer's.
    Closing,
    /// Finished: flush the output, then close the socket.
    Closed,
}

/// The transmit buffer: frames are appended whole, the transport takes bytes from the front.
#[derive(Debug)]
pub(crate) struct TxBuf<const TX: usize> {
    buf: [u8; TX],
    start: usize,
    end: usize,
}

impl<const TX: usize> TxBuf<TX> {
    const fn new() -> Self {
        TxBuf {
            buf: [0; TX],
            start: 0,
            end: 0,
        }
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Bytes waiting to be sent.
    pub(crate) fn pending(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// Number of bytes waiting to be sent.
    pub(crate) fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True when nothing waits to be sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Room for new frames (after compaction).
    pub(crate) fn free(&self) -> usize {
        TX.saturating_sub(self.len())
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.clear();
        }
    }

    /// All free space as one slice, moving pending bytes to the front if needed.
    fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.buf.get_mut(self.end..).unwrap_or(&mut [])
    }

    fn commit(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(TX);
    }

    /// Appends one whole unmasked frame whose payload `fill` writes into the slice it is given
    /// (returning the payload length, or `None` when it does not fit).
    fn frame_with(
        &mut self,
        opcode: OpCode,
        fill: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
    ) -> Result<(), SendError> {
        let spare = self.spare();
        let room = spare.len();
        // The payload length is known only after `fill`: try the largest header the room
        // could need, and when the payload does not fit behind it, the next smaller header
        // (whose payload limit is lower but which leaves more room). Each tier is
        // (header length, largest payload it can carry).
        const TIERS: [(usize, usize); 3] = [(10, usize::MAX), (4, 65_535), (2, 125)];
        for (i, &(reserve, max)) in TIERS.iter().enumerate() {
            // A tier is worth trying only when the room exceeds what the next one covers.
            let smaller = TIERS.get(i + 1).map_or(0, |&(h, m)| h + m);
            if room <= smaller || room <= reserve {
                continue;
            }
            let limit = room.min(reserve.saturating_add(max));
            let Some(area) = spare.get_mut(reserve..limit) else {
                continue;
            };
            let Some(len) = fill(area) else { continue };
            let hlen = frame::header_len(len as u64, false);
            if hlen < reserve {
                spare.copy_within(reserve..reserve + len, hlen);
            }
            frame::encode_header(spare, true, opcode, None, len as u64).ok_or(SendError::Full)?;
            self.commit(hlen + len);
            return Ok(());
        }
        Err(SendError::Full)
    }

    /// Appends one whole unmasked frame with this payload.
    fn frame(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        let need = frame::header_len(payload.len() as u64, false).saturating_add(payload.len());
        if need > self.free() {
            return Err(SendError::Full);
        }
        self.frame_with(opcode, &mut |area| {
            let dst = area.get_mut(..payload.len())?;
            dst.copy_from_slice(payload);
            Some(payload.len())
        })
    }
}

/// Where frames for one client are written: the transmit side of a connection, seen by the
/// gateway layer without knowing the buffer sizes.
pub trait Outbox {
    /// Queues one whole frame; `fill` writes the payload and returns its length (`None`: it
    /// did not fit). Nothing is queued on error.
    fn send_with(
        &mut self,
        opcode: OpCode,
        fill: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
    ) -> Result<(), SendError>;
    /// Queues one whole frame with this payload.
    fn send(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError>;
    /// Room left in the transmit buffer.
    fn free(&self) -> usize;
}

/// A frame being received (its payload is still due while `active`). All zero when idle,
/// so a connection starts as zero bytes (no flash template for its initial value).
#[derive(Clone, Copy, Debug)]
struct Incoming {
    /// A frame's payload is being read.
    active: bool,
    opcode: OpCode,
    fin: bool,
    /// The masking key, rotated as payload is read so that its first byte applies to the
    /// next payload byte (no payload offset to keep).
    mask: [u8; 4],
    remaining: u64,
    /// Payload bytes are thrown away (data received while closing).
    discard: bool,
}

/// Control frames we owe the peer.
#[derive(Clone, Copy, Debug, Default)]
struct Owed {
    pong: bool,
    ping: bool,
    close: Option<(CloseCode, &'static str)>,
    /// The close owed is the echo of the peer's: send its payload (code and reason) back.
    echo: bool,
}

/// One client's sans-IO WebSocket state machine. See the [module docs](self).
///
/// Size: `RX + TX + 125` bytes of buffers plus about 150 bytes of state on 64-bit targets
/// (tested in `size_of_connection`).
pub struct Connection<const RX: usize, const TX: usize> {
    rx: [u8; RX],
    tx: TxBuf<TX>,
    ctrl: [u8; MAX_CONTROL_PAYLOAD],
    hdr: [u8; frame::MAX_HEADER_LEN],
    /// Handshake: bytes of the head so far; open: bytes of the message so far.
    rx_len: usize,
    /// Handshake: bytes already scanned for the end of the head.
    scanned: usize,
    /// The frame whose payload is being read, if `frame.active`.
    frame: Incoming,
    ctrl_len: u8,
    hdr_len: u8,
    /// The kind of the message being reassembled, `None` between messages (a zero byte).
    message: Option<MessageKind>,
    utf8: Utf8Validator,
    phase: Phase,
    owed: Owed,
    /// A complete message sits in `rx` waiting for `message_done`.
    message_ready: bool,
    /// Close the socket once the output is flushed (HTTP responses, failed connections).
    close_after_flush: bool,
    /// A fixed page body still to be copied into the output.
    page: Option<&'static [u8]>,
    /// Phase start (handshake, closing) in ms; while open, when our ping went out.
    since: u64,
    /// Last time any byte arrived.
    last_rx: u64,
    /// When the first byte of the frame or message being received arrived (meaningful
    /// while [`Connection::receiving`]).
    partial_since: u64,
    /// Our ping went out at `since` and its pong (or any byte) is still due.
    pinging: bool,
    /// The code we failed or closed with, reported when the peer does not answer (0 until
    /// [`Connection::start`]).
    our_code: CloseCode,
}

/// The largest payload whose unmasked frame (header included) fits in `tx` bytes.
const fn largest_payload(tx: usize) -> usize {
    // Headers are 2 bytes up to 125 bytes of payload, 4 up to 65,535, 10 beyond.
    if tx > 65_535 + 10 {
        tx - 10
    } else if tx > 125 + 4 {
        let p = tx - 4;
        if p > 65_535 { 65_535 } else { p }
    } else if tx > 2 {
        let p = tx - 2;
        if p > 125 { 125 } else { p }
    } else {
        0
    }
}

/// The idle frame state: all zero.
const NO_FRAME: Incoming = Incoming {
    active: false,
    opcode: OpCode::Continuation,
    fin: false,
    mask: [0; 4],
    remaining: 0,
    discard: false,
};

impl<const RX: usize, const TX: usize> Default for Connection<RX, TX> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const RX: usize, const TX: usize> Connection<RX, TX> {
    /// The largest message accepted, in bytes: `RX`, or less when the transmit buffer could
    /// not hold a reply as large as the message. A message is accepted only when a frame
    /// of its own size fits the empty transmit buffer, so an echo of the largest message
    /// can always be sent; anything larger is closed with 1009 as it arrives.
    ///
    /// ```
    /// use wsgate::Connection;
    /// assert_eq!(Connection::<2048, 2048>::MAX_MESSAGE, 2044); // 4 bytes of frame header
    /// assert_eq!(Connection::<2048, 4096>::MAX_MESSAGE, 2048);
    /// ```
    pub const MAX_MESSAGE: usize = {
        let tx = largest_payload(TX);
        if RX < tx { RX } else { tx }
    };

    /// An idle connection; `const` so it can sit in a `static`.
    pub const fn new() -> Self {
        const {
            assert!(RX >= 128, "receive buffer must hold at least 128 bytes");
            assert!(TX >= 256, "transmit buffer must hold at least 256 bytes");
        }
        Connection {
            rx: [0; RX],
            tx: TxBuf::new(),
            ctrl: [0; MAX_CONTROL_PAYLOAD],
            hdr: [0; frame::MAX_HEADER_LEN],
            rx_len: 0,
            scanned: 0,
            frame: NO_FRAME,
            ctrl_len: 0,
            hdr_len: 0,
            message: None,
            utf8: Utf8Validator::new(),
            phase: Phase::Idle,
            owed: Owed {
                pong: false,
                ping: false,
                close: None,
                echo: false,
            },
            message_ready: false,
            close_after_flush: false,
            page: None,
            since: 0,
            last_rx: 0,
            partial_since: 0,
            pinging: false,
            our_code: CloseCode(0),
        }
    }

    /// Starts a new client on this connection at time `now` (ms): handshake phase, empty buffers.
    pub fn start(&mut self, now: u64) {
        self.tx.clear();
        self.rx_len = 0;
        self.scanned = 0;
        self.frame = NO_FRAME;
        self.ctrl_len = 0;
        self.hdr_len = 0;
        self.message = None;
        self.utf8.reset();
        self.phase = Phase::Handshake;
        self.owed = Owed::default();
        self.message_ready = false;
        self.close_after_flush = false;
        self.page = None;
        self.since = now;
        self.last_rx = now;
        self.partial_since = 0;
        self.pinging = false;
        self.our_code = CloseCode::NORMAL;
    }

    /// Marks the connection unused (the transport closed the socket).
    pub fn reset(&mut self) {
        self.start(0);
        self.phase = Phase::Idle;
    }

    /// Where the connection is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// True when the WebSocket is open for data.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Consumes input bytes. Stops early when it has an [`Event`] to report (handle it, then
    /// feed the rest) or when the output must be flushed first (a pong has no room yet).
    pub fn feed(&mut self, input: &[u8], now: u64, max_head: usize) -> Feed {
        if !input.is_empty() {
            self.last_rx = now;
            self.pinging = false;
        }
        match self.phase {
            Phase::Handshake => self.feed_head(input, max_head),
            Phase::Open | Phase::Closing => self.feed_frames(input, now),
            // Nothing more is read: the head awaits an answer, or the connection is done.
            Phase::Request => Feed {
                consumed: 0,
                event: None,
            },
            Phase::Closed | Phase::Idle => Feed {
                consumed: input.len(),
                event: None,
            },
        }
    }

    fn feed_head(&mut self, input: &[u8], max_head: usize) -> Feed {
        let limit = max_head.min(RX);
        let old = self.rx_len;
        let room = limit.saturating_sub(old);
        let take = room.min(input.len());
        if let (Some(dst), Some(src)) = (self.rx.get_mut(old..old + take), input.get(..take)) {
            dst.copy_from_slice(src);
        }
        self.rx_len = old + take;
        let head = self.rx.get(..self.rx_len).unwrap_or(&[]);
        if let Some(end) = handshake::find_head_end(head, self.scanned) {
            self.rx_len = end;
            self.phase = Phase::Request;
            return Feed {
                consumed: end.saturating_sub(old),
                event: Some(Event::Request),
            };
        }
        self.scanned = self.rx_len;
        if self.rx_len >= limit {
            self.refuse(&HttpError::new(
                http::Status::HeaderFieldsTooLarge,
                "request head too large",
            ));
            return Feed {
                consumed: input.len(),
                event: Some(Event::HeadTooLarge),
            };
        }
        Feed {
            consumed: take,
            event: None,
        }
    }

    /// The complete request head (valid after [`Event::Request`]).
    pub fn request_head(&self) -> &[u8] {
        if self.phase == Phase::Request {
            self.rx.get(..self.rx_len).unwrap_or(&[])
        } else {
            &[]
        }
    }

    /// Splits the connection into the request head (as [`Connection::request_head`]) and the
    /// side that accepts it, so that a server can parse the head once, accept the upgrade
    /// and run its connect hooks on that parse while they write frames.
    pub(crate) fn head_and_answer(&mut self) -> (&[u8], Answer<'_, TX>) {
        let head = if self.phase == Phase::Request {
            self.rx.get(..self.rx_len).unwrap_or(&[])
        } else {
            &[]
        };
        let answer = Answer {
            tx: &mut self.tx,
            phase: &mut self.phase,
        };
        (head, answer)
    }

    /// Accepts the upgrade: queues the 101 response with `Sec-WebSocket-Accept` for `key` and
    /// the chosen subprotocol. Read what you need of [`Connection::request_head`] first: it
    /// is empty once the connection is open.
    pub fn accept(&mut self, key: &[u8], protocol: Option<&str>) -> Result<(), SendError> {
        self.head_and_answer().1.accept(key, protocol).map(drop)
    }

    /// Refuses the request with an HTTP error response, then closes once it is sent.
    pub fn refuse(&mut self, err: &HttpError) {
        let spare = self.tx.spare();
        if let Some(n) = http::write_error(spare, err) {
            self.tx.commit(n);
        }
        self.phase = Phase::Closed;
        self.since = self.last_rx;
        self.close_after_flush = true;
    }

    /// Answers a plain GET with a fixed page, streamed through the output, then closes.
    pub fn serve_page(&mut self, content_type: &str, body: &'static [u8]) {
        let spare = self.tx.spare();
        if let Some(n) = http::write_page_head(spare, content_type, body.len()) {
            self.tx.commit(n);
            self.page = (!body.is_empty()).then_some(body);
        }
        self.phase = Phase::Closed;
        self.since = self.last_rx;
        self.close_after_flush = true;
    }

    fn feed_frames(&mut self, input: &[u8], now: u64) -> Feed {
        // The request head was kept for the connect hook; the first frame byte ends that.
        if self.phase == Phase::Open && self.message.is_none() && !self.message_ready {
            // rx_len holds the head length right after accept; a message cannot be in
            // progress, so the head is simply forgotten here.
            if !self.frame.active && self.hdr_len == 0 {
                self.rx_len = 0;
            }
        }
        if self.message_ready {
            return Feed {
                consumed: 0,
                event: None,
            };
        }
        let mut pos = 0;
        while pos < input.len() {
            if self.owed.pong || self.owed.close.is_some() {
                self.pay_debts();
                if self.owed.pong {
                    // No room for the pong yet: flush first.
                    break;
                }
            }
            let rest = input.get(pos..).unwrap_or(&[]);
            let step = if self.frame.active {
                self.read_payload(self.frame, rest, now)
            } else {
                self.read_header(rest, now)
            };
            pos += step.consumed;
            if step.event.is_some() {
                return Feed {
                    consumed: pos,
                    event: step.event,
                };
            }
            if self.phase == Phase::Closed {
                return Feed {
                    consumed: input.len(),
                    event: None,
                };
            }
            if step.consumed == 0 {
                break;
            }
        }
        Feed {
            consumed: pos,
            event: None,
        }
    }

    fn read_header(&mut self, input: &[u8], now: u64) -> Feed {
        let have = usize::from(self.hdr_len);
        if have == 0 && self.message.is_none() {
            // The first byte of a new message (or of a control frame between messages):
            // the message timer starts here.
            self.partial_since = now;
        }
        // The usual case: the whole header is in the input; parse it there, no copy.
        if have == 0
            && let Ok(Some((header, len))) = frame::parse_header(input, true)
        {
            let event = self.start_frame(header, now);
            return Feed {
                consumed: len,
                event,
            };
        }
        let need = frame::header_len_needed(self.hdr.get(..have).unwrap_or(&[]));
        let want = need.saturating_sub(have).min(input.len());
        if let (Some(dst), Some(src)) = (self.hdr.get_mut(have..have + want), input.get(..want)) {
            dst.copy_from_slice(src);
        }
        self.hdr_len = (have + want) as u8;
        let buf = self.hdr.get(..usize::from(self.hdr_len)).unwrap_or(&[]);
        match frame::parse_header(buf, true) {
            Err(_) => Feed {
                consumed: want,
                event: Some(self.fail(CloseCode::PROTOCOL_ERROR, DisconnectCause::ProtocolError)),
            },
            Ok(None) => Feed {
                consumed: want,
                event: None,
            },
            Ok(Some((header, _))) => {
                self.hdr_len = 0;
                let event = self.start_frame(header, now);
                Feed {
                    consumed: want,
                    event,
                }
            }
        }
    }

    fn start_frame(&mut self, h: FrameHeader, now: u64) -> Option<Event> {
        let mask = h.mask.unwrap_or([0; 4]);
        let mut discard = false;
        match h.opcode {
            OpCode::Continuation | OpCode::Text | OpCode::Binary => {
                let continuation = h.opcode == OpCode::Continuation;
                if continuation != self.message.is_some() {
                    // A continuation with nothing to continue, or a new message in the
                    // middle of a fragmented one.
                    return Some(
                        self.fail(CloseCode::PROTOCOL_ERROR, DisconnectCause::ProtocolError),
                    );
                }
                if !continuation {
                    self.message = Some(if h.opcode == OpCode::Binary {
                        MessageKind::Binary
                    } else {
                        MessageKind::Text
                    });
                    self.rx_len = 0;
                    self.utf8.reset();
                }
                if self.phase == Phase::Closing {
                    discard = true;
                } else {
                    let total = (self.rx_len as u64).saturating_add(h.payload_len);
                    if total > Self::MAX_MESSAGE as u64 {
                        return Some(
                            self.fail(CloseCode::MESSAGE_TOO_BIG, DisconnectCause::TooBig),
                        );
                    }
                }
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                self.ctrl_len = 0;
            }
        }
        let incoming = Incoming {
            active: true,
            opcode: h.opcode,
            fin: h.fin,
            mask,
            remaining: h.payload_len,
            discard,
        };
        if h.payload_len == 0 {
            self.frame = NO_FRAME;
            return self.finish_frame(incoming, now);
        }
        self.frame = incoming;
        None
    }

    fn read_payload(&mut self, mut f: Incoming, input: &[u8], now: u64) -> Feed {
        let n = usize::try_from(f.remaining)
            .unwrap_or(usize::MAX)
            .min(input.len());
        let src = input.get(..n).unwrap_or(&[]);
        if f.opcode.is_control() {
            let at = usize::from(self.ctrl_len);
            if let Some(dst) = self.ctrl.get_mut(at..at + n) {
                frame::unmask_into(dst, src, f.mask, 0);
            }
            self.ctrl_len = (at + n) as u8;
        } else if !f.discard {
            let at = self.rx_len;
            let Some(dst) = self.rx.get_mut(at..at + n) else {
                // Cannot happen: the size was checked at the header.
                return Feed {
                    consumed: n,
                    event: Some(self.fail(CloseCode::MESSAGE_TOO_BIG, DisconnectCause::TooBig)),
                };
            };
            frame::unmask_into(dst, src, f.mask, 0);
            self.rx_len = at + n;
            if self.message == Some(MessageKind::Text) && self.utf8.feed(dst).is_err() {
                return Feed {
                    consumed: n,
                    event: Some(
                        self.fail(CloseCode::INVALID_PAYLOAD, DisconnectCause::InvalidUtf8),
                    ),
                };
            }
        }
        f.remaining -= n as u64;
        // `n % 4` is at most 3. Rotating the little-endian key right by 8 bits moves each
        // byte one position earlier: the byte for payload position `n` comes first.
        f.mask = u32::from_le_bytes(f.mask)
            .rotate_right(8 * (n % 4) as u32)
            .to_le_bytes();
        if f.remaining == 0 {
            self.frame = NO_FRAME;
            let event = self.finish_frame(f, now);
            return Feed { consumed: n, event };
        }
        self.frame = f;
        Feed {
            consumed: n,
            event: None,
        }
    }

    fn finish_frame(&mut self, f: Incoming, now: u64) -> Option<Event> {
        match f.opcode {
            OpCode::Continuation | OpCode::Text | OpCode::Binary => {
                if !f.fin {
                    return None;
                }
                let kind = self.message.take();
                if f.discard {
                    return None;
                }
                let kind = kind.unwrap_or(MessageKind::Text);
                if kind == MessageKind::Text && self.utf8.finish().is_err() {
                    return Some(
                        self.fail(CloseCode::INVALID_PAYLOAD, DisconnectCause::InvalidUtf8),
                    );
                }
                self.message_ready = true;
                Some(Event::Message(kind))
            }
            OpCode::Ping => {
                if self.phase == Phase::Open {
                    self.owed.pong = true;
                    self.pay_debts();
                }
                None
            }
            OpCode::Pong => {
                self.pinging = false;
                None
            }
            OpCode::Close => {
                let payload = self.ctrl.get(..usize::from(self.ctrl_len)).unwrap_or(&[]);
                match parse_close_payload(payload) {
                    Err(e) => {
                        let cause = if e.close_code() == CloseCode::INVALID_PAYLOAD {
                            DisconnectCause::InvalidUtf8
                        } else {
                            DisconnectCause::ProtocolError
                        };
                        Some(self.fail(e.close_code(), cause))
                    }
                    Ok(parsed) => {
                        let code = parsed.map(|(c, _)| c);
                        let cause = if self.phase == Phase::Closing {
                            DisconnectCause::Server
                        } else {
                            // Echo the peer's close frame, code and reason, as Node's `ws`
                            // (under NestJS) does (RFC 6455 §5.5.1); no code, empty close.
                            self.owed.close = Some((code.unwrap_or(CloseCode::NO_STATUS), ""));
                            self.owed.echo = true;
                            DisconnectCause::Peer
                        };
                        let _ = now;
                        self.finish(true);
                        Some(Event::Closed(Disconnect {
                            code: code.unwrap_or(CloseCode::NO_STATUS),
                            cause,
                        }))
                    }
                }
            }
        }
    }

    /// Ends the WebSocket: no more input is read; the socket closes once output is flushed
    /// (or when `close_timeout_ms` passes with output still unsent). Runs inside `feed`, so
    /// the time of the last input is the time now.
    fn finish(&mut self, pay: bool) {
        self.phase = Phase::Closed;
        self.since = self.last_rx;
        self.close_after_flush = true;
        self.frame = NO_FRAME;
        self.message = None;
        self.message_ready = false;
        if pay {
            self.pay_debts();
        }
    }

    /// Fails the WebSocket connection (RFC 6455 §7.1.7): queue a close frame with `code`,
    /// stop reading, and close the socket once the frame is out.
    fn fail(&mut self, code: CloseCode, cause: DisconnectCause) -> Event {
        let text = match cause {
            DisconnectCause::TooBig => "message too big",
            DisconnectCause::InvalidUtf8 => "invalid UTF-8",
            DisconnectCause::MessageTimeout => "message not received in time",
            _ => "protocol error",
        };
        self.owed.pong = false;
        if self.phase != Phase::Closing {
            // One close frame each way: after ours, a broken reply just ends it.
            self.owed.close = Some((code, text));
            self.owed.echo = false;
            self.our_code = code;
        }
        self.finish(true);
        Event::Closed(Disconnect { code, cause })
    }

    /// Writes the control frames we owe, as far as the transmit buffer has room. Close last.
    fn pay_debts(&mut self) {
        if self.owed.pong {
            let payload = self.ctrl.get(..usize::from(self.ctrl_len)).unwrap_or(&[]);
            if self.tx.frame(OpCode::Pong, payload).is_ok() {
                self.owed.pong = false;
            }
        }
        if self.owed.ping && self.tx.frame(OpCode::Ping, b"wsgate").is_ok() {
            self.owed.ping = false;
        }
        if let Some((code, reason)) = self.owed.close
            && !self.owed.pong
        {
            let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
            let len = if self.owed.echo {
                // The peer's payload, validated when it arrived, is still in `ctrl`.
                let len = usize::from(self.ctrl_len);
                if let (Some(dst), Some(src)) = (payload.get_mut(..len), self.ctrl.get(..len)) {
                    dst.copy_from_slice(src);
                }
                len
            } else if code == CloseCode::NO_STATUS {
                0
            } else {
                let [hi, lo] = code.as_u16().to_be_bytes();
                payload[0] = hi;
                payload[1] = lo;
                let r = truncate_utf8(reason, MAX_CONTROL_PAYLOAD - 2);
                if let Some(dst) = payload.get_mut(2..2 + r.len()) {
                    dst.copy_from_slice(r.as_bytes());
                }
                2 + r.len()
            };
            if self
                .tx
                .frame(OpCode::Close, payload.get(..len).unwrap_or(&[]))
                .is_ok()
            {
                self.owed.close = None;
                self.owed.echo = false;
            }
        }
    }

    /// The complete message (valid after [`Event::Message`]).
    pub fn message(&self) -> &[u8] {
        if self.message_ready {
            self.rx.get(..self.rx_len).unwrap_or(&[])
        } else {
            &[]
        }
    }

    /// Splits the connection into the complete message (read) and its outbox (write).
    pub fn message_and_outbox(&mut self) -> (&[u8], &mut dyn Outbox) {
        let msg = if self.message_ready {
            self.rx.get(..self.rx_len).unwrap_or(&[])
        } else {
            &[]
        };
        (msg, &mut self.tx as &mut dyn Outbox)
    }

    /// Releases the message buffer so the next message can be received.
    pub fn message_done(&mut self) {
        if self.message_ready {
            self.message_ready = false;
            self.rx_len = 0;
        }
    }

    /// Starts the close handshake with `code` and a short `reason` (at most 123 bytes are
    /// sent). Data frames from the peer are discarded until its close frame arrives or
    /// `close_timeout_ms` passes.
    pub fn close(&mut self, code: CloseCode, reason: &'static str, now: u64) {
        match self.phase {
            Phase::Open => {
                self.owed.pong = false;
                self.owed.close = Some((code, reason));
                self.our_code = code;
                self.phase = Phase::Closing;
                self.since = now;
                self.message_ready = false;
                self.pay_debts();
            }
            Phase::Handshake | Phase::Request => {
                self.refuse(&HttpError::new(
                    http::Status::ServiceUnavailable,
                    "server shutting down",
                ));
                self.since = now;
            }
            Phase::Closing | Phase::Closed | Phase::Idle => {}
        }
    }

    /// Drops the connection without a close handshake (the socket is gone or must go now):
    /// unsent output is discarded, so [`Connection::wants_close`] is true at once.
    pub fn abort(&mut self) {
        self.owed = Owed::default();
        self.tx.clear();
        self.page = None;
        self.finish(false);
    }

    /// Runs the timers at time `now`: handshake timeout (408), server ping after silence,
    /// idle timeout when the pong does not come, close timeout.
    #[must_use = "an event the timers raised (a ping, a timeout, a close) must be handled"]
    pub fn poll(&mut self, now: u64, t: &Timeouts) -> Option<Event> {
        if self
            .message_deadline(t)
            .is_some_and(|deadline| now >= deadline)
        {
            // A message (or frame) is trickling in too slowly: the client holds a slot
            // without using it.
            return Some(self.fail(CloseCode::POLICY_VIOLATION, DisconnectCause::MessageTimeout));
        }
        // One comparison for whichever timer runs (see `timer`).
        let due = self
            .timer(t)
            .is_some_and(|(since, ms)| now.saturating_sub(since) >= u64::from(ms));
        match self.phase {
            Phase::Handshake | Phase::Request if due => {
                self.refuse(&HttpError::new(
                    http::Status::RequestTimeout,
                    "request head not received in time",
                ));
                self.since = now;
                Some(Event::HandshakeTimeout)
            }
            Phase::Open if due && self.pinging => {
                self.abort();
                Some(Event::Closed(Disconnect {
                    code: CloseCode::ABNORMAL,
                    cause: DisconnectCause::IdleTimeout,
                }))
            }
            Phase::Open if due => {
                self.owed.ping = true;
                self.pinging = true;
                self.since = now;
                self.pay_debts();
                Some(Event::PingSent)
            }
            Phase::Open => {
                self.pay_debts();
                None
            }
            Phase::Closing if due => {
                self.abort();
                Some(Event::Closed(Disconnect {
                    code: CloseCode::ABNORMAL,
                    cause: DisconnectCause::CloseTimeout,
                }))
            }
            Phase::Closed if due => {
                // The peer does not read what is left (an HTTP answer, a close frame): give
                // up on it. The end of the connection was reported when it happened.
                self.abort();
                None
            }
            _ => None,
        }
    }

    /// The timer that runs in this state: its start (ms) and its length, if any. Open, it
    /// is the pong timeout while our ping is unanswered, else the ping interval from the
    /// last input; closed, it runs only while output is still owed.
    fn timer(&self, t: &Timeouts) -> Option<(u64, u32)> {
        let (since, ms) = match self.phase {
            Phase::Handshake | Phase::Request => (self.since, t.handshake_ms),
            Phase::Open if self.pinging => (self.since, t.pong_timeout_ms),
            Phase::Open => (self.last_rx, t.ping_interval_ms),
            Phase::Closing => (self.since, t.close_timeout_ms),
            Phase::Closed if !self.wants_close() => (self.since, t.close_timeout_ms),
            Phase::Closed | Phase::Idle => return None,
        };
        (ms > 0).then_some((since, ms))
    }

    /// When the message being received must be complete, if one is (see
    /// [`Timeouts::message_ms`]).
    fn message_deadline(&self, t: &Timeouts) -> Option<u64> {
        (self.phase == Phase::Open && t.message_ms > 0 && self.receiving())
            .then(|| self.partial_since.saturating_add(u64::from(t.message_ms)))
    }

    /// True while part of a frame or of a fragmented message has arrived and the rest is
    /// still due.
    fn receiving(&self) -> bool {
        self.hdr_len > 0 || self.frame.active || self.message.is_some()
    }

    /// The next time [`Connection::poll`] has work, in ms, if any.
    pub fn next_deadline(&self, t: &Timeouts) -> Option<u64> {
        let timer = self
            .timer(t)
            .map(|(since, ms)| since.saturating_add(u64::from(ms)));
        match (timer, self.message_deadline(t)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Bytes to send now. Call [`Connection::consume`] with how many were written.
    pub fn output(&mut self) -> &[u8] {
        self.pay_debts();
        if let Some(page) = self.page {
            let spare = self.tx.spare();
            let n = spare.len().min(page.len());
            if let (Some(dst), Some(src)) = (spare.get_mut(..n), page.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.tx.commit(n);
            let rest = page.get(n..).unwrap_or(&[]);
            self.page = (!rest.is_empty()).then_some(rest);
        }
        self.tx.pending()
    }

    /// Marks `n` output bytes as written.
    pub fn consume(&mut self, n: usize) {
        self.tx.consume(n);
    }

    /// True when the transport should close the socket now: the connection is finished and
    /// everything owed has been written.
    pub fn wants_close(&self) -> bool {
        self.phase == Phase::Closed
            && self.close_after_flush
            && self.tx.is_empty()
            && self.page.is_none()
            && self.owed.close.is_none()
    }

    /// The outbox of this connection.
    pub fn outbox(&mut self) -> &mut dyn Outbox {
        &mut self.tx
    }

    /// Bytes waiting in the transmit buffer.
    pub fn pending_len(&self) -> usize {
        self.tx.len()
    }

    /// The code we closed or failed with (for reports when the peer never answered).
    #[cfg(test)]
    pub(crate) fn our_code(&self) -> CloseCode {
        self.our_code
    }
}

impl<const TX: usize> Outbox for TxBuf<TX> {
    fn send_with(
        &mut self,
        opcode: OpCode,
        fill: &mut dyn FnMut(&mut [u8]) -> Option<usize>,
    ) -> Result<(), SendError> {
        self.frame_with(opcode, fill)
    }
    fn send(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.frame(opcode, payload)
    }
    fn free(&self) -> usize {
        TxBuf::free(self)
    }
}

/// The side of a [`Connection`] that answers its request head, split from the head by
/// [`Connection::head_and_answer`].
pub(crate) struct Answer<'c, const TX: usize> {
    tx: &'c mut TxBuf<TX>,
    phase: &'c mut Phase,
}

impl<'c, const TX: usize> Answer<'c, TX> {
    /// [`Connection::accept`]; on success, the outbox the connect hooks write to.
    pub(crate) fn accept(
        self,
        key: &[u8],
        protocol: Option<&str>,
    ) -> Result<&'c mut dyn Outbox, SendError> {
        if *self.phase != Phase::Request {
            return Err(SendError::NotOpen);
        }
        let spare = self.tx.spare();
        let n = handshake::write_accept(spare, key, protocol).ok_or(SendError::Full)?;
        self.tx.commit(n);
        *self.phase = Phase::Open;
        Ok(self.tx)
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Connection state beyond its three buffers (`RX`, `TX`, the 125-byte control buffer).
    fn overhead<const RX: usize, const TX: usize>() -> usize {
        core::mem::size_of::<Connection<RX, TX>>() - RX - TX - MAX_CONTROL_PAYLOAD
    }

    #[test]
    fn size_of_connection() {
        // Measured on x86_64: 2048/2048 -> 4368 bytes, 147 of them state. The state does not
        // depend on the buffer sizes.
        let state = overhead::<2048, 2048>();
        assert_eq!(state, overhead::<128, 256>());
        assert_eq!(state, overhead::<65536, 4096>());
        assert!(state <= 160, "connection state grew to {state} bytes");
    }
}
