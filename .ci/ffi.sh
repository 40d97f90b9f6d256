#!/usr/bin/env bash
# The C ABI (feature `ffi`, src/ffi.rs): the committed header is fresh, the C libraries build
# for the host (static and shared) and for a Cortex-M4F, a C program links them the three
# documented ways, the Rust side of the ABI runs clean under Miri, and packaging still works.
# Run from anywhere: bash .ci/ffi.sh (called by .ci/run). Each step prints its time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
t0=$(date +%s)
last=$t0
step() {
    local now
    now=$(date +%s)
    printf '\n=== ffi: %s (previous step %ss, total %ss)\n' "$*" "$((now - last))" "$((now - t0))"
    last=$now
}
fail() {
    echo "ffi.sh: $*" >&2
    exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The functions include/wsgate.h declares (one name a line, sorted).
header_functions() {
    grep -E '^[a-z].*\bwsgate_[a-z_]+\(' include/wsgate.h | grep -v '^typedef' |
        sed -E 's/^.*\b(wsgate_[a-z_]+)\(.*$/\1/' | sort -u
}

step "header: regenerate include/wsgate.h and compare with the committed one"
# The build script writes $OUT_DIR/wsgate.h and copies it to include/wsgate.h.
cargo build --features ffi --message-format=json >"$work/build.json"
out_dir=$(python3 - "$work/build.json" <<'EOF'
import json, os, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    d = m.get("out_dir") or ""
    if m.get("reason") == "build-script-executed" and os.path.isfile(os.path.join(d, "wsgate.h")):
        print(d)
EOF
)
out_dir=$(echo "$out_dir" | tail -1)
[ -f "$out_dir/wsgate.h" ] || fail "no wsgate.h in the build script's OUT_DIR ($out_dir)"
# A hand-edited include/wsgate.h (the build script did not run again) differs from OUT_DIR's.
cmp -s "$out_dir/wsgate.h" include/wsgate.h ||
    fail "include/wsgate.h differs from the generated $out_dir/wsgate.h: do not edit it; touch src/ffi.rs and rebuild with --features ffi"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --error-unmatch include/wsgate.h >/dev/null ||
        fail "include/wsgate.h is not committed"
    git diff --exit-code HEAD -- include/wsgate.h ||
        fail "the committed include/wsgate.h is stale: commit the regenerated one (diff above)"
else
    echo "not a git work tree: skipping the comparison with HEAD"
fi
wc -lc include/wsgate.h
# It is plain ISO C (and C++): no extensions, no warnings.
printf '#include "wsgate.h"\nint main(void) { return (int)wsgate_server_size() == 0; }\n' >"$work/hdr.c"
cc -std=c99 -pedantic-errors -Wall -Wextra -Werror -Iinclude -c "$work/hdr.c" -o "$work/hdr_c.o"
if command -v c++ >/dev/null; then
    c++ -std=c++11 -pedantic-errors -Wall -Wextra -Werror -Iinclude -x c++ -c "$work/hdr.c" -o "$work/hdr_cxx.o"
fi
header_functions >"$work/declared"
[ "$(wc -l <"$work/declared")" -ge 20 ] || fail "too few functions found in the header"
# The pkg-config file states the crate's version.
version=$(sed -nE 's/^version = "([^"]+)"/\1/p' Cargo.toml | head -1)
grep -qx "Version: $version" include/wsgate.pc || fail "include/wsgate.pc's Version is not $version"

step "host C libraries: staticlib and cdylib"
cargo rustc --release --lib --features ffi --crate-type staticlib
cargo rustc --release --lib --features ffi --crate-type cdylib
for lib in target/release/libwsgate.a target/release/libwsgate.so; do
    nm -g --defined-only "$lib" 2>/dev/null >"$work/lib.nm" || true
    awk '$2 == "T" && $3 ~ /^wsgate_/ { print $3 }' "$work/lib.nm" | sort -u >"$work/exported"
    diff -u "$work/declared" "$work/exported" ||
        fail "$lib does not export exactly the header's functions (- header, + library)"
    echo "$lib: $(wc -l <"$work/exported") wsgate_* functions, $(stat -c %s "$lib") bytes"
done
# The shared library exports nothing else.
others=$(nm -D --defined-only target/release/libwsgate.so | awk '$2 == "T" && $3 !~ /^wsgate_/' | wc -l)
[ "$others" -eq 0 ] || fail "libwsgate.so exports $others other functions"

step "host C program: the one-line link, pkg-config, CMake, the shared library"
cat >"$work/app.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include "wsgate.h"
static _Alignas(WSGATE_SERVER_ALIGN) uint8_t mem[WSGATE_SERVER_SIZE];
static int32_t on_events(wsgate_ctx *ctx, const char *event, size_t event_len,
                         const uint8_t *data, size_t len, void *user) {
    (void)event; (void)event_len; (void)data; (void)len; (void)user;
    for (char i = '1'; i <= '3'; i++)
        if (wsgate_reply(ctx, "events", (const uint8_t *)&i, 1) < 0) return -1;
    return 0;
}
int main(void) {
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n";
    static const char msg[] = "{\"event\":\"events\",\"data\":\"\"}";
    wsgate_server *srv; uint32_t gw, id; size_t used, n; const uint8_t *out;
    uint8_t frame[64] = {0x81, (uint8_t)(0x80 | (sizeof msg - 1)), 1, 2, 3, 4};
    if (wsgate_create(mem, sizeof mem, NULL, &srv) != WSGATE_OK) return 1;
    if (wsgate_add_gateway(srv, "/", &gw) != WSGATE_OK) return 2;
    if (wsgate_add_handler(srv, gw, "events", on_events, NULL) != WSGATE_OK) return 3;
    if (wsgate_accept(srv, 0, &id) != WSGATE_OK) return 4;
    if (wsgate_feed(srv, id, (const uint8_t *)req, sizeof req - 1, 0, &used) || used != sizeof req - 1) return 5;
    if (wsgate_output(srv, id, &out, &n) || n < 12 || memcmp(out, "HTTP/1.1 101", 12)) return 6;
    wsgate_consume(srv, id, n);
    for (size_t i = 0; i < sizeof msg - 1; i++) frame[6 + i] = (uint8_t)msg[i] ^ frame[2 + i % 4];
    if (wsgate_feed(srv, id, frame, 6 + sizeof msg - 1, 1, &used)) return 7;
    if (wsgate_output(srv, id, &out, &n)) return 8;
    for (size_t i = 0; i + 2 <= n; i += 2 + out[i + 1]) printf("%.*s\n", (int)out[i + 1], (const char *)out + i + 2);
    printf("%s; server %zu bytes\n", wsgate_strerror(WSGATE_ERR_BUSY), wsgate_server_size());
    return 0;
}
EOF
expect='{"event":"events","data":1}
{"event":"events","data":2}
{"event":"events","data":3}
called from a callback of the same server; server'
check_app() {
    local got
    got=$("$@")
    case "$got" in
    "$expect"*) echo "ok: $*" ;;
    *) fail "$* printed: $got" ;;
    esac
}
# The one-line link command documented in include/wsgate.h.
cc -std=c11 -Wall -Wextra -Werror "$work/app.c" -Iinclude target/release/libwsgate.a \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -o "$work/app_static"
check_app "$work/app_static"
# pkg-config, from the source tree as is.
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$work/app.c" $(PKG_CONFIG_PATH=$PWD/include pkg-config --cflags --libs wsgate) \
    -o "$work/app_pc"
check_app "$work/app_pc"
# CMake, with the IMPORTED target (Debian's cmake; installed here when missing and possible).
if ! command -v cmake >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake) >/dev/null 2>&1 || true
fi
if command -v cmake >/dev/null; then
    mkdir -p "$work/cmake"
    cat >"$work/cmake/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.11)
project(app C)
set(CMAKE_C_STANDARD 11)
include($PWD/include/wsgate.cmake)
add_executable(app $work/app.c)
target_link_libraries(app PRIVATE wsgate::wsgate)
EOF
    cmake -S "$work/cmake" -B "$work/cmake/build" >/dev/null
    cmake --build "$work/cmake/build" >/dev/null
    check_app "$work/cmake/build/app"
else
    echo "cmake not installed: skipping the CMake snippet (apt-get install cmake)"
fi
# The shared library.
cc -std=c11 -Wall -Wextra -Werror "$work/app.c" -Iinclude -Ltarget/release -lwsgate \
    -Wl,-rpath,"$PWD/target/release" -o "$work/app_shared"
check_app "$work/app_shared"

step "Cortex-M4F C library (no_std staticlib with the ffi-panic-handler feature)"
rustup target add thumbv7em-none-eabihf >/dev/null
cargo rustc --release --lib --no-default-features --features ffi,ffi-panic-handler \
    --crate-type staticlib --target thumbv7em-none-eabihf
cargo clippy --no-default-features --features ffi,ffi-panic-handler --target thumbv7em-none-eabihf -- -D warnings
thumb=target/thumbv7em-none-eabihf/release/libwsgate.a
nm -g --defined-only "$thumb" 2>/dev/null >"$work/thumb.nm" || true
awk '$2 == "T" && $3 ~ /^wsgate_/ { print $3 }' "$work/thumb.nm" | sort -u >"$work/exported"
diff -u "$work/declared" "$work/exported" || fail "$thumb does not export exactly the header's functions"
grep -q 'rust_begin_unwind' "$work/thumb.nm" || fail "$thumb has no panic handler"
echo "$thumb: $(wc -l <"$work/exported") wsgate_* functions"
# The server's size and wsgate_create's stack frame on this target (informational).
objdump_bin=$(command -v llvm-objdump || true)
if [ -n "$objdump_bin" ]; then
    mkdir -p "$work/thumb" && (cd "$work/thumb" && ar x "$OLDPWD/$thumb")
    for o in "$work"/thumb/wsgate-*.o; do
        "$objdump_bin" -d --no-show-raw-insn --disassemble-symbols=wsgate_server_size,wsgate_create "$o" 2>/dev/null
    done | awk '/<wsgate_server_size>:/ { f = "size" } /<wsgate_create>:/ { f = "create" }
        f == "size" && /movw?[ \t]+r0, #/ { print "wsgate_server_size() on thumbv7em: " $NF }
        f == "create" && /sub(\.w|w)?[ \t]+sp, / { print "wsgate_create: sp -= " $NF " on thumbv7em" }'
fi
# Without the feature, the no_std library has no panic handler: the rlib a Rust firmware
# links must not define one.
cargo build --release --lib --no-default-features --features ffi --target thumbv7em-none-eabihf
nm -g --defined-only target/thumbv7em-none-eabihf/release/libwsgate.rlib 2>/dev/null >"$work/rlib.nm" || true
grep -q 'T .*wsgate_create' "$work/rlib.nm" || fail "could not read the rlib's symbols"
if grep -q rust_begin_unwind "$work/rlib.nm"; then
    fail "the rlib defines a panic handler without ffi-panic-handler"
fi

step "Miri: tests/ffi.rs (Stacked Borrows, then Tree Borrows; strict provenance)"
rustup component add miri rust-src --toolchain nightly >/dev/null
cargo +nightly miri setup >/dev/null
MIRIFLAGS="-Zmiri-strict-provenance" cargo +nightly miri test --features ffi --test ffi
step "Miri: Tree Borrows"
MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-tree-borrows" cargo +nightly miri test --features ffi --test ffi

step "packaging: the header ships, and building the package writes nothing into the source tree"
cargo package --list --allow-dirty >"$work/files"
for f in include/wsgate.h include/wsgate.pc include/wsgate.cmake build.rs src/ffi.rs; do
    grep -qx "$f" "$work/files" || fail "$f is not in the package"
done
before=$(sha256sum include/wsgate.h)
# Verifies the packaged copy with the build script's header generation on; cargo fails the
# verification if the build script writes into the packaged sources. Its own target
# directory: the packaged crate's build script would otherwise share a fingerprint with the
# source tree's and leave a stale one behind.
cargo package --allow-dirty --no-default-features --features ffi --target-dir "$work/package"
[ "$before" = "$(sha256sum include/wsgate.h)" ] || fail "packaging changed include/wsgate.h"

step "done"
