#!/usr/bin/env bash
# What wsgate adds to a Cortex-M7F firmware (DESIGN §8), measured with llvm-size.
#
# Builds examples/firmware (NUCLEO-H743ZI, opt-level "z", fat LTO) once per variant, each a
# cargo feature of the firmware crate:
#   baseline  the same board, stack, tasks, sockets and buffers, serving a plain TCP echo
#   frames    + handshake and framing: a wsgate::Connection per client, driven by hand
#   dispatch  + envelope and dispatch: a sans-IO wsgate::Server, one `echo` handler
#   adapter   the whole adapter: EmbassyServer + run_slot, the same one-handler gateway
#   full      the firmware: the NestJS sample's `events` and `chat` gateways + control page
#   peer      no wsgate: embedded-websocket 0.9.5 in the place of `frames` (the peer, measured
#             in the same harness)
# and prints flash (text + data) and static RAM (data + bss) of each, with the deltas against
# the baseline, the RAM per connection from the target's own type sizes (DWARF), and the
# biggest symbols and crates of the whole adapter.
#
#   bash examples/firmware/size.sh       # from anywhere; CARGO_TARGET_DIR overrides target/
#
# Needs: rustup target add thumbv7em-none-eabihf; rustup component add llvm-tools; readelf
# (binutils) for the type sizes; python3 with pyelftools for the per-crate split (optional).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
host="$(rustc -vV | sed -n 's/^host: //p')"
tools="$(rustc --print sysroot)/lib/rustlib/$host/bin"
llvm_size="$tools/llvm-size"
llvm_nm="$tools/llvm-nm"
if [ ! -x "$llvm_size" ] || [ ! -x "$llvm_nm" ]; then
    echo "size.sh: llvm-size/llvm-nm not in $tools: rustup component add llvm-tools" >&2
    exit 1
fi
out="$target_dir/firmware-size"
mkdir -p "$out"

# The firmware's capacities, read from its source so the figures below follow them.
const() { sed -n "s/^pub const $1: usize = \([0-9]*\);.*/\1/p" "$here/src/main.rs"; }
SLOTS=$(const SLOTS)
RX=$(const RX)
TX=$(const TX)
SOCKET_RX=$(const SOCKET_RX)
SOCKET_TX=$(const SOCKET_TX)
READ_BUF=$(const READ_BUF)
WRITE_BUF=$(const WRITE_BUF)
TASKS=$((SLOTS + 1))

# cargo reads .cargo/config.toml (target, linker scripts) from the working directory.
cd "$here"
variants=(baseline frames dispatch adapter full peer)
# `full` last, so the binary left in target/ is the firmware itself.
for v in baseline frames dispatch adapter peer full; do
    features=(--no-default-features --features "$v")
    [ "$v" = full ] && features=()
    cargo build --release --locked --quiet --target-dir "$target_dir" "${features[@]}"
    cp "$target_dir/thumbv7em-none-eabihf/release/wsgate-firmware" "$out/$v.elf"
done

# Berkeley sizes: text = .vector_table + .text + .rodata, data = .data, bss = .bss + .uninit.
berkeley() { "$llvm_size" -B "$out/$1.elf" | awk 'NR == 2 { print $1, $2, $3 }'; }
read -r base_text base_data base_bss < <(berkeley baseline)
base_flash=$((base_text + base_data))
base_ram=$((base_data + base_bss))

declare -A what=(
    [baseline]="plain TCP echo, no wsgate"
    [frames]="+ handshake, framing, UTF-8, close (\`Connection\`)"
    [dispatch]="+ envelope, dispatch, routing, HTTP errors (\`Server\`, 1 handler)"
    [adapter]="whole adapter: + \`EmbassyServer\`, \`run_slot\`, timers, 503 (1 handler)"
    [full]="the firmware: \`events\` + \`chat\` gateways, control page"
    [peer]="peer: embedded-websocket 0.9.5 instead of \`frames\` (no wsgate)"
)

signed() { if [ "$1" -ge 0 ]; then printf '+%d' "$1"; else printf '%d' "$1"; fi; }

echo
echo "## Footprint: examples/firmware, thumbv7em-none-eabihf, opt-level \"z\", fat LTO"
echo
echo "| variant | what | text | data | bss | flash | static RAM | flash vs baseline | RAM vs baseline |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for v in "${variants[@]}"; do
    read -r text data bss < <(berkeley "$v")
    flash=$((text + data))
    ram=$((data + bss))
    if [ "$v" = baseline ]; then
        df="-"
        dr="-"
    else
        df=$(signed $((flash - base_flash)))
        dr=$(signed $((ram - base_ram)))
    fi
    echo "| $v | ${what[$v]} | $text | $data | $bss | $flash | $ram | $df | $dr |"
done

# Type sizes on the target, from the ELF's debug info (exact, no code added to the firmware).
type_size() {
    readelf --debug-dump=info "$out/full.elf" 2>/dev/null | awk -v name="$1" '
        /DW_AT_name/ { sub(/.*\): /, ""); found = ($0 == name); next }
        found && /DW_AT_byte_size/ && !size { sub(/.*: /, ""); size = $0 + 0 }
        /^ <[0-9]+><[0-9a-f]+>/ { found = 0 }
        END { if (size) print size }'
}
pool_size() { # bytes of a task pool (all its tasks' futures) in one ELF
    "$llvm_nm" --print-size --radix=d -C "$out/$1.elf" |
        awk -v sym="$2" '$0 ~ sym && !n { n = $2 + 0 } END { print n + 0 }'
}

ctrl=125
buffers=$((RX + TX + ctrl))
echo
echo "## RAM per connection (thumbv7em; sizes from the ELF's DWARF type info)"
echo
if command -v readelf >/dev/null; then
    conn=$(type_size "Connection<$RX, $TX>")
    slot=$(type_size "Slot<$RX, $TX>")
    server=$(type_size "Server<$SLOTS, $RX, $TX, 2>")
    embassy=$(type_size "EmbassyServer<embassy_sync::blocking_mutex::raw::NoopRawMutex, $SLOTS, $RX, $TX, 2>")
    if [ -n "$conn" ] && [ -n "$slot" ] && [ -n "$server" ] && [ -n "$embassy" ]; then
        echo "| type | bytes | buffers (RX + TX + 125) | state beyond the buffers |"
        echo "|---|---:|---:|---:|"
        echo "| \`Connection<$RX, $TX>\` | $conn | $buffers | $((conn - buffers)) |"
        echo "| one slot of \`Server\` | $slot | $buffers | $((slot - buffers)) |"
        echo "| \`Server<$SLOTS, $RX, $TX, 2>\` | $server | $((SLOTS * buffers)) | $((server - SLOTS * buffers)) |"
        echo "| \`EmbassyServer<_, $SLOTS, $RX, $TX, 2>\` | $embassy | $((SLOTS * buffers)) | $((embassy - SLOTS * buffers)) |"
    else
        echo "(type sizes not found in the debug info)"
    fi
else
    echo "(readelf not found: install binutils for the type sizes)"
fi
task_bufs=$((SOCKET_RX + SOCKET_TX + READ_BUF + WRITE_BUF))
echo_pool=$(pool_size baseline 'echo_task::POOL')
ws_pool=$(pool_size full 'ws_task::POOL')
echo
echo "Each of the $TASKS tasks holds $task_bufs bytes of buffers (TCP $SOCKET_RX + $SOCKET_TX," \
    "read $READ_BUF, write $WRITE_BUF) in its future, the same in every variant."
echo "Task future beyond them: $(((echo_pool / TASKS) - task_bufs)) bytes (baseline echo)," \
    "$(((ws_pool / TASKS) - task_bufs)) bytes (\`run_slot\`)."

echo
echo "## Biggest wsgate symbols in the whole adapter (llvm-nm --size-sort, variant adapter)"
echo
echo "Most of wsgate is inlined into the tasks' \`TaskStorage::poll\`; these are the functions"
echo "that stayed out of line."
echo
echo '```'
"$llvm_nm" --print-size --size-sort --radix=d -C "$out/adapter.elf" |
    awk '$3 ~ /^[tTrR]$/ && /wsgate::|sha1::|httparse::|serde_json_core::|TaskStorage/ {
        $1 = ""; printf "%6d %s\n", $2, substr($0, index($0, $4)) }' |
    sort -rn | awk 'NR <= 20' |
    sed -e 's/\$LT\$/</g; s/\$GT\$/>/g; s/\$C\$/,/g; s/\$u7b\$/{/g; s/\$u7d\$/}/g' \
        -e 's/\$u20\$/ /g; s/\$RF\$/\&/g; s/\.\./::/g; s/::h[0-9a-f]\{16\}$//'
echo '```'

if python3 -c 'import elftools' 2>/dev/null; then
    echo
    echo "## .text by source crate (DWARF line table; attribute.py)"
    echo
    echo "| crate | baseline | frames | dispatch | adapter | full | peer | adapter - baseline |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    python3 "$here/attribute.py" "$out"/{baseline,frames,dispatch,adapter,full,peer}.elf |
        awk -F'\t' '{ d = $5 - $2; if (d != 0 || $6 != $2 || $7 != $2)
            printf "| %s | %s | %s | %s | %s | %s | %s | %+d |\n", $1, $2, $3, $4, $5, $6, $7, d }' |
        awk 'NR <= 28'
else
    echo
    echo "(pip install pyelftools for the split of .text by source crate)"
fi
