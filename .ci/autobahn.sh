#!/usr/bin/env bash
# Autobahn TestSuite groups 1-10 (12 and 13 are permessage-deflate, which wsgate does not
# offer), run by kosoku against the raw echo endpoint (examples/echo_server.rs) in both
# profiles at once: 16 MiB messages, and the 4 KiB microcontroller profile (--small).
# Each report is checked against tests/autobahn/expected-*.json by .ci/autobahn_check.py
# (tests/autobahn/README.md has the rules). Run from anywhere:
#   bash .ci/autobahn.sh
# Needs .venv/bin/kosoku (.ci/run creates it). Reports: target/autobahn/{16mib,4kib}/.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }

kosoku=.venv/bin/kosoku
if [ ! -x "$kosoku" ]; then
    echo "autobahn: $kosoku is missing; create it with:" >&2
    echo "  python3 -m venv .venv && .venv/bin/pip install kosoku==0.1.0" >&2
    exit 2
fi
target=${CARGO_TARGET_DIR:-target}
server=$target/release/examples/echo_server
out=$target/autobahn
profiles=(16mib 4kib)
declare -A flags=([16mib]="" [4kib]="--small")
declare -A server_pid kosoku_pid port

cleanup() {
    local pid
    for pid in "${kosoku_pid[@]}" "${server_pid[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cargo build --release --example echo_server
built=$(elapsed)
mkdir -p "$out"

# Each server binds an ephemeral port (--port 0) and prints it once it listens, so two runs
# (or anything else on the machine) cannot collide on a port.
for p in "${profiles[@]}"; do
    rm -rf "${out:?}/$p" "$out/$p.server.log" "$out/$p.kosoku.log"
    # shellcheck disable=SC2086 # flags is empty or one word
    "$server" --port 0 ${flags[$p]} >"$out/$p.server.log" 2>&1 &
    server_pid[$p]=$!
done
for p in "${profiles[@]}"; do
    for _ in $(seq 100); do # at most 10 s
        port[$p]=$(sed -n 's|^echo server on ws://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$out/$p.server.log")
        if [ -n "${port[$p]}" ] && (exec 3<>"/dev/tcp/127.0.0.1/${port[$p]}") 2>/dev/null; then
            break
        fi
        port[$p]=""
        if ! kill -0 "${server_pid[$p]}" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [ -z "${port[$p]}" ]; then
        echo "autobahn: the $p echo server did not come up; its output:" >&2
        cat "$out/$p.server.log" >&2
        exit 1
    fi
    echo "autobahn: $p echo server on 127.0.0.1:${port[$p]}"
done

# The 16 MiB server's buffers (4 slots of 16 MiB + 16 MiB) are built once, in their heap
# allocation: resident memory at start must stay near them, not twice them (it was 265 MB
# when the server was built on the stack and copied).
buffers_kb=$(( 4 * 2 * (16 * 1024 + 1) ))
rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/${server_pid[16mib]}/status")
echo "autobahn: 16mib echo server resident at start: ${rss_kb} kB (buffers: ${buffers_kb} kB)"
if [ "$rss_kb" -gt $(( buffers_kb * 3 / 2 )) ]; then
    echo "autobahn: the 16 MiB echo server holds more than 1.5 times its buffers at start" >&2
    exit 1
fi

# Both profiles in parallel: most of a run is the suite's own timers (cases 5.19, 5.20 and
# 6.4.x wait about 1 s each), so two runs share two cores without slowing each other.
# kosoku exits 1 when a case failed (the 4 KiB profile always has some); the verdicts are
# judged from its report below. Any other status (124: timed out) is an error.
for p in "${profiles[@]}"; do
    timeout -k 10 300 "$kosoku" -m fuzzingclient "127.0.0.1:${port[$p]}" -o "$out/$p" \
        -x '12.*' -x '13.*' >"$out/$p.kosoku.log" 2>&1 &
    kosoku_pid[$p]=$!
done
status=0
for p in "${profiles[@]}"; do
    rc=0
    wait "${kosoku_pid[$p]}" || rc=$?
    unset "kosoku_pid[$p]"
    if [ "$rc" -gt 1 ]; then
        echo "autobahn: kosoku for $p exited with status $rc (124: timed out after 300 s); its output:"
        tail -n 20 "$out/$p.kosoku.log"
        status=1
    fi
    if ! kill -0 "${server_pid[$p]}" 2>/dev/null; then
        echo "autobahn: the $p echo server died during the run; its output:"
        cat "$out/$p.server.log"
        status=1
    fi
done
ran=$(elapsed)

echo
for p in "${profiles[@]}"; do
    python3 .ci/autobahn_check.py "$p" "$out/$p" "tests/autobahn/expected-$p.json" || status=1
done
echo
echo "autobahn: build done at $built, kosoku done at $ran, total $(elapsed); reports in $out/"
if [ "$status" -ne 0 ]; then
    echo "autobahn: FAILED"
fi
exit "$status"
