"""Helpers shared by the Python `websockets` clients client.py and c_client.py.

Text frames are recorded as their exact text, binary frames as {"binary": "<hex>"}, closes
as {"code": N, "reason": "..."}. Every wait is bounded by STEP, the whole run by TOTAL.
"""

import asyncio
import json
import sys

from websockets.exceptions import ConnectionClosed

STEP = 5  # seconds for any one step
TOTAL = 30  # seconds for the whole run


def frame(message):
    return message if isinstance(message, str) else {"binary": message.hex()}


async def recv(ws):
    return frame(await asyncio.wait_for(ws.recv(), STEP))


async def ask(ws, text, replies=1):
    """Sends one text frame and returns the next `replies` frames."""
    await ws.send(text)
    frames = [await recv(ws) for _ in range(replies)]
    return frames[0] if replies == 1 else frames


async def closed_by_server(ws):
    """Waits for the server to close; returns the close it sent and any frame before it."""
    frames = []
    try:
        while True:
            frames.append(await recv(ws))
    except ConnectionClosed as e:
        code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, None)
        return {"code": code, "reason": reason, "frames_before": frames}


def main(run):
    """Runs `run(PORT)`, PORT being the first argument, in at most TOTAL seconds; prints the
    object it returns as one line of JSON."""

    async def bounded():
        result = await asyncio.wait_for(run(int(sys.argv[1])), TOTAL)
        print(json.dumps(result))

    asyncio.run(bounded())
