// A real Node `ws` client against the events_server example: the same checks as client.py.
//
// Usage: node client.mjs PORT. Prints one JSON object with what the server sent (run by
// tests/peers.rs, which asserts it). Text frames are recorded as their exact text, binary
// frames as {"binary": "<hex>"}, closes as {"code": N, "reason": "..."}. Every wait is bounded.
import WebSocket from "ws";

const STEP = 5000; // ms for any one step
const TOTAL = 30000; // ms for the whole run

const port = Number(process.argv[2]);
const base = `ws://127.0.0.1:${port}`;
setTimeout(() => {
  console.error(`client.mjs: gave up after ${TOTAL} ms`);
  process.exit(2);
}, TOTAL).unref();

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A client that queues every frame and close, so none is missed between two awaits.
class Peer {
  constructor(path, protocols) {
    this.ws = new WebSocket(base + path, protocols, { handshakeTimeout: STEP });
    this.items = [];
    this.waiters = [];
    this.ws.on("message", (data, isBinary) =>
      this.push(isBinary ? { binary: data.toString("hex") } : data.toString("utf8")),
    );
    this.ws.on("close", (code, reason) =>
      this.push({ closed: { code, reason: reason.toString("utf8") } }),
    );
    this.ws.on("error", (e) => this.push({ error: String(e) }));
  }
  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }
  next(what) {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return within(new Promise((resolve) => this.waiters.push(resolve)), what);
  }
  open() {
    return within(
      new Promise((resolve, reject) => {
        this.ws.once("open", resolve);
        this.ws.once("error", reject);
      }),
      "open",
    );
  }
  // Sends one text frame and returns the next `replies` frames.
  async ask(text, replies = 1) {
    this.ws.send(text);
    const frames = [];
    for (let i = 0; i < replies; i++) frames.push(await this.next(text));
    return replies === 1 ? frames[0] : frames;
  }
  // Waits for the close; returns it with any frame received before it.
  async closed() {
    const frames_before = [];
    for (;;) {
      const item = await this.next("close");
      if (item.closed) return { ...item.closed, frames_before };
      frames_before.push(item);
    }
  }
}

const out = {};

const ws = new Peer("/");
await ws.open();
// Replies come in order, so the frame after the three `events` frames being the echo reply
// proves there were exactly three.
out.events = await ws.ask('{"event":"events","data":"test"}', 3);
out.echo = await ws.ask('{"event": "echo", "data": {"a": [1, 2]}}');
out.identity = await ws.ask('{"event":"identity","data":0}');
out.sum = await ws.ask('{"event":"sum","data":[1, -2, 3, 4000000000]}');
out.sum_error = await ws.ask('{"event":"sum","data":"x"}');
out.sum_too_long = await ws.ask(
  JSON.stringify({ event: "sum", data: Array.from({ length: 17 }, (_, i) => i + 1) }),
);
out.sum_overflow = await ws.ask('{"event":"sum","data":[9223372036854775807,1]}');
// A binary frame holding an envelope is handled like a text one; replies are text.
ws.ws.send(Buffer.from('{"event":"identity","data":false}'), { binary: true });
out.binary_in = await ws.next("binary_in");
const pong = within(new Promise((resolve) => ws.ws.once("pong", resolve)), "pong");
ws.ws.ping(Buffer.from("abc"));
out.ping_answered = (await pong).toString("utf8") === "abc";
ws.ws.close(1000);
await ws.closed();

const a = new Peer("/chat", ["other", "chat.v1"]);
const b = new Peer("/chat");
await Promise.all([a.open(), b.open()]);
out.subprotocol = a.ws.protocol || null;
out.subprotocol_none_offered = b.ws.protocol || null;
a.ws.send('{"event":"message","data":{"text":"hi"}}');
out.broadcast = { sender: await a.next("broadcast"), other: await b.next("broadcast") };

b.ws.send('{"event":"leave"}');
out.leave = await b.closed();

a.ws.close(4001, "bye");
const { code, reason } = await a.closed();
out.client_close = { code, reason };

console.log(JSON.stringify(out));
