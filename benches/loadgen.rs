//! The load generator of wsgate's benchmark suite (driven by `benches/run.sh`).
//!
//! It speaks the NestJS envelope to any server under test: it opens `--conns` WebSocket
//! connections, keeps `--inflight` messages in flight on each, sends
//! `{"event":"echo","data":{"seq":<n>,"p":"xxx…"}}` padded to `--payload` bytes, and checks
//! **every** reply: a text frame whose JSON has `event` = `"echo"` and `data` = `{"seq": n,
//! "p": "xxx…"}` with the seq this connection expects next (replies come in order) and the
//! exact payload string, keys in any order. It reports messages per second, round-trip
//! latency percentiles and its own CPU use (and the server's, given `--server-pid`), so a
//! run shows which side was the bottleneck.
//!
//! To stay out of the way it does little per message: each connection pre-encodes one masked
//! frame and patches the ten seq digits (masked, counted up in ASCII) for each message; seqs
//! start at 1,000,000,000 so every request has the same length. Replies are cut by their
//! frame header; a reply with the request's own bytes (what a NestJS-style echo sends back) is
//! checked with three comparisons, any other is parsed (keys in any order). All frames that one read's replies call for go
//! out in one write. One thread (a tokio current-thread runtime), meant to be pinned to a core
//! of its own.
//!
//! Modes:
//! - timed (default): `--warmup` seconds unmeasured, then `--duration` seconds measured, then
//!   every connection drains its replies and closes with 1000.
//! - `--messages M`: each connection sends exactly M messages (for callgrind's count of
//!   instructions per message; `--messages 0` only connects and closes).
//! - `--idle N`: opens N connections, completes their handshakes, waits, and reads the
//!   server's resident memory before and after (`--server-pid` required).
//!
//! The last line of output is `RESULT {json}` for `benches/run.sh`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

const FIRST_SEQ: u64 = 1_000_000_000;

/// `println!` that ignores a closed stdout (output piped into `head`, say) instead of
/// panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
const SEQ_DIGITS: usize = 10;

#[derive(Clone, Debug)]
struct Options {
    addr: SocketAddr,
    path: String,
    conns: usize,
    inflight: usize,
    payload: usize,
    warmup: f64,
    duration: f64,
    messages: Option<u64>,
    idle: Option<usize>,
    server_pid: Option<u32>,
    settle: f64,
}

fn usage() -> ! {
    say!(
        "loadgen: the load generator of benches/run.sh.\n\
         usage: loadgen --addr 127.0.0.1:PORT [--path /] [--conns N] [--inflight K] \
         [--payload BYTES] [--warmup S] [--duration S] [--messages M] [--idle N] \
         [--server-pid PID] [--settle S]"
    );
    std::process::exit(0)
}

fn parse_options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().all(|a| a == "--bench") {
        usage();
    }
    let mut o = Options {
        addr: "127.0.0.1:9001".parse().map_err(|e| format!("{e}"))?,
        path: "/".into(),
        conns: 1,
        inflight: 1,
        payload: 64,
        warmup: 1.0,
        duration: 5.0,
        messages: None,
        idle: None,
        server_pid: None,
        settle: 1.0,
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
            "--path" => o.path = value.clone(),
            "--conns" => o.conns = value.parse().map_err(|e| bad(&e))?,
            "--inflight" => o.inflight = value.parse().map_err(|e| bad(&e))?,
            "--payload" => o.payload = value.parse().map_err(|e| bad(&e))?,
            "--warmup" => o.warmup = value.parse().map_err(|e| bad(&e))?,
            "--duration" => o.duration = value.parse().map_err(|e| bad(&e))?,
            "--messages" => o.messages = Some(value.parse().map_err(|e| bad(&e))?),
            "--idle" => o.idle = Some(value.parse().map_err(|e| bad(&e))?),
            "--server-pid" => o.server_pid = Some(value.parse().map_err(|e| bad(&e))?),
            "--settle" => o.settle = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.conns == 0 || o.inflight == 0 {
        return Err("--conns and --inflight must be at least 1".into());
    }
    if o.payload < request_json(FIRST_SEQ, 0).len() {
        return Err(format!(
            "--payload must be at least {} bytes (the envelope without padding)",
            request_json(FIRST_SEQ, 0).len()
        ));
    }
    Ok(o)
}

/// `{"event":"echo","data":{"seq":<seq>,"p":"<pad x's>"}}`.
fn request_json(seq: u64, pad: usize) -> Vec<u8> {
    let mut v = format!("{{\"event\":\"echo\",\"data\":{{\"seq\":{seq},\"p\":\"").into_bytes();
    v.resize(v.len() + pad, b'x');
    v.extend_from_slice(b"\"}}");
    v
}

/// CPU time (user + system) of a process in seconds, from /proc/PID/stat (all threads).
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".into(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((utime + stime) / 100.0)
}

/// Resident memory of a process in KiB, from /proc/PID/status.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// State shared by the connection tasks (one thread, so `Cell`s).
struct Shared {
    /// Replies received and checked, over the whole run.
    done: Cell<u64>,
    /// Latencies (ns) of replies received while `measuring`.
    latencies: RefCell<Vec<u32>>,
    measuring: Cell<bool>,
    /// No new requests: drain and close.
    stopping: Cell<bool>,
    ready: Cell<usize>,
    finished: Cell<usize>,
    go: Notify,
    errors: RefCell<Vec<String>>,
}

async fn handshake(stream: &mut TcpStream, o: &Options, n: usize) -> Result<(), String> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: http://{}\r\nUser-Agent: wsgate-loadgen/{n}\r\n\r\n",
        o.path, o.addr, o.addr
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("handshake write: {e}"))?;
    // Read the response head byte-exactly: the first frames may follow right behind it only
    // after we send something, so reading until the blank line is enough.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream
            .read(&mut byte)
            .await
            .map_err(|e| format!("handshake read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "server closed during the handshake after {:?}",
                String::from_utf8_lossy(&head)
            ));
        }
        head.push(byte[0]);
        if head.len() > 4096 {
            return Err("response head over 4 KiB".into());
        }
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(format!(
            "no upgrade: {:?}",
            String::from_utf8_lossy(&head).lines().next().unwrap_or("")
        ));
    }
    // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" is RFC 6455's accept value for this key.
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !text.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=") {
        return Err("wrong or missing Sec-WebSocket-Accept".into());
    }
    Ok(())
}

/// One connection's pre-encoded request: a masked text frame whose seq digits are patched.
struct Template {
    frame: Vec<u8>,
    /// Offset of the first seq digit in `frame`.
    seq_at: usize,
    /// The mask byte over each seq digit.
    digit_mask: [u8; SEQ_DIGITS],
    /// The exact padding string every reply must carry.
    pad: Vec<u8>,
    /// The unmasked request, split around the seq digits: a reply with the same bytes (what
    /// most servers send back) is checked with two comparisons.
    json_head: Vec<u8>,
    json_tail: Vec<u8>,
}

/// Decimal digits of `seq`, most significant first (seq has exactly SEQ_DIGITS digits).
fn digits(seq: u64) -> [u8; SEQ_DIGITS] {
    let mut d = [0u8; SEQ_DIGITS];
    let mut v = seq;
    for c in d.iter_mut().rev() {
        *c = b'0' + (v % 10) as u8;
        v /= 10;
    }
    d
}

impl Template {
    fn new(payload: usize, mask: [u8; 4]) -> Template {
        let pad_len = payload - request_json(FIRST_SEQ, 0).len();
        let json = request_json(FIRST_SEQ, pad_len);
        let seq_in_json = json
            .windows(7)
            .position(|w| w == b"\"seq\":1")
            .map(|p| p + 6)
            .unwrap_or(0);
        let mut frame = vec![0x81];
        let len = json.len();
        if len < 126 {
            frame.push(0x80 | len as u8);
        } else if len <= 0xffff {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
        frame.extend_from_slice(&mask);
        let payload_at = frame.len();
        frame.extend(json.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let mut digit_mask = [0u8; SEQ_DIGITS];
        for (i, m) in digit_mask.iter_mut().enumerate() {
            *m = mask[(seq_in_json + i) % 4];
        }
        Template {
            frame,
            seq_at: payload_at + seq_in_json,
            digit_mask,
            pad: vec![b'x'; pad_len],
            json_head: json[..seq_in_json].to_vec(),
            json_tail: json[seq_in_json + SEQ_DIGITS..].to_vec(),
        }
    }

    /// Appends the frame for the request whose seq digits are `d` to `out`.
    fn push(&self, out: &mut Vec<u8>, d: &[u8; SEQ_DIGITS]) {
        let start = out.len();
        out.extend_from_slice(&self.frame);
        let at = start + self.seq_at;
        for ((o, d), m) in out[at..at + SEQ_DIGITS]
            .iter_mut()
            .zip(d)
            .zip(&self.digit_mask)
        {
            *o = d ^ m;
        }
    }

    /// Checks a reply to the request with seq `seq` (digits `d`): the request's own bytes,
    /// or else the same JSON with keys in another order (parsed).
    fn check(&self, msg: &[u8], seq: u64, d: &[u8; SEQ_DIGITS]) -> Result<(), String> {
        let (h, t) = (self.json_head.len(), self.json_tail.len());
        if msg.len() == h + SEQ_DIGITS + t
            && msg[..h] == self.json_head[..]
            && msg[h..h + SEQ_DIGITS] == d[..]
            && msg[h + SEQ_DIGITS..] == self.json_tail[..]
        {
            return Ok(());
        }
        check_reply(msg, seq, &self.pad)
    }
}

/// Adds one to a decimal number in ASCII digits.
fn increment(d: &mut [u8; SEQ_DIGITS]) {
    for c in d.iter_mut().rev() {
        if *c == b'9' {
            *c = b'0';
        } else {
            *c += 1;
            return;
        }
    }
}

/// Checks one reply payload: `{"event":"echo","data":{"seq":seq,"p":"<pad>"}}`, keys of
/// both objects in any order, no whitespace (every server under test writes compact JSON).
fn check_reply(msg: &[u8], seq: u64, pad: &[u8]) -> Result<(), String> {
    let bad = |what: &str| {
        let shown = &msg[..msg.len().min(120)];
        format!("{what} in reply {:?}", String::from_utf8_lossy(shown))
    };
    let mut p = Cursor { s: msg, i: 0 };
    p.eat(b'{').ok_or_else(|| bad("no object"))?;
    let (mut event_ok, mut data_ok) = (false, false);
    loop {
        let key = p.key().ok_or_else(|| bad("bad key"))?;
        match key {
            b"event" => {
                p.lit(b"\"echo\"")
                    .ok_or_else(|| bad("event is not \"echo\""))?;
                event_ok = true;
            }
            b"data" => {
                p.eat(b'{').ok_or_else(|| bad("data is not an object"))?;
                let (mut seq_ok, mut pad_ok) = (false, false);
                loop {
                    match p.key().ok_or_else(|| bad("bad data key"))? {
                        b"seq" => {
                            let got = p.number().ok_or_else(|| bad("bad seq"))?;
                            if got != seq {
                                return Err(bad(&format!("seq {got}, expected {seq}")));
                            }
                            seq_ok = true;
                        }
                        b"p" => {
                            p.eat(b'"').ok_or_else(|| bad("p is not a string"))?;
                            p.lit(pad).ok_or_else(|| bad("wrong payload"))?;
                            p.eat(b'"').ok_or_else(|| bad("payload too long"))?;
                            pad_ok = true;
                        }
                        _ => return Err(bad("unexpected data key")),
                    }
                    if p.eat(b'}').is_some() {
                        break;
                    }
                    p.eat(b',').ok_or_else(|| bad("bad data object"))?;
                }
                if !(seq_ok && pad_ok) {
                    return Err(bad("data lacks seq or p"));
                }
                data_ok = true;
            }
            _ => return Err(bad("unexpected key")),
        }
        if p.eat(b'}').is_some() {
            break;
        }
        p.eat(b',').ok_or_else(|| bad("bad object"))?;
    }
    if !(event_ok && data_ok) || p.i != msg.len() {
        return Err(bad("incomplete"));
    }
    Ok(())
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.s.get(self.i) == Some(&c)).then(|| self.i += 1)
    }
    fn lit(&mut self, l: &[u8]) -> Option<()> {
        (self.s.get(self.i..self.i + l.len()) == Some(l)).then(|| self.i += l.len())
    }
    /// `"name":` (names without escapes), returning the name.
    fn key(&mut self) -> Option<&[u8]> {
        self.eat(b'"')?;
        let start = self.i;
        let len = self.s.get(start..)?.iter().position(|&b| b == b'"')?;
        self.i = start + len + 1;
        self.eat(b':')?;
        self.s.get(start..start + len)
    }
    fn number(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(&b) = self.s.get(self.i).filter(|b| b.is_ascii_digit()) {
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.i += 1;
        }
        (self.i > start).then_some(v)
    }
}

/// One complete server frame at the front of `buf`: (opcode, payload range, frame length).
fn next_frame(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b1 & 0x80 != 0 {
        return Err("masked frame from the server".into());
    }
    if b0 & 0x80 == 0 {
        return Err("fragmented reply (the servers under test send whole frames)".into());
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
    let len = usize::try_from(len).map_err(|_| "frame too long")?;
    if buf.len() < hlen + len {
        return Ok(None);
    }
    Ok(Some((b0 & 0x0f, hlen, hlen + len)))
}

async fn close(stream: &mut TcpStream, inbuf: &mut Vec<u8>, have: &mut usize) {
    // A masked close frame with code 1000 (mask 0 keeps it readable in captures).
    let _ = stream
        .write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
        .await;
    // Read until the server's close frame or EOF, bounded in time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut pos = 0;
        while let Ok(Some((op, _, end))) = next_frame(&inbuf[pos..*have]) {
            if op == 0x8 {
                return;
            }
            pos += end;
        }
        inbuf.copy_within(pos..*have, 0);
        *have -= pos;
        if *have == inbuf.len() {
            inbuf.resize(inbuf.len() * 2, 0);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut inbuf[*have..])).await {
            Ok(Ok(n)) if n > 0 => *have += n,
            _ => return,
        }
    }
}

async fn run_connection(o: Rc<Options>, shared: Rc<Shared>, n: usize) -> Result<(), String> {
    let mut stream = TcpStream::connect(o.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("{e}"))?;
    handshake(&mut stream, &o, n).await?;
    let mask = (0x9e37_79b9u32.wrapping_mul(n as u32 + 1) | 0x0101_0101).to_be_bytes();
    let t = Template::new(o.payload, mask);
    shared.ready.set(shared.ready.get() + 1);
    shared.go.notified().await;

    let limit = o.messages;
    let mut next_seq = FIRST_SEQ;
    let mut expect = FIRST_SEQ;
    // The two seqs as ASCII digits, counted up alongside.
    let mut next_digits = digits(FIRST_SEQ);
    let mut expect_digits = digits(FIRST_SEQ);
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(o.inflight);
    let mut out = Vec::with_capacity(o.inflight * t.frame.len());
    let can_send = |next: u64, shared: &Shared| match limit {
        Some(m) => next - FIRST_SEQ < m,
        None => !shared.stopping.get(),
    };
    for _ in 0..o.inflight {
        if can_send(next_seq, &shared) {
            t.push(&mut out, &next_digits);
            next_seq += 1;
            increment(&mut next_digits);
        }
    }
    let now = Instant::now();
    for _ in expect..next_seq {
        sent_at.push_back(now);
    }
    stream
        .write_all(&out)
        .await
        .map_err(|e| format!("write: {e}"))?;
    out.clear();

    let mut inbuf = vec![0u8; (2 * t.frame.len()).max(64 * 1024)];
    let mut have = 0;
    while expect < next_seq {
        if have == inbuf.len() {
            inbuf.resize(inbuf.len() * 2, 0);
        }
        let got = stream
            .read(&mut inbuf[have..])
            .await
            .map_err(|e| format!("read: {e}"))?;
        if got == 0 {
            return Err(format!(
                "server closed with {} replies due",
                next_seq - expect
            ));
        }
        have += got;
        let now = Instant::now();
        let mut pos = 0;
        let mut replies = 0u64;
        while let Some((op, at, end)) = next_frame(&inbuf[pos..have])? {
            let payload = &inbuf[pos + at..pos + end];
            match op {
                0x1 => {
                    t.check(payload, expect, &expect_digits)?;
                    expect += 1;
                    increment(&mut expect_digits);
                    replies += 1;
                    let sent = sent_at.pop_front().unwrap_or(now);
                    if shared.measuring.get() {
                        let ns = now.duration_since(sent).as_nanos();
                        shared
                            .latencies
                            .borrow_mut()
                            .push(u32::try_from(ns).unwrap_or(u32::MAX));
                    }
                    if can_send(next_seq, &shared) {
                        t.push(&mut out, &next_digits);
                        next_seq += 1;
                        increment(&mut next_digits);
                        sent_at.push_back(now);
                    }
                }
                0x9 | 0xa => {}
                0x8 => return Err("server closed the WebSocket".into()),
                other => return Err(format!("unexpected opcode {other:#x}")),
            }
            pos += end;
        }
        inbuf.copy_within(pos..have, 0);
        have -= pos;
        shared.done.set(shared.done.get() + replies);
        if !out.is_empty() {
            stream
                .write_all(&out)
                .await
                .map_err(|e| format!("write: {e}"))?;
            out.clear();
        }
    }
    close(&mut stream, &mut inbuf, &mut have).await;
    Ok(())
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

async fn load(o: Options) -> Result<String, String> {
    let o = Rc::new(o);
    let shared = Rc::new(Shared {
        done: Cell::new(0),
        latencies: RefCell::new(Vec::with_capacity(1 << 20)),
        measuring: Cell::new(false),
        stopping: Cell::new(false),
        ready: Cell::new(0),
        finished: Cell::new(0),
        go: Notify::new(),
        errors: RefCell::new(Vec::new()),
    });
    for n in 0..o.conns {
        let (o, shared) = (o.clone(), shared.clone());
        tokio::task::spawn_local(async move {
            if let Err(e) = run_connection(o, shared.clone(), n).await {
                shared
                    .errors
                    .borrow_mut()
                    .push(format!("connection {n}: {e}"));
            }
            shared.finished.set(shared.finished.get() + 1);
        });
    }
    let connect_deadline = Instant::now() + Duration::from_secs(30);
    // Every connection is ready, or one failed (which ends the run below).
    while shared.ready.get() < o.conns && shared.errors.borrow().is_empty() {
        if Instant::now() > connect_deadline {
            return Err("connections not ready within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    if let Some(e) = shared.errors.borrow().first() {
        return Err(e.clone());
    }
    shared.go.notify_waiters();

    let (t0, done0, cpu0, scpu0);
    if o.messages.is_none() {
        tokio::time::sleep(Duration::from_secs_f64(o.warmup)).await;
    }
    shared.measuring.set(true);
    t0 = Instant::now();
    done0 = shared.done.get();
    cpu0 = cpu_seconds(None);
    scpu0 = o.server_pid.and_then(|p| cpu_seconds(Some(p)));
    if o.messages.is_none() {
        tokio::time::sleep(Duration::from_secs_f64(o.duration)).await;
    } else {
        while shared.finished.get() < o.conns {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let done = shared.done.get() - done0;
    let cpu = cpu_seconds(None).zip(cpu0).map(|(a, b)| (a - b) / elapsed);
    let scpu = o
        .server_pid
        .and_then(|p| cpu_seconds(Some(p)))
        .zip(scpu0)
        .map(|(a, b)| (a - b) / elapsed);
    shared.measuring.set(false);
    shared.stopping.set(true);
    let drain_deadline = Instant::now() + Duration::from_secs(20);
    while shared.finished.get() < o.conns && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    if let Some(e) = shared.errors.borrow().first() {
        return Err(e.clone());
    }
    if shared.finished.get() < o.conns {
        return Err("connections did not finish within 20 s of the end".into());
    }
    let mut lat = std::mem::take(&mut *shared.latencies.borrow_mut());
    lat.sort_unstable();
    let rate = done as f64 / elapsed;
    let fmt_opt = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.3}"));
    let [p50, p90, p99, p999] = [0.5, 0.9, 0.99, 0.999].map(|q| percentile(&lat, q));
    let (cpu, scpu) = (fmt_opt(cpu), fmt_opt(scpu));
    let (conns, inflight, payload) = (o.conns, o.inflight, o.payload);
    say!(
        "{conns} conns x {inflight} in flight, {payload} B: {done} messages in {elapsed:.2} s \
         = {rate:.0} msg/s; latency us p50 {p50:.1} p90 {p90:.1} p99 {p99:.1} p99.9 {p999:.1}; \
         CPU loadgen {cpu} server {scpu}"
    );
    Ok(format!(
        "{{\"mode\":\"load\",\"conns\":{conns},\"inflight\":{inflight},\"payload\":{payload},\
         \"messages\":{done},\"seconds\":{elapsed:.4},\"msgs_per_s\":{rate:.1},\
         \"p50_us\":{p50:.2},\"p90_us\":{p90:.2},\"p99_us\":{p99:.2},\"p999_us\":{p999:.2},\
         \"loadgen_cpu\":{cpu},\"server_cpu\":{scpu},\"checked\":{done}}}"
    ))
}

async fn idle(o: Options, count: usize) -> Result<String, String> {
    let pid = o
        .server_pid
        .ok_or("--idle needs --server-pid to read the server's memory")?;
    let before = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    let o = Rc::new(o);
    let mut streams = Vec::with_capacity(count);
    // Handshakes in batches, so the server's accept queue never overflows.
    for batch in (0..count).collect::<Vec<_>>().chunks(64) {
        let mut tasks = Vec::new();
        for &n in batch {
            let o = o.clone();
            tasks.push(tokio::task::spawn_local(async move {
                let mut s = TcpStream::connect(o.addr)
                    .await
                    .map_err(|e| format!("connect {n}: {e}"))?;
                handshake(&mut s, &o, n).await?;
                Ok::<_, String>(s)
            }));
        }
        for t in tasks {
            streams.push(t.await.map_err(|e| format!("{e}"))??);
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(o.settle)).await;
    let after = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    let per_conn = (after.saturating_sub(before) as f64 * 1024.0) / count as f64;
    say!(
        "{count} idle connections: server RSS {before} KiB -> {after} KiB, \
         {per_conn:.0} bytes per connection"
    );
    for mut s in streams {
        let _ = s.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await;
    }
    Ok(format!(
        "{{\"mode\":\"idle\",\"conns\":{count},\"rss_before_kib\":{before},\
         \"rss_after_kib\":{after},\"bytes_per_conn\":{per_conn:.0}}}"
    ))
}

fn main() {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, async move {
        match o.idle {
            Some(n) => idle(o, n).await,
            None => load(o).await,
        }
    });
    match result {
        Ok(json) => say!("RESULT {json}"),
        Err(e) => {
            eprintln!("loadgen: {e}");
            say!("RESULT {{\"error\":{:?}}}", e);
            std::process::exit(1);
        }
    }
}
