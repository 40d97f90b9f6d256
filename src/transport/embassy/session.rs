//! The embassy transport's session loop: the async loop that runs one client, written over
//! `embedded_io_async::{Read, Write}`. [`EmbassyServer::run_slot`] runs it on each accepted
//! `TcpSocket`. It knows embassy-net only through the [`Host`] and [`Socket`] traits, so
//! another transport with one task per client could run it too; the tokio transport does not
//! (it drives all its clients from one task of its own).
//!
//! The loop waits for whichever comes first: bytes from the socket, a wake-up (another task
//! queued frames for this client), or the client's next timer. Then it takes one short
//! synchronous [`Host::turn`]: the server is fed what was read, runs its timers, and hands
//! back everything it has to send, which leaves in one write, so replies to a burst of
//! messages leave in one TCP write. A turn takes at most the client's share
//! (`Config::messages_per_turn`): with input left, the loop yields to the executor before
//! the next turn, so one client streaming messages cannot keep the other tasks (clients,
//! the network stack) from running. When the connection is finished it flushes, shuts down
//! its write side, waits briefly for the peer to close, and releases the slot.
//!
//! This module owns the loop and the [`Turn`] it gets from each step. It never touches the
//! server itself: the server lives with the transport (behind a `RefCell` or a blocking
//! mutex), and the loop reaches it only through [`Host::turn`] and [`Host::release`], short
//! synchronous calls, never held across an `.await`. It never reads a clock of its own
//! (time comes from [`Host::now_ms`] and [`Host::sleep_until`]), never allocates and never
//! spawns.
//!
//! [`EmbassyServer::run_slot`]: super::EmbassyServer::run_slot

use crate::gateway::ClientId;
use embassy_futures::select::{Either, Either3, select, select3};
use embedded_io_async::{Read, Write};

/// A socket the session can also half-close (send FIN) before dropping it.
pub trait Socket: Read + Write {
    /// Shuts down the write side (TCP FIN); the read side stays open.
    fn shutdown_write(&mut self) -> impl Future<Output = ()>;
}

/// What one [`Host::turn`] did, and what the session loop does next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    /// Input bytes the server took. Bytes it left are for the next turn (the transmit
    /// buffer needed writing out, or the client used its share of this turn), or, once
    /// `close` is true, bytes it will never take.
    pub used: usize,
    /// Output bytes copied into the turn's `out` buffer, to be written to the socket.
    pub out: usize,
    /// [`crate::Server::wants_close`] after the output was taken: once `out` is written, the
    /// connection is over.
    pub close: bool,
    /// [`crate::Server::next_deadline`]: when to take the next turn if nothing else happens.
    pub deadline: Option<u64>,
}

/// What a transport gives the session loop: its server (in short synchronous calls), its
/// clock, its wake-ups. These are exactly what [`run`] and [`linger`] call.
pub trait Host {
    /// Milliseconds since the transport started.
    fn now_ms(&self) -> u64;
    /// One turn of the session loop for `id` at the time now, in short synchronous calls on
    /// the server, never across an `.await` (the embassy transport makes them under one
    /// lock): feeds `input` ([`crate::Server::feed`]) or, when it is empty, dispatches a
    /// message that waited for transmit room ([`crate::Server::resume`]); runs the timers
    /// that are due ([`crate::Server::poll`]); copies up to `out.len()` bytes of output into
    /// `out` and marks them written ([`crate::Server::take_output`]); wakes the tasks of the
    /// other slots the server flagged ([`crate::Server::take_wake`]). For an unknown client,
    /// a turn that did nothing, with `close: true`.
    fn turn(&self, id: ClientId, input: &[u8], out: &mut [u8]) -> Turn;
    /// [`crate::Server::release`].
    fn release(&self, id: ClientId);
    /// How long to wait for the peer's FIN after ours, in ms.
    fn linger_ms(&self) -> u64;
    /// Resolves when this slot is woken.
    fn wait_wake(&self, slot: usize) -> impl Future<Output = ()>;
    /// Resolves at `deadline` (ms), or never for `None`.
    fn sleep_until(&self, deadline: Option<u64>) -> impl Future<Output = ()>;
}

/// Runs client `id` on `io` until the connection ends, releases its slot, then lingers on
/// the socket (see [`linger`]).
///
/// `rbuf` is the read buffer (any size; 1-4 KiB is typical), `wbuf` the write buffer (the
/// server's `TX` is a good size).
pub async fn run<H: Host, S: Socket>(
    host: &H,
    id: ClientId,
    io: &mut S,
    rbuf: &mut [u8],
    wbuf: &mut [u8],
) {
    // The main loop, written inline (one future, not two nested); `clean` is true when the
    // socket should be shut down politely.
    // `rbuf[pos..got]` was read and not yet taken by the server.
    let (mut pos, mut got) = (0, 0);
    let clean = 'serve: loop {
        let t = host.turn(id, rbuf.get(pos..got).unwrap_or(&[]), wbuf);
        pos += t.used;
        if t.out > 0 {
            let mut off = 0;
            let mut deadline = t.deadline;
            while off < t.out {
                let chunk = wbuf.get(off..t.out).unwrap_or(&[]);
                // A single `write` either writes some bytes or none, so racing it against
                // the timer loses nothing; the timers must run even when the peer stops
                // reading.
                match select(io.write(chunk), host.sleep_until(deadline)).await {
                    Either::First(Ok(0)) | Either::First(Err(_)) => break 'serve false,
                    Either::First(Ok(k)) => off += k,
                    Either::Second(()) => {
                        // The timers ended the connection while the peer was not reading:
                        // the rest of the output is dropped with the socket.
                        let t = host.turn(id, &[], &mut []);
                        if t.close {
                            break 'serve false;
                        }
                        deadline = t.deadline;
                    }
                }
            }
            if io.flush().await.is_err() {
                break false;
            }
            if pos < got {
                // Input left for the next turn: the other tasks run first (see below).
                embassy_futures::yield_now().await;
            }
            // Then the input left over, a message that waited for room, or more output.
            continue;
        }
        if t.close {
            break true;
        }
        if pos < got {
            // The client used its share of the turn with input left: let the other tasks
            // (other clients, the network stack) run, then take the next turn.
            embassy_futures::yield_now().await;
            continue;
        }
        let woke = select3(
            io.read(rbuf),
            host.wait_wake(id.index()),
            host.sleep_until(t.deadline),
        )
        .await;
        (pos, got) = match woke {
            Either3::First(Ok(0)) | Either3::First(Err(_)) => break false,
            Either3::First(Ok(n)) => (0, n),
            Either3::Second(()) | Either3::Third(()) => (0, 0),
        };
    };
    // The slot is free as soon as the server is done with it; lingering needs only the socket.
    host.release(id);
    if clean {
        linger(host, io, rbuf).await;
    }
}

/// After the last bytes: send FIN, then read and discard until the peer closes or the linger
/// time passes, so unread input never turns our close into a TCP reset.
pub async fn linger<H: Host, S: Socket>(host: &H, io: &mut S, rbuf: &mut [u8]) {
    io.shutdown_write().await;
    let deadline = host.now_ms().saturating_add(host.linger_ms());
    loop {
        let r = select(io.read(rbuf), host.sleep_until(Some(deadline))).await;
        if !matches!(r, Either::First(Ok(1..))) {
            break;
        }
    }
}
