#!/usr/bin/env bash
# wsgate's sans-IO core on a Cortex-M4F: builds tests/qemu for thumbv7em-none-eabihf (32-bit
# usize) and runs it under qemu-system-arm (machine mps2-an386, semihosting for output and
# the exit code). Installs what it needs. Run from anywhere:
#   bash .ci/qemu.sh
# Exit code: the harness's (0 all passed, 1 a check failed, a panic or a fault; 124 a hang).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if ! command -v qemu-system-arm >/dev/null; then
    echo "installing qemu-system-arm (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        qemu-system-arm >/dev/null
fi
version=$(qemu-system-arm --version)
echo "${version%%$'\n'*}"
machines=$(qemu-system-arm -machine help)
if ! grep -q '^mps2-an386 ' <<<"$machines"; then
    echo "this qemu-system-arm has no mps2-an386 machine" >&2
    exit 1
fi
rustup target add thumbv7em-none-eabihf >/dev/null 2>&1 || true

# Cargo reads .cargo/config.toml (target, runner, target directory: the repository's) from
# the working directory, not from the manifest's, so build and run from the crate's own.
cd tests/qemu
start=$EPOCHREALTIME
cargo build --release --locked
built=$EPOCHREALTIME
status=0
cargo run --release --locked || status=$?
finished=$EPOCHREALTIME
awk -v a="$start" -v b="$built" -v c="$finished" -v s="$status" \
    'BEGIN { printf "qemu: build %.1f s, run %.1f s, exit code %d\n", b - a, c - b, s }'
exit "$status"
