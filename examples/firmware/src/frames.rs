//! Feature `frames`: handshake and framing only. Each client gets a `wsgate::Connection` (the
//! sans-IO state machine: request head, `Sec-WebSocket-Accept`, frames, UTF-8, ping, close),
//! driven here by hand: the upgrade is accepted on any path and every message is echoed back
//! as it came. No envelope, no gateways, no timers.

use crate::{PORT, READ_BUF, RX, SLOTS, SOCKET_RX, SOCKET_TX, TASKS, TX, WRITE_BUF, now_ms};
use defmt::unwrap;
use embassy_executor::Spawner;
use embassy_net::Stack;
use embassy_net::tcp::TcpSocket;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use embedded_io_async::Write;
use static_cell::StaticCell;
use wsgate::Connection;
use wsgate::connection::Event;
use wsgate::protocol::handshake::{Request, validate_upgrade};
use wsgate::protocol::http::SERVER_FULL_RESPONSE;

type Conn = Connection<RX, TX>;
/// The connections; a task holds one's lock while it serves a client on it.
type Conns = [Mutex<NoopRawMutex, Conn>; SLOTS];

static CONNS: StaticCell<Conns> = StaticCell::new();

#[embassy_executor::task(pool_size = TASKS)]
async fn ws_task(stack: Stack<'static>, conns: &'static Conns) -> ! {
    let (mut rx, mut tx) = ([0u8; SOCKET_RX], [0u8; SOCKET_TX]);
    let (mut rbuf, mut wbuf) = ([0u8; READ_BUF], [0u8; WRITE_BUF]);
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        if socket.accept(PORT).await.is_err() {
            continue;
        }
        match conns.iter().find_map(|c| c.try_lock().ok()) {
            Some(mut conn) => serve(&mut conn, &mut socket, &mut rbuf, &mut wbuf).await,
            None => {
                let _ = socket.write_all(SERVER_FULL_RESPONSE).await;
            }
        }
        socket.close();
        let _ = socket.flush().await;
        socket.abort();
    }
}

/// Writes out everything the connection has queued.
async fn flush(conn: &mut Conn, socket: &mut TcpSocket<'_>, wbuf: &mut [u8]) -> Result<(), ()> {
    loop {
        let out = conn.output();
        let n = out.len().min(wbuf.len());
        let (Some(dst), Some(src)) = (wbuf.get_mut(..n), out.get(..n)) else {
            return Err(());
        };
        dst.copy_from_slice(src);
        conn.consume(n);
        if n == 0 {
            return Ok(());
        }
        socket.write_all(dst).await.map_err(|_| ())?;
    }
}

/// Answers the request head: the 101 for a valid upgrade, an HTTP error otherwise.
fn answer(conn: &mut Conn) {
    let mut key = [0u8; 24];
    let verdict = Request::parse(conn.request_head()).and_then(|req| {
        let upgrade = validate_upgrade(&req)?;
        if let (Some(dst), Some(src)) = (key.get_mut(..), upgrade.key.get(..24)) {
            dst.copy_from_slice(src);
        }
        Ok(())
    });
    match verdict {
        Ok(()) => {
            let _ = conn.accept(&key, None);
        }
        Err(e) => conn.refuse(&e),
    }
}

async fn serve(conn: &mut Conn, socket: &mut TcpSocket<'_>, rbuf: &mut [u8], wbuf: &mut [u8]) {
    conn.start(now_ms());
    'client: loop {
        if flush(conn, socket, wbuf).await.is_err() || conn.wants_close() {
            break;
        }
        let n = match socket.read(rbuf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut pos = 0;
        let mut stalled = false;
        while let Some(input) = rbuf.get(pos..n).filter(|i| !i.is_empty()) {
            let step = conn.feed(input, now_ms(), RX);
            pos += step.consumed;
            match step.event {
                Some(Event::Request) => answer(conn),
                Some(Event::Message(kind)) => {
                    let (message, outbox) = conn.message_and_outbox();
                    let _ = outbox.send(kind.opcode(), message);
                    conn.message_done();
                }
                Some(_) => {}
                None if step.consumed == 0 => {
                    // The output is full (a pong is owed): write it out, then go on.
                    if stalled || flush(conn, socket, wbuf).await.is_err() {
                        break 'client;
                    }
                    stalled = true;
                    continue;
                }
                None => {}
            }
            stalled = false;
        }
    }
    conn.reset();
}

/// Starts the tasks.
pub fn spawn(spawner: Spawner, stack: Stack<'static>) {
    let conns: &'static Conns = CONNS.init([const { Mutex::new(Connection::new()) }; SLOTS]);
    for _ in 0..TASKS {
        spawner.spawn(unwrap!(ws_task(stack, conns)));
    }
}
