// The expectation of the NestJS sample 16-gateways-ws's end-to-end test, with the `ws` client
// a NestJS user would write: connect, send `events`, collect the `data` of each `events`
// message, expect [1, 2, 3].
//
// Usage: node nestjs_e2e.mjs PORT. Prints {"events": [...], "other": [...]} (run by
// tests/peers.rs, which asserts it). Every wait is bounded.
import WebSocket from "ws";

const port = Number(process.argv[2]);
setTimeout(() => {
  console.error("nestjs_e2e.mjs: gave up after 10 s");
  process.exit(2);
}, 10000).unref();

const ws = new WebSocket(`ws://127.0.0.1:${port}`);
await new Promise((resolve, reject) => {
  ws.on("open", resolve);
  ws.on("error", reject);
});

const events = [];
const other = [];
ws.send(JSON.stringify({ event: "events", data: {} }));
await new Promise((resolve) =>
  ws.on("message", (data) => {
    const message = JSON.parse(data);
    if (message.event === "events") events.push(message.data);
    else other.push(message);
    if (events.length === 3) resolve();
  }),
);
// Anything that still arrives before the close handshake ends is reported too.
await new Promise((resolve) => {
  ws.on("close", resolve);
  ws.close();
});

console.log(JSON.stringify({ events, other }));
