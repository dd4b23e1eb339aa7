import { createHash } from 'node:crypto';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import request from 'supertest';

import { configureServiceApp } from '@cloakroom/service-kit';

import { AppModule } from '../src/app/app.module';
import { gatewayService } from '../src/app/app.setup';

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

function urlOf(server: Server): string {
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
    const gateway = AppModule.forRoot({
      AUTH_URL: urlOf(auth),
      ORDERS_URL: urlOf(orders),
      // Nothing listens there: the catalog is down for the whole suite.
      CATALOG_URL: 'http://127.0.0.1:9',
    });
    const moduleRef = await Test.createTestingModule({ imports: [gateway] }).compile();
    app = moduleRef.createNestApplication<NestExpressApplication>({
      bodyParser: false,
      logger: false,
    });
    configureServiceApp(app, gatewayService(join(__dirname, '..', 'src', 'assets', 'web')));
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    auth?.close();
    orders?.close();
  });

  beforeEach(() => {
    seen.length = 0;
  });

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

  it('routes each prefix to its own service', async () => {
    const response = await request(app.getHttpServer()).post('/api/orders').send({}).expect(201);
    expect(response.body).toEqual({ service: 'orders' });
    expect(seen[0].url).toBe('/api/orders');
  });

  it('does not take a longer prefix for a service', async () => {
    await request(app.getHttpServer()).get('/api/authority').expect(404);
    expect(seen).toHaveLength(0);
  });

  it('streams a large body through byte for byte', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 'cloakroom');
    await request(app.getHttpServer())
      .post('/api/orders')
      .set('Content-Type', 'application/octet-stream')
      .send(body)
      .expect(201);
    expect(seen[0].bodyLength).toBe(body.length);
    expect(seen[0].bodyDigest).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('sets X-Forwarded-For to the client address, ignoring what the client claims', async () => {
    await request(app.getHttpServer())
      .get('/api/auth/session')
      .set('X-Forwarded-For', '203.0.113.7')
      .expect(201);
    expect(seen[0].headers['x-forwarded-for']).toMatch(/127\.0\.0\.1$/);
    expect(seen[0].headers['x-forwarded-for']).not.toContain('203.0.113.7');
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

  it('answers unknown paths with a JSON 404', async () => {
    const response = await request(app.getHttpServer()).get('/api/nothing');
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ statusCode: 404, message: expect.any(String) });
  });
});
