//! The message pipeline every gateway runs: the Rust [`Gateway`](super::Gateway), the C
//! ABI's gateway, and the protocols to come.
//!
//! One complete message goes through these steps, in this order, and only here:
//!
//! 1. a binary message must be UTF-8 too (replies quote its JSON in text frames);
//! 2. the envelope is parsed (the table's parser: NestJS's `messageParser`);
//! 3. the handler is looked up by event name;
//! 4. the message is counted as dispatched, and the handler is called;
//! 5. a failed handler becomes NestJS's exception frame (or, when that cannot be queued,
//!    a 1011 close; see [`Context::exception`](super::Context)).
//!
//! A message that stops at steps 1-3 is dropped without a frame, as NestJS drops it, and is
//! still counted and reported to the table ([`Handlers::dropped`]).
//!
//! What this module owns: the order of those steps and their counting. What it never does:
//! know how a handler is stored or called (that is the [`Handlers`] table's), write bytes
//! itself, or touch a connection.

use super::envelope::{Envelope, EnvelopeError};
use super::{ClientId, Context, Data, DropReason};
use crate::connection::MessageKind;
use crate::json::JsonStr;
use crate::stats::Counter;

/// What a failed handler sends: the exception frame's message, or a whole `data` object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exception<'a> {
    /// `{"event":"exception","data":{"status":"error","message":<this>,"cause":{...}}}`.
    Message(&'a str),
    /// `{"event":"exception","data":<this JSON object>}`.
    Object(&'a str),
}

/// A gateway's handler table, as the pipeline sees it.
pub(crate) trait Handlers {
    /// What a failed call returns.
    type Failure;
    /// Finds the event and data in a message.
    fn parse<'m>(&self, message: &'m [u8]) -> Result<Envelope<'m>, EnvelopeError>;
    /// The index of the handler for `event`.
    fn find(&self, event: &JsonStr<'_>) -> Option<usize>;
    /// The event name of handler `index` (the exception's `cause.pattern`).
    fn pattern(&self, index: usize) -> &str;
    /// Calls handler `index`.
    fn call(
        &mut self,
        index: usize,
        cx: &mut Context<'_>,
        data: Data<'_>,
    ) -> Result<(), Self::Failure>;
    /// What the client is told about `failure`.
    fn exception(failure: &Self::Failure) -> Exception<'_>;
    /// A message was dropped before reaching a handler (already counted).
    fn dropped(&mut self, client: ClientId, reason: DropReason) {
        let _ = (client, reason);
    }
}

/// Runs one complete message of `kind` through `table` (the steps of the module docs).
#[inline]
pub(crate) fn dispatch<T: Handlers + ?Sized>(
    table: &mut T,
    cx: &mut Context<'_>,
    message: &[u8],
    kind: MessageKind,
) {
    // A text message was checked on arrival.
    if kind == MessageKind::Binary && core::str::from_utf8(message).is_err() {
        return dropped(table, cx, DropReason::InvalidJson);
    }
    let env = match table.parse(message) {
        Ok(env) => env,
        Err(e) => return dropped(table, cx, DropReason::from_envelope(e)),
    };
    let Some(index) = table.find(&env.event) else {
        return dropped(table, cx, DropReason::UnknownEvent);
    };
    cx.stats.add(Counter::Dispatched, 1);
    if let Err(failure) = table.call(index, cx, Data::new(env.data, kind)) {
        cx.handler_failed(T::exception(&failure), table.pattern(index), env.data);
    }
}

/// Counts a dropped message and tells the table.
fn dropped<T: Handlers + ?Sized>(table: &mut T, cx: &mut Context<'_>, reason: DropReason) {
    cx.stats.add(reason.counter(), 1);
    table.dropped(cx.client(), reason);
}
