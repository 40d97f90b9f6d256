//! The crate's layering, checked: no module names one above it in code (doc comments may
//! point upwards). The order, bottom up, is the README's "Layout" and each module's opening
//! doc:
//!
//! 1. `bytes`, `stats`, `fmt`: leaves, importing nothing of the crate;
//! 2. `protocol`: the wire;
//! 3. `json`: JSON text, beside the wire and knowing nothing of it;
//! 4. `connection`: one client's state machine;
//! 5. `gateway`: the NestJS layer;
//! 6. `socketio`: socket.io (Engine.IO, Socket.IO), beside the envelope, over the gateway;
//! 7. `server`: the slots and the gateways;
//! 8. `adapter`: NestJS's adapter contract;
//! 9. `transport`, `ffi`: what owns sockets, clocks or the C caller.

use std::path::{Path, PathBuf};

/// Each module and the crate modules it may name.
const LAYERS: &[(&str, &[&str])] = &[
    ("bytes", &[]),
    ("stats", &[]),
    ("fmt", &[]),
    ("protocol", &["bytes"]),
    ("json", &["bytes"]),
    ("connection", &["bytes", "stats", "protocol"]),
    (
        "gateway",
        &["bytes", "stats", "protocol", "json", "connection"],
    ),
    (
        "socketio",
        &[
            "bytes",
            "stats",
            "protocol",
            "json",
            "connection",
            "gateway",
        ],
    ),
    (
        "server",
        &[
            "bytes",
            "stats",
            "protocol",
            "json",
            "connection",
            "gateway",
            "socketio",
        ],
    ),
    (
        "adapter",
        &[
            "bytes",
            "stats",
            "protocol",
            "json",
            "connection",
            "gateway",
            "socketio",
            "server",
        ],
    ),
];

/// The `.rs` files of module `name`: `src/name.rs` and everything under `src/name/`.
fn files_of(name: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let single = src.join(format!("{name}.rs"));
    if single.exists() {
        files.push(single);
    }
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    assert!(!files.is_empty(), "module {name} has no source files");
    files
}

/// The crate modules `line` names in code (`crate::x`), outside comments.
fn named_modules(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // `crate::{a, b}` names several.
        if name.is_empty() && rest.starts_with('{') {
            let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
            names.extend(
                group
                    .split(',')
                    .map(|s| s.trim().split("::").next().unwrap_or("").to_string())
                    .filter(|s| !s.is_empty()),
            );
        } else {
            names.push(name);
        }
    }
    names
}

#[test]
fn no_module_names_one_above_it() {
    let all: Vec<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    let mut wrong = Vec::new();
    for (module, allowed) in LAYERS {
        for file in files_of(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for named in named_modules(line) {
                    // Its own module, and names that are not modules (a macro, an item
                    // re-exported at the root, which is checked where it is defined).
                    let is_layer = all.contains(&named.as_str())
                        || ["transport", "ffi"].contains(&named.as_str());
                    if named == *module || !is_layer || allowed.contains(&named.as_str()) {
                        continue;
                    }
                    wrong.push(format!(
                        "{}:{}: {module} names crate::{named}",
                        file.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports upwards:\n{}", wrong.join("\n"));
}

/// Items re-exported at the crate root are named as `crate::Item`; the lower layers must
/// not reach the upper ones that way either.
#[test]
fn no_module_names_an_upper_item_through_the_root() {
    // The server's items (and the adapter's) are above every module checked here; the
    // gateway's are above the modules below it.
    let server = [
        "Server",
        "Config",
        "Page",
        "Refused",
        "ServerError",
        "WebSocketAdapter",
    ];
    let gateway = [
        "Gateway",
        "Context",
        "Data",
        "ClientId",
        "GatewayId",
        "Service",
        "Broadcast",
    ];
    let mut wrong = Vec::new();
    for module in [
        "bytes",
        "stats",
        "protocol",
        "json",
        "connection",
        "gateway",
        "socketio",
    ] {
        let below_gateway = !["gateway", "socketio"].contains(&module);
        let upper: Vec<&str> = server
            .iter()
            .chain(gateway.iter().filter(|_| below_gateway))
            .copied()
            .collect();
        for file in files_of(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for named in named_modules(line) {
                    if upper.contains(&named.as_str()) {
                        wrong.push(format!("{}:{}: crate::{named}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "upper items named:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_imports() {
    assert_eq!(named_modules("use crate::gateway::Context;"), ["gateway"]);
    assert_eq!(
        named_modules("use crate::{stats::Stats, server::Config};"),
        ["stats", "server"]
    );
    assert!(named_modules("/// [`crate::Server`]").is_empty());
    assert_eq!(
        named_modules("    let x = crate::json::validate_json(b); // crate::server"),
        ["json"]
    );
}
