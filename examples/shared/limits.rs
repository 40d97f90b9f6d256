//! Process limits for the host examples (`events_server`, `echo_server`).

/// Raises this process's open-file soft limit to its hard limit, so a server with many
/// clients (and sockets lingering after their close) does not run out of descriptors at the
/// soft limit's default (often 1024). Prints nothing when it worked or there was nothing to
/// do, and a one-line warning when the limit could not be raised.
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current == limit.maximum {
            return;
        }
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            eprintln!(
                "warning: could not raise the open-file limit from {} to {}: {e}",
                show(limit.current),
                show(limit.maximum)
            );
        }
    }
}

/// A limit as `getrlimit` reports it: a number, or "unlimited".
#[cfg(unix)]
fn show(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_string(), |n| n.to_string())
}
