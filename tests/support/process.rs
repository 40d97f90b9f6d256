//! Helpers shared by the tests that run real programs as child processes (`tests/peers.rs`,
//! `tests/c_api.rs`): bounded runs and waits, a long-running child killed on drop, finding
//! the peers (with the `WSGATE_REQUIRE_PEERS=1` rule) and comparing JSON.
//!
//! Included with `#[path = "support/process.rs"] mod process;`; apart from `serde_json`'s
//! `Value` in [`assert_json`], only `std`.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const SETUP: &str = "bash .ci/peers-setup.sh";

/// What a finished child printed.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to the end, killing it (and failing the test) after `limit`; reads its
/// output as it goes. A command that cannot start is a failed run.
pub fn run_bounded(mut command: Command, limit: Duration) -> Run {
    let what = format!("{command:?}");
    let spawned = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            return Run {
                ok: false,
                stdout: String::new(),
                stderr: format!("could not start {what}: {e}"),
            };
        }
    };
    let drain = |pipe: Option<Box<dyn Read + Send>>| -> JoinHandle<String> {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let status = wait_bounded(&mut child, limit);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let run = Run {
        ok: status.is_some_and(|s| s.success()),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "{what} did not finish in {limit:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    run
}

/// Waits at most `limit` for `child` to exit.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A long-running child process (a server), killed on drop. Everything it prints is kept
/// for [`Process::log`]; its stdout lines also come, one by one, from [`Process::next_line`].
pub struct Process {
    pub child: Child,
    lines: Receiver<String>,
    output: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `command` with stdin closed and both outputs piped.
    pub fn spawn(mut command: Command) -> std::io::Result<Process> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let log = output.clone();
        // Keeps reading to the end, so the child never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                log.lock().expect("lines").push(line.clone());
                let _ = tx.send(line);
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let log = output.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().expect("lines").push(format!("stderr: {line}"));
            }
        });
        Ok(Process {
            child,
            lines,
            output,
        })
    }

    /// The next stdout line, waiting until `deadline` at most.
    pub fn next_line(&self, deadline: Instant) -> Result<String, RecvTimeoutError> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.lines.recv_timeout(left)
    }

    /// Everything the child printed so far.
    pub fn log(&self) -> String {
        self.output.lock().expect("lines").join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a peer is installed. When it is not: fails with `WSGATE_REQUIRE_PEERS=1`, else
/// says what is missing (on the real stderr, past the test harness's capture) and skips.
/// The skip message names the test as `<test file>::<test>`, e.g. `peers::node_ws_client`.
#[track_caller]
pub fn have_peer(test: &str, missing: Option<String>) -> bool {
    let Some(missing) = missing else {
        return true;
    };
    let message = format!("{missing}; install the peers with `{SETUP}`");
    if std::env::var("WSGATE_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!("WSGATE_REQUIRE_PEERS=1 but {message}");
    }
    let file = env!("CARGO_CRATE_NAME");
    let _ = writeln!(std::io::stderr(), "{file}::{test}: skipped: {message}");
    false
}

/// `.venv/bin/python`, when it exists and can import `websockets`.
pub fn python() -> Result<PathBuf, String> {
    let python = Path::new(ROOT).join(".venv/bin/python");
    if !python.exists() {
        return Err(format!("{} is missing", python.display()));
    }
    let mut check = Command::new(&python);
    check.args(["-c", "import websockets"]);
    if !run_bounded(check, Duration::from_secs(30)).ok {
        return Err(format!("{} cannot import websockets", python.display()));
    }
    Ok(python)
}

/// Fails with the keys that differ and both values pretty-printed when they differ.
#[track_caller]
pub fn assert_json(actual: &Value, expected: &Value) {
    if actual == expected {
        return;
    }
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let mut keys: Vec<&String> = match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => a.keys().chain(e.keys()).collect(),
        _ => Vec::new(),
    };
    keys.sort();
    keys.dedup();
    keys.retain(|k| actual.get(k.as_str()) != expected.get(k.as_str()));
    panic!(
        "differs at {keys:?}\nactual:\n{}\nexpected:\n{}",
        pretty(actual),
        pretty(expected)
    );
}
