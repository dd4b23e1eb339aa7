import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo, connect, createServer as createTcpServer } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';
import WebSocket, { WebSocketServer } from 'ws';

import { startGateway } from './start-gateway';

/** A stand-in orders service: echoes frames on `/api/orders/ws`, records each handshake. */
function fakeSocketService(handshakes: IncomingMessage[]): Promise<Server> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, path: '/api/orders/ws' });
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
 * fragment). Resolves once the gateway has closed the connection, or after `ms`, with the status
 * line it answered ('' if none) and whether it closed.
 */
function rawUpgrade(port: number, path: string, ms = 5_000) {
  return new Promise<{ status: string; closed: boolean }>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: /^HTTP\/1\.1 \d{3}/.exec(text)?.[0] ?? '', closed });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('close', () => done(true));
    socket.write(
      [
        `GET ${path} HTTP/1.1`,
        'Host: x',
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ].join('\r\n') + '\r\n\r\n',
    );
  });
}

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
      expect({ path, ...(await rawUpgrade(portOf(app.getHttpServer()), path)) }).toEqual({
        path,
        status: 'HTTP/1.1 404',
        closed: true,
      });
    }
    expect(handshakes).toHaveLength(0);
  });

  it('closes an upgrade whose service takes the connection but never answers, after PROXY_TIMEOUT', async () => {
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
      const outcome = await exchange(url, {});
      expect(outcome.frame).toBeUndefined();
    } finally {
      await gateway.close();
      silent.close();
    }
  }, 10_000);

  it('answers 404 to an upgrade outside the services, and closes one whose service is down', async () => {
    expect(await exchange(`${base}/elsewhere`, {})).toEqual({ status: 404 });
    const down = await exchange(`${base}/api/catalog/ws`, {});
    expect(down.frame).toBeUndefined();
    expect(handshakes).toHaveLength(0);
  });
});
