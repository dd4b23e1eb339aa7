import { createServer, request as httpRequest, Server } from 'node:http';
import { AddressInfo, connect } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';

import { MAX_HEADER_LINES } from '../src/app/security/header-count';
import { startGateway } from './start-gateway';

/** What a stand-in service heard: method, path and `X-Forwarded-For` of each request. */
interface Heard {
  method: string;
  url: string;
  forwardedFor: string | undefined;
}

/** A stand-in auth service that records each request and answers its own path back. */
function recordingService(heard: Heard[]): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume().on('end', () => {
      heard.push({
        method: req.method ?? '',
        url: req.url ?? '',
        forwardedFor: req.headers['x-forwarded-for'] as string | undefined,
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ answered: req.url }));
    });
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

/** Writes `raw` on a connection of its own; resolves with all the gateway sent once it closed. */
function rawExchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
    socket.write(raw);
  });
}

/** A GET through the gateway on a kept-alive connection, as a browser's next request. */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

/** `count` header lines of no meaning, one byte of name each, as few bytes as a line takes. */
function fillerLines(count: number): string {
  return Array.from({ length: count }, (_, index) => `f${index % 10}:\r\n`).join('');
}

/**
 * A request whose body is another request, whose framing header comes after `filler` header
 * lines: Node keeps the first 2,000 lines of a request for the app by default and frames the
 * body by the rest as well, so a proxy that forwards what it was shown would write that body to
 * the service's connection as a request of its own.
 */
function smuggling(method: string, framing: 'length' | 'chunked', filler = 2000): string {
  const hidden =
    'GET /api/auth/smuggled HTTP/1.1\r\nHost: auth\r\nX-Forwarded-For: 203.0.113.66\r\n\r\n';
  const body =
    framing === 'length' ? hidden : `${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`;
  const framingLine =
    framing === 'length' ? `Content-Length: ${hidden.length}` : 'Transfer-Encoding: chunked';
  return (
    `${method} /api/auth/session HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n` +
    `${fillerLines(filler)}${framingLine}\r\n\r\n${body}`
  );
}

/**
 * Requests whose framing hides past the header lines Node hands an app (request smuggling to
 * the services): refused at the gateway, so that no request reaches a service but the one the
 * gateway read, and no client's answer goes to another.
 */
describe('gateway, against requests with more header lines than it reads', () => {
  const heard: Heard[] = [];
  let service: Server;
  let app: NestExpressApplication;
  let port: number;

  beforeAll(async () => {
    service = await recordingService(heard);
    app = await startGateway({
      AUTH_URL: `http://127.0.0.1:${(service.address() as AddressInfo).port}`,
      ORDERS_URL: 'http://127.0.0.1:9',
      CATALOG_URL: 'http://127.0.0.1:9',
    });
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    await app.close();
    service.close();
  });

  beforeEach(() => heard.splice(0));

  it.each([
    ['GET', 'length'],
    ['GET', 'chunked'],
    ['POST', 'length'],
    ['DELETE', 'chunked'],
  ] as const)(
    'refuses a %s whose %s body hides behind 2,000 header lines, and forwards nothing',
    async (method, framing) => {
      const answer = await rawExchange(port, smuggling(method, framing));
      // The next client, on the gateway's kept-alive connection to the service, gets its own
      // answer, and the service heard no request but that one.
      expect(await get(port, '/api/auth/next')).toEqual({
        status: 200,
        body: JSON.stringify({ answered: '/api/auth/next' }),
      });
      expect(heard).toEqual([{ method: 'GET', url: '/api/auth/next', forwardedFor: '127.0.0.1' }]);
      expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      expect(answer).toContain(
        JSON.stringify({ statusCode: 431, message: 'Too many header lines' }),
      );
    },
  );

  it('refuses a WebSocket handshake with more header lines than it forwards', async () => {
    const answer = await rawExchange(
      port,
      `GET /api/auth/ws HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: Upgrade\r\n` +
        'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${fillerLines(MAX_HEADER_LINES)}\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toContain('Too many header lines');
    expect(heard).toEqual([]);
  });

  it(`forwards a request of ${MAX_HEADER_LINES} header lines, refuses one more`, async () => {
    const request = (lines: number) =>
      `GET /api/auth/many HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n` +
      `${fillerLines(lines - 2)}\r\n`;
    expect(await rawExchange(port, request(MAX_HEADER_LINES))).toMatch(/^HTTP\/1\.1 200 /);
    expect(await rawExchange(port, request(MAX_HEADER_LINES + 1))).toMatch(/^HTTP\/1\.1 431 /);
    expect(heard.map(({ url }) => url)).toEqual(['/api/auth/many']);
  });
});
