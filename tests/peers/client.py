"""A real Python `websockets` client against the events_server example.

Usage: client.py PORT. Prints one JSON object with what the server sent (run by tests/peers.rs,
which asserts it). Text frames are recorded as their exact text, binary frames as
{"binary": "<hex>"}, closes as {"code": N, "reason": "..."}. Every wait is bounded.
"""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import STEP, ask, closed_by_server, main, recv  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402


async def run(port):
    base = f"ws://127.0.0.1:{port}"
    out = {}
    async with connect(base + "/", open_timeout=STEP, close_timeout=STEP) as ws:
        # Replies come in order, so the frame after the three `events` frames being the echo
        # reply proves there were exactly three.
        out["events"] = await ask(ws, '{"event":"events","data":"test"}', 3)
        out["echo"] = await ask(ws, '{"event": "echo", "data": {"a": [1, 2]}}')
        out["identity"] = await ask(ws, '{"event":"identity","data":0}')
        out["sum"] = await ask(ws, '{"event":"sum","data":[1, -2, 3, 4000000000]}')
        out["sum_error"] = await ask(ws, '{"event":"sum","data":"x"}')
        out["sum_too_long"] = await ask(
            ws, json.dumps({"event": "sum", "data": list(range(1, 18))})
        )
        out["sum_overflow"] = await ask(ws, '{"event":"sum","data":[9223372036854775807,1]}')
        # A binary frame holding an envelope is handled like a text one; replies are text.
        await ws.send(b'{"event":"identity","data":false}')
        out["binary_in"] = await recv(ws)
        await asyncio.wait_for(await ws.ping(b"abc"), STEP)
        out["ping_answered"] = True

    async with (
        connect(base + "/chat", subprotocols=["other", "chat.v1"], open_timeout=STEP, close_timeout=STEP) as a,
        connect(base + "/chat", open_timeout=STEP, close_timeout=STEP) as b,
    ):
        out["subprotocol"] = a.subprotocol
        out["subprotocol_none_offered"] = b.subprotocol
        await a.send('{"event":"message","data":{"text":"hi"}}')
        out["broadcast"] = {"sender": await recv(a), "other": await recv(b)}

        await b.send('{"event":"leave"}')
        out["leave"] = await closed_by_server(b)

        await asyncio.wait_for(a.close(4001, "bye"), STEP)
        out["client_close"] = {"code": a.close_code, "reason": a.close_reason}
    return out


if __name__ == "__main__":
    main(run)
