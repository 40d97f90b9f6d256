#!/usr/bin/env bash
# The firmware example (examples/firmware: NUCLEO-H743ZI, embassy-stm32 + embassy-net + wsgate's
# embassy transport) for thumbv7em-none-eabihf: checks its formatting and lints every variant
# (clippy, warnings are errors), builds it (release, warnings are errors), then prints the
# footprint table (examples/firmware/size.sh).
# Built, not run. Run from anywhere: bash .ci/firmware.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
# One target directory for the library and the firmware (CI caches one).
target="${CARGO_TARGET_DIR:-$repo/target}"
export CARGO_TARGET_DIR="$target"
export CARGO_TERM_COLOR=never
start=$(date +%s)
elapsed() { echo "$(($(date +%s) - start))"; }

rustup target add thumbv7em-none-eabihf >/dev/null
rustup component add llvm-tools rustfmt >/dev/null

# pyelftools, for size.sh's split of the code by source crate: a venv of its own under target/.
venv="$target/firmware-venv"
if [ ! -x "$venv/bin/python3" ] || ! "$venv/bin/python3" -c 'import elftools' 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet 'pyelftools==0.33' ||
        echo "firmware.sh: no pyelftools; size.sh skips the per-crate split"
fi

# .cargo/config.toml of the firmware (target, linker scripts) is read from its directory.
cd examples/firmware
cargo fmt -- --check
cargo clippy --release --locked --target-dir "$target" -- -D warnings
for variant in baseline frames dispatch adapter peer; do
    cargo clippy --release --locked --target-dir "$target" \
        --no-default-features --features "$variant" -- -D warnings
done
echo "firmware.sh: formatted and lint-free in $(elapsed) s"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo build --release --locked --target-dir "$target" 2>&1 | tee "$log"
if grep -q '^warning' "$log"; then
    echo "firmware.sh: the firmware build has warnings (see above)" >&2
    exit 1
fi
echo "firmware.sh: firmware built in $(elapsed) s"

PATH="$venv/bin:$PATH" bash size.sh
echo "firmware.sh: done in $(elapsed) s"
