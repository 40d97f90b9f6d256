//! Feature `peer`: the design's first choice for framing, embedded-websocket 0.9.5, in the
//! same harness, to measure it the way wsgate is measured. Like `frames`: each client's
//! upgrade is accepted (its request head parsed with httparse, as its examples do) and every
//! frame is echoed back; pings are answered and closes completed. Not a server to deploy (see
//! DESIGN §7 for why wsgate does not use it).

use crate::{PORT, READ_BUF, RX, SLOTS, SOCKET_RX, SOCKET_TX, TASKS, TX, WRITE_BUF};
use defmt::unwrap;
use embassy_executor::Spawner;
use embassy_net::Stack;
use embassy_net::tcp::TcpSocket;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use embedded_io_async::Write;
use embedded_websocket::{
    self as ews, WebSocketReceiveMessageType as Received, WebSocketSendMessageType as Reply,
    WebSocketServer,
};
use static_cell::StaticCell;

/// One client's state and buffers: the same sizes as a wsgate slot.
struct Peer {
    ws: WebSocketServer,
    rx: [u8; RX],
    tx: [u8; TX],
}

type Peers = [Mutex<NoopRawMutex, Peer>; SLOTS];

static PEERS: StaticCell<Peers> = StaticCell::new();

#[embassy_executor::task(pool_size = TASKS)]
async fn ws_task(stack: Stack<'static>, peers: &'static Peers) -> ! {
    let (mut rx, mut tx) = ([0u8; SOCKET_RX], [0u8; SOCKET_TX]);
    let (mut rbuf, mut wbuf) = ([0u8; READ_BUF], [0u8; WRITE_BUF]);
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        if socket.accept(PORT).await.is_err() {
            continue;
        }
        if let Some(mut peer) = peers.iter().find_map(|p| p.try_lock().ok()) {
            peer.ws = WebSocketServer::new_server();
            let _ = serve(&mut peer, &mut socket, &mut rbuf, &mut wbuf).await;
        }
        socket.close();
        let _ = socket.flush().await;
        socket.abort();
    }
}

/// Reads into `peer.rx` after its first `have` bytes; Err when the client left or it is full.
async fn fill(peer: &mut Peer, socket: &mut TcpSocket<'_>, have: usize) -> Result<usize, ()> {
    let free = peer
        .rx
        .get_mut(have..)
        .filter(|f| !f.is_empty())
        .ok_or(())?;
    match socket.read(free).await {
        Ok(0) | Err(_) => Err(()),
        Ok(n) => Ok(have + n),
    }
}

async fn serve(
    peer: &mut Peer,
    socket: &mut TcpSocket<'_>,
    payload: &mut [u8],
    _wbuf: &mut [u8],
) -> Result<(), ()> {
    // The request head.
    let mut have = 0;
    let (used, n) = loop {
        have = fill(peer, socket, have).await?;
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(peer.rx.get(..have).ok_or(())?) {
            Ok(httparse::Status::Complete(used)) => {
                let head = request.headers.iter().map(|h| (h.name, h.value));
                let context = ews::read_http_header(head).ok().flatten().ok_or(())?;
                let n = peer
                    .ws
                    .server_accept(&context.sec_websocket_key, None, &mut peer.tx)
                    .map_err(|_| ())?;
                break (used, n);
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return Err(()),
        }
    };
    socket
        .write_all(peer.tx.get(..n).ok_or(())?)
        .await
        .map_err(|_| ())?;
    peer.rx.copy_within(used..have, 0);
    have -= used;

    // Frames, echoed back as they come.
    loop {
        let input = peer.rx.get(..have).ok_or(())?;
        let read = match peer.ws.read(input, payload) {
            Ok(read) => read,
            Err(ews::Error::ReadFrameIncomplete) => {
                have = fill(peer, socket, have).await?;
                continue;
            }
            Err(_) => return Err(()),
        };
        peer.rx.copy_within(read.len_from..have, 0);
        have -= read.len_from;
        let data = payload.get(..read.len_to).ok_or(())?;
        let reply = match read.message_type {
            Received::Text => Reply::Text,
            Received::Binary => Reply::Binary,
            Received::Ping => Reply::Pong,
            Received::CloseMustReply => Reply::CloseReply,
            Received::CloseCompleted => return Ok(()),
            Received::Pong => continue,
        };
        let n = peer
            .ws
            .write(reply, read.end_of_message, data, &mut peer.tx)
            .map_err(|_| ())?;
        socket
            .write_all(peer.tx.get(..n).ok_or(())?)
            .await
            .map_err(|_| ())?;
        if matches!(reply, Reply::CloseReply) {
            return Ok(());
        }
    }
}

/// Starts the tasks.
pub fn spawn(spawner: Spawner, stack: Stack<'static>) {
    let peers: &'static Peers = PEERS.init(core::array::from_fn(|_| {
        Mutex::new(Peer {
            ws: WebSocketServer::new_server(),
            rx: [0; RX],
            tx: [0; TX],
        })
    }));
    for _ in 0..TASKS {
        spawner.spawn(unwrap!(ws_task(stack, peers)));
    }
}
