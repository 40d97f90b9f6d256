//! Feature `dispatch`: handshake, framing, envelope and dispatch. A sans-IO `wsgate::Server`
//! with one gateway (`/`, a single `echo` handler), fed by hand from each task's socket:
//! routing, HTTP answers, the `{"event","data"}` envelope, the handler table and the replies,
//! but none of the embassy transport (no timers, no wake-ups between tasks).

use crate::{PORT, READ_BUF, RX, SLOTS, SOCKET_RX, SOCKET_TX, TASKS, TX, WRITE_BUF, now_ms};
use core::cell::RefCell;
use defmt::unwrap;
use embassy_executor::Spawner;
use embassy_net::Stack;
use embassy_net::tcp::TcpSocket;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embedded_io_async::Write;
use static_cell::StaticCell;
use wsgate::gateway::ClientId;
use wsgate::protocol::http::SERVER_FULL_RESPONSE;
use wsgate::{Config, Gateway, Server};

type Shared = Mutex<NoopRawMutex, RefCell<Server<'static, SLOTS, RX, TX, 1>>>;

static SERVER: StaticCell<Shared> = StaticCell::new();
static ECHO: StaticCell<Gateway<(), 1>> = StaticCell::new();

#[embassy_executor::task(pool_size = TASKS)]
async fn ws_task(stack: Stack<'static>, server: &'static Shared) -> ! {
    let (mut rx, mut tx) = ([0u8; SOCKET_RX], [0u8; SOCKET_TX]);
    let (mut rbuf, mut wbuf) = ([0u8; READ_BUF], [0u8; WRITE_BUF]);
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        if socket.accept(PORT).await.is_err() {
            continue;
        }
        match server.lock(|s| s.borrow_mut().accept(now_ms())) {
            Ok(id) => {
                serve(server, id, &mut socket, &mut rbuf, &mut wbuf).await;
                server.lock(|s| s.borrow_mut().release(id));
            }
            Err(_) => {
                let _ = socket.write_all(SERVER_FULL_RESPONSE).await;
            }
        }
        socket.close();
        let _ = socket.flush().await;
        socket.abort();
    }
}

/// Writes out everything the server has for `id`.
async fn flush(
    server: &Shared,
    id: ClientId,
    socket: &mut TcpSocket<'_>,
    wbuf: &mut [u8],
) -> Result<(), ()> {
    loop {
        let n = server.lock(|s| {
            let mut s = s.borrow_mut();
            let out = s.output(id);
            let n = out.len().min(wbuf.len());
            match (wbuf.get_mut(..n), out.get(..n)) {
                (Some(dst), Some(src)) => dst.copy_from_slice(src),
                _ => return 0,
            }
            s.consume(id, n);
            n
        });
        let Some(chunk) = wbuf.get(..n).filter(|c| !c.is_empty()) else {
            return Ok(());
        };
        socket.write_all(chunk).await.map_err(|_| ())?;
    }
}

async fn serve(
    server: &Shared,
    id: ClientId,
    socket: &mut TcpSocket<'_>,
    rbuf: &mut [u8],
    wbuf: &mut [u8],
) {
    loop {
        if flush(server, id, socket, wbuf).await.is_err() {
            return;
        }
        if server.lock(|s| s.borrow().wants_close(id)) {
            return;
        }
        let n = match socket.read(rbuf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut pos = 0;
        let mut stalled = false;
        while let Some(input) = rbuf.get(pos..n).filter(|i| !i.is_empty()) {
            let used = server.lock(|s| s.borrow_mut().feed(id, input, now_ms()).unwrap_or(0));
            pos += used;
            if pos < n {
                // The transmit buffer is full: write it out, let a waiting message through,
                // and feed the rest. No progress twice: the server is done with this client.
                if used == 0 && stalled {
                    return;
                }
                stalled = used == 0;
                if flush(server, id, socket, wbuf).await.is_err() {
                    return;
                }
                server.lock(|s| s.borrow_mut().resume(id, now_ms()).unwrap_or(false));
            }
        }
    }
}

/// Builds the server with its gateway and starts the tasks.
pub fn spawn(spawner: Spawner, stack: Stack<'static>) {
    let server = SERVER.init(Mutex::new(RefCell::new(Server::new(Config::DEFAULT))));
    server.lock(|s| {
        let mut s = s.borrow_mut();
        unwrap!(s.add_gateway(ECHO.init(crate::echo_gateway())));
        s.init();
    });
    let server: &'static Shared = server;
    for _ in 0..TASKS {
        spawner.spawn(unwrap!(ws_task(stack, server)));
    }
}
