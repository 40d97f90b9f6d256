//! Counters for everything the server does and, above all, everything it refuses or drops.
//!
//! Every refusal in wsgate is visible: an HTTP status or close code on the wire, a typed
//! error or event in the API, and one of these counters. Counters are `u32` and wrap.

use crate::connection::CloseReason;
use crate::gateway::{Broadcast, DropReason};
use crate::protocol::http::Status;

/// The server's counters. Read them with [`crate::Server::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Stats {
    /// TCP connections given a slot.
    pub accepted: u32,
    /// Connections refused with 503 because every slot was taken (or the server was closing).
    pub refused_full: u32,
    /// Connections refused with 429 because their address already held
    /// `Config::max_per_address` slots.
    pub refused_per_address: u32,
    /// WebSocket upgrades completed (101 sent).
    pub upgraded: u32,
    /// Fixed pages served on plain GET.
    pub pages_served: u32,
    /// 400 Bad Request answers (malformed request, bad upgrade headers).
    pub http_400: u32,
    /// 401 and 403 answers from a gateway's verify hook.
    pub http_401_403: u32,
    /// 404 answers (no gateway or page at that path).
    pub http_404: u32,
    /// 405 answers (method other than GET).
    pub http_405: u32,
    /// 408 answers (request head not received in time).
    pub http_408: u32,
    /// 426 answers (wrong WebSocket version, or plain HTTP on a WebSocket path).
    pub http_426: u32,
    /// 431 answers (request head or header count over the limit).
    pub http_431: u32,
    /// Other HTTP refusals (500, 503 while shutting down).
    pub http_other: u32,
    /// Complete messages received.
    pub messages: u32,
    /// Messages that reached a handler.
    pub dispatched: u32,
    /// Messages dropped: not JSON (or nested deeper than 128).
    pub dropped_invalid_json: u32,
    /// Messages dropped: JSON but not an object.
    pub dropped_not_object: u32,
    /// Messages dropped: no string `event`.
    pub dropped_no_event: u32,
    /// Messages dropped: no handler for the event.
    pub dropped_unknown_event: u32,
    /// Exception frames produced by failing handlers.
    pub exceptions: u32,
    /// Frames queued by handlers and hooks.
    pub frames_sent: u32,
    /// Frames a handler could not queue (transmit buffer full or connection closing).
    pub send_failed: u32,
    /// Broadcast frames dropped for a client whose transmit buffer was full.
    pub broadcast_dropped: u32,
    /// Pings sent by the server.
    pub pings_sent: u32,
    /// Connections closed by the peer's close frame.
    pub closed_by_peer: u32,
    /// Connections closed by the server's close frame, answered.
    pub closed_by_server: u32,
    /// Connections failed with 1002 (protocol error).
    pub closed_protocol_error: u32,
    /// Connections failed with 1007 (invalid UTF-8).
    pub closed_invalid_utf8: u32,
    /// Connections failed with 1009 (message too big).
    pub closed_too_big: u32,
    /// Connections dropped because the pong did not come (client vanished).
    pub closed_idle: u32,
    /// Connections dropped because the peer did not answer our close frame.
    pub closed_close_timeout: u32,
    /// Connections failed with 1008 because a message did not arrive within
    /// `Timeouts::message_ms`.
    pub closed_message_timeout: u32,
    /// Connections closed with 1011 because a handler's reply did not fit the transmit buffer
    /// and neither did the exception frame that would have said so.
    pub closed_no_room: u32,
    /// Connections lost without a close handshake (TCP closed or reset).
    pub closed_peer_gone: u32,
}

fn bump(c: &mut u32) {
    *c = c.wrapping_add(1);
}

impl Stats {
    /// All zero.
    pub const fn new() -> Self {
        Stats {
            accepted: 0,
            refused_full: 0,
            refused_per_address: 0,
            upgraded: 0,
            pages_served: 0,
            http_400: 0,
            http_401_403: 0,
            http_404: 0,
            http_405: 0,
            http_408: 0,
            http_426: 0,
            http_431: 0,
            http_other: 0,
            messages: 0,
            dispatched: 0,
            dropped_invalid_json: 0,
            dropped_not_object: 0,
            dropped_no_event: 0,
            dropped_unknown_event: 0,
            exceptions: 0,
            frames_sent: 0,
            send_failed: 0,
            broadcast_dropped: 0,
            pings_sent: 0,
            closed_by_peer: 0,
            closed_by_server: 0,
            closed_protocol_error: 0,
            closed_invalid_utf8: 0,
            closed_too_big: 0,
            closed_idle: 0,
            closed_close_timeout: 0,
            closed_message_timeout: 0,
            closed_no_room: 0,
            closed_peer_gone: 0,
        }
    }

    /// Counts an HTTP refusal by status.
    pub fn count_http(&mut self, status: Status) {
        bump(match status {
            Status::BadRequest => &mut self.http_400,
            Status::Unauthorized | Status::Forbidden => &mut self.http_401_403,
            Status::NotFound => &mut self.http_404,
            Status::MethodNotAllowed => &mut self.http_405,
            Status::RequestTimeout => &mut self.http_408,
            Status::UpgradeRequired => &mut self.http_426,
            Status::HeaderFieldsTooLarge => &mut self.http_431,
            _ => &mut self.http_other,
        });
    }

    /// Counts a dropped message.
    pub fn count_drop(&mut self, reason: DropReason) {
        bump(match reason {
            DropReason::InvalidJson => &mut self.dropped_invalid_json,
            DropReason::NotAnObject => &mut self.dropped_not_object,
            DropReason::NoEvent => &mut self.dropped_no_event,
            DropReason::UnknownEvent => &mut self.dropped_unknown_event,
        });
    }

    /// Counts the end of a connection.
    pub fn count_close(&mut self, reason: CloseReason) {
        bump(match reason {
            CloseReason::Peer => &mut self.closed_by_peer,
            CloseReason::Server => &mut self.closed_by_server,
            CloseReason::ProtocolError => &mut self.closed_protocol_error,
            CloseReason::InvalidUtf8 => &mut self.closed_invalid_utf8,
            CloseReason::TooBig => &mut self.closed_too_big,
            CloseReason::IdleTimeout => &mut self.closed_idle,
            CloseReason::CloseTimeout => &mut self.closed_close_timeout,
            CloseReason::PeerGone => &mut self.closed_peer_gone,
            CloseReason::MessageTimeout => &mut self.closed_message_timeout,
        });
    }

    /// Counts the outcome of one broadcast.
    pub fn count_broadcast(&mut self, b: &Broadcast) {
        self.frames_sent = self.frames_sent.wrapping_add(u32::from(b.queued));
        self.broadcast_dropped = self.broadcast_dropped.wrapping_add(u32::from(b.dropped));
    }

    /// Total messages dropped without a handler.
    pub fn dropped(&self) -> u32 {
        self.dropped_invalid_json
            .wrapping_add(self.dropped_not_object)
            .wrapping_add(self.dropped_no_event)
            .wrapping_add(self.dropped_unknown_event)
    }
}
