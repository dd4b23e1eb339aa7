import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo, connect, createServer as createTcpServer, Socket } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';
import WebSocket, { WebSocketServer } from 'ws';

import { startGateway } from './start-gateway';
import { WatchedService } from './watched-service';

/**
 * A stand-in orders service: echoes frames on `/api/orders/ws`, records each handshake; drops
 * the connection of an upgrade to `/api/orders/drop` without a word, and answers any other 404.
 */
function fakeSocketService(handshakes: IncomingMessage[]): Promise<Server> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = request.url?.split('?')[0];
    if (path === '/api/orders/ws') {
      wss.handleUpgrade(request, socket, head, (client) => wss.emit('connection', client, request));
    } else if (path === '/api/orders/drop') {
      socket.destroy();
    } else {
      socket.end(
        'HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot here\n',
      );
    }
  });
  wss.on('connection', (socket, request) => {
    handshakes.push(request);
    socket.on('message', (data) => socket.send(`echo:${data}`));
    if (request.url?.includes('close=4401')) socket.close(4401, 'Session revoked');
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** Resolves with the first frame, the close code, or the refused upgrade's status. */
function exchange(url: string, headers: Record<string, string>, send?: string) {
  return new Promise<{ frame?: string; code?: number; status?: number }>((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => send !== undefined && ws.send(send));
    ws.on('message', (data) => {
      resolve({ frame: String(data) });
      ws.close();
    });
    ws.on('close', (code) => resolve({ code }));
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
    ws.on('error', () => resolve({}));
  });
}

/**
 * Sends a WebSocket handshake for `path` on a raw connection (no client library would send a
 * fragment), with `extra` header lines and then `after` (bytes as latin1), in one write.
 * Resolves once the gateway has closed the connection, or after `ms`, with the status line it
 * answered ('' if none), whether it closed, and all it sent.
 */
function rawUpgrade(port: number, path: string, ms = 5_000, extra: string[] = [], after = '') {
  return new Promise<{ status: string; closed: boolean; text: string }>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: /^HTTP\/1\.1 \d{3}/.exec(text)?.[0] ?? '', closed, text });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('close', () => done(true));
    socket.write(
      [
        `GET ${path} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        ...extra,
      ].join('\r\n') +
        '\r\n\r\n' +
        after,
      'latin1',
    );
  });
}

/** A raw answer's status, lower-cased headers and JSON body. */
function answerOf(text: string) {
  const [head, body] = text.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  return {
    status: Number(statusLine.split(' ')[1]),
    headers: Object.fromEntries(
      lines.map((line) => [
        line.slice(0, line.indexOf(':')).toLowerCase(),
        line.slice(line.indexOf(':') + 1).trim(),
      ]),
    ),
    body: JSON.parse(body),
  };
}

/** The headers every `/api/*` answer carries, refusals of upgrades too. */
const API_ERROR_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  connection: 'close',
};

describe('gateway WebSocket upgrades', () => {
  const handshakes: IncomingMessage[] = [];
  let orders: Server;
  let app: NestExpressApplication;
  let base: string;

  beforeAll(async () => {
    orders = await fakeSocketService(handshakes);
    app = await startGateway({
      AUTH_URL: 'http://127.0.0.1:9',
      ORDERS_URL: `http://127.0.0.1:${portOf(orders)}`,
      CATALOG_URL: 'http://127.0.0.1:9',
      PUBLIC_URL: 'https://shop.example',
    });
    base = `ws://127.0.0.1:${portOf(app.getHttpServer())}`;
  });

  afterAll(async () => {
    await app?.close();
    orders?.close();
  });

  beforeEach(() => {
    handshakes.length = 0;
  });

  it('proxies /api/orders/ws both ways, with Origin and Cookie unchanged', async () => {
    const result = await exchange(
      `${base}/api/orders/ws?x=1`,
      { Origin: 'https://shop.example', Cookie: 'cr_session=abc' },
      'hello',
    );
    expect(result).toEqual({ frame: 'echo:hello' });
    expect(handshakes).toHaveLength(1);
    expect(handshakes[0].url).toBe('/api/orders/ws?x=1');
    expect(handshakes[0].headers['origin']).toBe('https://shop.example');
    expect(handshakes[0].headers['cookie']).toBe('cr_session=abc');
  });

  it('sets Host and X-Forwarded-* itself, whatever the client sent', async () => {
    await exchange(
      `${base}/api/orders/ws`,
      {
        'X-Forwarded-Host': 'evil.example',
        'X-Forwarded-Proto': 'http',
        'X-Forwarded-For': '6.6.6.6',
        'X-Real-IP': '6.6.6.6',
        Forwarded: 'for=6.6.6.6;host=evil.example',
      },
      'x',
    );
    const { headers } = handshakes[0];
    expect(headers['host']).toBe(`127.0.0.1:${portOf(orders)}`);
    expect(headers['x-forwarded-host']).toBe('shop.example');
    expect(headers['x-forwarded-proto']).toBe('https');
    expect(headers['x-forwarded-port']).toBe('443');
    expect(headers['x-forwarded-for']).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    expect(headers['x-real-ip']).toBeUndefined();
    expect(headers['forwarded']).toBeUndefined();
  });

  it('passes on a frame the client sent with its handshake, before the service switched', async () => {
    const mask = Buffer.from([1, 2, 3, 4]);
    const payload = Buffer.from('early').map((byte, i) => byte ^ mask[i % 4]);
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload]);
    const { text } = await rawUpgrade(
      portOf(app.getHttpServer()),
      '/api/orders/ws',
      1_000,
      [],
      frame.toString('latin1'),
    );
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(text.endsWith('\x81\x0aecho:early')).toBe(true);
  });

  it("passes the service's close code (4401) on to the client", async () => {
    expect(await exchange(`${base}/api/orders/ws?close=4401`, {})).toEqual({ code: 4401 });
  });

  it('answers 404 to an upgrade the proxy would not take (metrics, a path not canonical), never leaving it open', async () => {
    for (const path of ['/api/orders/metrics', '/api/orders/METRICS/', '/api/orders//ws']) {
      expect({ path, ...(await exchange(`${base}${path}`, {})) }).toEqual({ path, status: 404 });
    }
    expect(handshakes).toHaveLength(0);
  });

  it('answers 404 to an upgrade whose target has a fragment, and closes it', async () => {
    for (const path of ['/api/orders/metrics#x', '/api/orders/ws#x']) {
      const { status, closed } = await rawUpgrade(portOf(app.getHttpServer()), path);
      expect({ path, status, closed }).toEqual({ path, status: 'HTTP/1.1 404', closed: true });
    }
    expect(handshakes).toHaveLength(0);
  });

  it('answers the upgrades it refuses with the JSON error, nosniff and no-store of every /api/* answer', async () => {
    for (const path of ['/api/nothing/ws', '/api/orders/metrics', '/api/orders//ws', '/x#y']) {
      const { text, closed } = await rawUpgrade(portOf(app.getHttpServer()), path);
      const answer = answerOf(text);
      expect({ path, closed, ...answer }).toEqual({
        path,
        closed: true,
        status: 404,
        headers: { ...API_ERROR_HEADERS, 'content-length': expect.any(String) },
        body: { statusCode: 404, message: 'Not Found' },
      });
    }
    expect(handshakes).toHaveLength(0);
  });

  // A dropped handshake is a service that closed, not one too slow: 502, as for a request.
  it("relays the service's refusal of an upgrade, and answers 502 when it drops one unanswered", async () => {
    const port = portOf(app.getHttpServer());
    expect((await rawUpgrade(port, '/api/orders/nope')).text).toMatch(
      /^HTTP\/1\.1 404 Not Found\r\n[^]*\r\n\r\nnot here\n$/,
    );
    const { text, closed } = await rawUpgrade(port, '/api/orders/drop');
    expect({ closed, ...answerOf(text) }).toEqual({
      closed: true,
      status: 502,
      headers: { ...API_ERROR_HEADERS, 'content-length': expect.any(String) },
      body: { statusCode: 502, message: 'The orders service is unavailable' },
    });
  });

  it('answers 504 to an upgrade whose service takes the connection but never answers, after PROXY_TIMEOUT', async () => {
    const silent = createTcpServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', () => done()));
    const gateway = await startGateway({
      AUTH_URL: 'http://127.0.0.1:9',
      ORDERS_URL: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      CATALOG_URL: 'http://127.0.0.1:9',
      PROXY_TIMEOUT: '1',
    });
    try {
      const url = `ws://127.0.0.1:${portOf(gateway.getHttpServer())}/api/orders/ws`;
      expect(await exchange(url, {})).toEqual({ status: 504 });
    } finally {
      await gateway.close();
      silent.close();
    }
  }, 10_000);

  it('answers 404 to an upgrade outside the services, and 502 to one whose service is down', async () => {
    expect(await exchange(`${base}/elsewhere`, {})).toEqual({ status: 404 });
    const { text } = await rawUpgrade(portOf(app.getHttpServer()), '/api/catalog/ws');
    expect(answerOf(text)).toMatchObject({
      status: 502,
      headers: API_ERROR_HEADERS,
      body: { statusCode: 502, message: 'The catalog service is unavailable' },
    });
    expect(handshakes).toHaveLength(0);
  });
});

/**
 * A stand-in orders service that records every upgrade it is handed and counts its open
 * connections: it refuses `/api/orders/refused` with a chunked 401 on a connection it would keep,
 * and holds `/api/orders/late` unanswered until `release`; it switches any other.
 */
class HandshakeService extends WatchedService {
  readonly upgrades: IncomingMessage[] = [];
  private readonly held: (() => void)[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  readonly server: Server = createServer((_req, res) => res.writeHead(404).end());

  async listen(): Promise<number> {
    this.watch(this.server);
    this.server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
      this.upgrades.push(request);
      socket.on('error', () => undefined);
      const accept = () =>
        this.wss.handleUpgrade(request, socket, head, (client) => client.on('error', () => 0));
      if (request.url === '/api/orders/refused') {
        socket.write(
          'HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n' +
            'Connection: keep-alive, X-Service-Hop\r\nKeep-Alive: timeout=5\r\n' +
            'X-Service-Hop: 1\r\nTransfer-Encoding: chunked\r\n\r\n' +
            '11\r\n{"statusCode":401\r\n1\r\n}\r\n0\r\n\r\n',
        );
      } else if (request.url === '/api/orders/late') {
        // Read, so as to see the gateway leave (a paused socket never does).
        socket.once('end', () => socket.destroy()).resume();
        this.held.push(accept);
      } else {
        accept();
      }
      this.changed();
    });
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return portOf(this.server);
  }

  release(): void {
    this.held.splice(0).forEach((accept) => accept());
  }

  close(): void {
    this.server.close();
    this.open.forEach((socket) => socket.destroy());
  }
}

describe('gateway WebSocket upgrades, against a hostile or slow service and client', () => {
  const service = new HandshakeService();
  let app: NestExpressApplication;
  let port: number;

  beforeAll(async () => {
    app = await startGateway({
      AUTH_URL: 'http://127.0.0.1:9',
      ORDERS_URL: `http://127.0.0.1:${await service.listen()}`,
      CATALOG_URL: 'http://127.0.0.1:9',
      // Far beyond the waits below: only the client's leaving may free a connection.
      PROXY_TIMEOUT: '60',
    });
    port = portOf(app.getHttpServer());
  });

  afterAll(async () => {
    service.release();
    await app.close();
    service.close();
  });

  beforeEach(() => {
    service.upgrades.length = 0;
  });

  it("relays a service's chunked refusal framed as the client reads it: closed, no hop-by-hop headers, nosniff", async () => {
    const { text, closed } = await rawUpgrade(port, '/api/orders/refused');
    expect(closed).toBe(true);
    const answer = answerOf(text);
    expect(answer).toEqual({
      status: 401,
      headers: {
        'content-type': 'application/json',
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
        connection: 'close',
      },
      body: { statusCode: 401 },
    });
  });

  it('closes its connection to the service when the client hangs up before the service answers the handshake', async () => {
    const before = service.open.size;
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    socket.write(
      `GET /api/orders/late HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        'Connection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(await service.until(() => service.upgrades.length === 1, 5_000)).toBe(true);
    expect(service.open.size).toBe(before + 1);
    socket.destroy();
    expect(await service.until(() => service.open.size === before, 5_000)).toBe(true);
  }, 15_000);

  it.each([
    [
      'Content-Length',
      ['Content-Length: 46'],
      'GET /api/orders/metrics HTTP/1.1\r\nHost: x\r\n\r\n',
    ],
    [
      'Transfer-Encoding',
      ['Transfer-Encoding: chunked'],
      '0\r\n\r\nGET /api/orders/metrics HTTP/1.1\r\n\r\n',
    ],
  ])(
    'refuses with a JSON 400 a handshake that announces a body (%s), forwarding nothing',
    async (_what, extra, after) => {
      const { text, closed } = await rawUpgrade(port, '/api/orders/ws', 5_000, extra, after);
      expect({ closed, ...answerOf(text) }).toEqual({
        closed: true,
        status: 400,
        headers: { ...API_ERROR_HEADERS, 'content-length': expect.any(String) },
        body: { statusCode: 400, message: 'A WebSocket handshake has no body' },
      });
      expect(service.upgrades).toHaveLength(0);
    },
  );
});
