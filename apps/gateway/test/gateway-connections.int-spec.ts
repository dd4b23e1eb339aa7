import { createServer as createHttpServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo, connect, createServer, Server as NetServer, Socket } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';

import { startGateway } from './start-gateway';

/** What a stand-in service saw: each request (method, path, body) and each connection. */
interface Seen {
  requests: { method: string; url: string; body: string; headers: IncomingHttpHeaders }[];
  connections: number;
}

/**
 * A Node service as the real ones run (keep-alive, Node's `Keep-Alive: timeout=5`), whose
 * answers add `headers`: what a service says about its own connection, and the rest.
 */
async function nodeService(seen: Seen, headers: Record<string, string> = {}): Promise<Server> {
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('latin1')));
    req.on('end', () => {
      seen.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        body,
        headers: req.headers,
      });
      const answer = JSON.stringify({ url: req.url });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': answer.length,
        ...headers,
      });
      res.end(answer);
    });
  });
  server.on('connection', () => seen.connections++);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return server;
}

/**
 * A service that keeps connections alive and announces `Keep-Alive: timeout=2`, and that resets
 * a connection idle for longer than that when a request arrives on it: what a client meets when
 * the service's close of an idle connection crosses its next request on the wire.
 */
async function strictIdleService(seen: Seen): Promise<{ port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    seen.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let lastAnswer = Date.now();
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      if (!text && Date.now() - lastAnswer > 2_000) {
        socket.resetAndDestroy();
        return;
      }
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/^content-length: *(\d+)/im.exec(text)?.[1] ?? 0);
      if (end < 0 || text.length < end + 4 + length) return;
      const [method, url] = text.split(' ');
      seen.requests.push({ method, url, body: text.slice(end + 4), headers: {} });
      text = '';
      lastAnswer = Date.now();
      socket.write(
        'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n' +
          'Keep-Alive: timeout=2\r\nContent-Length: 2\r\n\r\n{}',
      );
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.close();
      sockets.forEach((socket) => socket.destroy());
    },
  };
}

/**
 * A service written by hand, as a broken one might answer: each request it reads (headers only:
 * the requests sent to it here have no body) gets what `answer` makes of its request line, on a
 * connection kept open; `close` closes the connection after that answer.
 */
async function handWrittenService(
  seen: Seen,
  answer: (requestLine: string) => { raw: string; close?: boolean },
): Promise<NetServer> {
  const server = createServer((socket) => {
    seen.connections++;
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      for (let end = text.indexOf('\r\n\r\n'); end >= 0; end = text.indexOf('\r\n\r\n')) {
        const [line] = text.split('\r\n', 1);
        const [method, url] = line.split(' ');
        seen.requests.push({ method, url, body: '', headers: {} });
        text = text.slice(end + 4);
        const { raw, close } = answer(line);
        if (close) socket.end(raw);
        else socket.write(raw);
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return server;
}

/**
 * One client connection to the gateway, raw: requests written as given, answers read back one
 * at a time (status, headers, body by Content-Length), and whether the gateway closed it.
 */
class RawClient {
  private readonly socket: Socket;
  private buffer = '';
  private waiting?: () => void;
  closed = false;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      this.waiting?.();
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  async exchange(raw: string): Promise<{ status: number; headers: string; body: string }> {
    this.socket.write(raw);
    for (;;) {
      const answer = this.takeAnswer();
      if (answer) return answer;
      if (this.closed) throw new Error(`closed before a whole answer: ${this.buffer}`);
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  /**
   * The first answer read whole, framed as a client must (RFC 9112 §6.3): chunked when its
   * `Transfer-Encoding` is `chunked`, else by its `Content-Length`. Any other transfer coding
   * would leave the answer's end at the connection's close, on a connection kept open: refused.
   */
  private takeAnswer(): { status: number; headers: string; body: string } | undefined {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const headers = this.buffer.slice(0, end);
    const coding = /^transfer-encoding: *([^\r\n]*?) *\r?$/im.exec(headers)?.[1];
    if (coding !== undefined && coding.toLowerCase() !== 'chunked') {
      throw new Error(`an answer whose end a client cannot find: ${headers}`);
    }
    let body = '';
    let next = end + 4;
    if (coding === undefined) {
      const length = Number(/^content-length: *(\d+)/im.exec(headers)?.[1] ?? -1);
      if (length < 0 || this.buffer.length < next + length) return undefined;
      body = this.buffer.slice(next, next + length);
      next += length;
    } else {
      for (;;) {
        const line = this.buffer.indexOf('\r\n', next);
        if (line < 0) return undefined;
        const size = parseInt(this.buffer.slice(next, line), 16);
        if (this.buffer.length < line + 2 + size + 2) return undefined;
        body += this.buffer.slice(line + 2, line + 2 + size);
        next = line + 2 + size + 2;
        if (size === 0) break;
      }
    }
    this.buffer = this.buffer.slice(next);
    return { status: Number(headers.split(' ')[1]), headers, body };
  }

  /** Resolves once the gateway has closed the connection, or after `ms` if it has not. */
  async closedWithin(ms: number): Promise<boolean> {
    if (!this.closed) {
      // Cleared once the wait is over: a pending timer would hold the test process open.
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        timer = setTimeout(resolve, ms);
      });
      clearTimeout(timer);
    }
    return this.closed;
  }

  end(): void {
    this.socket.destroy();
  }
}

const get = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: localhost:3000\r\n${extra}\r\n`;
const post = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nHost: localhost:3000\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

const portOf = (server: { address(): unknown }) => (server.address() as AddressInfo).port;

describe('gateway, its connections to clients and to services', () => {
  const seen: Seen = { requests: [], connections: 0 };
  const servers: NetServer[] = [];
  let app: NestExpressApplication;
  let client: RawClient;

  async function gatewayTo(orders: string): Promise<void> {
    app = await startGateway({
      AUTH_URL: 'http://127.0.0.1:9',
      ORDERS_URL: orders,
      CATALOG_URL: 'http://127.0.0.1:9',
      PROXY_TIMEOUT: '2',
    });
    client = new RawClient(portOf(app.getHttpServer()));
  }

  beforeEach(() => {
    seen.requests.length = 0;
    seen.connections = 0;
  });

  afterEach(async () => {
    client.end();
    await app.close();
    servers.splice(0).forEach((server) => server.close());
  });

  it('keeps both connections open and reuses the one to the service, request after request', async () => {
    servers.push(await nodeService(seen));
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    for (let i = 0; i < 5; i++) {
      const answer = await client.exchange(
        i % 2 ? post(`/api/orders/${i}`, `{"n":${i}}`) : get(`/api/orders/${i}`),
      );
      expect(answer).toMatchObject({
        status: 200,
        body: JSON.stringify({ url: `/api/orders/${i}` }),
      });
      expect(answer.headers).not.toMatch(/^connection: *close/im);
    }
    expect(client.closed).toBe(false);
    expect(seen.requests.map(({ url }) => url)).toEqual(
      [0, 1, 2, 3, 4].map((i) => `/api/orders/${i}`),
    );
    expect(seen.connections).toBe(1);
  });

  it("does not close the client's connection when the service closes its own (as a stopping service does)", async () => {
    servers.push(await nodeService(seen, { connection: 'close' }));
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    const first = await client.exchange(get('/api/orders/a'));
    const second = await client.exchange(get('/api/orders/b'));
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(first.headers).not.toMatch(/^connection: *close/im);
    expect(client.closed).toBe(false);
    expect(seen.connections).toBe(2);
  });

  it("closes the client's connection when the client asks, though the service keeps its own", async () => {
    servers.push(await nodeService(seen));
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    const answer = await client.exchange(get('/api/orders/a', 'Connection: close\r\n'));
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatch(/^connection: *close/im);
    expect(await client.closedWithin(2_000)).toBe(true);
  });

  it("passes on neither the service's Keep-Alive nor the headers its Connection names", async () => {
    servers.push(
      await nodeService(seen, {
        connection: 'keep-alive, x-hop-secret',
        'keep-alive': 'timeout=600, max=100000',
        'x-hop-secret': 'for the gateway only',
        'x-kept': 'for the client',
      }),
    );
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    const { headers } = await client.exchange(get('/api/orders/a'));
    expect(headers).toMatch(/^x-kept: for the client$/im);
    expect(headers).not.toMatch(/x-hop-secret|timeout=600/i);
  });

  it("keeps its own security headers whatever the service's Connection names, and drops the service's", async () => {
    const own = {
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': expect.stringContaining("frame-ancestors 'none'"),
      'x-frame-options': 'DENY',
      'referrer-policy': 'same-origin',
    };
    servers.push(
      await nodeService(seen, {
        connection: `keep-alive, ${Object.keys(own).join(', ')}`,
        'cache-control': 'public, max-age=31536000',
        'x-frame-options': 'ALLOWALL',
      }),
    );
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    const { status, headers } = await client.exchange(get('/api/orders/a'));
    expect(status).toBe(200);
    const received = Object.fromEntries(
      headers
        .split('\r\n')
        .slice(1)
        .map((line) => [
          line.slice(0, line.indexOf(':')).toLowerCase(),
          line.slice(line.indexOf(':') + 1).trim(),
        ]),
    );
    expect(received).toMatchObject(own);
    expect(headers).not.toMatch(/max-age=31536000|ALLOWALL/i);
  });

  it('never reuses a connection the service may have closed for idleness: a POST after a pause is answered, not 502', async () => {
    const service = await strictIdleService(seen);
    try {
      await gatewayTo(`http://127.0.0.1:${service.port}`);
      expect((await client.exchange(post('/api/orders/a', '{"n":1}'))).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 2_300));
      expect((await client.exchange(post('/api/orders/b', '{"n":2}'))).status).toBe(200);
      expect(seen.requests.map(({ url }) => url)).toEqual(['/api/orders/a', '/api/orders/b']);
      expect(seen.connections).toBe(2);
    } finally {
      service.close();
    }
  });

  it('gives a chunked body its length, so no request hidden in it reaches the service on a shared connection', async () => {
    servers.push(await nodeService(seen));
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    const hidden = 'GET /api/orders/hidden HTTP/1.1\r\nHost: x\r\n\r\n';
    const chunk = `0\r\n\r\n${hidden}`;
    const smuggler = await client.exchange(
      'POST /api/orders/a HTTP/1.1\r\nHost: localhost:3000\r\nContent-Type: application/json\r\n' +
        `Transfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    const other = new RawClient(portOf(app.getHttpServer()));
    try {
      const innocent = await other.exchange(get('/api/orders/b'));
      expect([smuggler.status, innocent.status]).toEqual([200, 200]);
      expect(innocent.body).toBe(JSON.stringify({ url: '/api/orders/b' }));
    } finally {
      other.end();
    }
    expect(seen.requests.map(({ method, url }) => `${method} ${url}`)).toEqual([
      'POST /api/orders/a',
      'GET /api/orders/b',
    ]);
    expect(seen.requests[0]).toMatchObject({ body: chunk });
    expect(seen.requests[0].headers).toMatchObject({ 'content-length': String(chunk.length) });
    expect(seen.requests[0].headers['transfer-encoding']).toBeUndefined();
    expect(seen.connections).toBe(1);
  });
  it('answers 502 to a request the service switches to another protocol unasked, and goes on serving the client', async () => {
    const switched =
      'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n';
    servers.push(
      await handWrittenService(seen, (line) => ({
        raw: line.includes('/switch') ? switched : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}',
      })),
    );
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    const unavailable = JSON.stringify({
      statusCode: 502,
      message: 'The orders service is unavailable',
    });
    for (const request of [get('/api/orders/switch'), post('/api/orders/switch', '{"n":1}')]) {
      expect(await client.exchange(request)).toMatchObject({ status: 502, body: unavailable });
    }
    expect(await client.exchange(get('/api/orders/after'))).toMatchObject({
      status: 200,
      body: '{}',
    });
    expect(seen.requests.map(({ method, url }) => `${method} ${url}`)).toEqual([
      'GET /api/orders/switch',
      'POST /api/orders/switch',
      'GET /api/orders/after',
    ]);
  });

  it("frames its answers itself: a service's Transfer-Encoding is not passed on, and the client's connection goes on", async () => {
    // `identity`, from the drafts of HTTP/1.1, still sent by some old servers: the answer ends
    // where the service's connection does, which the client's does not.
    servers.push(
      await handWrittenService(seen, (line) =>
        line.includes('/identity')
          ? { raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n{"n":1}', close: true }
          : {
              raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"n":2}\r\n0\r\n\r\n',
            },
      ),
    );
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    const first = await client.exchange(get('/api/orders/identity'));
    const second = await client.exchange(get('/api/orders/chunked'));
    expect([first.body, second.body]).toEqual(['{"n":1}', '{"n":2}']);
    expect(first.headers).not.toMatch(/identity/i);
    expect(client.closed).toBe(false);
  });

  // What `curl --http2` sends over plain HTTP: a server that does not switch answers as usual.
  const h2c =
    'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n';

  it('answers a request that offers another protocol than WebSocket as if it offered none, proxied or not', async () => {
    servers.push(await nodeService(seen));
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    const proxied = await client.exchange(get('/api/orders/h2c', h2c));
    expect(proxied).toMatchObject({
      status: 200,
      body: JSON.stringify({ url: '/api/orders/h2c' }),
    });
    expect(seen.requests).toHaveLength(1);
    expect(seen.requests[0].headers).not.toHaveProperty('upgrade');
    expect(seen.requests[0].headers).not.toHaveProperty('http2-settings');
    // The connection left Node's parser with the offer: it ends with the answer.
    expect(proxied.headers).toMatch(/^connection: *close/im);
    expect(await client.closedWithin(2_000)).toBe(true);
    const page = new RawClient(portOf(app.getHttpServer()));
    try {
      const answer = await page.exchange(get('/', h2c));
      expect(answer.status).toBe(200);
      expect(answer.headers).toMatch(/^content-type: text\/html/im);
      expect(answer.body).toContain('<html');
    } finally {
      page.end();
    }
  });

  it('refuses with a JSON 400 a request with a body that offers another protocol, forwarding nothing', async () => {
    servers.push(await nodeService(seen));
    await gatewayTo(`http://127.0.0.1:${portOf(servers[0])}`);
    const body = '{"n":1}';
    const answer = await client.exchange(
      `POST /api/orders/a HTTP/1.1\r\nHost: localhost:3000\r\n${h2c}` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 400 });
    expect(seen.requests).toHaveLength(0);
  });
});
