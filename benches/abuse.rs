//! The abuse workloads of wsgate's benchmark suite (driven by `benches/run.sh`): what one
//! misbehaving client costs the others. It speaks WebSocket (and a little HTTP) to a port and
//! nothing else, so it runs unchanged against any build of `examples/events_server` (the
//! NestJS sample `events` gateway on `/`, with `echo`, and the `chat.v1` room on `/chat`),
//! before and after a change.
//!
//! Workloads (`--workload`):
//! - `flood`: K clients (`--clients`, default 8) on `/` do `echo` round trips one at a time,
//!   while a prober opens a new connection every 50 ms and times its `101`. First
//!   `--duration` seconds without abuse (the baseline), then the same with one more client
//!   flooding `/` with messages that need no answer (an unknown event) as fast as it can.
//!   Reports the round-trip latency p50/p99/max and the round trips per second of the K
//!   clients, the handshake times, and the flooder's rate, for both windows.
//! - `linger`: opens up to `--sockets` sockets (default 20,000, at most the open-file limit
//!   less 300, which it raises to the hard limit) as fast as it can for at most `--duration`
//!   seconds, `--concurrency` connects at a time (default 8: more only turns the 404s into
//!   503s, as the server's slots are full), each sending one request that gets a 404, never
//!   reading or closing them; holds them a while longer, then reads
//!   what each got (it must be a well-formed HTTP status line, or nothing) and closes them.
//!   Meanwhile it samples the server's open descriptors (`/proc/PID/fd`, `--server-pid`) and
//!   a legitimate client connects, echoes once and closes every 100 ms. Reports the peak of
//!   descriptors and how the legitimate client fared.
//! - `chat`: on `/chat` (subprotocol `chat.v1`), one flooder sends `message` events as fast
//!   as it can, reading and discarding what it gets; 3 honest members each send
//!   `--messages` messages (default 800) paced over `--duration` seconds and read all the
//!   time. Reports how many of the others' messages each honest member received (of
//!   2 x `--messages`) and the flooder's rate.
//!
//! Every frame and HTTP answer received is checked (a malformed one ends the program with an
//! error); speed and delivery are only reported. The flooders are threads with blocking
//! sockets; the other clients share one tokio current-thread runtime. All of it is meant to
//! be pinned to one core, the server to another. The last line of output is
//! `RESULT {json}` for `benches/run.sh`.

use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// `println!` that ignores a closed stdout instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

type Res<T> = Result<T, String>;

/// RFC 6455's sample key and its accept value (lower case).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pplmbitxaq9kygzzhzrbk+xoo=";
/// A masked close frame with code 1000 (mask 0).
const CLOSE_1000: [u8; 8] = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
/// Longest wait for one echo reply: a server that starves a client for longer is reported
/// as failing rather than measured.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);
/// Errors that mean the server sent something malformed start with this; they end the
/// program. Other failures of a probe (refused, timed out, reset) are counted and reported.
const MALFORMED: &str = "malformed: ";

#[derive(Clone, Debug)]
struct Options {
    addr: SocketAddr,
    workload: String,
    server_pid: Option<u32>,
    duration: f64,
    clients: usize,
    sockets: usize,
    messages: usize,
    concurrency: usize,
}

fn usage() -> ! {
    say!(
        "abuse: the abuse workloads of benches/run.sh (see the top of benches/abuse.rs).\n\
         usage: abuse --addr 127.0.0.1:PORT --workload flood|linger|chat [--server-pid PID] \
         [--duration S] [--clients K] [--sockets N] [--concurrency C] [--messages M]"
    );
    std::process::exit(0)
}

fn parse_options() -> Res<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().all(|a| a == "--bench") {
        usage();
    }
    let mut o = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        workload: String::new(),
        server_pid: None,
        duration: 3.0,
        clients: 8,
        sockets: 20_000,
        messages: 800,
        concurrency: 8,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue;
        }
        if flag == "--help" || flag == "-h" {
            usage();
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => o.addr = value.parse().map_err(|e| bad(&e))?,
            "--workload" => o.workload = value.clone(),
            "--server-pid" => o.server_pid = Some(value.parse().map_err(|e| bad(&e))?),
            "--duration" => o.duration = value.parse().map_err(|e| bad(&e))?,
            "--clients" => o.clients = value.parse().map_err(|e| bad(&e))?,
            "--sockets" => o.sockets = value.parse().map_err(|e| bad(&e))?,
            "--messages" => o.messages = value.parse().map_err(|e| bad(&e))?,
            "--concurrency" => o.concurrency = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if !matches!(o.workload.as_str(), "flood" | "linger" | "chat") {
        return Err("--workload must be flood, linger or chat".into());
    }
    if o.clients == 0
        || o.messages == 0
        || o.sockets == 0
        || o.concurrency == 0
        || o.duration.is_nan()
        || o.duration <= 0.0
    {
        return Err(
            "--clients, --messages, --sockets, --concurrency and --duration must be above 0".into(),
        );
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------
// WebSocket and HTTP pieces.

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The status code of an HTTP/1.1 status line at the front of `bytes`, or a `MALFORMED`
/// error.
fn status_code(bytes: &[u8]) -> Res<u16> {
    let line = bytes.split(|&b| b == b'\r').next().unwrap_or(&[]);
    let shown = || String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .ok_or_else(|| format!("{MALFORMED}not an HTTP/1.1 answer: {:?}", shown()))?;
    let code = rest
        .get(..3)
        .filter(|d| d.iter().all(u8::is_ascii_digit) && rest.get(3) == Some(&b' '))
        .ok_or_else(|| format!("{MALFORMED}bad status line: {:?}", shown()))?;
    Ok(code.iter().fold(0u16, |v, d| v * 10 + u16::from(d - b'0')))
}

/// Sends an upgrade request for `path` and reads the answer head. Returns the bytes that
/// followed the head. A well-formed refusal (a status other than 101) is `Err("HTTP nnn")`.
async fn handshake(
    stream: &mut TcpStream,
    addr: SocketAddr,
    path: &str,
    protocol: Option<&str>,
) -> Res<Vec<u8>> {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(p) = protocol {
        req.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    req.push_str("\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .map_err(|e| format!("handshake write: {e}"))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let code = status_code(&buf)?;
            if code != 101 {
                return Err(format!("HTTP {code}"));
            }
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            if !head.contains(&format!("\r\nsec-websocket-accept: {ACCEPT}")) {
                return Err(format!("{MALFORMED}wrong or missing Sec-WebSocket-Accept"));
            }
            if let Some(p) = protocol
                && !head.contains(&format!("\r\nsec-websocket-protocol: {p}"))
            {
                return Err(format!("{MALFORMED}the 101 does not choose {p}"));
            }
            return Ok(buf[end + 4..].to_vec());
        }
        if buf.len() > 8192 {
            return Err(format!("{MALFORMED}answer head over 8 KiB"));
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("handshake read: {e}"))?;
        if n == 0 {
            if !buf.is_empty() {
                status_code(&buf)?;
            }
            return Err(format!(
                "closed during the handshake after {} bytes",
                buf.len()
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A masked client frame.
fn masked(op: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x80 | op];
    let len = payload.len();
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// One complete server frame at the front of `buf`: (opcode, payload start, frame end).
fn next_frame(buf: &[u8]) -> Res<Option<(u8, usize, usize)>> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if b1 & 0x80 != 0 {
        return Err(format!("{MALFORMED}masked frame from the server"));
    }
    if b0 & 0x70 != 0 {
        return Err(format!("{MALFORMED}RSV bits set"));
    }
    if b0 & 0x80 == 0 {
        return Err(format!(
            "{MALFORMED}fragmented frame (the server sends whole ones)"
        ));
    }
    let op = b0 & 0x0f;
    if !matches!(op, 0x1 | 0x2 | 0x8 | 0x9 | 0xa) {
        return Err(format!("{MALFORMED}opcode {op:#x}"));
    }
    let (len, hlen) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        126 | 127 => return Ok(None),
        n => (u64::from(n), 2),
    };
    if op >= 0x8 && len > 125 {
        return Err(format!("{MALFORMED}control frame of {len} bytes"));
    }
    let len = usize::try_from(len).map_err(|_| format!("{MALFORMED}frame too long"))?;
    if buf.len() < hlen + len {
        return Ok(None);
    }
    Ok(Some((op, hlen, hlen + len)))
}

/// The code of a close frame's payload (1005 when it has none).
fn close_code(payload: &[u8]) -> u16 {
    match payload {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 1005,
    }
}

/// Received bytes not yet cut into frames.
struct Inbox {
    buf: Vec<u8>,
    have: usize,
}

impl Inbox {
    fn new(leftover: Vec<u8>) -> Inbox {
        let have = leftover.len();
        let mut buf = leftover;
        buf.resize(have.max(64 * 1024), 0);
        Inbox { buf, have }
    }

    /// One read; `false` at EOF.
    async fn fill(&mut self, stream: &mut (impl AsyncRead + Unpin)) -> Res<bool> {
        if self.have == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = stream
            .read(&mut self.buf[self.have..])
            .await
            .map_err(|e| format!("read: {e}"))?;
        self.have += n;
        Ok(n > 0)
    }

    /// Adds bytes read elsewhere.
    fn push(&mut self, bytes: &[u8]) {
        if self.have + bytes.len() > self.buf.len() {
            self.buf
                .resize((self.have + bytes.len()).max(self.buf.len() * 2), 0);
        }
        self.buf[self.have..self.have + bytes.len()].copy_from_slice(bytes);
        self.have += bytes.len();
    }

    /// Calls `f(opcode, payload)` for each complete frame, then drops them.
    fn drain(&mut self, mut f: impl FnMut(u8, &[u8]) -> Res<()>) -> Res<()> {
        let mut pos = 0;
        while let Some((op, at, end)) = next_frame(&self.buf[pos..self.have])? {
            f(op, &self.buf[pos + at..pos + end])?;
            pos += end;
        }
        self.buf.copy_within(pos..self.have, 0);
        self.have -= pos;
        Ok(())
    }
}

/// Sends a close 1000 and reads until the server's close frame or EOF, for at most 5 s.
async fn close(stream: &mut TcpStream, inbox: &mut Inbox) {
    let _ = stream.write_all(&CLOSE_1000).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut closed = false;
        let _ = inbox.drain(|op, _| {
            closed |= op == 0x8;
            Ok(())
        });
        if closed {
            return;
        }
        match tokio::time::timeout_at(deadline, inbox.fill(stream)).await {
            Ok(Ok(true)) => {}
            _ => return,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Measuring.

/// CPU time (user + system) of a process in seconds, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Open descriptors of a process.
fn count_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Latency figures in µs: count, p50, p99, max.
fn latency_json(mut d: Vec<Duration>) -> Value {
    d.sort_unstable();
    let at = |q: f64| -> f64 {
        if d.is_empty() {
            return 0.0;
        }
        let i = ((d.len() as f64 - 1.0) * q).round() as usize;
        d[i.min(d.len() - 1)].as_secs_f64() * 1e6
    };
    let r = |v: f64| (v * 10.0).round() / 10.0;
    json!({"count": d.len(), "p50_us": r(at(0.5)), "p99_us": r(at(0.99)), "max_us": r(at(1.0))})
}

/// A thread that ends the program if a workload hangs.
fn watchdog(seconds: f64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(seconds));
        eprintln!("abuse: still running after {seconds:.0} s: giving up");
        say!("RESULT {{\"error\":\"timed out\"}}");
        std::process::exit(1);
    });
}

// ---------------------------------------------------------------------------------------
// The flooder: a thread writing pre-encoded frames as fast as the socket takes them, and a
// thread reading and checking whatever comes back.

struct Flooder {
    stop: Arc<AtomicBool>,
    /// Our close frame is going out: a close from the server is its answer, not its own.
    closing: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    /// Frames written so far.
    sent: Arc<AtomicU64>,
    /// Frames received so far.
    received: Arc<AtomicU64>,
    writer: std::thread::JoinHandle<Res<std::net::TcpStream>>,
    reader: std::thread::JoinHandle<Res<Option<u16>>>,
}

impl Flooder {
    /// Starts flooding an upgraded connection with copies of `frame`; `check` is called on
    /// every text frame received.
    fn start(
        stream: TcpStream,
        leftover: Vec<u8>,
        frame: Vec<u8>,
        check: fn(&[u8]) -> Res<()>,
    ) -> Res<Flooder> {
        let io = |e: std::io::Error| format!("flooder: {e}");
        let w = stream.into_std().map_err(io)?;
        w.set_nonblocking(false).map_err(io)?;
        w.set_write_timeout(Some(Duration::from_millis(100)))
            .map_err(io)?;
        let r = w.try_clone().map_err(io)?;
        r.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let closing = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let writer = {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || flood_writer(w, &frame, &stop, &sent))
        };
        let reader = {
            let (closing, done, received) = (closing.clone(), done.clone(), received.clone());
            std::thread::spawn(move || flood_reader(r, leftover, check, &closing, &done, &received))
        };
        Ok(Flooder {
            stop,
            closing,
            done,
            sent,
            received,
            writer,
            reader,
        })
    }

    /// Stops writing (at a frame boundary), keeps reading.
    fn stop_writing(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Closes with 1000 and waits for both threads (the reader for at most 10 s). Returns the
    /// close code the server sent before ours, if it closed the flooder first.
    fn finish(self) -> Res<Option<u16>> {
        self.stop_writing();
        let mut w = self
            .writer
            .join()
            .map_err(|_| "flooder writer panicked".to_string())??;
        let _ = w.set_write_timeout(Some(Duration::from_secs(5)));
        self.closing.store(true, Ordering::SeqCst);
        let _ = w.write_all(&CLOSE_1000);
        let _ = w.shutdown(std::net::Shutdown::Write);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.reader.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.done.store(true, Ordering::SeqCst);
        self.reader
            .join()
            .map_err(|_| "flooder reader panicked".to_string())?
    }
}

fn flood_writer(
    mut w: std::net::TcpStream,
    frame: &[u8],
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> Res<std::net::TcpStream> {
    let flen = frame.len();
    let buf: Vec<u8> = frame.repeat((64 * 1024 / flen).max(1));
    let mut off = 0usize;
    let mut total = 0u64;
    let mut stopping_since: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let rem = off % flen;
        if stopping && rem == 0 {
            return Ok(w);
        }
        if stopping {
            let since = *stopping_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(30) {
                return Err("flooder: the server took no input for 30 s".into());
            }
        }
        let end = if stopping {
            off + flen - rem
        } else {
            buf.len()
        };
        match w.write(&buf[off..end]) {
            Ok(0) => return Err("flooder: the socket takes nothing".into()),
            Ok(n) => {
                total += n as u64;
                off = (off + n) % buf.len();
                sent.store(total / flen as u64, Ordering::Relaxed);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("flooder write: {e}")),
        }
    }
}

fn flood_reader(
    mut r: std::net::TcpStream,
    leftover: Vec<u8>,
    check: fn(&[u8]) -> Res<()>,
    closing: &AtomicBool,
    done: &AtomicBool,
    received: &AtomicU64,
) -> Res<Option<u16>> {
    let mut inbox = Inbox::new(leftover);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut closed_by_server = None;
    loop {
        let mut n = 0u64;
        let mut code = None;
        inbox.drain(|op, p| {
            match op {
                0x1 => {
                    check(p)?;
                    n += 1;
                }
                0x8 if !closing.load(Ordering::SeqCst) => code = Some(close_code(p)),
                0x8..=0xa => {}
                _ => return Err(format!("{MALFORMED}binary frame")),
            }
            Ok(())
        })?;
        received.fetch_add(n, Ordering::Relaxed);
        if closed_by_server.is_none() {
            closed_by_server = code;
        }
        if done.load(Ordering::Relaxed) {
            return Ok(closed_by_server);
        }
        match r.read(&mut chunk) {
            Ok(0) => return Ok(closed_by_server),
            Ok(got) => inbox.push(&chunk[..got]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) if done.load(Ordering::Relaxed) => return Ok(closed_by_server),
            Err(e) => {
                // A reset after the server closed us is the end, not an error.
                if closed_by_server.is_some() {
                    return Ok(closed_by_server);
                }
                return Err(format!("flooder read: {e}"));
            }
        }
    }
}

/// Connects and upgrades, bounded in time.
async fn connect(
    addr: SocketAddr,
    path: &str,
    protocol: Option<&str>,
) -> Res<(TcpStream, Vec<u8>)> {
    let attempt = async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.set_nodelay(true).map_err(|e| format!("{e}"))?;
        let left = handshake(&mut s, addr, path, protocol).await?;
        Ok((s, left))
    };
    timeout(Duration::from_secs(60), attempt)
        .await
        .map_err(|_| "no 101 within 60 s".to_string())?
}

// ---------------------------------------------------------------------------------------
// Workload flood.

/// What the flood workload's echo clients and prober record.
#[derive(Default)]
struct FloodLog {
    /// (sent at, round-trip time) of every echo round trip.
    echoes: Vec<(Instant, Duration)>,
    /// (started at, time to the 101) of every probe that got one.
    probes: Vec<(Instant, Duration)>,
    /// (started at, why) of every probe that got no 101.
    probe_failures: Vec<(Instant, String)>,
}

async fn echo_client(
    mut s: TcpStream,
    mut inbox: Inbox,
    i: usize,
    stop: Rc<Cell<bool>>,
    log: Rc<RefCell<FloodLog>>,
) -> Res<()> {
    let mask = (0x9e37_79b9u32.wrapping_mul(i as u32 + 1) | 0x0101_0101).to_be_bytes();
    let mut seq = 0u64;
    while !stop.get() {
        seq += 1;
        let json = format!("{{\"event\":\"echo\",\"data\":{{\"c\":{i},\"n\":{seq}}}}}");
        let frame = masked(0x1, json.as_bytes(), mask);
        let t = Instant::now();
        s.write_all(&frame)
            .await
            .map_err(|e| format!("echo client {i}: write: {e}"))?;
        let mut got = false;
        loop {
            inbox.drain(|op, p| match op {
                0x1 if got => Err(format!("{MALFORMED}a second reply to one echo")),
                // The gateway echoes `data` byte for byte: the reply is the request.
                0x1 if p == json.as_bytes() => {
                    got = true;
                    Ok(())
                }
                0x1 => Err(format!(
                    "{MALFORMED}echo reply {:?}, expected {json:?}",
                    String::from_utf8_lossy(&p[..p.len().min(120)])
                )),
                0x9 | 0xa => Ok(()),
                0x8 => Err(format!(
                    "echo client {i}: closed by the server, code {}",
                    close_code(p)
                )),
                _ => Err(format!("{MALFORMED}binary frame")),
            })?;
            if got {
                break;
            }
            match timeout(REPLY_TIMEOUT, inbox.fill(&mut s)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return Err(format!("echo client {i}: EOF with a reply due")),
                Ok(Err(e)) => return Err(format!("echo client {i}: {e}")),
                Err(_) => return Err(format!("echo client {i}: no reply within 120 s")),
            }
        }
        log.borrow_mut().echoes.push((t, t.elapsed()));
    }
    close(&mut s, &mut inbox).await;
    Ok(())
}

/// Opens a connection to `/`, times its 101, closes it; every 50 ms until `stop`.
async fn prober(addr: SocketAddr, stop: Rc<Cell<bool>>, log: Rc<RefCell<FloodLog>>) -> Res<()> {
    while !stop.get() {
        let t = Instant::now();
        match connect(addr, "/", None).await {
            Ok((mut s, left)) => {
                log.borrow_mut().probes.push((t, t.elapsed()));
                close(&mut s, &mut Inbox::new(left)).await;
            }
            Err(e) if e.starts_with(MALFORMED) => return Err(e),
            Err(e) => log.borrow_mut().probe_failures.push((t, e)),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The text frames a flooder of `/` may get: none are expected (unknown events get no
/// answer); any must at least be an envelope.
fn check_envelope(p: &[u8]) -> Res<()> {
    if p.starts_with(b"{\"event\":\"") && p.ends_with(b"}") {
        Ok(())
    } else {
        Err(format!(
            "{MALFORMED}frame {:?}",
            String::from_utf8_lossy(&p[..p.len().min(120)])
        ))
    }
}

async fn flood(o: &Options) -> Res<Value> {
    let d = Duration::from_secs_f64(o.duration);
    let stop = Rc::new(Cell::new(false));
    let log = Rc::new(RefCell::new(FloodLog::default()));
    let mut tasks = Vec::new();
    for i in 0..o.clients {
        let (s, left) = connect(o.addr, "/", None)
            .await
            .map_err(|e| format!("echo client {i}: {e}"))?;
        let (stop, log) = (stop.clone(), log.clone());
        tasks.push(tokio::task::spawn_local(echo_client(
            s,
            Inbox::new(left),
            i,
            stop,
            log,
        )));
    }
    tasks.push(tokio::task::spawn_local(prober(
        o.addr,
        stop.clone(),
        log.clone(),
    )));
    let cpu = || o.server_pid.and_then(cpu_seconds);

    // Baseline: a short warm-up, then the window.
    tokio::time::sleep(d.mul_f64(0.2)).await;
    let (b0, bcpu0) = (Instant::now(), cpu());
    tokio::time::sleep(d).await;
    let (b1, bcpu1) = (Instant::now(), cpu());

    // The flood: one more client, sending an event no handler has. Its window starts when
    // it starts writing; a round trip or probe begun after the baseline counts in it (one
    // begun just before the flood and stalled by it is the point).
    let (fs, fleft) = connect(o.addr, "/", None)
        .await
        .map_err(|e| format!("flooder: {e}"))?;
    let body = br#"{"event":"no-such-event","data":{"n":1234567890,"p":"xxxxxxxx"}}"#;
    let flooder = Flooder::start(
        fs,
        fleft,
        masked(0x1, body, [0x5a, 0x13, 0xc7, 0x21]),
        check_envelope,
    )?;
    let (f0, fcpu0, sent0) = (Instant::now(), cpu(), flooder.sent.load(Ordering::Relaxed));
    tokio::time::sleep(d).await;
    let (f1, fcpu1, sent1) = (Instant::now(), cpu(), flooder.sent.load(Ordering::Relaxed));
    flooder.stop_writing();
    stop.set(true);
    // Every round trip begun in the window ends (or fails) before the figures are taken.
    for t in tasks {
        t.await.map_err(|e| format!("{e}"))??;
    }
    let drained = f1.elapsed();
    let flood_received = flooder.received.load(Ordering::Relaxed);
    let flooder_closed = flooder.finish()?;

    let log = log.borrow();
    // Round trips and probes begun in [begun, to); the rate and CPU over [from, to).
    let window = |begun: Instant, from: Instant, to: Instant, scpu: Option<(f64, f64)>| {
        let secs = to.duration_since(from).as_secs_f64();
        let lat: Vec<Duration> = log
            .echoes
            .iter()
            .filter(|(t, _)| *t >= begun && *t < to)
            .map(|(_, l)| *l)
            .collect();
        let completed = log
            .echoes
            .iter()
            .filter(|(t, l)| {
                let end = *t + *l;
                end >= from && end < to
            })
            .count();
        let probes: Vec<Duration> = log
            .probes
            .iter()
            .filter(|(t, _)| *t >= begun && *t < to)
            .map(|(_, l)| *l)
            .collect();
        let failed: Vec<&String> = log
            .probe_failures
            .iter()
            .filter(|(t, _)| *t >= begun && *t < to)
            .map(|(_, e)| e)
            .collect();
        json!({
            "seconds": (secs * 1000.0).round() / 1000.0,
            "round_trips_per_s": (completed as f64 / secs).round(),
            "latency": latency_json(lat),
            "handshake": latency_json(probes),
            "handshakes_failed": failed.len(),
            "handshake_failure": failed.first(),
            "server_cpu": scpu.map(|(a, b)| ((b - a) / secs * 1000.0).round() / 1000.0),
        })
    };
    let mut base = window(b0, b0, b1, bcpu0.zip(bcpu1));
    let mut under = window(b1, f0, f1, fcpu0.zip(fcpu1));
    let fsecs = f1.duration_since(f0).as_secs_f64();
    under["flood_msgs"] = json!(sent1 - sent0);
    under["flood_per_s"] = json!(((sent1 - sent0) as f64 / fsecs).round());
    under["flood_frames_received"] = json!(flood_received);
    under["flooder_closed_by_server"] = json!(flooder_closed);
    under["drain_s"] = json!((drained.as_secs_f64() * 1000.0).round() / 1000.0);
    base["flood_per_s"] = json!(0);
    let l = |v: &Value, k: &str| v["latency"][k].as_f64().unwrap_or(0.0) / 1000.0;
    say!(
        "flood: {} echo clients: without flood {} round trips/s, p50 {:.2} ms p99 {:.2} ms max {:.2} ms; \
         during the flood ({} msg/s) {} round trips/s, p50 {:.2} ms p99 {:.2} ms max {:.2} ms; \
         101 max {:.2} ms / {:.2} ms",
        o.clients,
        base["round_trips_per_s"],
        l(&base, "p50_us"),
        l(&base, "p99_us"),
        l(&base, "max_us"),
        under["flood_per_s"],
        under["round_trips_per_s"],
        l(&under, "p50_us"),
        l(&under, "p99_us"),
        l(&under, "max_us"),
        base["handshake"]["max_us"].as_f64().unwrap_or(0.0) / 1000.0,
        under["handshake"]["max_us"].as_f64().unwrap_or(0.0) / 1000.0,
    );
    Ok(json!({"mode": "flood", "clients": o.clients, "baseline": base, "flood": under}))
}

// ---------------------------------------------------------------------------------------
// Workload linger.

/// Raises this process's open-file limit to its hard limit; returns the soft limit now.
fn raise_nofile() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: now.maximum,
        maximum: now.maximum,
    };
    if setrlimit(Resource::Nofile, raised).is_ok() {
        now.maximum.unwrap_or(u64::MAX)
    } else {
        now.current.unwrap_or(1024)
    }
}

/// The request each lingering socket sends: a page the events server does not have.
const NOT_FOUND_REQUEST: &[u8] = b"GET /no-such-page HTTP/1.1\r\nHost: abuse\r\n\r\n";

async fn open_one(addr: SocketAddr) -> Res<TcpStream> {
    let mut s = timeout(Duration::from_secs(3), TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    timeout(Duration::from_secs(1), s.write_all(NOT_FOUND_REQUEST))
        .await
        .map_err(|_| "request write timed out".to_string())?
        .map_err(|e| format!("request write: {e}"))?;
    Ok(s)
}

/// A legitimate client: connect, upgrade, one echo, close.
async fn legit_once(addr: SocketAddr) -> Res<()> {
    let attempt = async {
        let (mut s, left) = connect(addr, "/", None).await?;
        let mut inbox = Inbox::new(left);
        let json = br#"{"event":"echo","data":"legit"}"#;
        s.write_all(&masked(0x1, json, [1, 2, 3, 4]))
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut got = false;
        while !got {
            if !inbox.fill(&mut s).await? {
                return Err("EOF before the echo".to_string());
            }
            inbox.drain(|op, p| match op {
                0x1 if p == json => {
                    got = true;
                    Ok(())
                }
                0x1 => Err(format!(
                    "{MALFORMED}echo reply {:?}",
                    String::from_utf8_lossy(p)
                )),
                0x8 => Err(format!("closed by the server, code {}", close_code(p))),
                _ => Ok(()),
            })?;
        }
        close(&mut s, &mut inbox).await;
        Ok(())
    };
    timeout(Duration::from_secs(30), attempt)
        .await
        .map_err(|_| "no echo within 30 s".to_string())?
}

/// One try of the legitimate client: how long it took, and how it ended.
type LegitTry = (Duration, Res<()>);

async fn linger(o: &Options) -> Res<Value> {
    let pid = o
        .server_pid
        .ok_or("--workload linger needs --server-pid (it counts the server's descriptors)")?;
    let limit = raise_nofile();
    let n = o
        .sockets
        .min(usize::try_from(limit.saturating_sub(300)).unwrap_or(usize::MAX));
    if n == 0 {
        return Err(format!(
            "an open-file limit of {limit} leaves no room for sockets"
        ));
    }
    let fds_before = count_fds(pid).ok_or("cannot read the server's /proc/PID/fd")?;

    // The sampler: a thread of its own, so it samples while the runtime is busy.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let (mut peak, mut samples) = (0usize, 0u64);
            while sampling.load(Ordering::Relaxed) {
                if let Some(c) = count_fds(pid) {
                    peak = peak.max(c);
                    samples += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (peak, samples)
        })
    };

    // The legitimate client, every 100 ms.
    let stop = Rc::new(Cell::new(false));
    let legit_log: Rc<RefCell<Vec<LegitTry>>> = Rc::default();
    let legit = {
        let (stop, legit_log) = (stop.clone(), legit_log.clone());
        let addr = o.addr;
        tokio::task::spawn_local(async move {
            while !stop.get() {
                let t = Instant::now();
                let r = legit_once(addr).await;
                if let Err(e) = &r
                    && e.starts_with(MALFORMED)
                {
                    return Err(e.clone());
                }
                legit_log.borrow_mut().push((t.elapsed(), r));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(())
        })
    };

    // The flood of sockets: up to --concurrency connects at once, until n or the deadline.
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(o.duration);
    let mut set = tokio::task::JoinSet::new();
    let mut held: Vec<TcpStream> = Vec::with_capacity(n);
    let (mut started, mut failed) = (0usize, 0usize);
    let mut first_failure: Option<String> = None;
    loop {
        while started < n && set.len() < o.concurrency && Instant::now() < deadline {
            set.spawn_local(open_one(o.addr));
            started += 1;
        }
        match set.join_next().await {
            Some(Ok(Ok(s))) => held.push(s),
            Some(Ok(Err(e))) => {
                failed += 1;
                first_failure.get_or_insert(e);
            }
            Some(Err(e)) => return Err(format!("{e}")),
            None => break,
        }
    }
    let open_secs = t0.elapsed().as_secs_f64();
    // Hold them a while: long enough for a lingering socket to time out on the server.
    tokio::time::sleep(Duration::from_secs_f64((o.duration * 0.5).max(0.2))).await;
    stop.set(true);
    legit.await.map_err(|e| format!("{e}"))??;
    sampling.store(false, Ordering::Relaxed);
    let (peak, samples) = sampler.join().map_err(|_| "sampler panicked".to_string())?;
    let fds_end = count_fds(pid);

    // What each socket got: a well-formed status line, or nothing, or a reset.
    let mut answers: std::collections::BTreeMap<String, usize> = Default::default();
    let mut buf = [0u8; 512];
    for s in &held {
        let key = match s.try_read(&mut buf) {
            Ok(0) => "closed, no answer".to_string(),
            Ok(got) => format!("HTTP {}", status_code(&buf[..got])?),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => "no answer yet".to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "reset".to_string(),
            Err(e) => format!("error {:?}", e.kind()),
        };
        *answers.entry(key).or_default() += 1;
    }
    let opened = held.len();
    drop(held);

    let log = legit_log.borrow();
    let ok: Vec<Duration> = log
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(d, _)| *d)
        .collect();
    let legit_failure = log.iter().find_map(|(_, r)| r.as_ref().err().cloned());
    say!(
        "linger: {opened} sockets opened in {open_secs:.2} s ({failed} failed); server fds {fds_before} -> peak {peak}; \
         legitimate client {} of {} ok, max {:.1} ms; answers {answers:?}",
        ok.len(),
        log.len(),
        ok.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    Ok(json!({
        "mode": "linger",
        "sockets_wanted": n,
        "sockets_opened": opened,
        "sockets_failed": failed,
        "socket_failure": first_failure,
        "open_seconds": (open_secs * 1000.0).round() / 1000.0,
        "fds_before": fds_before,
        "fds_peak": peak,
        "fds_end": fds_end,
        "fd_samples": samples,
        "answers": answers,
        "legit_attempts": log.len(),
        "legit_ok": ok.len(),
        "legit_latency": latency_json(ok.clone()),
        "legit_failure": legit_failure,
    }))
}

// ---------------------------------------------------------------------------------------
// Workload chat.

const HONEST: usize = 3;
const MESSAGE_PREFIX: &[u8] = b"{\"event\":\"message\",\"data\":";

/// What one honest member received.
struct Member {
    /// Which of each member's messages arrived (own ones included).
    got: RefCell<Vec<Vec<bool>>>,
    duplicates: Cell<u64>,
    flood: Cell<u64>,
    closed_by_server: Cell<Option<u16>>,
}

/// `{"h":<member>,"n":<seq>}` → (member, seq).
fn parse_honest(data: &[u8]) -> Option<(usize, usize)> {
    let rest = data.strip_prefix(b"{\"h\":")?;
    let comma = rest.iter().position(|&b| b == b',')?;
    let h = std::str::from_utf8(&rest[..comma]).ok()?.parse().ok()?;
    let rest = rest[comma..].strip_prefix(b",\"n\":")?.strip_suffix(b"}")?;
    let n = std::str::from_utf8(rest).ok()?.parse().ok()?;
    Some((h, n))
}

/// The text frames of `/chat`: each a `message` envelope.
fn check_message(p: &[u8]) -> Res<()> {
    if p.starts_with(MESSAGE_PREFIX) && p.ends_with(b"}") {
        Ok(())
    } else {
        Err(format!(
            "{MALFORMED}chat frame {:?}",
            String::from_utf8_lossy(&p[..p.len().min(120)])
        ))
    }
}

async fn member_reader(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut inbox: Inbox,
    me: Rc<Member>,
    messages: usize,
    last_frame: Rc<Cell<Instant>>,
    closing: Rc<Cell<bool>>,
) -> Res<()> {
    let mut closing_since: Option<Instant> = None;
    loop {
        if closing.get()
            && closing_since.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(5)
        {
            return Ok(());
        }
        let mut close_seen = None;
        inbox.drain(|op, p| {
            match op {
                0x1 => {
                    check_message(p)?;
                    let data = &p[MESSAGE_PREFIX.len()..p.len() - 1];
                    if data.starts_with(b"{\"f\":") {
                        me.flood.set(me.flood.get() + 1);
                    } else {
                        let (h, n) = parse_honest(data)
                            .filter(|&(h, n)| h < HONEST && n < messages)
                            .ok_or_else(|| {
                                format!(
                                    "{MALFORMED}message data {:?}",
                                    String::from_utf8_lossy(data)
                                )
                            })?;
                        let mut got = me.got.borrow_mut();
                        if got[h][n] {
                            me.duplicates.set(me.duplicates.get() + 1);
                        }
                        got[h][n] = true;
                    }
                }
                0x8 => close_seen = Some(close_code(p)),
                0x9 | 0xa => {}
                _ => return Err(format!("{MALFORMED}binary frame")),
            }
            Ok(())
        })?;
        if let Some(code) = close_seen {
            if !closing.get() {
                // The server closed an honest member: reported, not an error.
                me.closed_by_server.set(Some(code));
                while !closing.get() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            return Ok(());
        }
        match timeout(Duration::from_millis(100), inbox.fill(&mut r)).await {
            Ok(Ok(true)) => last_frame.set(Instant::now()),
            Ok(Ok(false)) | Ok(Err(_)) if closing.get() => return Ok(()),
            Ok(Ok(false)) | Ok(Err(_)) => {
                // Dropped without a close frame (1006): reported, not an error.
                me.closed_by_server.set(Some(1006));
                while !closing.get() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                return Ok(());
            }
            Err(_) => {}
        }
    }
}

async fn chat(o: &Options) -> Res<Value> {
    let d = Duration::from_secs_f64(o.duration);
    let m = o.messages;
    let last_frame = Rc::new(Cell::new(Instant::now()));
    let closing = Rc::new(Cell::new(false));
    let mut members = Vec::new();
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..HONEST {
        let (s, left) = connect(o.addr, "/chat", Some("chat.v1"))
            .await
            .map_err(|e| format!("member {i}: {e}"))?;
        let me = Rc::new(Member {
            got: RefCell::new(vec![vec![false; m]; HONEST]),
            duplicates: Cell::new(0),
            flood: Cell::new(0),
            closed_by_server: Cell::new(None),
        });
        let (r, w) = s.into_split();
        readers.push(tokio::task::spawn_local(member_reader(
            r,
            Inbox::new(left),
            me.clone(),
            m,
            last_frame.clone(),
            closing.clone(),
        )));
        members.push(me);
        writers.push(w);
    }
    let (fs, fleft) = connect(o.addr, "/chat", Some("chat.v1"))
        .await
        .map_err(|e| format!("flooder: {e}"))?;
    let body = br#"{"event":"message","data":{"f":1,"p":"xxxxxxxxxxxxxxxxxxxxxxxx"}}"#;
    let flooder = Flooder::start(
        fs,
        fleft,
        masked(0x1, body, [0x3c, 0x99, 0x04, 0xe1]),
        check_message,
    )?;
    tokio::time::sleep(d.mul_f64(0.1)).await;

    // The honest members, all at once, each m messages paced over d.
    let cpu = || o.server_pid.and_then(cpu_seconds);
    let (t0, cpu0, sent0, recv0) = (
        Instant::now(),
        cpu(),
        flooder.sent.load(Ordering::Relaxed),
        flooder.received.load(Ordering::Relaxed),
    );
    let interval = d.div_f64(m as f64);
    let mut senders = Vec::new();
    for (i, mut w) in writers.into_iter().enumerate() {
        senders.push(tokio::task::spawn_local(async move {
            let start = tokio::time::Instant::now();
            let mask = [0x11 * (i as u8 + 1), 0x22, 0x33, 0x44];
            for n in 0..m {
                let json = format!("{{\"event\":\"message\",\"data\":{{\"h\":{i},\"n\":{n}}}}}");
                timeout(
                    Duration::from_secs(30),
                    w.write_all(&masked(0x1, json.as_bytes(), mask)),
                )
                .await
                .map_err(|_| format!("member {i}: the server took nothing for 30 s"))?
                .map_err(|e| format!("member {i}: write: {e}"))?;
                tokio::time::sleep_until(start + interval.mul_f64((n + 1) as f64)).await;
            }
            Ok::<_, String>(w)
        }));
    }
    let mut writers = Vec::new();
    for s in senders {
        writers.push(s.await.map_err(|e| format!("{e}"))??);
    }
    let secs = t0.elapsed().as_secs_f64();
    let (cpu1, sent1, recv1) = (
        cpu(),
        flooder.sent.load(Ordering::Relaxed),
        flooder.received.load(Ordering::Relaxed),
    );
    flooder.stop_writing();

    // Until every member has every message, or nothing arrived for a second (60 s at most).
    let quiet = Duration::from_secs_f64((o.duration * 0.3).clamp(0.3, 1.0));
    let wait_from = Instant::now();
    let complete = |members: &[Rc<Member>]| {
        members
            .iter()
            .all(|me| me.got.borrow().iter().all(|v| v.iter().all(|&b| b)))
    };
    while !complete(&members)
        && last_frame.get().elapsed() < quiet
        && wait_from.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_s = wait_from.elapsed().as_secs_f64();
    closing.set(true);
    for w in &mut writers {
        let _ = timeout(Duration::from_secs(2), w.write_all(&CLOSE_1000)).await;
    }
    for r in readers {
        timeout(Duration::from_secs(10), r)
            .await
            .map_err(|_| "a member's reader did not end".to_string())?
            .map_err(|e| format!("{e}"))??;
    }
    let flooder_closed = flooder.finish()?;

    let mut per = Vec::new();
    for (i, me) in members.iter().enumerate() {
        let got = me.got.borrow();
        let others: usize = (0..HONEST)
            .filter(|&h| h != i)
            .map(|h| got[h].iter().filter(|&&b| b).count())
            .sum();
        let own = got[i].iter().filter(|&&b| b).count();
        per.push(json!({
            "from_others": others,
            "own": own,
            "flood_received": me.flood.get(),
            "duplicates": me.duplicates.get(),
            "closed_by_server": me.closed_by_server.get(),
        }));
    }
    let expected = (HONEST - 1) * m;
    let flood_per_s = ((sent1 - sent0) as f64 / secs).round();
    let flood_back_per_s = ((recv1 - recv0) as f64 / secs).round();
    say!(
        "chat: honest members received {} of {expected} of the others' messages each; \
         the flooder sent {flood_per_s} msg/s and got {flood_back_per_s} back",
        per.iter()
            .map(|p| p["from_others"].to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(json!({
        "mode": "chat",
        "members": HONEST,
        "messages": m,
        "expected_from_others": expected,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "drain_s": (drain_s * 1000.0).round() / 1000.0,
        "per_member": per,
        "flood_per_s": flood_per_s,
        "flood_back_per_s": flood_back_per_s,
        "flooder_closed_by_server": flooder_closed,
        "server_cpu": cpu0.zip(cpu1).map(|(a, b)| ((b - a) / secs * 1000.0).round() / 1000.0),
    }))
}

fn main() {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("abuse: {e}");
            std::process::exit(2);
        }
    };
    watchdog(o.duration * 10.0 + 240.0);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("abuse: {e}");
            std::process::exit(2);
        }
    };
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, async {
        match o.workload.as_str() {
            "flood" => flood(&o).await,
            "linger" => linger(&o).await,
            _ => chat(&o).await,
        }
    });
    match result {
        Ok(json) => say!("RESULT {json}"),
        Err(e) => {
            eprintln!("abuse: {e}");
            say!("RESULT {}", json!({ "error": e }));
            std::process::exit(1);
        }
    }
}
