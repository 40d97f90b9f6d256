//! wsgate under test in the benchmark suite (started by `benches/run.sh`): the tokio
//! transport with one gateway on `/` whose `echo` handler answers as a NestJS
//! `@SubscribeMessage('echo')` handler returning `{ event: 'echo', data }` does.
//!
//! Profiles (the capacities are const generics, so each is its own build of the server):
//! - default: 128 slots with 32 KiB receive and transmit buffers (workloads a-c, up to 16 KiB
//!   messages);
//! - `--idle`: 1,000 slots with 2 KiB receive and transmit buffers (workload d, idle
//!   connections).
//!
//! `--sans-io N` instead feeds N pre-encoded 64 B echo requests straight into a sans-IO
//! `Server` (no socket, no runtime) and exits: `benches/run.sh` counts its instructions with
//! callgrind, for the core's own cost per message.
//!
//! It prints `listening on 127.0.0.1:PORT` and, on the next line, `prealloc BYTES`: the
//! memory allocated once at start for all slots (`TokioServer::preallocated`). `benches/run.sh` counts that memory
//! per slot in the resident memory per connection, since the slots exist before any client.

#[path = "support/mod.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use wsgate::gateway::{Context, Data, Gateway, HandlerResult};
use wsgate::transport::tokio::{TokioOptions, TokioServer};
use wsgate::{Config, Server, WebSocketAdapter};

/// `@SubscribeMessage('echo') handle(data) { return { event: 'echo', data }; }`
fn echo(_: &mut (), cx: &mut Context<'_>, data: Data<'_>) -> HandlerResult {
    Ok(cx.reply_raw("echo", data.json())?)
}

async fn serve<const N: usize, const RX: usize, const TX: usize>(
    port: u16,
    max_head: usize,
) -> std::io::Result<()> {
    let options = TokioOptions {
        config: Config {
            max_head,
            ..Config::DEFAULT
        },
        ..TokioOptions::default()
    };
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let mut server: TokioServer<N, RX, TX, 1> = TokioServer::bind(addr, options)?;
    let mut gateway: Gateway<(), 1> = Gateway::new("/", ());
    gateway
        .on("echo", echo)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    server.bind_message_handlers(Box::new(gateway))?;
    println!("listening on {}", server.local_addr());
    println!("prealloc {}", server.preallocated());
    server.run().await
}

/// The core alone: `n` echo requests through a sans-IO server, each reply taken and checked.
fn sans_io(n: u64) -> std::io::Result<()> {
    const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let bad = |what: &str| std::io::Error::other(what.to_string());
    let mut gateway: Gateway<(), 1> = Gateway::new("/", ());
    gateway.on("echo", echo).map_err(|_| bad("handler"))?;
    let mut server: Box<Server<'_, 1, 4096, 4096, 1>> = Box::new(Server::new(Config::DEFAULT));
    server.add_gateway(&mut gateway).map_err(|_| bad("bind"))?;
    server.init();
    let id = server.accept(0).map_err(|_| bad("accept"))?;
    server.feed(id, UPGRADE, 0).map_err(|_| bad("upgrade"))?;
    let n101 = server.output(id).len();
    server.consume(id, n101);
    // The load generator's 64 B request, masked.
    let json = br#"{"event":"echo","data":{"seq":1000000001,"p":"xxxxxxxxxxxxxxx"}}"#;
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81, 0x80 | json.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(json.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    for _ in 0..n {
        server.feed(id, &frame, 1).map_err(|_| bad("feed"))?;
        let out = server.output(id);
        if out.get(2..) != Some(&json[..]) {
            return Err(bad("wrong reply"));
        }
        let len = out.len();
        server.consume(id, len);
    }
    println!("sans-io: {n} messages");
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(n) = args
        .iter()
        .position(|a| a == "--sans-io")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<u64>().ok())
    {
        return sans_io(n);
    }
    let Some(port) = support::port_arg("wsgate_server") else {
        println!("wsgate_server: the wsgate server of benches/run.sh; usage: --port N [--idle]");
        return Ok(());
    };
    let idle = args.iter().any(|a| a == "--idle");
    // The server is built on the stack before it moves to the heap: give the thread room.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            if idle {
                rt.block_on(serve::<1000, 2048, 2048>(port, 2048))
            } else {
                rt.block_on(serve::<128, 32768, 32768>(port, 4096))
            }
        })?
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("server thread panicked")))
}
