import { createHash } from 'node:crypto';
import { createServer, IncomingMessage, request as httpRequest, Server } from 'node:http';
import {
  AddressInfo,
  connect,
  createServer as createTcpServer,
  Server as TcpServer,
} from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';

import { BODY_LIMITS } from '@cloakroom/service-kit';

import { startGateway } from './start-gateway';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  bodyDigest: string;
  bodyLength: number;
}

/** A stand-in service that records what reached it and answers with its name. */
function fakeService(name: string, seen: Seen[]): Promise<Server> {
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bodyDigest: hash.digest('hex'),
        bodyLength: length,
      });
      const status = req.url?.endsWith('/health') ? 200 : 201;
      res.writeHead(status, { 'content-type': 'application/json', 'set-cookie': 'x=1; HttpOnly' });
      res.end(JSON.stringify({ service: name }));
    });
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

/**
 * A service that answers 413 as soon as a request's headers arrive, without reading the body,
 * and closes the connection: what a service does with a body it will not take.
 */
function earlyRefusingService(): Promise<TcpServer> {
  const server = createTcpServer((socket) => {
    socket.once('data', () => {
      const body = JSON.stringify({ statusCode: 413, message: 'Request body too large' });
      socket.end(
        'HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n' +
          `Connection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    });
    socket.on('error', () => undefined);
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

/** Sends a body with Content-Length, or chunked, in 16 KiB writes; answers the status. */
function post(app: NestExpressApplication, path: string, body: Buffer, chunked: boolean) {
  const { port } = app.getHttpServer().address() as AddressInfo;
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': body.length }),
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    for (let offset = 0; offset < body.length; offset += 16 * 1024) {
      req.write(body.subarray(offset, offset + 16 * 1024));
    }
    req.end();
  });
}

/**
 * Sends `head` (request line and headers) on a raw connection, then `body` once the gateway has
 * answered `100 Continue`, as a client that sent `Expect` does. Resolves once the gateway has
 * closed the connection, or after `ms`, with all it sent and the status of its last answer.
 */
function rawExchange(app: NestExpressApplication, head: string[], body = '', ms = 5_000) {
  const { port } = app.getHttpServer().address() as AddressInfo;
  return new Promise<{ text: string; status: number }>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map(([, status]) => status);
      resolve({ text, status: Number(statuses.at(-1) ?? 0) });
    };
    const timer = setTimeout(done, ms);
    socket.on('error', () => undefined);
    socket.on('close', done);
    socket.on('data', (chunk: Buffer) => {
      const waiting = !text.includes('\r\n\r\n');
      text += chunk.toString('latin1');
      if (waiting && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) socket.write(body);
    });
    socket.write(`${[...head, 'Connection: close'].join('\r\n')}\r\n\r\n`);
  });
}

/** A `Host` line naming the gateway as a client that reached it on loopback would. */
function hostLine(app: NestExpressApplication): string {
  return `Host: 127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
}

function urlOf(server: Server | TcpServer): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('gateway', () => {
  const seen: Seen[] = [];
  let auth: Server;
  let orders: Server;
  let app: NestExpressApplication;

  beforeAll(async () => {
    auth = await fakeService('auth', seen);
    orders = await fakeService('orders', seen);
    app = await startGateway({
      AUTH_URL: urlOf(auth),
      ORDERS_URL: urlOf(orders),
      // Nothing listens there: the catalog is down for the whole suite.
      CATALOG_URL: 'http://127.0.0.1:9',
    });
  });

  afterAll(async () => {
    await app?.close();
    auth?.close();
    orders?.close();
  });

  beforeEach(() => {
    seen.length = 0;
  });

  /** The forwarding headers auth saw are the gateway's own, with nothing `client` matches. */
  function expectEdgeHeaders(headers: Seen['headers'], client: RegExp): void {
    expect(headers['host']).toBe(new URL(urlOf(auth)).host);
    expect(headers['x-forwarded-for']).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    expect(headers['x-forwarded-host']).toBe('localhost:3000');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-port']).toBe('3000');
    expect(headers['forwarded']).toBeUndefined();
    expect(headers['x-real-ip']).toBeUndefined();
    expect(JSON.stringify(headers)).not.toMatch(client);
  }

  it('forwards /api/<service> paths unchanged, query included, with the answer as is', async () => {
    const response = await request(app.getHttpServer())
      .get('/api/auth/sessions?limit=5')
      .set('Cookie', 'cr_session=abc')
      .expect(201);
    expect(response.body).toEqual({ service: 'auth' });
    expect(response.headers['set-cookie']).toEqual(['x=1; HttpOnly']);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/auth/sessions?limit=5' });
    expect(seen[0].headers['cookie']).toBe('cr_session=abc');
  });

  it('forwards a path exactly as it routed it, one holding `http:/` too, on requests and upgrades', async () => {
    // http-proxy's own join of paths turned `http:/` into `http://`.
    const paths = ['/api/auth/http:/metrics', '/api/auth/x/https:/y?z=http:/w'];
    for (const path of paths) {
      await request(app.getHttpServer()).get(path).expect(201);
      await rawExchange(app, [
        `GET ${path} HTTP/1.1`,
        hostLine(app),
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ]);
    }
    expect(seen.map(({ url }) => url)).toEqual(paths.flatMap((path) => [path, path]));
  });

  it('routes each prefix to its own service', async () => {
    const response = await request(app.getHttpServer()).post('/api/orders').send({}).expect(201);
    expect(response.body).toEqual({ service: 'orders' });
    expect(seen[0].url).toBe('/api/orders');
  });

  it('does not take a longer prefix for a service', async () => {
    await request(app.getHttpServer()).get('/api/authority').expect(404);
    expect(seen).toHaveLength(0);
  });

  it('forwards a body up to the service limit byte for byte, chunked or not', async () => {
    const body = Buffer.alloc(BODY_LIMITS['orders'], 'cloakroom');
    await post(app, '/api/orders', body, true);
    expect(seen[0].bodyLength).toBe(body.length);
    expect(seen[0].headers['content-length']).toBe(String(body.length));
    expect(seen[0].headers['transfer-encoding']).toBeUndefined();
    expect(seen[0].bodyDigest).toBe(createHash('sha256').update(body).digest('hex'));
    seen.length = 0;
    await request(app.getHttpServer())
      .post('/api/orders')
      .set('Content-Type', 'application/octet-stream')
      .send(body)
      .expect(201);
    expect(seen[0].bodyLength).toBe(body.length);
    expect(seen[0].bodyDigest).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it.each([false, true])(
    'answers 413 to a body over the service limit before proxying it (chunked: %s)',
    async (chunked) => {
      const body = Buffer.alloc(1024 * 1024, '[');
      for (const path of ['/api/auth/login', '/api/orders']) {
        const response = await post(app, path, body, chunked);
        expect(response.status).toBe(413);
        expect(JSON.parse(response.body)).toEqual({
          statusCode: 413,
          message: 'Request body too large',
        });
      }
      const overAuth = Buffer.alloc(BODY_LIMITS['auth'] + 1, ' ');
      expect((await post(app, '/api/auth/login', overAuth, chunked)).status).toBe(413);
      expect(seen).toHaveLength(0);
    },
  );

  it("passes on a service's early answer-and-close as it is, never as 502 or 504", async () => {
    const refusing = await earlyRefusingService();
    const gateway = await startGateway({
      AUTH_URL: urlOf(auth),
      ORDERS_URL: urlOf(refusing),
      CATALOG_URL: urlOf(refusing),
    });
    try {
      const body = Buffer.alloc(BODY_LIMITS['orders'], ' ');
      const statuses = new Set<number>();
      for (let attempt = 0; attempt < 20; attempt++) {
        statuses.add((await post(gateway, '/api/orders', body, attempt % 2 === 1)).status);
      }
      expect([...statuses]).toEqual([413]);
    } finally {
      await gateway.close();
      refusing.close();
    }
  });

  it('sets Host and every X-Forwarded-* itself, dropping what the client claims', async () => {
    await request(app.getHttpServer())
      .get('/api/auth/session')
      .set('Host', hostLine(app).slice('Host: '.length).replace('127.0.0.1', 'LocalHost'))
      .set('X-Forwarded-For', '203.0.113.7')
      .set('X-Forwarded-Host', 'evil.example')
      .set('X-Forwarded-Proto', 'https')
      .set('X-Forwarded-Port', '443')
      .set('X-Real-IP', '203.0.113.8')
      .set('Forwarded', 'for=203.0.113.9;host=evil.example;proto=https')
      .expect(201);
    expectEdgeHeaders(seen[0].headers, /203\.0\.113|evil/);
  });

  it('sets Host and every X-Forwarded-* itself on a request with Expect: 100-continue too', async () => {
    const answer = await rawExchange(app, [
      'GET /api/auth/session HTTP/1.1',
      hostLine(app),
      'Expect: 100-continue',
      'X-Forwarded-For: 6.6.6.6',
      'X-Forwarded-Host: evil.example',
      'X-Forwarded-Proto: https',
      'X-Real-IP: 6.6.6.6',
      'Forwarded: for=6.6.6.6;host=evil.example;proto=https',
    ]);
    expect(answer.status).toBe(201);
    expectEdgeHeaders(seen[0].headers, /6\.6\.6\.6|evil/);
    expect(seen[0].headers['expect']).toBeUndefined();
  });

  it('forwards a body sent after 100 Continue, whole, and passes on the answer', async () => {
    const body = JSON.stringify({ username: 'alice', password: 'correct horse' });
    const answer = await rawExchange(
      app,
      [
        'POST /api/auth/login HTTP/1.1',
        hostLine(app),
        'Content-Type: application/json',
        `Content-Length: ${body.length}`,
        'Expect: 100-continue',
      ],
      body,
    );
    expect(answer.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    expect(answer.status).toBe(201);
    expect(answer.text).toContain('{"service":"auth"}');
    expect(seen).toHaveLength(1);
    expect(seen[0].bodyLength).toBe(body.length);
    expect(seen[0].bodyDigest).toBe(createHash('sha256').update(body).digest('hex'));
    expect(seen[0].headers['expect']).toBeUndefined();
  });

  it('drops hop-by-hop headers and those the client names in Connection', async () => {
    const answer = await rawExchange(app, [
      'GET /api/auth/session HTTP/1.1',
      hostLine(app),
      'Connection: X-Hop, Cookie',
      'X-Hop: 1',
      'Cookie: cr_session=abc',
      'Keep-Alive: timeout=5',
      'TE: trailers',
      'Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==',
      'Proxy-Connection: keep-alive',
      'Upgrade: h2c',
      'Authorization: Bearer cr1.kept',
    ]);
    expect(answer.status).toBe(201);
    const { headers } = seen[0];
    for (const name of [
      'x-hop',
      'cookie',
      'keep-alive',
      'te',
      'proxy-authorization',
      'proxy-connection',
      'upgrade',
    ]) {
      expect({ name, value: headers[name] }).toEqual({ name, value: undefined });
    }
    expect(headers['authorization']).toBe('Bearer cr1.kept');
  });

  it('adds nosniff, a Referrer-Policy and no-store to every /api answer, and no X-Powered-By', async () => {
    for (const path of ['/api/auth/session', '/api/catalog/products', '/api/nothing', '/']) {
      const response = await request(app.getHttpServer()).get(path);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['referrer-policy']).toBe('same-origin');
      expect(response.headers['x-powered-by']).toBeUndefined();
      expect(response.headers['strict-transport-security']).toBeUndefined();
      if (path !== '/') expect(response.headers['cache-control']).toBe('no-store');
    }
  });

  it('sends HSTS only where it is served over TLS (PUBLIC_URL https:)', async () => {
    const tls = await startGateway({
      AUTH_URL: urlOf(auth),
      ORDERS_URL: urlOf(orders),
      PUBLIC_URL: 'https://shop.example',
    });
    try {
      const page = await request(tls.getHttpServer()).get('/').expect(200);
      expect(page.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      await request(tls.getHttpServer()).get('/api/auth/session').expect(201);
      expect(seen[0].headers['x-forwarded-proto']).toBe('https');
      expect(seen[0].headers['x-forwarded-host']).toBe('shop.example');
    } finally {
      await tls.close();
    }
  });

  it('answers a JSON 502 when a service is down', async () => {
    const response = await request(app.getHttpServer()).get('/api/catalog/products');
    expect(response.status).toBe(502);
    expect(response.body).toEqual({ statusCode: 502, message: expect.stringContaining('catalog') });
  });

  it('serves the web page with security headers', async () => {
    const response = await request(app.getHttpServer()).get('/').expect(200);
    expect(response.text).toContain('<title>Cloakroom</title>');
    expect(response.headers['content-security-policy']).toContain("default-src 'self'");
    expect(response.headers['x-frame-options']).toBe('DENY');
    await request(app.getHttpServer())
      .get('/app.js')
      .expect('Content-Type', /javascript/);
  });

  it('reports each service on its health check: 503 while one is down', async () => {
    const response = await request(app.getHttpServer()).get('/api/gateway/health');
    expect(response.status).toBe(503);
    expect(response.body.details).toEqual({
      auth: { status: 'up' },
      orders: { status: 'up' },
      catalog: { status: 'down', message: 'unreachable' },
    });
  });

  it('refuses a path the proxy would forward as another (//, \\, dot segments, encoded / \\ ., a fragment) with a JSON 404, forwarding nothing', async () => {
    const { port } = app.getHttpServer().address() as AddressInfo;
    for (const path of [
      '/api/auth//metrics',
      '/api//auth/login',
      '/api\\auth/login',
      '/api/auth\\metrics',
      '/api/auth/./metrics',
      '/api/auth/x/../metrics',
      '/api/auth/%2e%2e/orders',
      '/api/auth%2fmetrics',
      '/api/auth/x%5cy',
      '/api/auth/session#x',
      '/api/auth/metrics#x',
    ]) {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET' }, (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end();
      });
      expect({ path, ...answer }).toEqual({
        path,
        status: 404,
        body: JSON.stringify({ statusCode: 404, message: 'Not Found' }),
      });
    }
    expect(seen).toEqual([]);
  });

  it('answers unknown paths with a JSON 404', async () => {
    const response = await request(app.getHttpServer()).get('/api/nothing');
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ statusCode: 404, message: expect.any(String) });
  });
});
