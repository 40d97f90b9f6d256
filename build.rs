//! With feature `ffi`, writes the C header of the C ABI (src/ffi.rs) with cbindgen: to
//! `$OUT_DIR/wsgate.h` always, and to `include/wsgate.h` when building in the source tree
//! (not while `cargo package` verifies the crate, nor from a registry or vendored copy, where
//! the source must stay untouched). Without the feature it does nothing and cbindgen is not
//! even compiled. cbindgen's settings live here, in code (there is no cbindgen.toml).
//!
//! cbindgen parses src/ffi.rs alone (no `cargo metadata`, no dependencies, no network): every
//! type the C ABI uses is declared in that file.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "ffi")]
    header::generate();
}

#[cfg(feature = "ffi")]
mod header {
    use std::path::{Path, PathBuf};
    use std::{env, fs};

    /// The top of the header: what wsgate is, and a server in twenty lines.
    const OVERVIEW: &str = r#"/*
 * wsgate.h - the C API of wsgate, a WebSocket server with no heap that speaks the wire
 * protocol of NestJS's WsAdapter: clients send {"event": <name>, "data": <json>} and the
 * handler bound to <name> runs and may reply with frames of the same shape.
 *
 * The model: you own the sockets, the clock and the memory; wsgate owns none of them and
 * never allocates. You hand it the bytes read from a client's socket (wsgate_feed), it runs
 * your handlers inside that call and gives you the bytes to write back (wsgate_output,
 * wsgate_consume). Every capacity (clients, message size, gateways, handlers, string lengths)
 * is a WSGATE_* #define fixed when the library was built. Not thread-safe: call one server
 * from one thread (or lock around every call); distinct servers are independent.
 *
 * Ownership and lifetimes:
 *   - The server lives in memory you give to wsgate_create (WSGATE_SERVER_SIZE bytes aligned
 *     to WSGATE_SERVER_ALIGN; a static array is the usual choice). It stays yours: do not
 *     touch it while the server is in use; there is nothing to free or destroy.
 *   - Strings you pass (paths, event names, wsgate_throw messages) and JSON you pass are
 *     copied or used during the call only; the pointer need not outlive the call.
 *   - Handlers, callbacks and their `user` pointers must stay valid while the server is used.
 *   - The pointer wsgate_output gives is valid until the next call on that server.
 *   - The `data` a handler gets, and its `ctx`, are valid only during that handler call;
 *     inside a handler, call only the wsgate_ctx / wsgate_reply* / wsgate_throw functions
 *     (a call on the server itself returns WSGATE_ERR_BUSY).
 *
 * Errors: every function returns int32_t: WSGATE_OK (0) or a count on success, a negative
 * WSGATE_ERR_* code otherwise; wsgate_strerror() names it. NULL pointers, misaligned or
 * overwritten handles, too small or misaligned memory, re-entry from a handler, bad strings
 * and bad JSON are reported as errors; what each function's comment requires beyond that
 * (pointers to real memory, NUL-terminated strings) is the caller's part. No input from a
 * client makes wsgate fail: the worst it does is close that client.
 *
 * A server in twenty lines (error checks trimmed; examples/c/ has a whole one):
 *
 *   static _Alignas(WSGATE_SERVER_ALIGN) uint8_t mem[WSGATE_SERVER_SIZE];
 *   static int32_t on_events(wsgate_ctx *ctx, const char *event, size_t event_len,
 *                            const uint8_t *data, size_t len, void *user) {
 *       for (char i = '1'; i <= '3'; i++)  // {"event":"events","data":1}, then 2, 3
 *           if (wsgate_reply(ctx, "events", (const uint8_t *)&i, 1) < 0) return -1;
 *       return 0;                          // non-zero: the client gets an exception frame
 *   }
 *   wsgate_server *srv; uint32_t gw, id; size_t used, n; const uint8_t *out;
 *   wsgate_create(mem, sizeof mem, NULL, &srv);         // NULL: wsgate_config_default
 *   wsgate_add_gateway(srv, "/", &gw);
 *   wsgate_add_handler(srv, gw, "events", on_events, NULL);
 *   // accept(2) gave a socket fd:
 *   if (wsgate_accept(srv, now_ms(), &id) < 0) { const uint8_t *r = wsgate_full_response(&n);
 *       send(fd, r, n, 0); close(fd); }              // 503: every slot is taken
 *   // recv(2) gave got > 0 bytes in buf (0: the peer left, go to release):
 *   for (size_t off = 0; off < got; off += used) {
 *       wsgate_feed(srv, id, buf + off, got - off, now_ms(), &used);   // handlers run here
 *       while (wsgate_output(srv, id, &out, &n) == WSGATE_OK && n > 0)
 *           wsgate_consume(srv, id, (size_t)send(fd, out, n, 0));      // check send() < 0
 *   }
 *   if (wsgate_wants_close(srv, id)) { close(fd); wsgate_release(srv, id); }
 *   // by wsgate_next_deadline() at the latest: wsgate_poll(srv, now_ms()), then write out
 *   // every client's wsgate_output (also after a broadcast: other clients get frames too).
 *
 * Building and linking, from the wsgate source tree. A host (Linux) program:
 *   cargo rustc --release --lib --features ffi --crate-type staticlib   (cdylib: the .so)
 *   cc app.c -Iinclude target/release/libwsgate.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -o app
 * (-Wl,--gc-sections drops the parts of Rust's standard library wsgate does not use.)
 * include/wsgate.pc (pkg-config) and include/wsgate.cmake (the CMake target wsgate::wsgate)
 * say the same to build systems. A Cortex-M4F firmware links the no_std library built by
 *   cargo rustc --release --lib --no-default-features --features ffi,ffi-panic-handler
 *     --crate-type staticlib --target thumbv7em-none-eabihf        (one command line)
 * as target/thumbv7em-none-eabihf/release/libwsgate.a, with no system library.
 */"#;

    const AUTOGEN: &str = "/* Generated by cbindgen from src/ffi.rs by build.rs: do not edit. To regenerate,\n \
        * run `cargo build --features ffi` in the wsgate source tree (CI fails when this copy\n \
        * is stale). The comments below come from the Rust doc comments in src/ffi.rs. */";

    fn config() -> cbindgen::Config {
        // Every item of src/ffi.rs that C can see is exported (`export.item_types` empty):
        // each `pub const WSGATE_*` becomes a #define whether a function uses it or not.
        cbindgen::Config {
            language: cbindgen::Language::C,
            header: Some(OVERVIEW.to_string()),
            autogen_warning: Some(AUTOGEN.to_string()),
            include_guard: Some("WSGATE_H".to_string()),
            sys_includes: vec![
                "stdbool.h".to_string(),
                "stddef.h".to_string(),
                "stdint.h".to_string(),
            ],
            no_includes: true,
            cpp_compat: true,
            usize_is_size_t: true,
            documentation: true,
            documentation_style: cbindgen::DocumentationStyle::Doxy,
            style: cbindgen::Style::Both,
            line_length: 100,
            ..Default::default()
        }
    }

    /// True when the manifest directory is a copy cargo made or unpacked (packaging's
    /// `target/package/<name>-<version>`, the registry, a vendor directory): never write there.
    fn is_packaged(dir: &Path) -> bool {
        let parts: Vec<_> = dir.components().map(|c| c.as_os_str().to_owned()).collect();
        parts
            .windows(2)
            .any(|w| w[0] == "target" && w[1] == "package")
            || dir.join("Cargo.toml.orig").exists()
            || dir.join(".cargo-checksum.json").exists()
    }

    pub fn generate() {
        println!("cargo:rerun-if-changed=src/ffi.rs");
        let manifest =
            PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
        let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
        let bindings = match cbindgen::Builder::new()
            .with_config(config())
            .with_src(manifest.join("src/ffi.rs"))
            .generate()
        {
            Ok(b) => b,
            Err(e) => panic!("cbindgen could not generate wsgate.h from src/ffi.rs: {e}"),
        };
        let mut text = Vec::new();
        bindings.write(&mut text);
        write_if_changed(&out_dir.join("wsgate.h"), &text);
        if !is_packaged(&manifest) {
            write_if_changed(&manifest.join("include/wsgate.h"), &text);
        }
    }

    /// Writes `text` to `path` unless it holds exactly that already (keeps the mtime).
    fn write_if_changed(path: &Path, text: &[u8]) {
        if fs::read(path).ok().as_deref() == Some(text) {
            return;
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}
