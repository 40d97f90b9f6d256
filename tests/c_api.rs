//! The C API from C: builds the static library, compiles the C tests and the C example
//! server with the system C compiler, and runs them.
//!
//! - `c_tests`: `tests/c/test_api.c`, every function and error code of `include/wsgate.h`
//!   and the NestJS sample exchange byte for byte; it must print `N passed, 0 failed`.
//! - `c_server_with_python_client`: `examples/c/server.c` on a free port, driven by a real
//!   Python `websockets` client (`tests/peers/c_client.py`): the sample exchange, echo, an
//!   exception, a broadcast across two `/chat` clients, closes both ways; then SIGTERM and a
//!   clean exit.
//! - `c_server_shutdown`: the same server with raw TCP clients (no peers needed): on SIGTERM
//!   an open client gets the exact 1001 close frame, one still in its handshake the 503.
//!
//! The library is built once per run by a nested `cargo rustc` into `target/c/`, a target
//! directory of its own, so it never waits on the lock of the build that runs this test.
//! The Python client is installed by `bash .ci/peers-setup.sh`; without it that test says
//! so and passes, unless `WSGATE_REQUIRE_PEERS=1` (CI). Every wait is bounded; the server
//! is killed when a test ends, pass or fail. `.ci/c.sh` runs the same C programs under the
//! sanitizers and valgrind.

#[path = "support/process.rs"]
mod process;

use process::{Process, ROOT, assert_json, have_peer, python, run_bounded, wait_bounded};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

/// The C compiler: `$CC`, else `cc`.
fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_string())
}

/// `target/c/`: the nested build's own target directory, and where the C programs go.
fn c_target() -> PathBuf {
    Path::new(ROOT).join("target").join("c")
}

/// Builds `libwsgate.a` once per run (a no-op when it is up to date) and returns its path.
fn staticlib() -> PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args([
                "rustc",
                "--quiet",
                "--release",
                "--lib",
                "--features",
                "ffi",
                "--crate-type",
                "staticlib",
                "--target-dir",
            ])
            .arg(c_target())
            .current_dir(ROOT);
        let run = run_bounded(cargo, Duration::from_secs(900));
        assert!(
            run.ok,
            "building the static library failed:\n{}",
            run.stderr
        );
        let lib = c_target().join("release").join("libwsgate.a");
        assert!(lib.exists(), "{} was not built", lib.display());
        lib
    })
    .clone()
}

/// Compiles one C program against `include/wsgate.h` and the static library, warnings as
/// errors; returns the executable.
fn compile(source: &str, name: &str) -> PathBuf {
    let lib = staticlib();
    let dir = c_target().join("bin");
    std::fs::create_dir_all(&dir).expect("create target/c/bin");
    let exe = dir.join(name);
    let mut command = Command::new(cc());
    command
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
            "-g",
            "-Iinclude",
        ])
        .arg(source)
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .current_dir(ROOT);
    let run = run_bounded(command, Duration::from_secs(120));
    assert!(
        run.ok,
        "{} {source} failed:\n{}{}",
        cc(),
        run.stdout,
        run.stderr
    );
    exe
}

/// The C test program, compiled once.
fn test_api() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("tests/c/test_api.c", "test_api"))
        .clone()
}

/// The C example server, compiled once.
fn server_binary() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("examples/c/server.c", "server"))
        .clone()
}

#[test]
fn c_tests() {
    let exe = test_api();
    let run = run_bounded(Command::new(&exe), Duration::from_secs(60));
    let last = run.stdout.lines().last().unwrap_or_default().to_string();
    let counts: Vec<u64> = last
        .strip_suffix(" failed")
        .and_then(|rest| rest.split_once(" passed, "))
        .map(|(p, f)| [p, f].iter().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    assert!(
        run.ok && counts.len() == 2 && counts[0] > 0 && counts[1] == 0,
        "{} failed (last line {last:?}):\n{}{}",
        exe.display(),
        run.stdout,
        run.stderr
    );
}

/// The C example server as a child process, killed on drop.
struct Server {
    process: Process,
    port: u16,
}

impl Server {
    /// Starts the server on a free port and waits (at most 10 s) until it prints its address.
    fn start() -> Server {
        let mut command = Command::new(server_binary());
        command.arg("0");
        let process = Process::spawn(command).expect("start examples/c/server.c");
        let mut server = Server { process, port: 0 };
        let line = server.wait_for_line("listening on ", Duration::from_secs(10));
        server.port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        server
    }

    /// Waits at most `limit` for a line starting with `prefix`; returns it.
    fn wait_for_line(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.process.next_line(deadline) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "the C server printed no {prefix:?} in {limit:?}:\n{}",
                        self.log()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "the C server exited before printing {prefix:?}:\n{}",
                        self.log()
                    )
                }
            }
        }
    }

    /// Everything the server printed so far.
    fn log(&self) -> String {
        self.process.log()
    }

    /// Sends SIGTERM, as `kill` does.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.process.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits at most `limit` for the server to exit by itself; asserts it exited with 0.
    fn assert_exits_cleanly(&mut self, limit: Duration) {
        let status = wait_bounded(&mut self.process.child, limit);
        // Let the reader threads take the last lines.
        thread::sleep(Duration::from_millis(50));
        match status {
            Some(s) => assert!(s.success(), "the C server exited with {s}:\n{}", self.log()),
            None => panic!("the C server did not exit in {limit:?}:\n{}", self.log()),
        }
    }
}

#[test]
fn c_server_with_python_client() {
    let python = python().map_err(|e| format!("{e} (Python `websockets` client)"));
    if !have_peer(
        "c_server_with_python_client",
        python.as_ref().err().cloned(),
    ) {
        return;
    }
    let mut server = Server::start();
    let mut command = Command::new(python.expect("checked"));
    command
        .arg(Path::new(ROOT).join("tests/peers/c_client.py"))
        .arg(server.port.to_string());
    let run = run_bounded(command, Duration::from_secs(40));
    assert!(
        run.ok,
        "c_client.py failed\nstdout:\n{}\nstderr:\n{}\nserver:\n{}",
        run.stdout,
        run.stderr,
        server.log()
    );
    let result: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("c_client.py printed no JSON ({e}):\n{}", run.stdout));
    let chat = r#"{"event":"message","data":{"text":"hi"}}"#;
    assert_json(
        &result,
        &json!({
            "events": [
                r#"{"event":"events","data":1}"#,
                r#"{"event":"events","data":2}"#,
                r#"{"event":"events","data":3}"#,
            ],
            "echo": r#"{"event":"echo","data":{"a":[1,2]}}"#,
            "echo_no_data": r#"{"event":"echo","data":null}"#,
            "identity": "0",
            "after_drops": r#"{"event":"echo","data":"still here"}"#,
            "fail": r#"{"event":"exception","data":{"status":"error","message":"nope","cause":{"pattern":"fail","data":[1]}}}"#,
            "binary_in": "false",
            "ping_answered": true,
            "unknown_path": 404,
            "broadcast": { "sender": chat, "other": chat },
            "other_gateway": r#"{"event":"echo","data":1}"#,
            "leave": { "code": 4000, "reason": "", "frames_before": [] },
            "client_close": { "code": 4001, "reason": "bye" },
        }),
    );

    // Every client has left: SIGTERM ends the server at once, with its counters.
    server.terminate();
    server.assert_exits_cleanly(Duration::from_secs(10));
    let log = server.log();
    let has = |text: &str| log.lines().any(|l| l.contains(text));
    assert!(has("shutting down"), "{log}");
    assert!(
        has("bye: 5 accepted, 4 upgraded, 12 messages, 10 dispatched"),
        "{log}"
    );
    let connects = log.lines().filter(|l| l.contains(" connected to ")).count();
    let leaves = log.lines().filter(|l| l.contains(" left with ")).count();
    assert_eq!((connects, leaves), (4, 4), "{log}");
    assert!(has(" left with 4000") && has(" left with 4001"), "{log}");
}

/// Reads until `buf` ends with `end` or `limit` bytes; bounded by the socket's timeout.
fn read_until(stream: &mut TcpStream, end: &[u8], limit: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(end) && buf.len() < limit {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    buf
}

fn raw_client(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the C server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("write timeout");
    stream
}

#[test]
fn c_server_shutdown() {
    let mut server = Server::start();
    // One client upgraded, on /chat.
    let mut open = raw_client(server.port);
    open.write_all(
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .expect("send the upgrade");
    let head = read_until(&mut open, b"\r\n\r\n", 4096);
    assert_eq!(
        String::from_utf8_lossy(&head),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    server.wait_for_line("client ", Duration::from_secs(5));
    // One still in its handshake: half a request head.
    let mut early = raw_client(server.port);
    early
        .write_all(b"GET / HTTP/1.1\r\n")
        .expect("send half a head");
    // A masked ping proves the server has taken both connections before the signal.
    open.write_all(&[0x89, 0x80, 1, 2, 3, 4]).expect("ping");
    assert_eq!(read_until(&mut open, &[0x8a, 0x00], 2), [0x8a, 0x00]);

    server.terminate();
    server.wait_for_line("shutting down", Duration::from_secs(5));
    let mut close = vec![0x88, 22, 0x03, 0xe9];
    close.extend_from_slice(b"server shutting down");
    assert_eq!(read_until(&mut open, b"down", 64), close);
    let refusal = read_until(&mut early, b"down\n", 1024);
    assert!(
        refusal.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n")
            && refusal.ends_with(b"\r\n\r\nserver shutting down\n"),
        "{}",
        String::from_utf8_lossy(&refusal)
    );
    // New connections are refused now: the listening socket is closed.
    assert!(TcpStream::connect(("127.0.0.1", server.port)).is_err());
    // The client answers the close (masked, code 1001): the server ends the connection and,
    // its last client gone, exits.
    let mask = [9u8, 8, 7, 6];
    let mut answer = vec![0x88, 0x82];
    answer.extend_from_slice(&mask);
    answer.extend([0x03 ^ mask[0], 0xe9 ^ mask[1]]);
    open.write_all(&answer).expect("close");
    let mut rest = Vec::new();
    let _ = open.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing after the close frame: {rest:?}");
    server.assert_exits_cleanly(Duration::from_secs(10));
    let log = server.log();
    assert!(log.contains(" left with 1001"), "{log}");
    assert!(log.contains("bye: 2 accepted, 1 upgraded"), "{log}");
}

/// A client that sends 200,000 `events` messages (7.6 MB) before it reads anything: the 17 MB
/// of replies outgrow the socket buffers (4 MB at most by default on Linux), so the server's
/// writes block and it stops reading (backpressure through `wsgate_feed`'s partial use and
/// POLLOUT); once the client reads, every one of the 600,000 replies arrives, in order.
#[test]
fn c_server_backpressure() {
    const N: usize = 200_000;
    let server = Server::start();
    let mut client = raw_client(server.port);
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    client
        .write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("send the upgrade");
    let head = read_until(&mut client, b"\r\n\r\n", 4096);
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{head:?}");
    let message = br#"{"event":"events","data":"test"}"#;
    let mut frame = vec![0x81, 0x80 | message.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(message);
    let mut writer = client.try_clone().expect("clone the socket");
    writer
        .set_write_timeout(Some(Duration::from_secs(30)))
        .expect("write timeout");
    let sender = thread::spawn(move || writer.write_all(&frame.repeat(N)));
    // Nobody reads for a while: both directions fill up.
    thread::sleep(Duration::from_millis(500));
    let mut expected = Vec::new();
    for i in 1..=3 {
        let text = format!(r#"{{"event":"events","data":{i}}}"#);
        expected.extend([0x81, text.len() as u8]);
        expected.extend_from_slice(text.as_bytes());
    }
    let expected = expected.repeat(N);
    let mut received = vec![0u8; expected.len()];
    client
        .read_exact(&mut received)
        .unwrap_or_else(|e| panic!("reading the replies: {e}\n{}", server.log()));
    assert!(
        received == expected,
        "the replies differ from 3 x {N} events frames"
    );
    sender
        .join()
        .expect("sender thread")
        .expect("send every message");
}
