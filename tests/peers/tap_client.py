"""A real Python `websockets` client against examples/embassy_tap.rs (wsgate on embassy-net
over a TAP device). Run by .ci/tap.sh inside the test's network namespace:

    tap_client.py HOST PORT PAGE_FILE

Checks, each exactly, and exits 1 on the first mismatch (0 when all pass):
- the NestJS sample exchange: `{"event":"events","data":"test"}` gets exactly three frames
  `{"event":"events","data":1}`..`3` (the echo reply right after them proves there is no 4th);
- echo: `{"event":"echo","data":{"a":[1,2]}}` comes back as it is;
- a plain `GET /` gets `200` with the control page byte for byte (PAGE_FILE);
- an echo larger than one Ethernet frame, `identity` with a falsy value, the `/chat` broadcast
  between two clients, a server-initiated close (4000), a client close (4001), a `404` on an
  unknown path, slot reuse over several sequential clients, and `503` for a client beyond the
  example's 4 slots.

Every wait is bounded. Nothing here reaches beyond HOST.
"""

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

STEP = 5  # seconds for any one step
TOTAL = 60  # seconds for the whole run
SLOTS = 4  # examples/embassy_tap.rs SLOTS
# Bounded handshakes and closes; no proxy even if the environment names one.
OPTS = {"open_timeout": STEP, "close_timeout": STEP, "proxy": None}


class Mismatch(Exception):
    pass


def expect(name, got, want):
    if got != want:
        raise Mismatch(f"{name}: expected {want!r}, got {got!r}")
    print(f"ok   {name}", flush=True)


async def recv(ws):
    message = await asyncio.wait_for(ws.recv(), STEP)
    return message if isinstance(message, str) else {"binary": message.hex()}


async def ask(ws, text, replies=1):
    await ws.send(text)
    frames = [await recv(ws) for _ in range(replies)]
    return frames[0] if replies == 1 else frames


async def http_get(host, port, path):
    """A raw HTTP/1.1 GET (no proxy, no library): returns (status line, headers, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), STEP)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), STEP)  # to EOF
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return lines[0], headers, body


async def sample(base):
    async with connect(base + "/", **OPTS) as ws:
        expect(
            "events: exactly three frames",
            await ask(ws, '{"event":"events","data":"test"}', 3),
            [
                '{"event":"events","data":1}',
                '{"event":"events","data":2}',
                '{"event":"events","data":3}',
            ],
        )
        expect(
            "echo",
            await ask(ws, '{"event":"echo","data":{"a":[1,2]}}'),
            '{"event":"echo","data":{"a":[1,2]}}',
        )
        await ws.close()
        expect("client close 1000 completed", ws.close_code, 1000)


async def more(base, host, port, page):
    status, headers, body = await http_get(host, port, "/")
    expect("GET / status", status, "HTTP/1.1 200 OK")
    expect("GET / content-type", headers.get("content-type"), "text/html; charset=utf-8")
    expect("GET / content-length", headers.get("content-length"), str(len(page)))
    expect("GET / body is the control page", body, page)

    status, _, _ = await http_get(host, port, "/nowhere")
    expect("GET /nowhere status", status, "HTTP/1.1 404 Not Found")

    async with connect(base + "/", max_size=None, **OPTS) as ws:
        # 1,800 bytes: more than one 1,500-byte Ethernet frame each way, less than RX (2048).
        text = "x" * 1760
        big = json.dumps({"event": "echo", "data": text}, separators=(",", ":"))
        expect("echo of 1.8 KB (several TCP segments)", await ask(ws, big), big)
        expect("identity 0 (falsy is sent)", await ask(ws, '{"event":"identity","data":0}'), "0")
        expect(
            "sum",
            await ask(ws, '{"event":"sum","data":[1,2,3]}'),
            '{"event":"sum","data":6}',
        )

    async with (
        connect(base + "/chat", subprotocols=["chat.v1"], **OPTS) as a,
        connect(base + "/chat", subprotocols=["chat.v1"], **OPTS) as b,
    ):
        expect("chat subprotocol", a.subprotocol, "chat.v1")
        await a.send('{"event":"message","data":{"text":"hi"}}')
        want = '{"event":"message","data":{"text":"hi"}}'
        expect("chat broadcast to sender", await recv(a), want)
        expect("chat broadcast to the other", await recv(b), want)
        await b.send('{"event":"leave"}')
        try:
            extra = await recv(b)
            raise Mismatch(f"leave: expected a close, got frame {extra!r}")
        except ConnectionClosed as e:
            expect("leave: server closes with 4000", e.rcvd.code if e.rcvd else None, 4000)
        await asyncio.wait_for(a.close(4001, "bye"), STEP)
        expect("client close 4001 echoed", a.close_code, 4001)

    # Slots are reused: several clients one after the other.
    for i in range(8):
        async with connect(base + "/", **OPTS) as ws:
            got = await ask(ws, '{"event":"events","data":"test"}', 3)
            if got[2] != '{"event":"events","data":3}':
                raise Mismatch(f"sequential client {i}: {got!r}")
    print("ok   8 sequential clients", flush=True)

    # Every slot taken: the extra task answers 503 to one more client. Each task listens again
    # only once its previous socket is closed (well under a millisecond after the client's
    # close returns); a SYN in that instant finds no listener and is refused. Let them settle.
    await asyncio.sleep(0.05)
    clients = []
    try:
        for _ in range(SLOTS):
            clients.append(await connect(base + "/", **OPTS))
        for ws in clients:
            got = await ask(ws, '{"event":"identity","data":1}')
            expect("full house: client answers", got, "1")
        try:
            extra = await connect(base + "/", **OPTS)
            await extra.close()
            raise Mismatch(f"client {SLOTS + 1} of {SLOTS} slots was accepted")
        except InvalidStatus as e:
            expect(f"client {SLOTS + 1} of {SLOTS} slots gets", e.response.status_code, 503)
    finally:
        for ws in clients:
            await ws.close()
    # And a slot is free again afterwards.
    async with connect(base + "/", **OPTS) as ws:
        expect("after the full house", await ask(ws, '{"event":"identity","data":2}'), "2")


async def run(host, port, page):
    base = f"ws://{host}:{port}"
    started = time.monotonic()
    await sample(base)
    await more(base, host, port, page)
    print(f"all checks passed in {time.monotonic() - started:.2f}s", flush=True)


def main():
    host, port, page_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(page_file, "rb") as f:
        page = f.read()
    try:
        asyncio.run(asyncio.wait_for(run(host, port, page), TOTAL))
    except Mismatch as e:
        print(f"FAIL {e}", flush=True)
        sys.exit(1)
    except (asyncio.TimeoutError, TimeoutError) as e:
        print(f"FAIL timed out: {e!r}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
