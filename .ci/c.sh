#!/usr/bin/env bash
# The C API under the sanitizers and valgrind. Run from anywhere: bash .ci/c.sh
#
# 1. builds libwsgate.a (cargo rustc ... --crate-type staticlib, into target/c/, as
#    tests/c_api.rs does);
# 2. tests/c/test_api.c with AddressSanitizer + UndefinedBehaviorSanitizer (leaks included);
# 3. tests/c/test_api.c without sanitizers under valgrind (memcheck, full leak check);
# 4. examples/c/server.c with the sanitizers, then under valgrind, each driven by the real
#    Python `websockets` client (tests/peers/c_client.py) and stopped with SIGTERM.
# Every step must end with zero reports. Only the C code is instrumented by the sanitizers
# (the Rust code in the static library is not); valgrind sees both.
#
# valgrind is installed with apt when missing (as root). The Python client comes from
# `bash .ci/peers-setup.sh`; without it step 4 is skipped, unless WSGATE_REQUIRE_PEERS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
start=$(date +%s)
step_start=$start
step() {
    local now
    now=$(date +%s)
    printf '=== %s (step took %ss, %ss total)\n' "$1" "$((now - step_start))" "$((now - start))"
    step_start=$now
}

out=target/c/bin
logs=target/c/logs
mkdir -p "$out" "$logs"
CC=${CC:-cc}
CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -Iinclude)
SANITIZE=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
LIBS=(target/c/release/libwsgate.a -lpthread -ldl -lm)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
VALGRIND=(valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible
          --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes)

server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# Fails when a log holds a sanitizer or valgrind report.
no_reports() {
    local log=$1
    if grep -En 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)|== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched)|definitely lost: [1-9]|indirectly lost: [1-9]|possibly lost: [1-9]' "$log"; then
        echo "c.sh: reports in $log" >&2
        return 1
    fi
}

# Runs test_api ($1: the binary, $2: a log name, the rest: a wrapper such as valgrind).
run_test_api() {
    local exe=$1 log="$logs/$2.log"
    shift 2
    local rc=0
    timeout 300 "$@" "$exe" >"$log" 2>&1 || rc=$?
    # The test's own last line (valgrind's summary comes after it).
    local summary
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
    echo "${summary:-no summary line}"
    grep -E 'ERROR SUMMARY' "$log" || true
    no_reports "$log" || return 1
    if [ "$rc" -ne 0 ] || ! grep -Eq '^[1-9][0-9]* passed, 0 failed$' <<<"$summary"; then
        echo "c.sh: $exe failed (exit $rc); see $log" >&2
        grep -v -E '^[0-9]+ passed|^==[0-9]+==' "$log" | head -n 40 >&2 || true
        return 1
    fi
}

# Starts the server ($1: log name, the rest: the command), runs the Python client against
# it, stops it with SIGTERM and checks it exits with 0 and without reports.
serve_and_check() {
    local log="$logs/$1.log"
    shift
    "$@" 0 >"$log" 2>&1 &
    server_pid=$!
    local port=
    for _ in $(seq 1 300); do # up to 30 s: valgrind starts slowly
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
        [ -n "$port" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "c.sh: the server printed no port:" >&2
        cat "$log" >&2
        return 1
    fi
    local result
    result=$(timeout 60 .venv/bin/python tests/peers/c_client.py "$port") || {
        echo "c.sh: c_client.py failed; the server said:" >&2
        cat "$log" >&2
        return 1
    }
    .venv/bin/python - "$result" <<'EOF' || return 1
import json, sys
r = json.loads(sys.argv[1])
chat = '{"event":"message","data":{"text":"hi"}}'
expected = {
    "events": ['{"event":"events","data":%d}' % i for i in (1, 2, 3)],
    "echo": '{"event":"echo","data":{"a":[1,2]}}',
    "echo_no_data": '{"event":"echo","data":null}',
    "identity": "0",
    "after_drops": '{"event":"echo","data":"still here"}',
    "fail": '{"event":"exception","data":{"status":"error","message":"nope",'
            '"cause":{"pattern":"fail","data":[1]}}}',
    "binary_in": "false",
    "ping_answered": True,
    "unknown_path": 404,
    "broadcast": {"sender": chat, "other": chat},
    "other_gateway": '{"event":"echo","data":1}',
    "leave": {"code": 4000, "reason": "", "frames_before": []},
    "client_close": {"code": 4001, "reason": "bye"},
}
if r != expected:
    sys.exit("c_client.py: got\n%s\nexpected\n%s" % (json.dumps(r, indent=1), json.dumps(expected, indent=1)))
print("c_client.py: sample exchange, echo, exception, broadcast, closes: as expected")
EOF
    kill -TERM "$server_pid"
    local rc=0
    for _ in $(seq 1 200); do # up to 20 s
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "c.sh: the server did not exit after SIGTERM:" >&2
        cat "$log" >&2
        return 1
    fi
    wait "$server_pid" || rc=$?
    server_pid=
    grep -E '^bye:|ERROR SUMMARY' "$log" || true
    no_reports "$log" || return 1
    if [ "$rc" -ne 0 ]; then
        echo "c.sh: the server exited with $rc:" >&2
        cat "$log" >&2
        return 1
    fi
}

cargo rustc --quiet --release --lib --features ffi --crate-type staticlib --target-dir target/c
step "libwsgate.a (target/c/release)"

if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
    else
        echo "c.sh: valgrind is missing and we are not root: sudo apt-get install valgrind" >&2
        exit 1
    fi
fi
"$CC" --version | head -n 1
valgrind --version
step "tools"

"$CC" "${CFLAGS[@]}" -O1 "${SANITIZE[@]}" tests/c/test_api.c "${LIBS[@]}" -o "$out/test_api-asan"
failed_steps=()
# Runs a step to its end whatever the others did; the script fails at the end if one failed.
check_step() {
    local name=$1
    shift
    if "$@"; then
        step "$name: ok"
    else
        failed_steps+=("$name")
        step "$name: FAILED"
    fi
}

check_step "test_api with -fsanitize=address,undefined, no reports" \
    run_test_api "$out/test_api-asan" test_api-asan

"$CC" "${CFLAGS[@]}" -O1 tests/c/test_api.c "${LIBS[@]}" -o "$out/test_api-plain"
check_step "test_api under valgrind, no reports" \
    run_test_api "$out/test_api-plain" test_api-valgrind "${VALGRIND[@]}"

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import websockets' 2>/dev/null; then
    if [ "${WSGATE_REQUIRE_PEERS:-}" = 1 ]; then
        echo "c.sh: WSGATE_REQUIRE_PEERS=1 but .venv has no websockets; run bash .ci/peers-setup.sh" >&2
        exit 1
    fi
    echo "c.sh: skipped the server with a real client: no .venv with websockets (bash .ci/peers-setup.sh)"
else
    "$CC" "${CFLAGS[@]}" -O1 "${SANITIZE[@]}" examples/c/server.c "${LIBS[@]}" -o "$out/server-asan"
    check_step "examples/c/server.c with the sanitizers + Python websockets, no reports" \
        serve_and_check server-asan "$out/server-asan"

    "$CC" "${CFLAGS[@]}" -O1 examples/c/server.c "${LIBS[@]}" -o "$out/server-plain"
    check_step "examples/c/server.c under valgrind + Python websockets, no reports" \
        serve_and_check server-valgrind "${VALGRIND[@]}" "$out/server-plain"
fi

if [ "${#failed_steps[@]}" -gt 0 ]; then
    printf 'c.sh: FAILED: %s\n' "${failed_steps[@]}" >&2
    echo "c.sh: logs in $logs" >&2
    exit 1
fi
step "done: logs in $logs"
