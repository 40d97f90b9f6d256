//! A raw WebSocket echo endpoint: every text message back as text, every binary message back
//! as binary, after reassembly. It runs through the same server, connection and protocol code
//! as the event gateways; only the gateway is different (a [`Service`] of its own instead of
//! the JSON envelope). This is what protocol conformance suites (Autobahn, kosoku) drive.
//!
//! `cargo run --release --example echo_server -- --port 9001` (a 16 MiB message limit), or
//! `-- --small` for the 4 KiB profile of a microcontroller. At start it raises its open-file
//! soft limit to the hard limit (a one-line warning when it cannot).

#[path = "shared/limits.rs"]
mod limits;

use std::net::{IpAddr, SocketAddr};
use wsgate::connection::MessageKind;
use wsgate::gateway::{Context, Service};
use wsgate::transport::tokio::{TokioOptions, TokioServer};
use wsgate::{Config, WebSocketAdapter};

/// Echoes each message as it came.
struct RawEcho;

impl Service for RawEcho {
    fn path(&self) -> &str {
        "/"
    }
    fn dispatch(&mut self, cx: &mut Context<'_>, message: &[u8], kind: MessageKind) {
        // Text was validated as UTF-8 on the way in; a reply that does not fit is counted.
        let _ = match (kind, core::str::from_utf8(message)) {
            (MessageKind::Text, Ok(text)) => cx.send_text(text),
            _ => cx.send_binary(message),
        };
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn serve<const RX: usize, const TX: usize>(addr: SocketAddr) -> std::io::Result<()> {
    // Dispatch a message only when its echo fits: the transmit buffer holds one whole reply.
    let options = TokioOptions {
        config: Config {
            reply_room: TX,
            ..Config::DEFAULT
        },
        ..TokioOptions::default()
    };
    let mut server: TokioServer<4, RX, TX, 1> = TokioServer::bind(addr, options)?;
    server.bind_message_handlers(Box::new(RawEcho))?;
    println!(
        "echo server on ws://{} ({} byte messages)",
        server.local_addr(),
        RX
    );
    server.run().await
}

/// The 16 MiB profile: Autobahn's largest messages are 16 MiB. The transmit buffer holds
/// one whole echo (payload plus a frame header of at most 10 bytes).
const LARGE: usize = 16 * 1024 * 1024;

fn main() -> std::io::Result<()> {
    limits::raise_open_file_limit();
    let host: IpAddr = arg("--host")
        .and_then(|h| h.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(9001);
    let small = std::env::args().any(|a| a == "--small");
    let addr = SocketAddr::new(host, port);
    // The server's buffers are built on the stack before they move into place: give this
    // thread room for four slots of the large profile.
    std::thread::Builder::new()
        .stack_size(if small { 8 << 20 } else { 1 << 30 })
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            if small {
                rt.block_on(serve::<4096, { 4096 + 16 }>(addr))
            } else {
                rt.block_on(serve::<LARGE, { LARGE + 16 }>(addr))
            }
        })?
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("server thread panicked")))
}
