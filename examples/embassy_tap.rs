//! The NestJS sample `16-gateways-ws` on the embassy-net transport, over a Linux TAP device.
//!
//! This is the firmware's code path (embassy-net's TCP/IP stack, `EmbassyServer::run_slot`,
//! a microcontroller's buffer sizes) running on a host: `embassy-net-tuntap` gives the stack
//! an Ethernet device whose other end is a TAP interface of the kernel. The gateways and the
//! control page are the ones `events_server` serves, from `examples/shared/events.rs`.
//!
//! The TAP device must exist and the kernel side must have an address in the same subnet.
//! `.ci/tap.sh` does all of it inside a throwaway network namespace and drives the example
//! with a real client; by hand (as root):
//!
//! ```sh
//! ip netns add wsgate-demo
//! ip -n wsgate-demo tuntap add dev wsgate0 mode tap
//! ip -n wsgate-demo addr add 192.168.69.1/24 dev wsgate0
//! ip -n wsgate-demo link set wsgate0 up
//! cargo build --example embassy_tap
//! ip netns exec wsgate-demo target/debug/examples/embassy_tap --tap wsgate0 --ip 192.168.69.2/24
//! # in another shell: ip netns exec wsgate-demo curl http://192.168.69.2:8080/
//! ip netns del wsgate-demo   # afterwards; this removes the TAP device too
//! ```
//!
//! Options: `--tap NAME` (default `wsgate0`), `--ip A.B.C.D/PREFIX` (the stack's own address,
//! default `192.168.69.2/24`), `--port N` (default 8080). Once the stack is up it prints
//! `serving http://A.B.C.D:PORT/`.

#[path = "shared/events.rs"]
mod events;

use embassy_executor::Spawner;
use embassy_net::{Ipv4Address, Ipv4Cidr, Runner, Stack, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use static_cell::StaticCell;
use std::io::Write;
use wsgate::gateway::{ClientId, ConnectInfo};
use wsgate::transport::embassy::EmbassyServer;
use wsgate::{CloseCode, Config, WebSocketAdapter};

/// Connection slots; one more task than this answers `503` to a client beyond them.
const SLOTS: usize = 4;
/// Largest message (and request head), as on a microcontroller.
const RX: usize = 2048;
/// Transmit buffer per client.
const TX: usize = 2048;
/// Two gateways: `/` and `/chat`.
const GATEWAYS: usize = 2;

type TapServer = EmbassyServer<NoopRawMutex, SLOTS, RX, TX, GATEWAYS>;

/// TCP sockets: one per `run_slot` task.
static RESOURCES: StaticCell<StackResources<{ SLOTS + 1 }>> = StaticCell::new();
static SERVER: StaticCell<TapServer> = StaticCell::new();
static EVENTS: StaticCell<events::EventsGateway> = StaticCell::new();
static CHAT: StaticCell<events::ChatGateway> = StaticCell::new();

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, TunTapDevice>) -> ! {
    runner.run().await
}

#[embassy_executor::task(pool_size = SLOTS + 1)]
async fn ws_task(stack: Stack<'static>, server: &'static TapServer) -> ! {
    // The TCP socket's buffers and the session's read and write buffers.
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 2048]);
    let (mut rbuf, mut wbuf) = ([0u8; 1024], [0u8; TX]);
    server
        .run_slot(stack, &mut rx, &mut tx, &mut rbuf, &mut wbuf)
        .await
}

fn on_connect(client: ClientId, info: &ConnectInfo<'_>) {
    println!("connect    {client} {}", info.path());
}

fn on_disconnect(client: ClientId, code: CloseCode) {
    println!("disconnect {client} {code}");
}

struct Options {
    tap: String,
    address: Ipv4Cidr,
    port: u16,
}

fn parse_cidr(text: &str) -> Option<Ipv4Cidr> {
    let (ip, prefix) = text.split_once('/')?;
    let ip: Ipv4Address = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|p| (1..=32).contains(p))?;
    Some(Ipv4Cidr::new(ip, prefix))
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        tap: "wsgate0".into(),
        address: Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 2), 24),
        port: 8080,
    };
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
        match name.as_str() {
            "--tap" => options.tap = value,
            "--ip" => {
                options.address = parse_cidr(&value)
                    .ok_or_else(|| format!("--ip {value}: expected A.B.C.D/PREFIX"))?;
            }
            "--port" => {
                options.port = value
                    .parse()
                    .map_err(|_| format!("--port {value}: expected a port number"))?;
            }
            _ => return Err(format!("unknown option {name}")),
        }
    }
    Ok(options)
}

/// Everything that can fail before the tasks run: a message, and the process exits 1.
fn setup(spawner: Spawner) -> Result<(), String> {
    let options = options()?;
    let device = TunTapDevice::new(&options.tap).map_err(|e| {
        format!(
            "cannot open TAP device {}: {e} (it must exist, and this needs root or CAP_NET_ADMIN)",
            options.tap
        )
    })?;

    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: options.address,
        gateway: None,
        dns_servers: heapless::Vec::new(),
    });
    // The seed only randomises TCP sequence numbers and ephemeral ports.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5eed);
    let (stack, runner) =
        embassy_net::new(device, config, RESOURCES.init(StackResources::new()), seed);

    // The server and the gateways live in `static`s, as on a microcontroller: no heap.
    let server = SERVER.init(TapServer::new(
        options.port,
        Config {
            pages: events::PAGES,
            max_head: RX,
            ..Config::DEFAULT
        },
    ));
    server
        .bind_message_handlers(EVENTS.init(events::events_gateway()))
        .map_err(|e| format!("binding /: {e:?}"))?;
    server
        .bind_message_handlers(CHAT.init(events::chat_gateway()))
        .map_err(|e| format!("binding /chat: {e:?}"))?;
    server.bind_client_connect(on_connect);
    server.bind_client_disconnect(on_disconnect);
    let server: &'static TapServer = server;

    spawner.spawn(net_task(runner).map_err(|e| format!("net task: {e:?}"))?);
    for _ in 0..=SLOTS {
        spawner.spawn(ws_task(stack, server).map_err(|e| format!("ws task: {e:?}"))?);
    }
    spawner.spawn(announce(stack, options.port).map_err(|e| format!("announce: {e:?}"))?);
    Ok(())
}

/// Prints where the server is once the stack has its address.
#[embassy_executor::task]
async fn announce(stack: Stack<'static>, port: u16) {
    stack.wait_config_up().await;
    if let Some(config) = stack.config_v4() {
        let ip = config.address.address();
        println!("wsgate on embassy-net (TAP), {SLOTS} slots");
        println!("  page:     http://{ip}:{port}/");
        println!("  events:   ws://{ip}:{port}/");
        println!("  chat:     ws://{ip}:{port}/chat");
        println!("serving http://{ip}:{port}/");
        let _ = std::io::stdout().flush();
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    if let Err(message) = setup(spawner) {
        eprintln!("embassy_tap: {message}");
        std::process::exit(1);
    }
}
