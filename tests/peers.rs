//! End to end against real peers: the `events_server` example, run as its own process, talks
//! to Python `websockets`, Node `ws`, a NestJS-style `ws` client and headless Chromium.
//!
//! Each test starts `events_server --port 0`, reads the port from its first lines, runs one
//! client script from `tests/peers/`, and compares the JSON the script prints with the exact
//! frames, closes and values expected. The server is killed when the test ends, pass or fail.
//! Every wait is bounded.
//!
//! The peers are installed by `bash .ci/peers-setup.sh`. Where one is missing, its test says so
//! and passes, so `cargo test` on a fresh clone is green; with `WSGATE_REQUIRE_PEERS=1` (CI)
//! a missing peer fails the test instead.

#[path = "support/process.rs"]
mod process;

use process::{Process, ROOT, assert_json, have_peer, python, run_bounded};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// The `events_server` example as a child process, killed on drop.
struct Server {
    process: Process,
    port: u16,
}

impl Server {
    /// Starts the example on a free port and waits (at most 10 s) until it prints its address.
    fn start() -> Server {
        let mut command = Command::new(example_binary());
        command.args(["--port", "0"]);
        let process = Process::spawn(command).expect("start the events_server example");
        let mut server = Server { process, port: 0 };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.port == 0 {
            match server.process.next_line(deadline) {
                Ok(line) => server.port = port_in(&line).unwrap_or(0),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "events_server printed no address in 10 s:\n{}",
                        server.log()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "events_server exited before printing its address:\n{}",
                        server.log()
                    )
                }
            }
        }
        server
    }

    /// Everything the server printed so far.
    fn log(&self) -> String {
        self.process.log()
    }
}

/// The port in a line like `  events:   ws://127.0.0.1:40123/`.
fn port_in(line: &str) -> Option<u16> {
    let rest = line.split("ws://").nth(1)?;
    let addr = rest.split('/').next()?;
    addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
}

/// `target/<profile>/examples/events_server`, next to this test's `target/<profile>/deps/`.
///
/// `cargo test` builds examples, but `cargo test --test peers` does not: build it once per
/// run (a no-op when it is up to date) so the test never runs a stale server.
fn example_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("current_exe");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("the test runs from target/<profile>/deps");
            let profile = profile_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("debug");
            let profile = if profile == "debug" { "dev" } else { profile };
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args([
                    "build",
                    "--quiet",
                    "--example",
                    "events_server",
                    "--profile",
                ])
                .arg(profile)
                .current_dir(ROOT);
            let run = run_bounded(cargo, Duration::from_secs(600));
            assert!(
                run.ok,
                "cargo build --example events_server failed:\n{}",
                run.stderr
            );
            let binary = profile_dir
                .join("examples")
                .join(format!("events_server{}", std::env::consts::EXE_SUFFIX));
            assert!(binary.exists(), "{} was not built", binary.display());
            binary
        })
        .clone()
}

/// Runs a client script against `server` and parses the one JSON object it prints.
fn run_client(server: &Server, program: &Path, script: &str, limit: Duration) -> Value {
    let mut command = Command::new(program);
    command
        .arg(Path::new(ROOT).join("tests/peers").join(script))
        .arg(server.port.to_string())
        .current_dir(Path::new(ROOT).join("tests/peers"));
    let run = run_bounded(command, limit);
    assert!(
        run.ok,
        "{script} failed\nstdout:\n{}\nstderr:\n{}\nserver:\n{}",
        run.stdout,
        run.stderr,
        server.log()
    );
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    })
}

fn node_with(packages: &[&str]) -> Result<PathBuf, String> {
    let mut version = Command::new("node");
    version.arg("--version");
    if !run_bounded(version, Duration::from_secs(30)).ok {
        return Err("`node` is not on PATH (install Node.js 20 or later)".into());
    }
    for package in packages {
        let dir = Path::new(ROOT)
            .join("tests/peers/node_modules")
            .join(package);
        if !dir.join("package.json").exists() {
            return Err(format!("{} is missing", dir.display()));
        }
    }
    Ok(PathBuf::from("node"))
}

/// What client.py and client.mjs must print: exact frame texts, close codes and reasons.
fn expected_client_results() -> Value {
    let exception = |message: &str, data: &str| {
        format!(
            r#"{{"event":"exception","data":{{"status":"error","message":"{message}","cause":{{"pattern":"sum","data":{data}}}}}}}"#
        )
    };
    let bad_sum = "sum expects an array of at most 16 integers";
    let chat = r#"{"event":"message","data":{"text":"hi"}}"#;
    json!({
        "events": [
            r#"{"event":"events","data":1}"#,
            r#"{"event":"events","data":2}"#,
            r#"{"event":"events","data":3}"#,
        ],
        "echo": r#"{"event":"echo","data":{"a":[1,2]}}"#,
        "identity": "0",
        "sum": r#"{"event":"sum","data":4000000002}"#,
        "sum_error": exception(bad_sum, r#""x""#),
        "sum_too_long": exception(bad_sum, "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]"),
        "sum_overflow": exception("the sum does not fit in 64 bits", "[9223372036854775807,1]"),
        "binary_in": "false",
        "ping_answered": true,
        "subprotocol": "chat.v1",
        "subprotocol_none_offered": null,
        "broadcast": { "sender": chat, "other": chat },
        "leave": { "code": 4000, "reason": "left the chat", "frames_before": [] },
        // wsgate echoes the peer's close frame, code and reason, as Node's `ws` does.
        "client_close": { "code": 4001, "reason": "bye" },
    })
}

#[test]
fn python_websockets_client() {
    let python = python().map_err(|e| format!("{e} (Python `websockets` client)"));
    if !have_peer("python_websockets_client", python.as_ref().err().cloned()) {
        return;
    }
    let server = Server::start();
    let result = run_client(
        &server,
        &python.expect("checked"),
        "client.py",
        Duration::from_secs(40),
    );
    assert_json(&result, &expected_client_results());
}

#[test]
fn node_ws_client() {
    let node = node_with(&["ws"]).map_err(|e| format!("{e} (Node `ws` client)"));
    if !have_peer("node_ws_client", node.as_ref().err().cloned()) {
        return;
    }
    let server = Server::start();
    let result = run_client(
        &server,
        &node.expect("checked"),
        "client.mjs",
        Duration::from_secs(40),
    );
    assert_json(&result, &expected_client_results());
}

/// The NestJS sample's e2e expectation: `events` answers 1, 2, 3 and nothing else.
#[test]
fn nestjs_sample_e2e() {
    let node = node_with(&["ws"]).map_err(|e| format!("{e} (Node `ws` client)"));
    if !have_peer("nestjs_sample_e2e", node.as_ref().err().cloned()) {
        return;
    }
    let server = Server::start();
    let result = run_client(
        &server,
        &node.expect("checked"),
        "nestjs_e2e.mjs",
        Duration::from_secs(20),
    );
    assert_json(&result, &json!({ "events": [1, 2, 3], "other": [] }));
}

/// The example's page in headless Chromium: its own `WebSocket` against both gateways.
#[test]
fn chromium_page() {
    let node = node_with(&["playwright-core"])
        .map_err(|e| format!("{e} (playwright-core for the browser test)"))
        .and_then(|node| match Path::new("/usr/bin/chromium").exists() {
            true => Ok(node),
            false => Err("/usr/bin/chromium is missing (Debian package `chromium`)".into()),
        });
    if !have_peer("chromium_page", node.as_ref().err().cloned()) {
        return;
    }
    let server = Server::start();
    let result = run_client(
        &server,
        &node.expect("checked"),
        "browser.mjs",
        Duration::from_secs(90),
    );
    let on = |path: &str, message: Value| json!({ "path": path, "message": message });
    assert_json(
        &result,
        &json!({
            "received": [
                on("/", json!({ "event": "events", "data": 1 })),
                on("/", json!({ "event": "events", "data": 2 })),
                on("/", json!({ "event": "events", "data": 3 })),
                on("/", json!({ "event": "echo", "data": "hello" })),
                on("/", json!({ "event": "sum", "data": 10 })),
                on("/", json!({ "event": "exception", "data": {
                    "status": "error",
                    "message": "sum expects an array of at most 16 integers",
                    "cause": { "pattern": "sum", "data": "x" },
                }})),
                on("/chat", json!({ "event": "message", "data": "hi all" })),
            ],
            "chat_protocol": "chat.v1",
            "log": ["/ open", "/chat closed 4000 left the chat", "/chat open (chat.v1)"],
        }),
    );
}
