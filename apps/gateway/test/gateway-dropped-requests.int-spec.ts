import { request as httpRequest } from 'node:http';
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';

import { startGateway } from './start-gateway';

/**
 * What the service does with a connection once it has read the request on it: answers it,
 * resets the connection (what a request queued on a service that stops listening gets) or
 * closes it (a hang-up), both before any byte of an answer; starts an answer and resets the
 * connection halfway; or says nothing.
 */
type Move = 'answer' | 'reset' | 'hang up' | 'break off' | 'silence';

/**
 * A stand-in service that meets the connections it gets with `moves`, one each in turn, and
 * answers those beyond them. It records each request, raw, as it read it.
 */
class ScriptedService {
  moves: Move[] = [];
  readonly requests: string[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server = createServer((socket) => this.meet(socket));

  listen(): Promise<number> {
    return new Promise((done) =>
      this.server.listen(0, '127.0.0.1', () => done((this.server.address() as AddressInfo).port)),
    );
  }

  close(): void {
    this.server.close();
    this.sockets.forEach((socket) => socket.destroy());
  }

  private meet(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/^content-length: *(\d+)/im.exec(text)?.[1] ?? 0);
      if (end < 0 || text.length < end + 4 + length) return;
      socket.removeAllListeners('data');
      this.requests.push(text);
      this.act(this.moves.shift() ?? 'answer', socket, text.split(' ')[0]);
    });
  }

  private act(move: Move, socket: Socket, method: string): void {
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n';
    switch (move) {
      case 'answer':
        socket.end(`${head}Content-Length: ${method.length}\r\n\r\n${method}`);
        return;
      case 'reset':
        socket.resetAndDestroy();
        return;
      case 'hang up':
        socket.end();
        return;
      case 'break off':
        socket.write(`${head}Content-Length: 100\r\n\r\nhalf`, () => socket.resetAndDestroy());
        return;
      case 'silence':
        return;
    }
  }
}

/** Sends a request to the gateway: its status and body, or the error that ended it. */
function send(app: NestExpressApplication, method: string, body?: string) {
  const { port } = app.getHttpServer().address() as AddressInfo;
  return new Promise<{ status?: number; body?: unknown; error?: string }>((resolve) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        agent: false,
        path: '/api/orders/things?x=1',
        method,
        headers: {
          'content-type': 'application/json',
          ...(body !== undefined && { 'content-length': Buffer.byteLength(body) }),
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('error', () => undefined);
        response.on('close', () => {
          if (!response.complete) {
            resolve({ status: response.statusCode, error: 'cut off' });
            return;
          }
          const json = response.headers['content-type']?.startsWith('application/json');
          resolve({ status: response.statusCode, body: json && text ? JSON.parse(text) : text });
        });
      },
    );
    req.on('error', (error) => resolve({ error: error.message }));
    req.end(body);
  });
}

/** A raw request's `Connection` value, and the request without that line. */
function splitConnection(raw: string): { connection?: string; rest: string } {
  const line = /^connection: *(.*)\r\n/im.exec(raw);
  return { connection: line?.[1].toLowerCase(), rest: raw.replace(line?.[0] ?? '', '') };
}

const UNAVAILABLE = { statusCode: 502, message: 'The orders service is unavailable' };

describe('gateway, when a service drops a request', () => {
  const service = new ScriptedService();
  let app: NestExpressApplication;

  beforeAll(async () => {
    const port = await service.listen();
    app = await startGateway({
      AUTH_URL: 'http://127.0.0.1:9',
      ORDERS_URL: `http://127.0.0.1:${port}`,
      CATALOG_URL: 'http://127.0.0.1:9',
      PROXY_TIMEOUT: '1',
    });
  });

  afterAll(async () => {
    await app.close();
    service.close();
  });

  beforeEach(() => {
    service.moves = [];
    service.requests.length = 0;
  });

  it.each([
    ['GET', 'reset'],
    ['GET', 'hang up'],
    ['HEAD', 'reset'],
    ['OPTIONS', 'hang up'],
  ] as const)(
    'sends %s the service dropped unanswered (%s) once more, on a connection of its own, byte for byte, and passes on the answer',
    async (method, move) => {
      service.moves = [move];
      const answer = await send(app, method, method === 'GET' ? '{"again":true}' : undefined);
      expect(answer).toEqual({ status: 200, body: method === 'HEAD' ? '' : method });
      expect(service.requests).toHaveLength(2);
      const [first, second] = service.requests.map(splitConnection);
      expect(second.rest).toBe(first.rest);
      expect([first.connection, second.connection]).toEqual(['keep-alive', 'close']);
    },
  );

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
    'answers 502 to %s the service reset unanswered, and never sends it again: it may have been applied',
    async (method) => {
      service.moves = ['reset'];
      expect(await send(app, method, '{"once":true}')).toEqual({ status: 502, body: UNAVAILABLE });
      expect(service.requests).toHaveLength(1);
    },
  );

  it('answers 502, not 504, when the second try is dropped too, and tries no third time', async () => {
    service.moves = ['reset', 'hang up', 'answer'];
    expect(await send(app, 'GET')).toEqual({ status: 502, body: UNAVAILABLE });
    expect(service.requests).toHaveLength(2);
  });

  it('never sends a request again once the answer has begun: the client sees it cut off', async () => {
    service.moves = ['break off'];
    const answer = await send(app, 'GET');
    expect(answer).toEqual({ status: 200, error: 'cut off' });
    expect(service.requests).toHaveLength(1);
  });

  it('answers 504 to a request the service leaves unanswered for PROXY_TIMEOUT, and sends it once', async () => {
    service.moves = ['silence'];
    expect(await send(app, 'GET')).toEqual({
      status: 504,
      body: { statusCode: 504, message: 'The orders service is unavailable' },
    });
    expect(service.requests).toHaveLength(1);
  }, 10_000);
});
