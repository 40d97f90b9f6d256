//! Counters for everything the server does and, above all, everything it refuses or drops.
//!
//! Every refusal in wsgate is visible: an HTTP status or close code on the wire, a typed
//! error or event in the API, and one of these counters. Counters are `u32` and wrap.
//!
//! This module is a leaf: it imports nothing from the rest of the crate. The layers above
//! name the counter an event moves (`Counter`) and bump it through the one method that
//! changes a count, `Stats::add`; it never decides what is counted.

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

/// One of the [`Stats`] counters: what the layers above name when they count something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    /// [`Stats::accepted`].
    Accepted,
    /// [`Stats::refused_full`].
    RefusedFull,
    /// [`Stats::refused_per_address`].
    RefusedPerAddress,
    /// [`Stats::upgraded`].
    Upgraded,
    /// [`Stats::pages_served`].
    PagesServed,
    /// [`Stats::http_400`].
    Http400,
    /// [`Stats::http_401_403`].
    Http401Or403,
    /// [`Stats::http_404`].
    Http404,
    /// [`Stats::http_405`].
    Http405,
    /// [`Stats::http_408`].
    Http408,
    /// [`Stats::http_426`].
    Http426,
    /// [`Stats::http_431`].
    Http431,
    /// [`Stats::http_other`].
    HttpOther,
    /// [`Stats::messages`].
    Messages,
    /// [`Stats::dispatched`].
    Dispatched,
    /// [`Stats::dropped_invalid_json`].
    DroppedInvalidJson,
    /// [`Stats::dropped_not_object`].
    DroppedNotObject,
    /// [`Stats::dropped_no_event`].
    DroppedNoEvent,
    /// [`Stats::dropped_unknown_event`].
    DroppedUnknownEvent,
    /// [`Stats::exceptions`].
    Exceptions,
    /// [`Stats::frames_sent`].
    FramesSent,
    /// [`Stats::send_failed`].
    SendFailed,
    /// [`Stats::broadcast_dropped`].
    BroadcastDropped,
    /// [`Stats::pings_sent`].
    PingsSent,
    /// [`Stats::closed_by_peer`].
    ClosedByPeer,
    /// [`Stats::closed_by_server`].
    ClosedByServer,
    /// [`Stats::closed_protocol_error`].
    ClosedProtocolError,
    /// [`Stats::closed_invalid_utf8`].
    ClosedInvalidUtf8,
    /// [`Stats::closed_too_big`].
    ClosedTooBig,
    /// [`Stats::closed_idle`].
    ClosedIdle,
    /// [`Stats::closed_close_timeout`].
    ClosedCloseTimeout,
    /// [`Stats::closed_message_timeout`].
    ClosedMessageTimeout,
    /// [`Stats::closed_no_room`].
    ClosedNoRoom,
    /// [`Stats::closed_peer_gone`].
    ClosedPeerGone,
}

impl Counter {
    /// The counter of an HTTP refusal with status `code`: 400, 401 and 403, 404, 405, 408,
    /// 426 and 431 have their own, every other status (500, 503) shares `http_other`.
    pub(crate) const fn http(code: u16) -> Counter {
        match code {
            400 => Counter::Http400,
            401 | 403 => Counter::Http401Or403,
            404 => Counter::Http404,
            405 => Counter::Http405,
            408 => Counter::Http408,
            426 => Counter::Http426,
            431 => Counter::Http431,
            _ => Counter::HttpOther,
        }
    }
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

    /// Adds `n` to `counter` (wrapping): the one way a count changes.
    #[inline]
    pub(crate) fn add(&mut self, counter: Counter, n: u32) {
        let c = match counter {
            Counter::Accepted => &mut self.accepted,
            Counter::RefusedFull => &mut self.refused_full,
            Counter::RefusedPerAddress => &mut self.refused_per_address,
            Counter::Upgraded => &mut self.upgraded,
            Counter::PagesServed => &mut self.pages_served,
            Counter::Http400 => &mut self.http_400,
            Counter::Http401Or403 => &mut self.http_401_403,
            Counter::Http404 => &mut self.http_404,
            Counter::Http405 => &mut self.http_405,
            Counter::Http408 => &mut self.http_408,
            Counter::Http426 => &mut self.http_426,
            Counter::Http431 => &mut self.http_431,
            Counter::HttpOther => &mut self.http_other,
            Counter::Messages => &mut self.messages,
            Counter::Dispatched => &mut self.dispatched,
            Counter::DroppedInvalidJson => &mut self.dropped_invalid_json,
            Counter::DroppedNotObject => &mut self.dropped_not_object,
            Counter::DroppedNoEvent => &mut self.dropped_no_event,
            Counter::DroppedUnknownEvent => &mut self.dropped_unknown_event,
            Counter::Exceptions => &mut self.exceptions,
            Counter::FramesSent => &mut self.frames_sent,
            Counter::SendFailed => &mut self.send_failed,
            Counter::BroadcastDropped => &mut self.broadcast_dropped,
            Counter::PingsSent => &mut self.pings_sent,
            Counter::ClosedByPeer => &mut self.closed_by_peer,
            Counter::ClosedByServer => &mut self.closed_by_server,
            Counter::ClosedProtocolError => &mut self.closed_protocol_error,
            Counter::ClosedInvalidUtf8 => &mut self.closed_invalid_utf8,
            Counter::ClosedTooBig => &mut self.closed_too_big,
            Counter::ClosedIdle => &mut self.closed_idle,
            Counter::ClosedCloseTimeout => &mut self.closed_close_timeout,
            Counter::ClosedMessageTimeout => &mut self.closed_message_timeout,
            Counter::ClosedNoRoom => &mut self.closed_no_room,
            Counter::ClosedPeerGone => &mut self.closed_peer_gone,
        };
        *c = c.wrapping_add(n);
    }

    /// Total messages dropped without a handler.
    pub fn dropped(&self) -> u32 {
        self.dropped_invalid_json
            .wrapping_add(self.dropped_not_object)
            .wrapping_add(self.dropped_no_event)
            .wrapping_add(self.dropped_unknown_event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every counter of the enum moves its own field, and only that one.
    #[test]
    fn each_counter_moves_its_own_field() {
        let all = [
            Counter::Accepted,
            Counter::RefusedFull,
            Counter::RefusedPerAddress,
            Counter::Upgraded,
            Counter::PagesServed,
            Counter::Http400,
            Counter::Http401Or403,
            Counter::Http404,
            Counter::Http405,
            Counter::Http408,
            Counter::Http426,
            Counter::Http431,
            Counter::HttpOther,
            Counter::Messages,
            Counter::Dispatched,
            Counter::DroppedInvalidJson,
            Counter::DroppedNotObject,
            Counter::DroppedNoEvent,
            Counter::DroppedUnknownEvent,
            Counter::Exceptions,
            Counter::FramesSent,
            Counter::SendFailed,
            Counter::BroadcastDropped,
            Counter::PingsSent,
            Counter::ClosedByPeer,
            Counter::ClosedByServer,
            Counter::ClosedProtocolError,
            Counter::ClosedInvalidUtf8,
            Counter::ClosedTooBig,
            Counter::ClosedIdle,
            Counter::ClosedCloseTimeout,
            Counter::ClosedMessageTimeout,
            Counter::ClosedNoRoom,
            Counter::ClosedPeerGone,
        ];
        // Stats is 34 u32 fields and nothing else.
        assert_eq!(core::mem::size_of::<Stats>(), all.len() * 4);
        let mut seen = Stats::new();
        for (i, c) in all.iter().enumerate() {
            let before = seen;
            seen.add(*c, i as u32 + 1);
            assert_ne!(before, seen, "{c:?} moved nothing");
        }
        // Each field holds its own counter's amount: the sum of 1..=34 only if no two
        // counters share a field.
        let total: u32 = [
            seen.accepted,
            seen.refused_full,
            seen.refused_per_address,
            seen.upgraded,
            seen.pages_served,
            seen.http_400,
            seen.http_401_403,
            seen.http_404,
            seen.http_405,
            seen.http_408,
            seen.http_426,
            seen.http_431,
            seen.http_other,
            seen.messages,
            seen.dispatched,
            seen.dropped_invalid_json,
            seen.dropped_not_object,
            seen.dropped_no_event,
            seen.dropped_unknown_event,
            seen.exceptions,
            seen.frames_sent,
            seen.send_failed,
            seen.broadcast_dropped,
            seen.pings_sent,
            seen.closed_by_peer,
            seen.closed_by_server,
            seen.closed_protocol_error,
            seen.closed_invalid_utf8,
            seen.closed_too_big,
            seen.closed_idle,
            seen.closed_close_timeout,
            seen.closed_message_timeout,
            seen.closed_no_room,
            seen.closed_peer_gone,
        ]
        .iter()
        .sum();
        assert_eq!(total, (1..=34).sum::<u32>());
        assert_eq!(seen.messages, 14);
    }

    #[test]
    fn counters_wrap() {
        let mut s = Stats::new();
        s.add(Counter::Messages, u32::MAX);
        s.add(Counter::Messages, 2);
        assert_eq!(s.messages, 1);
    }

    #[test]
    fn http_statuses_have_their_counters() {
        assert_eq!(Counter::http(400), Counter::Http400);
        assert_eq!(Counter::http(401), Counter::Http401Or403);
        assert_eq!(Counter::http(403), Counter::Http401Or403);
        assert_eq!(Counter::http(404), Counter::Http404);
        assert_eq!(Counter::http(405), Counter::Http405);
        assert_eq!(Counter::http(408), Counter::Http408);
        assert_eq!(Counter::http(426), Counter::Http426);
        assert_eq!(Counter::http(431), Counter::Http431);
        assert_eq!(Counter::http(500), Counter::HttpOther);
        assert_eq!(Counter::http(503), Counter::HttpOther);
    }
}
