#!/usr/bin/env bash
# wsgate's benchmark suite, in one command (see BENCHMARKS.md, "How to run"):
#
#   bash benches/run.sh            # everything, about 6 minutes once built; rewrites BENCHMARKS.md's
#                                  # generated section with this run's tables
#   bash benches/run.sh --smoke    # seconds per step, no file written: checks that every
#                                  # piece still runs (CI runs this; no speed is asserted)
#
# What it runs, all in this one run so the ratios compare like with like:
#   1. the servers: wsgate's tokio transport (benches/wsgate_server.rs), a hand-written
#      conforming echo that batches one read's replies into one write (the ceiling,
#      benches/peer_echo.rs), tokio-tungstenite + serde_json with a handler map
#      (benches/peer_tungstenite.rs), Node's ws with a hand-written dispatcher and NestJS 12
#      with @nestjs/platform-ws's WsAdapter (benches/node/, versions pinned by its lockfile);
#   2. against each, the load generator (benches/loadgen.rs), server pinned to one core and
#      load generator to another: (a) 1 connection, 1 in flight, 64 B; (b) 64 connections,
#      8 in flight each, 64 B; (c) 1 connection, 1 in flight, 16 KiB; (d) 1,000 idle
#      connections, resident memory per connection (wsgate with 2 KiB buffers);
#   3. instructions per message in the server process: valgrind --tool=callgrind, one
#      connection, ping-pong, N messages minus a connect-only run, divided by N;
#   4. divan micro-benchmarks of the core's hot path (benches/core.rs);
#   5. the firmware footprint on thumbv7em-none-eabihf (examples/firmware/size.sh);
#   6. abuse (benches/abuse.rs) against examples/events_server, each workload on a fresh
#      server: a client flooding unknown events while 8 others echo (their latency and
#      throughput with and without the flood, and the wait for a new connection's 101);
#      up to 20,000 sockets that send a request and never close (the server's peak of open
#      descriptors, and whether a legitimate client still gets through); a flooder in the
#      /chat room while 3 honest members chat (how many of each other's messages arrive).
#
# Needs: Rust (rustup), Node.js 20+ with npm, valgrind, taskset (util-linux), python3. It
# installs the rest itself: the Node peers' packages (npm ci into benches/node/node_modules),
# the thumbv7em target and llvm-tools for the footprint. Options: --smoke, --no-footprint,
# --no-callgrind, --duration S (measured seconds per workload, default 5), --abuse-duration S
# (seconds per abuse window, default 3).
#
# Before and after: --before DIR takes a git worktree of an earlier commit
# (`git worktree add /tmp/wsgate-before <commit>`), builds its events_server and
# wsgate_server there with its own target directory, and runs them beside this tree's: the
# abuse workloads, (a) to (c) and the instruction counts, so the tables show both.
# --abuse-only runs the abuse workloads alone (with --before, both builds) and writes only
# the report in the run's folder, never BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
export CARGO_TERM_COLOR=never

smoke=0
footprint=1
callgrind=1
duration=5
abuse_duration=3
abuse_only=0
before=
while [ $# -gt 0 ]; do
    case "$1" in
    --smoke) smoke=1 ;;
    --no-footprint) footprint=0 ;;
    --no-callgrind) callgrind=0 ;;
    --duration) duration="$2"; shift ;;
    --abuse-duration) abuse_duration="$2"; shift ;;
    --abuse-only) abuse_only=1 ;;
    --before) before="$2"; shift ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$smoke" = 1 ]; then
    duration=0.3
    warmup=0.1
    cg_messages=300
    idle_conns=50
    footprint=0
    abuse_duration=0.3
    abuse_sockets=500
    abuse_messages=60
else
    warmup=1
    cg_messages=20000
    idle_conns=1000
    abuse_sockets=20000
    abuse_messages=800
fi
if [ "$abuse_only" = 1 ]; then
    footprint=0
    callgrind=0
    tools=(taskset python3)
else
    tools=(node npm valgrind taskset python3)
fi
if [ -n "$before" ]; then
    before=$(cd "$before" && pwd) || { echo "run.sh: --before: no such folder" >&2; exit 1; }
    if [ "$before" = "$repo" ]; then
        echo "run.sh: --before must be another worktree (git worktree add DIR COMMIT)" >&2
        exit 1
    fi
fi

for tool in "${tools[@]}"; do
    if ! command -v "$tool" >/dev/null; then
        echo "run.sh: $tool is needed (see the top of this file)" >&2
        exit 1
    fi
done

target="${CARGO_TARGET_DIR:-$repo/target}"
out="$target/bench/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"
echo "run.sh: results in $out"

# Pinning: the server on the last core, the load generator on the one before it.
cores=$(nproc)
if [ "$cores" -ge 2 ]; then
    server_cpu=$((cores - 1))
    load_cpu=$((cores - 2))
    pin_server=(taskset -c "$server_cpu")
    pin_load=(taskset -c "$load_cpu")
else
    echo "run.sh: one core only: nothing is pinned, and the figures mean little" >&2
    pin_server=()
    pin_load=()
fi
# 1,000 idle connections need 2,000 descriptors on this machine; the servers inherit it.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

step() { printf '\n=== %s\n' "$*"; }

step "build (cargo bench --no-run)"
benches=(loadgen wsgate_server peer_echo peer_tungstenite abuse)
cargo bench --no-run --message-format=json $(printf -- '--bench %s ' "${benches[@]}") \
    >"$out/build.json"
# The abuse workloads' server: the NestJS sample, built like the benches (release, line tables).
cargo build --profile bench --example events_server --message-format=json >>"$out/build.json"
# exe NAME [BUILD_JSON]: the executable cargo built for target NAME.
exe() {
    python3 - "${2:-$out/build.json}" "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[2] and m.get("executable"):
        print(m["executable"])
        break
EOF
}
LOADGEN=$(exe loadgen)
WSGATE=$(exe wsgate_server)
ECHO=$(exe peer_echo)
TUNGSTENITE=$(exe peer_tungstenite)
ABUSE=$(exe abuse)
EVENTS=$(exe events_server)
for b in "$LOADGEN" "$WSGATE" "$ECHO" "$TUNGSTENITE" "$ABUSE" "$EVENTS"; do
    [ -x "$b" ] || { echo "run.sh: a bench binary was not built" >&2; exit 1; }
done

if [ -n "$before" ]; then
    step "build the \"before\" servers in $before ($(git -C "$before" log -1 --format='%h %s' | cut -c1-60))"
    # Its own target directory: the two trees never share build products.
    (cd "$before" && CARGO_TARGET_DIR="$before/target" cargo build --profile bench \
        --example events_server --bench wsgate_server --message-format=json) >"$out/build-before.json"
    EVENTS_BEFORE=$(exe events_server "$out/build-before.json")
    WSGATE_BEFORE=$(exe wsgate_server "$out/build-before.json")
    for b in "$EVENTS_BEFORE" "$WSGATE_BEFORE"; do
        [ -x "$b" ] || { echo "run.sh: a \"before\" binary was not built" >&2; exit 1; }
    done
    before_rev=$(git -C "$before" rev-parse --short HEAD)
    echo "{\"server\":\"before\",\"workload\":\"commit\",\"result\":{\"commit\":\"$before_rev\"}}" >"$out/before.jsonl"
fi

if [ "$abuse_only" = 0 ]; then
    step "Node peers (npm ci in benches/node)"
    if [ ! -d benches/node/node_modules ] ||
        ! cmp -s benches/node/package-lock.json benches/node/node_modules/.package-lock.json; then
        (cd benches/node && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi

# name -> command line (without --port)
declare -A cmd=(
    [wsgate]="$WSGATE"
    [echo]="$ECHO"
    [tungstenite]="$TUNGSTENITE"
    [ws]="node $repo/benches/node/ws_echo.mjs"
    [nestjs]="node $repo/benches/node/nestjs_echo.mjs"
    [events]="$EVENTS"
)
servers=(wsgate echo tungstenite ws nestjs)
abuse_servers=(events)
if [ -n "$before" ]; then
    cmd[wsgate_before]="$WSGATE_BEFORE"
    cmd[events_before]="$EVENTS_BEFORE"
    abuse_servers+=(events_before)
    cat "$out/before.jsonl" >>"$results"
fi

server_pid=
server_port=
server_log=
starts=0
# start NAME [extra args...]: starts a server pinned to its core, waits for its ready line.
start() {
    local name=$1
    shift
    starts=$((starts + 1))
    local log="$out/$name.server.$starts.log"
    server_log=$log
    # Created here, not by the background job, so no earlier run's port can be read from it.
    : >"$log"
    # shellcheck disable=SC2086
    "${pin_server[@]}" ${cmd[$name]} --port 0 "$@" >>"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1800); do
        # The bench servers print "listening on ADDR"; events_server "  events:   ws://ADDR/".
        server_port=$(sed -n -e 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
            -e 's/^ *events: *ws:\/\/127\.0\.0\.1:\([0-9]*\)\/$/\1/p' "$log")
        [ -n "$server_port" ] && return 0
        if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "run.sh: $name did not start:" >&2
    cat "$log" >&2
    exit 1
}
stop() {
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}
trap 'stop' EXIT

# record SERVER WORKLOAD loadgen-args...: runs the load generator, keeps its RESULT line.
record() {
    local name=$1 workload=$2
    shift 2
    local log="$out/$name.$workload.log"
    if ! "${pin_load[@]}" "$LOADGEN" --addr "127.0.0.1:$server_port" --server-pid "$server_pid" \
        "$@" >"$log" 2>&1; then
        echo "run.sh: the load generator failed against $name ($workload):" >&2
        cat "$log" >&2
        exit 1
    fi
    head -n 1 "$log" | sed "s/^/  $name $workload: /"
    local json
    json=$(sed -n 's/^RESULT //p' "$log")
    echo "{\"server\":\"$name\",\"workload\":\"$workload\",\"result\":$json}" >>"$results"
}

# record_abuse SERVER WORKLOAD abuse-args...: runs benches/abuse.rs, keeps its RESULT line.
record_abuse() {
    local name=$1 workload=$2
    shift 2
    local log="$out/$name.$workload.log"
    if ! "${pin_load[@]}" "$ABUSE" --addr "127.0.0.1:$server_port" --server-pid "$server_pid" \
        --workload "$workload" --duration "$abuse_duration" "$@" >"$log" 2>&1; then
        echo "run.sh: the abuse workload $workload failed against $name:" >&2
        cat "$log" >&2
        exit 1
    fi
    grep -v '^RESULT ' "$log" | sed "s/^/  $name: /"
    local json
    json=$(sed -n 's/^RESULT //p' "$log")
    echo "{\"server\":\"$name\",\"workload\":\"$workload\",\"result\":$json}" >>"$results"
}

# per_message BASE_OUT RUN_OUT N: (instructions of RUN - instructions of BASE) / N, from two
# callgrind output files.
per_message() {
    local a b
    a=$(sed -n 's/^totals: //p' "$1")
    b=$(sed -n 's/^totals: //p' "$2")
    echo $(((b - a) / $3))
}

if [ "$abuse_only" = 0 ]; then
step "throughput and latency: (a) 1 x 1 x 64 B, (b) 64 x 8 x 64 B, (c) 1 x 1 x 16 KiB"
ac_servers=("${servers[@]}")
if [ -n "$before" ]; then
    ac_servers=(wsgate wsgate_before "${servers[@]:1}")
fi
for name in "${ac_servers[@]}"; do
    start "$name"
    common=(--warmup "$warmup" --duration "$duration")
    record "$name" a --conns 1 --inflight 1 --payload 64 "${common[@]}"
    record "$name" b --conns 64 --inflight 8 --payload 64 "${common[@]}"
    record "$name" c --conns 1 --inflight 1 --payload 16384 "${common[@]}"
    stop
done

step "(d) $idle_conns idle connections: resident memory per connection"
for name in "${servers[@]}"; do
    if [ "$name" = wsgate ]; then
        start "$name" --idle
    else
        start "$name"
    fi
    # Let the server settle before the baseline reading (Node finishes its start-up lazily).
    sleep 1
    record "$name" d --idle "$idle_conns" --settle 1
    if [ "$name" = wsgate ]; then
        # wsgate allocates its slots (buffers included) when it starts: count them too.
        prealloc=$(sed -n 's/^prealloc \([0-9]*\)$/\1/p' "$server_log")
        echo "{\"server\":\"$name\",\"workload\":\"prealloc\",\"result\":{\"bytes\":$prealloc,\"slots\":1000}}" >>"$results"
    fi
    stop
done
fi

step "abuse (events_server, benches/abuse.rs): flood, linger, chat; $abuse_duration s windows"
# Other work on the machine skews these most (every client is on one core): keep the load.
abuse_load=$(uptime | sed 's/.*load average: //')
echo "  load average before the abuse workloads: $abuse_load"
for name in "${abuse_servers[@]}"; do
    start "$name"
    record_abuse "$name" flood --clients 8
    stop
    start "$name"
    record_abuse "$name" linger --sockets "$abuse_sockets"
    stop
    start "$name"
    record_abuse "$name" chat --messages "$abuse_messages"
    stop
done

if [ "$callgrind" = 1 ]; then
    step "instructions per message (callgrind, 1 connection, ping-pong, $cg_messages messages)"
    cg_servers=(wsgate echo tungstenite)
    if [ -n "$before" ]; then
        cg_servers=(wsgate wsgate_before echo tungstenite)
    fi
    if [ "$smoke" = 0 ]; then
        cg_servers+=(ws nestjs)
    fi
    for name in "${cg_servers[@]}"; do
        for m in 0 "$cg_messages"; do
            orig=("${cmd[$name]}")
            cmd[$name]="valgrind --tool=callgrind --callgrind-out-file=$out/$name.cg.$m.out ${cmd[$name]}"
            start "$name"
            cmd[$name]="${orig[0]}"
            record "$name" "cg$m" --messages "$m"
            stop
        done
        per=$(per_message "$out/$name.cg.0.out" "$out/$name.cg.$cg_messages.out" "$cg_messages")
        echo "  $name: $per instructions per message"
        echo "{\"server\":\"$name\",\"workload\":\"instructions\",\"result\":{\"per_message\":$per,\"messages\":$cg_messages}}" >>"$results"
    done
fi

if [ "$callgrind" = 1 ]; then
    step "instructions per message in the sans-IO core alone (callgrind, no socket, no runtime)"
    sio_messages=$((cg_messages * 5))
    for m in 0 "$sio_messages"; do
        valgrind --tool=callgrind --callgrind-out-file="$out/sans_io.cg.$m.out" \
            "$WSGATE" --sans-io "$m" >"$out/sans_io.$m.log" 2>&1
    done
    per=$(per_message "$out/sans_io.cg.0.out" "$out/sans_io.cg.$sio_messages.out" "$sio_messages")
    echo "  wsgate core: $per instructions per message"
    echo "{\"server\":\"wsgate\",\"workload\":\"sans_io_instructions\",\"result\":{\"per_message\":$per,\"messages\":$sio_messages}}" >>"$results"
fi

if [ "$abuse_only" = 0 ]; then
    step "micro-benchmarks of the core (divan, benches/core.rs)"
    if [ "$smoke" = 1 ]; then
        cargo bench --bench core -- --test >"$out/core.txt" 2>&1
    else
        cargo bench --bench core >"$out/core.txt" 2>&1
    fi
    tail -n 5 "$out/core.txt"
fi

if [ "$footprint" = 1 ]; then
    step "firmware footprint (examples/firmware/size.sh)"
    rustup target add thumbv7em-none-eabihf >/dev/null
    rustup component add llvm-tools >/dev/null
    # pyelftools for size.sh's split of the code by crate, in the venv .ci/firmware.sh uses.
    venv="$target/firmware-venv"
    if [ ! -x "$venv/bin/python3" ] || ! "$venv/bin/python3" -c 'import elftools' 2>/dev/null; then
        python3 -m venv "$venv" && "$venv/bin/pip" install --quiet 'pyelftools==0.33' ||
            echo "run.sh: no pyelftools; the footprint has no split by crate"
    fi
    PATH="$venv/bin:$PATH" bash examples/firmware/size.sh >"$out/footprint.md"
    sed -n '1,12p' "$out/footprint.md"
fi

step "report"
args=(--results "$results" --out "$out" --duration "$duration" --idle "$idle_conns"
    --abuse-duration "$abuse_duration" --load "$abuse_load")
if [ "$abuse_only" = 1 ]; then
    python3 benches/report.py "${args[@]}" --abuse-only >"$out/report.md"
    cat "$out/report.md"
    echo "run.sh: abuse run done (report in $out/report.md; BENCHMARKS.md untouched)"
elif [ "$smoke" = 1 ]; then
    python3 benches/report.py "${args[@]}" >"$out/report.md"
    echo "run.sh: smoke run done (report in $out/report.md; BENCHMARKS.md untouched)"
else
    python3 benches/report.py "${args[@]}" --write BENCHMARKS.md >"$out/report.md"
    echo "run.sh: BENCHMARKS.md rewritten from this run (copy in $out/report.md)"
fi
