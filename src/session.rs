//! The async loop that runs one client, written over `embedded_io_async::{Read, Write}`: the
//! embassy-net transport runs it on each `TcpSocket`, and any other transport with one task
//! per client can. (The tokio transport drives all its clients from one task of its own, and
//! uses [`linger`] for the sockets it refuses.)
//!
//! The loop waits for whichever comes first: bytes from the socket, a wake-up (another task
//! queued frames for this client), or the client's next timer. Bytes are fed to the sans-IO
//! server; everything a read produced is written back in one `write_all`, so replies to a
//! burst of messages leave in one TCP write. When the connection is finished it flushes,
//! shuts down its write side, waits briefly for the peer to close, and releases the slot.
//!
//! The server itself lives with the transport (behind a `RefCell` or a blocking mutex); the
//! loop only touches it through [`Host`] in short synchronous calls, never across an `.await`.

use crate::gateway::ClientId;
use embassy_futures::select::{Either, Either3, select, select3};
use embedded_io_async::{Read, Write};

/// A socket the session can also half-close (send FIN) before dropping it.
pub trait Socket: Read + Write {
    /// Shuts down the write side (TCP FIN); the read side stays open.
    fn shutdown_write(&mut self) -> impl Future<Output = ()>;
}

/// What a transport gives the session loop: access to its server, its clock, its wake-ups.
pub trait Host {
    /// Milliseconds since the transport started.
    fn now_ms(&self) -> u64;
    /// [`crate::Server::feed`]; returns bytes used (0 for an unknown client).
    fn feed(&self, id: ClientId, input: &[u8], now: u64) -> usize;
    /// Copies up to `out.len()` bytes of [`crate::Server::output`] into `out` and consumes
    /// them; returns how many.
    fn take_output(&self, id: ClientId, out: &mut [u8]) -> usize;
    /// [`crate::Server::resume`]: dispatches a message that waited for transmit room; true
    /// when it did (there is output to write).
    fn resume(&self, id: ClientId, now: u64) -> bool;
    /// [`crate::Server::wants_close`].
    fn wants_close(&self, id: ClientId) -> bool;
    /// [`crate::Server::poll`].
    fn poll(&self, id: ClientId, now: u64);
    /// [`crate::Server::next_deadline`].
    fn next_deadline(&self, id: ClientId) -> Option<u64>;
    /// How long to wait for the peer's FIN after ours, in ms.
    fn linger_ms(&self) -> u64;
    /// [`crate::Server::release`].
    fn release(&self, id: ClientId);
    /// Wakes the tasks of the slots the server flagged (frames queued for them), except
    /// `except`'s own.
    fn wake_flagged(&self, except: ClientId);
    /// Resolves when this slot is woken.
    fn wait_wake(&self, slot: usize) -> impl Future<Output = ()>;
    /// Resolves at `deadline` (ms), or never for `None`.
    fn sleep_until(&self, deadline: Option<u64>) -> impl Future<Output = ()>;
}

/// Writes everything the server has for `id`. Err when the socket failed, or when the
/// client's timers ended the connection while the peer was not reading (the rest of the
/// output is then dropped with the socket).
async fn flush<H: Host, S: Socket>(
    host: &H,
    id: ClientId,
    io: &mut S,
    wbuf: &mut [u8],
) -> Result<(), ()> {
    loop {
        let n = host.take_output(id, wbuf);
        if n == 0 {
            break;
        }
        let mut off = 0;
        while off < n {
            let chunk = wbuf.get(off..n).unwrap_or(&[]);
            // A single `write` either writes some bytes or none, so racing it against the
            // timer loses nothing; the timers must run even when the peer stops reading.
            match select(io.write(chunk), host.sleep_until(host.next_deadline(id))).await {
                Either::First(Ok(0)) | Either::First(Err(_)) => return Err(()),
                Either::First(Ok(k)) => off += k,
                Either::Second(()) => {
                    host.poll(id, host.now_ms());
                    host.wake_flagged(id);
                    if host.wants_close(id) {
                        return Err(());
                    }
                }
            }
        }
    }
    io.flush().await.map_err(|_| ())
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
    let clean = serve(host, id, io, rbuf, wbuf).await;
    // The slot is free as soon as the server is done with it; lingering needs only the socket.
    host.release(id);
    if clean {
        linger(host, io, rbuf).await;
    }
}

/// The main loop; true when the socket should be shut down politely.
async fn serve<H: Host, S: Socket>(
    host: &H,
    id: ClientId,
    io: &mut S,
    rbuf: &mut [u8],
    wbuf: &mut [u8],
) -> bool {
    loop {
        if flush(host, id, io, wbuf).await.is_err() {
            return false;
        }
        if host.resume(id, host.now_ms()) {
            // A message waited for the output to drain; its replies are out next.
            continue;
        }
        if host.wants_close(id) {
            return true;
        }
        let deadline = host.next_deadline(id);
        let woke = select3(
            io.read(rbuf),
            host.wait_wake(id.index()),
            host.sleep_until(deadline),
        )
        .await;
        match woke {
            Either3::First(Ok(0)) | Either3::First(Err(_)) => return false,
            Either3::First(Ok(n)) => {
                let mut pos = 0;
                let mut stalled = false;
                while pos < n {
                    let input = rbuf.get(pos..n).unwrap_or(&[]);
                    let used = host.feed(id, input, host.now_ms());
                    host.wake_flagged(id);
                    pos += used;
                    if pos < n {
                        if used == 0 && (stalled || host.wants_close(id)) {
                            // No progress even after a flush: the server will not take
                            // these bytes (it has finished with this client).
                            break;
                        }
                        stalled = used == 0;
                        // The transmit buffer is full: write it out, then go on.
                        if flush(host, id, io, wbuf).await.is_err() {
                            return false;
                        }
                        if host.resume(id, host.now_ms()) {
                            stalled = false;
                            host.wake_flagged(id);
                        }
                    }
                }
            }
            Either3::Second(()) => {}
            Either3::Third(()) => {
                host.poll(id, host.now_ms());
                host.wake_flagged(id);
            }
        }
    }
}

/// After the last bytes: send FIN, then read and discard until the peer closes or the linger
/// time passes, so unread input never turns our close into a TCP reset.
pub async fn linger<H: Host, S: Socket>(host: &H, io: &mut S, rbuf: &mut [u8]) {
    io.shutdown_write().await;
    let deadline = host.now_ms().saturating_add(host.linger_ms());
    loop {
        let r =
            embassy_futures::select::select(io.read(rbuf), host.sleep_until(Some(deadline))).await;
        match r {
            embassy_futures::select::Either::First(Ok(n)) if n > 0 => continue,
            _ => break,
        }
    }
}
