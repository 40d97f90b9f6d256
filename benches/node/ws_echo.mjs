// ws_echo.mjs: plain Node `ws` peer server for the wsgate benchmarks.
//
// The `ws` library's WebSocketServer with a small hand-written dispatcher for
// the NestJS WsAdapter wire protocol: each text frame is a JSON object
// { "event": NAME, "data": ANY }; the handler registered for NAME is called
// with data, and whatever it returns (other than undefined/null) is sent back
// as JSON in one text frame. The only handler is 'echo', which returns
// { event: 'echo', data }. This is the floor for what a Node server costs
// without Nest's layers on top.
//
// benches/run.sh starts it as `node benches/node/ws_echo.mjs --port N`
// (after `npm ci` in benches/node), waits for the single stdout line
// `listening on 127.0.0.1:N`, drives it with the load generator, reads its RSS
// from /proc/PID/status and stops it with SIGTERM.
import { WebSocket, WebSocketServer } from 'ws';

import { parsePort } from './args.mjs';

const HOST = '127.0.0.1';


const handlers = new Map();
handlers.set('echo', (data) => ({ event: 'echo', data }));

function reply(socket, result) {
  if (result === undefined || result === null) return;
  if (socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify(result));
}

function dispatch(socket, raw) {
  let message;
  try {
    message = JSON.parse(raw.toString());
  } catch {
    return; // not JSON: dropped, as WsAdapter does
  }
  if (message === null || typeof message !== 'object') return;
  const handler = handlers.get(message.event);
  if (handler === undefined) return; // unknown event: dropped
  let result;
  try {
    result = handler(message.data, message.event);
  } catch {
    return;
  }
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    result.then((value) => reply(socket, value), () => {});
  } else {
    reply(socket, result);
  }
}

function main() {
  const port = parsePort(process.argv.slice(2), 'usage: node ws_echo.mjs --port N');
  const server = new WebSocketServer({ host: HOST, port });

  server.on('connection', (socket) => {
    socket.on('error', () => {});
    socket.on('message', (raw) => dispatch(socket, raw));
  });
  server.on('error', (err) => {
    console.error(err);
    process.exit(1);
  });
  server.on('listening', () => {
    process.stdout.write(`listening on ${HOST}:${server.address().port}\n`);
  });

  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

try {
  main();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
