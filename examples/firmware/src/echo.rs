//! Feature `baseline`: the firmware without wsgate. The same tasks, sockets and buffers as
//! the other variants, each echoing what it reads: the reference `size.sh` subtracts.

use crate::{PORT, READ_BUF, SOCKET_RX, SOCKET_TX, TASKS, WRITE_BUF};
use defmt::unwrap;
use embassy_executor::Spawner;
use embassy_net::Stack;
use embassy_net::tcp::TcpSocket;
use embedded_io_async::Write;

#[embassy_executor::task(pool_size = TASKS)]
async fn echo_task(stack: Stack<'static>) -> ! {
    let (mut rx, mut tx) = ([0u8; SOCKET_RX], [0u8; SOCKET_TX]);
    let (mut rbuf, mut wbuf) = ([0u8; READ_BUF], [0u8; WRITE_BUF]);
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        if socket.accept(PORT).await.is_err() {
            continue;
        }
        loop {
            let n = match socket.read(&mut rbuf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n.min(WRITE_BUF),
            };
            let (Some(dst), Some(src)) = (wbuf.get_mut(..n), rbuf.get(..n)) else {
                break;
            };
            dst.copy_from_slice(src);
            if socket.write_all(dst).await.is_err() {
                break;
            }
        }
        socket.close();
        let _ = socket.flush().await;
        socket.abort();
    }
}

/// Starts the tasks.
pub fn spawn(spawner: Spawner, stack: Stack<'static>) {
    for _ in 0..TASKS {
        spawner.spawn(unwrap!(echo_task(stack)));
    }
}
