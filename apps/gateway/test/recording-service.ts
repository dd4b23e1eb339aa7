import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo, connect } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';

import { startGateway } from './start-gateway';

/** What reached the stand-in service: each request's or handshake's line and headers. */
export interface Heard {
  upgrade: boolean;
  url: string;
  headers: IncomingMessage['headers'];
}

/**
 * A stand-in for every service that records what it heard: a request is answered 200, a
 * WebSocket handshake refused with a 403 (the gateway passes the refusal on), either way after
 * the gateway's headers have been seen.
 */
export function recordingService(heard: Heard[]): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      heard.push({ upgrade: false, url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"service":"heard"}');
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket) => {
    heard.push({ upgrade: true, url: req.url ?? '', headers: req.headers });
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/**
 * Writes `head` (request line and header lines, as given) on a raw connection and resolves with
 * the gateway's first status and all it sent once it closes the connection, or after 5 s.
 */
export function exchange(
  gateway: Server,
  head: string[],
): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: portOf(gateway) });
    let text = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), text });
    };
    const timer = setTimeout(done, 5_000);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('close', done);
    socket.write(`${head.join('\r\n')}\r\n\r\n`);
  });
}

/** A request line and headers for `path` naming `host`, as a request or a WebSocket handshake. */
export function headFor(path: string, host: string, upgrade: boolean): string[] {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    ...(upgrade
      ? [
          'Connection: Upgrade',
          'Upgrade: websocket',
          'Sec-WebSocket-Version: 13',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        ]
      : ['Connection: close']),
  ];
}

/** A gateway in front of one recording service for every upstream; `close` stops both. */
export interface RecordedGateway {
  app: NestExpressApplication;
  gateway: Server;
  close(): Promise<void>;
}

/**
 * Starts a {@link recordingService} writing to `heard` and a gateway whose every upstream is
 * it, with `env` on top.
 *
 * @example
 * const { gateway, close } = await gatewayBeforeRecorder(heard, { PUBLIC_URL: 'https://shop.example' });
 */
export async function gatewayBeforeRecorder(
  heard: Heard[],
  env: Record<string, string>,
): Promise<RecordedGateway> {
  const service = await recordingService(heard);
  const url = `http://127.0.0.1:${portOf(service)}`;
  const app = await startGateway({ AUTH_URL: url, ORDERS_URL: url, CATALOG_URL: url, ...env });
  return {
    app,
    gateway: app.getHttpServer(),
    close: async () => {
      await app.close();
      service.close();
    },
  };
}
