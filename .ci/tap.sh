#!/usr/bin/env bash
# wsgate on embassy-net over a TAP device, driven by a real client. Run from anywhere:
#   bash .ci/tap.sh
#
# Builds examples/embassy_tap.rs, creates a throwaway network namespace with a TAP device in
# it (192.168.69.1/24 on the kernel's side), runs the example inside the namespace as
# 192.168.69.2/24 and drives it there with Python `websockets` (tests/peers/tap_client.py):
# the NestJS sample exchange, echo, the control page over plain GET, and more. The TAP device
# and every address exist only inside that namespace; nothing touches the host's interfaces
# and no packet leaves the namespace. On any exit the example is killed and the namespace
# (and with it the TAP device) deleted.
#
# Needs root, /dev/net/tun and iproute2 (installed with apt when missing, as root). Without
# them it prints why and exits 0 (skipped). `WSGATE_TAP_SKIP=reason` forces that skip path.
# Python `websockets` comes from .venv (bash .ci/peers-setup.sh); when it is missing the run
# is skipped too, unless WSGATE_REQUIRE_PEERS=1 (as in CI), which makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

start=$(date +%s.%N)
elapsed() { awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.2f", n - s }'; }
step() { printf '=== tap: %s (%ss)\n' "$*" "$(elapsed)"; }
skip() {
    echo "=== tap: SKIPPED: $*"
    exit 0
}

NS="wsgate-tap-$$"
TAP=wsgate0
HOST_SIDE=192.168.69.1/24 # the kernel's end of the TAP, inside the namespace
DEVICE_IP=192.168.69.2    # embassy-net's address, inside the namespace
DEVICE_CIDR="$DEVICE_IP/24"
PORT=8080

# --- can this machine do it? -------------------------------------------------------------
if [ -n "${WSGATE_TAP_SKIP:-}" ]; then
    skip "WSGATE_TAP_SKIP is set: $WSGATE_TAP_SKIP"
fi
if [ "$(id -u)" -ne 0 ]; then
    skip "not root (uid $(id -u)): creating a network namespace and a TAP device needs root"
fi
if [ ! -c /dev/net/tun ]; then
    skip "/dev/net/tun is missing: this kernel or container offers no TUN/TAP devices"
fi
if ! command -v ip >/dev/null 2>&1; then
    echo "=== tap: installing iproute2 (the ip command)"
    if command -v apt-get >/dev/null 2>&1; then
        timeout 300 apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive timeout 300 \
            apt-get install -y -qq --no-install-recommends iproute2 >/dev/null || true
    fi
    command -v ip >/dev/null 2>&1 || skip "the ip command (iproute2) is missing and could not be installed"
fi
PYTHON=.venv/bin/python
if ! { [ -x "$PYTHON" ] && "$PYTHON" -c 'import websockets' 2>/dev/null; }; then
    reason="Python websockets is missing from .venv: run bash .ci/peers-setup.sh"
    if [ "${WSGATE_REQUIRE_PEERS:-}" = 1 ]; then
        echo "=== tap: FAILED: $reason (WSGATE_REQUIRE_PEERS=1)" >&2
        exit 1
    fi
    skip "$reason"
fi

# --- build (debug, the repository's shared target directory) ------------------------------
step "build examples/embassy_tap.rs"
timeout 900 cargo build --example embassy_tap
BIN="${CARGO_TARGET_DIR:-target}/debug/examples/embassy_tap"
[ -x "$BIN" ] || { echo "=== tap: FAILED: $BIN was not built" >&2; exit 1; }

# --- namespace, TAP device, addresses ------------------------------------------------------
LOG=$(mktemp)
EXAMPLE_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$EXAMPLE_PID" ] && kill -0 "$EXAMPLE_PID" 2>/dev/null; then
        kill "$EXAMPLE_PID" 2>/dev/null || true
        # `timeout` passes the TERM on to the example; wait for both, bounded by timeout -k.
        wait "$EXAMPLE_PID" 2>/dev/null || true
    fi
    if ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF "$NS"; then
        # Anything still running in our namespace was started by this script.
        for pid in $(ip netns pids "$NS" 2>/dev/null); do
            kill -9 "$pid" 2>/dev/null || true
        done
        ip -n "$NS" link del "$TAP" 2>/dev/null || true
        ip netns del "$NS" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ -s "$LOG" ]; then
        echo "--- embassy_tap output:"
        cat "$LOG"
        echo "---"
    fi
    rm -f "$LOG"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "network namespace $NS with TAP $TAP ($HOST_SIDE on the kernel's side)"
if ! ip netns add "$NS" 2>"$LOG"; then
    reason=$(cat "$LOG")
    : >"$LOG"
    skip "cannot create a network namespace here: $reason"
fi
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev "$TAP" mode tap
ip -n "$NS" addr add "$HOST_SIDE" dev "$TAP"
ip -n "$NS" link set "$TAP" up

# --- the example, inside the namespace -----------------------------------------------------
step "run embassy_tap --tap $TAP --ip $DEVICE_CIDR in $NS"
timeout -k 5 300 ip netns exec "$NS" "$BIN" --tap "$TAP" --ip "$DEVICE_CIDR" --port "$PORT" \
    >"$LOG" 2>&1 &
EXAMPLE_PID=$!
for _ in $(seq 1 100); do
    grep -q "^serving http://$DEVICE_IP:$PORT/" "$LOG" && break
    if ! kill -0 "$EXAMPLE_PID" 2>/dev/null; then
        echo "=== tap: FAILED: embassy_tap exited before serving" >&2
        exit 1
    fi
    sleep 0.1
done
if ! grep -q "^serving http://$DEVICE_IP:$PORT/" "$LOG"; then
    echo "=== tap: FAILED: embassy_tap did not print 'serving http://$DEVICE_IP:$PORT/' within 10 s" >&2
    exit 1
fi
step "embassy_tap is serving http://$DEVICE_IP:$PORT/"

# --- the real client, inside the same namespace --------------------------------------------
step "Python websockets client (tests/peers/tap_client.py) in $NS"
client_rc=0
ip netns exec "$NS" env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY \
    -u all_proxy -u ALL_PROXY timeout -k 5 90 \
    "$PYTHON" tests/peers/tap_client.py "$DEVICE_IP" "$PORT" examples/events_page.html ||
    client_rc=$?
if [ "$client_rc" -ne 0 ]; then
    echo "=== tap: FAILED: the client exited with $client_rc" >&2
    exit 1
fi
if ! kill -0 "$EXAMPLE_PID" 2>/dev/null; then
    echo "=== tap: FAILED: embassy_tap died during the run" >&2
    exit 1
fi
step "passed"
