// nestjs_echo.mjs: NestJS peer server for the wsgate benchmarks.
//
// A plain NestJS 12 application: one gateway with an @SubscribeMessage('echo')
// handler that returns { event: 'echo', data }, served through
// @nestjs/platform-ws's WsAdapter, which is the wire protocol wsgate speaks.
// Node 20 has no decorator syntax, so the decorators a TypeScript user would
// write are applied by calling them as functions; what Nest builds from them
// is the same metadata.
//
// NestFactory.create needs an HTTP driver, so @nestjs/platform-express is
// loaded too. The gateway has no port of its own: it shares the HTTP server
// that app.listen() opens (the usual Nest setup), so upgrades to ws://HOST:PORT/
// reach the WsAdapter; Express never sees the WebSocket traffic.
//
// benches/run.sh starts it as `node benches/node/nestjs_echo.mjs --port N`
// (after `npm ci` in benches/node), waits for the single stdout line
// `listening on 127.0.0.1:N`, drives it with the load generator, reads its RSS
// from /proc/PID/status and stops it with SIGTERM.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';

import { parsePort } from './args.mjs';

const HOST = '127.0.0.1';


// What a Nest user writes in TypeScript as:
//
//   @WebSocketGateway()
//   export class EchoGateway {
//     @SubscribeMessage('echo')
//     handleEcho(@MessageBody() data) {
//       return { event: 'echo', data };
//     }
//   }
//
//   @Module({ providers: [EchoGateway] })
//   export class AppModule {}
class EchoGateway {
  handleEcho(data) {
    return { event: 'echo', data };
  }
}
MessageBody()(EchoGateway.prototype, 'handleEcho', 0);
SubscribeMessage('echo')(
  EchoGateway.prototype,
  'handleEcho',
  Object.getOwnPropertyDescriptor(EchoGateway.prototype, 'handleEcho'),
);
WebSocketGateway()(EchoGateway);

class AppModule {}
Module({ providers: [EchoGateway] })(AppModule);

async function main() {
  const port = parsePort(process.argv.slice(2), 'usage: node nestjs_echo.mjs --port N');
  const app = await NestFactory.create(AppModule, { logger: ['error'] });
  app.useWebSocketAdapter(new WsAdapter(app));

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Close Nest (which terminates the WebSocket clients), but never let a
    // slow close hold the benchmark up.
    setTimeout(() => process.exit(0), 1000).unref();
    app.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  await app.listen(port, HOST);
  const bound = app.getHttpServer().address().port;
  process.stdout.write(`listening on ${HOST}:${bound}\n`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
