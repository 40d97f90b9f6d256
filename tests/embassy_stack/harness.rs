//! The machinery of `tests/embassy_stack.rs`: two embassy-net stacks in one process joined by
//! `embassy-net-driver-channel`, an embassy executor per test on its own thread, and a small
//! WebSocket client written once over `embedded_io_async` (it drives an embassy-net
//! `TcpSocket` here and a tokio `TcpStream` in the cross-transport test).
//!
//! Everything is bounded: a test body that hangs fails the test after its time limit, with the
//! last step it announced.

use crate::support::ServerFrame;
use core::cell::Cell;
use core::future::Future;
use embassy_executor::raw::TaskStorage;
use embassy_executor::{Executor, Spawner};
use embassy_futures::join::join;
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_driver_channel as ch;
use embassy_net_driver_channel::driver::{HardwareAddress, LinkState};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::{Duration, Instant, Timer};
use embedded_io_async::{Read, Write};
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration as StdDuration;
use wsgate::protocol::frame::parse_header;
use wsgate::transport::embassy::EmbassyServer;

/// The server's address on the in-process link, and its port.
pub const SERVER_IP: Ipv4Address = Ipv4Address::new(10, 42, 0, 1);
pub const CLIENT_IP: Ipv4Address = Ipv4Address::new(10, 42, 0, 2);
pub const PORT: u16 = 80;

/// Largest IP packet on the link.
const MTU: usize = 1500;
/// Packets queued per direction in each channel.
const QUEUE: usize = 8;
/// Sockets per stack.
const SOCKETS: usize = 8;

/// Upper bound for one wait inside a test body (a condition, a frame).
pub const WAIT: Duration = Duration::from_secs(3);

/// What a test body gets: the spawner of its executor and the two stacks.
#[derive(Clone, Copy)]
pub struct Net {
    pub spawner: Spawner,
    /// 10.42.0.1: the server's stack.
    pub server: Stack<'static>,
    /// 10.42.0.2: the clients' stack.
    pub client: Stack<'static>,
    /// Packets to or from this TCP port are dropped on the wire (a client that vanished).
    blackhole: &'static Cell<Option<u16>>,
    /// The last step the body announced (reported when the test times out).
    step: &'static Mutex<String>,
    /// TCP resets seen on the wire, sent by the server stack.
    resets: &'static Cell<u32>,
}

impl Net {
    /// Announces what the body does next, for the timeout message.
    pub fn step(&self, what: &str) {
        if let Ok(mut s) = self.step.lock() {
            what.clone_into(&mut s);
        }
    }

    /// From now on, every packet to or from TCP port `port` is lost, both ways.
    pub fn cut(&self, port: u16) {
        self.blackhole.set(Some(port));
    }

    /// TCP segments with RST the server stack has sent so far.
    pub fn server_resets(&self) -> u32 {
        self.resets.get()
    }

    /// Spawns `future` on this test's executor.
    pub fn spawn<F: Future + 'static>(&self, future: F) {
        spawn(self.spawner, future);
    }

    /// Runs `server` on the server stack: `N + 1` slot tasks, the one beyond capacity
    /// answering 503, as the transport's docs say firmware should.
    pub fn serve<const N: usize, const RX: usize, const TX: usize, const G: usize>(
        &self,
        server: &'static EmbassyServer<NoopRawMutex, N, RX, TX, G>,
    ) {
        for _ in 0..=N {
            let stack = self.server;
            self.spawn(async move {
                let (mut rx, mut tx) = ([0u8; 2048], [0u8; 2048]);
                let (mut rbuf, mut wbuf) = ([0u8; 1024], [0u8; TX]);
                server
                    .run_slot(stack, &mut rx, &mut tx, &mut rbuf, &mut wbuf)
                    .await
            });
        }
    }

    /// A TCP connection from the client stack to the server.
    pub async fn dial(&self) -> EmbassyIo {
        let rx = Box::leak(vec![0u8; 4096].into_boxed_slice());
        let tx = Box::leak(vec![0u8; 4096].into_boxed_slice());
        let mut socket = TcpSocket::new(self.client, rx, tx);
        socket.set_nagle_enabled(false);
        let r = embassy_time::with_timeout(WAIT, socket.connect((SERVER_IP, PORT))).await;
        match r {
            Ok(Ok(())) => EmbassyIo(socket),
            Ok(Err(e)) => panic!("TCP connect to {SERVER_IP}:{PORT} failed: {e:?}"),
            Err(_) => panic!("TCP connect to {SERVER_IP}:{PORT} timed out"),
        }
    }
}

/// Spawns any future on an executor: each task gets its own leaked `TaskStorage`, so tests
/// never share (and exhaust) the static pool of an `#[embassy_executor::task]`, whose tasks
/// (`run_slot`, the stack runners) never end.
pub fn spawn<F: Future + 'static>(spawner: Spawner, future: F) {
    let storage: &'static TaskStorage<F> = Box::leak(Box::new(TaskStorage::new()));
    match storage.spawn(move || future) {
        Ok(token) => spawner.spawn(token),
        Err(_) => unreachable!("a fresh TaskStorage is free"),
    }
}

/// Runs `body` on a fresh embassy executor (its own thread, its own two stacks and wire) and
/// returns what it returns. Panics in the body fail the test with their own message; a body
/// that does not finish within `limit` fails it with the last step it announced.
pub fn run<T, F>(limit: StdDuration, body: impl FnOnce(Net) -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: Future<Output = T> + 'static,
{
    let step: &'static Mutex<String> = Box::leak(Box::new(Mutex::new("setting up".into())));
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("embassy".into())
        .stack_size(16 << 20)
        .spawn(move || {
            let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
            let done: &'static Cell<bool> = Box::leak(Box::new(Cell::new(false)));
            executor.run_until(
                move |spawner| {
                    let net = Net::new(spawner, step);
                    let future = body(net);
                    spawn(spawner, async move {
                        let out = future.await;
                        let _ = tx.send(out);
                        done.set(true);
                    });
                },
                || done.get(),
            );
        })
        .expect("spawn the executor thread");
    match rx.recv_timeout(limit) {
        Ok(out) => {
            // The executor stops right after the body's task.
            let _ = thread.join();
            out
        }
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => {
                let at = step.lock().map(|s| s.clone()).unwrap_or_default();
                eprintln!("the test body panicked; last step: {at}");
                std::panic::resume_unwind(panic)
            }
            Ok(()) => panic!("the executor stopped without an answer"),
        },
        Err(RecvTimeoutError::Timeout) => {
            let at = step.lock().map(|s| s.clone()).unwrap_or_default();
            panic!("the test did not finish within {limit:?}; last step: {at}")
        }
    }
}

impl Net {
    fn new(spawner: Spawner, step: &'static Mutex<String>) -> Net {
        let blackhole: &'static Cell<Option<u16>> = Box::leak(Box::new(Cell::new(None)));
        let resets: &'static Cell<u32> = Box::leak(Box::new(Cell::new(0)));
        let (server, server_runner) = stack(spawner, SERVER_IP, 0x5eed_0001);
        let (client, client_runner) = stack(spawner, CLIENT_IP, 0x5eed_0002);
        spawn(
            spawner,
            wire(server_runner, client_runner, blackhole, resets),
        );
        Net {
            spawner,
            server,
            client,
            blackhole,
            step,
            resets,
        }
    }
}

/// One embassy-net stack on one end of a driver channel (medium IP: no Ethernet, no ARP).
/// Returns the stack and the channel's low end, which the wire drives.
fn stack(
    spawner: Spawner,
    ip: Ipv4Address,
    seed: u64,
) -> (Stack<'static>, ch::Runner<'static, MTU>) {
    let state: &'static mut ch::State<MTU, QUEUE, QUEUE> = Box::leak(Box::new(ch::State::new()));
    let (mut runner, device) = ch::new(state, HardwareAddress::Ip);
    runner.set_link_state(LinkState::Up);
    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(ip, 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    let resources: &'static mut StackResources<SOCKETS> =
        Box::leak(Box::new(StackResources::new()));
    let (stack, mut net_runner) = embassy_net::new(device, config, resources, seed);
    spawn(spawner, async move { net_runner.run().await });
    (stack, runner)
}

/// The wire: every packet one stack sends is handed to the other, both ways, except those of
/// a black-holed port. Resets sent by the server (`a`) are counted.
async fn wire(
    a: ch::Runner<'static, MTU>,
    b: ch::Runner<'static, MTU>,
    blackhole: &'static Cell<Option<u16>>,
    resets: &'static Cell<u32>,
) {
    let (_, mut a_rx, mut a_tx) = a.split();
    let (_, mut b_rx, mut b_tx) = b.split();
    let no_count: &'static Cell<u32> = Box::leak(Box::new(Cell::new(0)));
    join(
        pump(&mut a_tx, &mut b_rx, blackhole, resets),
        pump(&mut b_tx, &mut a_rx, blackhole, no_count),
    )
    .await;
}

async fn pump(
    from: &mut ch::TxRunner<'static, MTU>,
    to: &mut ch::RxRunner<'static, MTU>,
    blackhole: &'static Cell<Option<u16>>,
    resets: &'static Cell<u32>,
) {
    loop {
        let packet = from.tx_buf().await;
        if tcp_flags(packet).is_some_and(|f| f & RST != 0) {
            resets.set(resets.get() + 1);
        }
        let lost = blackhole
            .get()
            .is_some_and(|port| touches_port(packet, port));
        if !lost {
            let n = packet.len();
            let slot = to.rx_buf().await;
            slot[..n].copy_from_slice(packet);
            to.rx_done(n);
        }
        from.tx_done();
    }
}

/// The RST bit of the TCP flags.
const RST: u8 = 0x04;

/// The TCP header of an IPv4 TCP packet.
fn tcp_header(packet: &[u8]) -> Option<&[u8]> {
    let b0 = *packet.first()?;
    if b0 >> 4 != 4 || packet.get(9) != Some(&6) {
        return None;
    }
    packet.get(usize::from(b0 & 0x0f) * 4..)
}

/// The flags byte of an IPv4 TCP packet.
fn tcp_flags(packet: &[u8]) -> Option<u8> {
    tcp_header(packet)?.get(13).copied()
}

/// True for an IPv4 TCP packet from or to `port`.
fn touches_port(packet: &[u8], port: u16) -> bool {
    match tcp_header(packet).and_then(|t| t.get(..4)) {
        Some(p) => [[p[0], p[1]], [p[2], p[3]]].contains(&port.to_be_bytes()),
        None => false,
    }
}

/// Waits (bounded by [`WAIT`]) until `cond` holds.
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        Timer::after_millis(2).await;
    }
}

// ---------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------

/// A client socket: `embedded_io_async` plus a write-side shutdown (TCP FIN).
pub trait Io: Read + Write {
    fn shutdown(&mut self) -> impl Future<Output = ()>;
}

/// An embassy-net socket on the client stack.
pub struct EmbassyIo(pub TcpSocket<'static>);

impl EmbassyIo {
    /// The client's own TCP port.
    pub fn local_port(&self) -> u16 {
        self.0.local_endpoint().expect("connected").port
    }
}

impl embedded_io_async::ErrorType for EmbassyIo {
    type Error = embassy_net::tcp::Error;
}

impl Read for EmbassyIo {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.0.read(buf).await
    }
}

impl Write for EmbassyIo {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.write(buf).await
    }
    /// Waits until the peer has acknowledged everything written: the next write then goes
    /// out in a segment of its own.
    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.flush().await
    }
}

impl Io for EmbassyIo {
    async fn shutdown(&mut self) {
        self.0.close();
        let _ = embassy_time::with_timeout(WAIT, self.0.flush()).await;
    }
}

/// A WebSocket client over any [`Io`]: masked frames from `tests/support`, server frames
/// parsed with wsgate's own header parser in client mode (a masked server frame fails).
pub struct WsClient<S: Io> {
    pub io: S,
    /// Bytes read and not yet parsed.
    pending: Vec<u8>,
}

impl<S: Io> WsClient<S> {
    pub fn new(io: S) -> Self {
        WsClient {
            io,
            pending: Vec::new(),
        }
    }

    /// Writes all of `bytes` and flushes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("client write");
        self.io.flush().await.expect("client flush");
    }

    /// One more read into `pending`; false at EOF (or a reset).
    async fn fill(&mut self) -> bool {
        let mut buf = [0u8; 2048];
        match self.io.read(&mut buf).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
        }
    }

    /// Sends the upgrade request for `path` (with `protocol` offered, if any) and returns the
    /// response head, exactly as received.
    pub async fn upgrade(&mut self, path: &str, protocol: Option<&str>) -> String {
        self.send(&upgrade_request(path, protocol)).await;
        self.head().await
    }

    /// Reads up to the end of an HTTP response head and returns it; what follows stays.
    pub async fn head(&mut self) -> String {
        loop {
            if let Some(i) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.pending.drain(..i + 4).collect();
                return String::from_utf8(head).expect("UTF-8 response head");
            }
            let more = self.fill().await;
            assert!(
                more,
                "EOF before the end of the response head: {:?}",
                String::from_utf8_lossy(&self.pending)
            );
        }
    }

    /// The next frame from the server.
    pub async fn frame(&mut self) -> ServerFrame {
        loop {
            let parsed = parse_header(&self.pending, false).unwrap_or_else(|e| {
                panic!("bad server frame {e:?} in {:?}", self.pending);
            });
            if let Some((h, hlen)) = parsed {
                let end = hlen + usize::try_from(h.payload_len).expect("length fits");
                if self.pending.len() >= end {
                    let bytes: Vec<u8> = self.pending.drain(..end).collect();
                    return ServerFrame {
                        fin: h.fin,
                        opcode: h.opcode,
                        payload: bytes[hlen..].to_vec(),
                        header: bytes[..hlen].to_vec(),
                    };
                }
            }
            let more = self.fill().await;
            assert!(
                more,
                "EOF while a frame was expected (have {:?})",
                self.pending
            );
        }
    }

    /// The next frame, which must be a text frame; returns its text.
    pub async fn text(&mut self) -> String {
        let f = self.frame().await;
        assert_eq!(f.opcode, wsgate::protocol::frame::OpCode::Text, "{f:?}");
        assert!(f.fin, "{f:?}");
        f.text().to_owned()
    }

    /// Everything until the server closes the connection.
    pub async fn rest(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.pending)
    }

    /// Sends our FIN.
    pub async fn shutdown(&mut self) {
        self.io.shutdown().await;
    }
}

/// The key every client here sends, and the accept value it must get back.
pub const KEY: &str = crate::support::SAMPLE_KEY;

/// An upgrade request for `path`, offering `protocol` if given.
pub fn upgrade_request(path: &str, protocol: Option<&str>) -> Vec<u8> {
    let offer = protocol
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nHost: 10.42.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    .into_bytes()
}
