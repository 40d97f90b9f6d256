//! What the benchmark programs (the servers under test and the load generator) share.

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
