//! What the benchmark programs (the servers under test and the load generator) share.
//! Each program includes this module and uses part of it.
#![allow(dead_code)]

/// The port from `--port N` or `--port=N`; `None` when there is no `--port` (as when plain
/// `cargo bench` runs the program). A value that is not a port ends the program with a
/// message naming `program`.
pub fn port_arg(program: &str) -> Option<u16> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = if arg == "--port" {
            args.next()
        } else if let Some(v) = arg.strip_prefix("--port=") {
            Some(v.to_owned())
        } else {
            continue;
        };
        return match value.as_deref().map(str::parse::<u16>) {
            Some(Ok(port)) => Some(port),
            _ => {
                eprintln!("{program}: --port needs a number from 0 to 65535");
                std::process::exit(2);
            }
        };
    }
    None
}

/// Binds 127.0.0.1:`port` (0: any free port) and prints the ready line `benches/run.sh`
/// waits for, `listening on 127.0.0.1:PORT`. A port that cannot be bound ends the program
/// with a message naming `program`.
pub async fn listen(program: &str, port: u16) -> tokio::net::TcpListener {
    use std::io::Write as _;
    use std::net::{Ipv4Addr, SocketAddr};
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .unwrap_or_else(|e| {
            eprintln!("{program}: cannot bind 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        });
    let Ok(addr) = listener.local_addr() else {
        eprintln!("{program}: no local address");
        std::process::exit(1);
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {addr}");
    let _ = stdout.flush();
    listener
}
