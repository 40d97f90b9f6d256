"""A real Python `websockets` client against the C example server (examples/c/server.c).

Usage: c_client.py PORT. Prints one JSON object with what the server sent (run by
tests/c_api.rs and .ci/c.sh, which assert it). Text frames are recorded as their exact text,
closes as {"code": N, "reason": "..."}. Every wait is bounded.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import STEP, ask, closed_by_server, main, recv  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import InvalidStatus  # noqa: E402


async def run(port):
    base = f"ws://127.0.0.1:{port}"
    out = {}
    opts = {"open_timeout": STEP, "close_timeout": STEP}
    async with connect(base + "/", **opts) as ws:
        # The NestJS sample exchange. Replies come in order, so the echo reply right after
        # the three `events` frames proves there were exactly three.
        out["events"] = await ask(ws, '{"event":"events","data":"test"}', 3)
        out["echo"] = await ask(ws, '{"event": "echo", "data": {"a": [1, 2]}}')
        out["echo_no_data"] = await ask(ws, '{"event":"echo"}')
        out["identity"] = await ask(ws, '{"event":"identity","data":0}')
        # Dropped as NestJS drops them: no frame, so the next reply is the echo.
        await ws.send("not json")
        await ws.send('{"event":"nobody"}')
        out["after_drops"] = await ask(ws, '{"event":"echo","data":"still here"}')
        out["fail"] = await ask(ws, '{"event":"fail","data":[1]}')
        # A binary frame holding an envelope is handled like a text one.
        await ws.send(b'{"event":"identity","data":false}')
        out["binary_in"] = await recv(ws)
        await asyncio.wait_for(await ws.ping(b"abc"), STEP)
        out["ping_answered"] = True

    try:
        async with connect(base + "/nowhere", **opts):
            out["unknown_path"] = "opened"
    except InvalidStatus as e:
        out["unknown_path"] = e.response.status_code

    async with (
        connect(base + "/chat", **opts) as a,
        connect(base + "/chat", **opts) as b,
        connect(base + "/", **opts) as other,
    ):
        await a.send('{"event":"message","data":{"text":"hi"}}')
        out["broadcast"] = {"sender": await recv(a), "other": await recv(b)}
        # A client of the other gateway got nothing: its next frame is its own echo.
        out["other_gateway"] = await ask(other, '{"event":"echo","data":1}')

        await b.send('{"event":"leave"}')
        out["leave"] = await closed_by_server(b)

        await asyncio.wait_for(a.close(4001, "bye"), STEP)
        out["client_close"] = {"code": a.close_code, "reason": a.close_reason}
    return out


if __name__ == "__main__":
    main(run)
