#!/usr/bin/env python3
"""Turns one run of benches/run.sh into the tables of BENCHMARKS.md.

Reads the run's results.jsonl (one line per measurement), the divan output (core.txt) and
the footprint tables (footprint.md) from the run's folder, prints the generated section
(markdown) and, with --write FILE, replaces the part of FILE between the two markers below
with it. Every ratio is between figures of this one run.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone

BEGIN = "<!-- benches/run.sh writes from here: do not edit by hand -->"
END = "<!-- benches/run.sh writes up to here -->"

NAMES = {
    "wsgate": "wsgate (tokio transport)",
    "wsgate_before": "wsgate, before",
    "echo": "trivial echo (ceiling)",
    "tungstenite": "tokio-tungstenite + serde_json",
    "ws": "Node ws + dispatcher",
    "nestjs": "NestJS 12 WsAdapter",
}
ORDER = ["wsgate", "wsgate_before", "echo", "tungstenite", "ws", "nestjs"]
WORKLOADS = {
    "a": "(a) 1 conn, 1 in flight, 64 B",
    "b": "(b) 64 conns, 8 in flight, 64 B",
    "c": "(c) 1 conn, 1 in flight, 16 KiB",
}


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def lock_version(lockfile, package):
    """Version of `package` in a Cargo.lock or an npm package-lock.json."""
    try:
        text = open(lockfile).read()
    except OSError:
        return "?"
    if lockfile.endswith(".json"):
        packages = json.loads(text).get("packages", {})
        entry = packages.get("node_modules/" + package)
        return entry.get("version", "?") if entry else "?"
    m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(package), text)
    return m.group(1) if m else "?"


def fmt_int(v):
    return f"{v:,.0f}"


def ratio(a, b):
    if not a or not b:
        return "n/a"
    return f"{a / b:.2f}x"


def ms(us):
    """Microseconds as milliseconds, to two places below 10 ms."""
    if us is None:
        return "n/a"
    v = us / 1000.0
    return f"{v:,.2f}" if v < 10 else f"{v:,.0f}"


def times(a, b):
    """b as a multiple of a."""
    if not a or b is None:
        return "n/a"
    v = b / a
    if v >= 10:
        return f"{v:,.0f}x"
    if v >= 1:
        return f"{v:.1f}x"
    return f"{v:.2g}x"


def abuse_section(res, before_rev, duration, load):
    """The tables of the abuse workloads (benches/abuse.rs against examples/events_server)."""
    servers = [s for s in ("events", "events_before") if any(k[0] == s for k in res)]
    if not servers:
        return []
    label = {"events": "now", "events_before": f"before ({before_rev})" if before_rev else "before"}
    out = []
    p = out.append
    p("### Fairness and limits under abuse (events_server)")
    p("")
    p(f"`benches/abuse.rs` against `examples/events_server` (release), {duration} s windows, the")
    p("server pinned to one core and every client (flooders included) to the other; load")
    p(f"average when the abuse workloads began: {load}. What each workload does is under")
    p("\"Fairness and limits under abuse\" below the generated part.")
    p("")

    def r(server, workload):
        return res.get((server, workload), {})

    # Flood.
    if any(r(s, "flood") for s in servers):
        p("**Flood:** 8 clients echo one message at a time on `/`; one more client floods `/` with")
        p("an unknown event (no answer) as fast as it can. Round trips begun in each window:")
        p("")
        head = "| figure |"
        for s in servers:
            head += f" {label[s]}: no flood | {label[s]}: flood | {label[s]}: flood ÷ no flood |"
        p(head)
        p("|---|" + "---:|---:|---:|" * len(servers))
        rows = [
            ("echo round trips per second (8 clients)", lambda w: w.get("round_trips_per_s"), fmt_int),
            ("echo round trip p50, ms", lambda w: w.get("latency", {}).get("p50_us"), ms),
            ("echo round trip p99, ms", lambda w: w.get("latency", {}).get("p99_us"), ms),
            ("echo round trip max, ms", lambda w: w.get("latency", {}).get("max_us"), ms),
            ("new connection's wait for its 101, p50, ms", lambda w: w.get("handshake", {}).get("p50_us"), ms),
            ("new connection's wait for its 101, max, ms", lambda w: w.get("handshake", {}).get("max_us"), ms),
            ("handshakes done / failed", None, None),
            ("flooder's messages per second", lambda w: w.get("flood_per_s"), fmt_int),
            ("server CPU", lambda w: w.get("server_cpu"), lambda v: f"{v:.0%}"),
        ]
        for name, f, fmt in rows:
            line = f"| {name} |"
            for s in servers:
                base, fl = r(s, "flood").get("baseline", {}), r(s, "flood").get("flood", {})
                if f is None:
                    cells = [f"{w.get('handshake', {}).get('count', 0)} / {w.get('handshakes_failed', 0)}"
                             for w in (base, fl)] + [""]
                else:
                    a, b = f(base), f(fl)
                    no_ratio = name in ("flooder's messages per second", "server CPU")
                    cells = [fmt(a) if a is not None else "n/a", fmt(b) if b is not None else "n/a",
                             "" if no_ratio else times(a, b)]
                line += " " + " | ".join(cells) + " |"
            p(line)
        drains = [f"{label[s]} {r(s, 'flood').get('flood', {}).get('drain_s', 0):.2f} s" for s in servers
                  if r(s, "flood")]
        p("")
        p("Time from the end of the flood window until every round trip begun in it had its reply: "
          + ", ".join(drains) + ".")
        p("")

    # Linger.
    if any(r(s, "linger") for s in servers):
        p("**Linger:** one client opens sockets as fast as it can, each sending a request that gets a")
        p("404, and neither reads nor closes them; the server's open descriptors are sampled every")
        p("5 ms (`/proc/PID/fd`) while a legitimate client connects, echoes once and closes every 100 ms.")
        p("")
        p("| figure | " + " | ".join(label[s] for s in servers) + " |")
        p("|---|" + "---:|" * len(servers))

        def cell(s, f):
            w = r(s, "linger")
            if not w:
                return "n/a"
            return f(w)
        rows = [
            ("sockets opened (wanted), seconds to open them",
             lambda w: f"{fmt_int(w['sockets_opened'])} ({fmt_int(w['sockets_wanted'])}), {w['open_seconds']:.2f} s"),
            ("sockets that failed to open", lambda w: fmt_int(w["sockets_failed"])),
            ("server's open descriptors: before / **peak** / at the end",
             lambda w: f"{w['fds_before']} / **{fmt_int(w['fds_peak'])}** / {w.get('fds_end')}"),
            ("what the sockets had received at the end",
             lambda w: ", ".join(f"{k}: {fmt_int(v)}" for k, v in w["answers"].items())),
            ("legitimate client: echoes done / tried",
             lambda w: f"{w['legit_ok']} / {w['legit_attempts']}"),
            ("legitimate client: p50 / max, ms",
             lambda w: f"{ms(w['legit_latency']['p50_us'])} / {ms(w['legit_latency']['max_us'])}"),
        ]
        for name, f in rows:
            p(f"| {name} | " + " | ".join(cell(s, f) for s in servers) + " |")
        for s in servers:
            fail = r(s, "linger").get("legit_failure")
            if fail:
                p("")
                p(f"First failure of the legitimate client ({label[s]}): `{fail}`.")
        p("")

    # Chat.
    if any(r(s, "chat") for s in servers):
        m = next(r(s, "chat").get("messages") for s in servers if r(s, "chat"))
        p(f"**Chat:** on `/chat`, one flooder sends `message` as fast as it can and discards what it")
        p(f"gets; 3 honest members each send {fmt_int(m)} messages paced over the window and read all")
        p(f"the time. Of the others' {fmt_int(2 * m)} messages, each honest member received:")
        p("")
        p("| figure | " + " | ".join(label[s] for s in servers) + " |")
        p("|---|" + "---:|" * len(servers))

        def members(s, key):
            w = r(s, "chat")
            if not w:
                return "n/a"
            return ", ".join(fmt_int(x[key]) for x in w["per_member"])
        p(f"| others' messages received (of {fmt_int(2 * m)}), per member | "
          + " | ".join(f"**{members(s, 'from_others')}**" for s in servers) + " |")
        p(f"| own messages received back (of {fmt_int(m)}) | " + " | ".join(members(s, "own") for s in servers) + " |")
        p("| flood messages received, per member | " + " | ".join(members(s, "flood_received") for s in servers) + " |")
        p("| honest members closed by the server (code) | " + " | ".join(
            ", ".join(str(x["closed_by_server"]) for x in r(s, "chat").get("per_member", []) if x["closed_by_server"])
            or "none" for s in servers) + " |")
        p("| flooder: messages sent / received per second | " + " | ".join(
            f"{fmt_int(r(s, 'chat').get('flood_per_s', 0))} / {fmt_int(r(s, 'chat').get('flood_back_per_s', 0))}"
            for s in servers) + " |")
        p("| server CPU | " + " | ".join(
            f"{r(s, 'chat')['server_cpu']:.0%}" if r(s, "chat").get("server_cpu") is not None else "n/a"
            for s in servers) + " |")
        p("")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", required=True)
    ap.add_argument("--idle", type=int, required=True)
    ap.add_argument("--abuse-duration", default="?")
    ap.add_argument("--load", default="?")
    ap.add_argument("--abuse-only", action="store_true")
    ap.add_argument("--write")
    args = ap.parse_args()

    res = {}
    for line in open(args.results):
        line = line.strip()
        if line:
            r = json.loads(line)
            res[(r["server"], r["workload"])] = r["result"]

    def get(server, workload, key):
        return res.get((server, workload), {}).get(key)

    before_rev = get("before", "commit", "commit")
    if before_rev:
        NAMES["wsgate_before"] = f"wsgate before ({before_rev})"
    abuse = abuse_section(res, before_rev, args.abuse_duration, args.load)
    if args.abuse_only:
        sys.stdout.write("\n".join(abuse) + "\n")
        return

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lock = os.path.join(root, "Cargo.lock")
    npm_lock = os.path.join(root, "benches", "node", "package-lock.json")
    out = []
    p = out.append
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    p("## Host: throughput, latency, memory, instructions")
    p("")
    p(f"Generated by `bash benches/run.sh` on {now}; every figure and ratio below comes from")
    p("that one run. Absolute numbers move about 20 % between runs on these machines; the")
    p("ratios are what to compare.")
    p("")
    p(f"- Machine: {cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}; each")
    p("  server pinned to one core and the load generator to the other (`taskset`).")
    p(f"- Versions: {sh('rustc', '--version')}; tokio {lock_version(lock, 'tokio')},")
    p(f"  tokio-tungstenite {lock_version(lock, 'tokio-tungstenite')}, serde_json "
      f"{lock_version(lock, 'serde_json')}; Node {sh('node', '--version')}, ws "
      f"{lock_version(npm_lock, 'ws')}, @nestjs/core {lock_version(npm_lock, '@nestjs/core')},")
    p(f"  @nestjs/platform-ws {lock_version(npm_lock, '@nestjs/platform-ws')} "
      f"(with its own ws {lock_version(npm_lock, '@nestjs/platform-ws/node_modules/ws')}); "
      f"{sh('valgrind', '--version')}.")
    p(f"- Each workload: {args.duration} s measured after a warm-up, every reply checked "
      "(event, seq, payload) by the load generator (`benches/loadgen.rs`).")
    p("")

    # Throughput and latency.
    p("### Throughput and latency")
    p("")
    p("| server | " + " | ".join(f"{WORKLOADS[w]}: msg/s, p50 / p99 µs" for w in WORKLOADS) +
      " | CPU in (b): server / load generator |")
    p("|---|" + "---:|" * len(WORKLOADS) + "---:|")
    for s in ORDER:
        if s == "wsgate_before" and not any(get(s, w, "msgs_per_s") for w in WORKLOADS):
            continue
        cells = []
        for w in WORKLOADS:
            rate = get(s, w, "msgs_per_s")
            if rate is None:
                cells.append("n/a")
            else:
                cells.append(f"{fmt_int(rate)}; {get(s, w, 'p50_us'):.0f} / {get(s, w, 'p99_us'):.0f}")
        scpu, lcpu = get(s, "b", "server_cpu"), get(s, "b", "loadgen_cpu")
        cpu = f"{scpu:.0%} / {lcpu:.0%}" if scpu is not None and lcpu is not None else "n/a"
        p(f"| {NAMES[s]} | " + " | ".join(cells) + f" | {cpu} |")
    p("")
    p("wsgate's throughput as a multiple of each peer's, same run:")
    p("")
    p("| wsgate ÷ | " + " | ".join(WORKLOADS[w] for w in WORKLOADS) + " |")
    p("|---|" + "---:|" * len(WORKLOADS))
    for s in ORDER[1:]:
        if s == "wsgate_before" and not any(get(s, w, "msgs_per_s") for w in WORKLOADS):
            continue
        p(f"| {NAMES[s]} | " + " | ".join(
            ratio(get("wsgate", w, "msgs_per_s"), get(s, w, "msgs_per_s")) for w in WORKLOADS) + " |")
    p("")

    if any(get("wsgate_before", w, "msgs_per_s") for w in WORKLOADS):
        p("(The row \"wsgate before\" is the same benchmark server built from the commit given to")
        p("`--before`, measured in this run: wsgate ÷ it is the change in throughput.)")
        p("")

    # Memory.
    p(f"### (d) Resident memory per idle connection ({args.idle:,} connections)")
    p("")
    p("VmRSS of the server process before and after the connections were opened and upgraded")
    p("(then left idle for a second). wsgate allocates its slots, buffers included, when it")
    p("starts (`TokioServer::preallocated`), so its figure adds that memory per slot to the")
    p("growth. wsgate here: 1,000 slots with 2 KiB receive and transmit buffers.")
    p("")
    p("| server | RSS before (KiB) | RSS after (KiB) | growth per connection | preallocated per connection | bytes per connection |")
    p("|---|---:|---:|---:|---:|---:|")
    per_conn = {}
    for s in ORDER:
        before, after, grow = get(s, "d", "rss_before_kib"), get(s, "d", "rss_after_kib"), get(s, "d", "bytes_per_conn")
        if grow is None:
            continue
        pre = 0
        if s == "wsgate":
            # Per slot: the server has this memory for its slots whether or not they are used.
            pre = (get("wsgate", "prealloc", "bytes") or 0) / (get("wsgate", "prealloc", "slots") or 1)
        per_conn[s] = grow + pre
        p(f"| {NAMES[s]} | {fmt_int(before)} | {fmt_int(after)} | {fmt_int(grow)} | "
          f"{fmt_int(pre)} | **{fmt_int(grow + pre)}** |")
    p("")

    # Instructions.
    instr = {s: get(s, "instructions", "per_message") for s in ORDER}
    if any(v is not None for v in instr.values()):
        n = next(get(s, "instructions", "messages") for s in ORDER if instr[s] is not None)
        p("### Instructions per message (callgrind)")
        p("")
        p(f"Instructions executed by the server process (user space, all threads) for {n:,} echo")
        p("round trips of 64 B on one connection, one at a time, minus a run that only connects")
        p("and closes, divided by the message count: `valgrind --tool=callgrind`, stable from run")
        p("to run where time is not.")
        p("")
        p("| server | instructions per message | ÷ wsgate |")
        p("|---|---:|---:|")
        for s in ORDER:
            if instr[s] is not None:
                p(f"| {NAMES[s]} | {fmt_int(instr[s])} | {ratio(instr[s], instr['wsgate'])} |")
        p("")
        core = get("wsgate", "sans_io_instructions", "per_message")
        if core is not None:
            p(f"wsgate's sans-IO core alone (`wsgate_server --sans-io`: the same 64 B requests fed")
            p(f"straight into a `Server`, no socket, no runtime, "
              f"{get('wsgate', 'sans_io_instructions', 'messages'):,} messages): "
              f"**{fmt_int(core)}** instructions per message.")
            p("")

    out.extend(abuse)

    # Targets.
    def pass_fail(ok):
        return "met" if ok else "**missed**"

    p("### Targets (issue 6), from this run")
    p("")
    p("| target | measured | |")
    p("|---|---:|---|")
    rows = []
    b = {s: get(s, "b", "msgs_per_s") for s in ORDER}
    if b["wsgate"] and b["nestjs"]:
        rows.append(("(b) at least 15x NestJS WsAdapter", b["wsgate"] / b["nestjs"], 15))
    if b["wsgate"] and b["tungstenite"]:
        rows.append(("(b) at least 5x tokio-tungstenite + serde_json", b["wsgate"] / b["tungstenite"], 5))
    if b["wsgate"] and b["echo"]:
        rows.append(("(b) at least half the trivial echo", b["wsgate"] / b["echo"], 0.5))
    for w in ("a", "c"):
        ws, ec = get("wsgate", w, "msgs_per_s"), get("echo", w, "msgs_per_s")
        if ws and ec:
            rows.append((f"({w}) within 10 % of the trivial echo", ws / ec, 0.9))
    for name, value, floor in rows:
        p(f"| {name} | {value:.2f}x | {pass_fail(value >= floor)} |")
    if instr.get("wsgate") is not None:
        p(f"| at most 2,000 instructions per 64 B echo, server process | {fmt_int(instr['wsgate'])} | "
          f"{pass_fail(instr['wsgate'] <= 2000)} |")
    core = get("wsgate", "sans_io_instructions", "per_message")
    if core is not None:
        p(f"| (the same, sans-IO core alone) | {fmt_int(core)} | {pass_fail(core <= 2000)} |")
    if "wsgate" in per_conn:
        p(f"| at most 5 KiB (5,120 B) per idle connection, 2 KiB buffers | "
          f"{fmt_int(per_conn['wsgate'])} B | {pass_fail(per_conn['wsgate'] <= 5120)} |")
    fp_path = os.path.join(args.out, "footprint.md")
    footprint = open(fp_path).read() if os.path.exists(fp_path) else ""
    m = re.search(r"^\| adapter \|.*\| \+?(-?[\d,]+) \| [^|]* \|$", footprint, re.M)
    if m:
        flash = int(m.group(1).replace(",", ""))
        p(f"| whole adapter under 10 KB (10,240 B) of flash | {fmt_int(flash)} B | "
          f"{pass_fail(flash < 10240)} |")
    m = re.search(r"^\| `Connection<[^|]*` \| \d+ \| \d+ \| (\d+) \|$", footprint, re.M)
    if m:
        state = int(m.group(1))
        p(f"| connection state beyond buffers under 128 B (thumbv7em) | {state} B | "
          f"{pass_fail(state < 128)} |")
    p("")

    core = os.path.join(args.out, "core.txt")
    if os.path.exists(core):
        lines = [l.rstrip() for l in open(core) if "│" in l or "├" in l or "╰" in l or l.startswith("core")]
        if lines:
            p("### Micro-benchmarks of the core (divan, `cargo bench --bench core`)")
            p("")
            p("```")
            out.extend(lines)
            p("```")
            p("")
    if footprint:
        p("### Footprint (examples/firmware/size.sh, same run)")
        p("")
        # The size script's own headings become subheadings here.
        out.extend(re.sub(r"^## ", "#### ", l) for l in footprint.strip().splitlines())
        p("")

    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if args.write:
        try:
            doc = open(args.write).read()
        except OSError:
            doc = ""
        block = f"{BEGIN}\n\n{text}\n{END}"
        if BEGIN in doc and END in doc:
            head, rest = doc.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            doc = head + block + tail
        else:
            doc = doc.rstrip() + "\n\n" + block + "\n"
        open(args.write, "w").write(doc)


if __name__ == "__main__":
    main()
