import { readFileSync } from 'node:fs';
import { INestApplication } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';
import { DataSource } from 'typeorm';

import {
  InMemorySessionStore,
  SESSION_ASSERTION_FIELD,
  SessionAssertions,
  SessionModule,
} from '@cloakroom/session';
import { startTcpRelay, TcpRelay, testKeyPrefix } from '@cloakroom/session/testing';

import { CatalogMessages } from '../src/app/products/products.messages';
import { randomSuffix, StandInAuth, startCatalogApp } from './catalog-app';

jest.setTimeout(60_000);

const ORIGIN = 'http://localhost:3000';
const suite = randomSuffix();
/** pg's default pool size, which the service keeps: more requests than this wait for a client. */
const POOL_SIZE = 10;

/**
 * PostgreSQL behind a relay the test holds: every byte either way waits there, on the
 * connections open and on new ones, as when the database host stalls. Sessions are auth's
 * business: they go on working all the while.
 */
describe('catalog while PostgreSQL does not answer', () => {
  let relay: TcpRelay;
  let auth: StandInAuth;
  let app: INestApplication;
  let rpc: ClientProxy;
  let orders: SessionAssertions;
  let adminCookie: string;

  beforeAll(async () => {
    relay = await startTcpRelay(5432);
    auth = await StandInAuth.started(
      'redis://127.0.0.1:6379',
      testKeyPrefix(`catalog-db-${suite}`),
    );
    app = await startCatalogApp({
      CATALOG_DATABASE_URL: `postgres://postgres@127.0.0.1:${relay.port}/test`,
      ...auth.clientEnv,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    adminCookie = await auth.login(app, {
      id: `admin-${suite}`,
      username: 'admin',
      roles: ['admin'],
    });
    rpc = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: {
        host: '127.0.0.1',
        port: auth.catalogRpcPort,
        tlsOptions: auth.certificates.remoteTls('orders'),
      },
    });
    const signer = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          store: new InMemorySessionStore(),
          assertions: {
            service: 'orders',
            signingKey: { kid: 'orders-1', privateKey: readFileSync(auth.ordersKeys.privateKey) },
          },
        }),
      ],
    }).compile();
    orders = signer.get(SessionAssertions);
  });

  afterAll(async () => {
    relay?.release();
    await rpc?.close();
    await app?.close();
    await auth?.dispose();
    await relay?.sever();
  });

  function createProduct(sku: string) {
    return request(app.getHttpServer())
      .post('/api/catalog/products')
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .send({ sku, name: 'Kettle', priceCents: 3100 });
  }

  /** How many products the database holds under `sku`, read past the service. */
  async function storedUnder(sku: string): Promise<number> {
    const rows: unknown[] = await app
      .get(DataSource)
      .query('SELECT 1 FROM products WHERE sku = $1', [sku]);
    return rows.length;
  }

  /** Resolves once the relay holds bytes that `sent` matches (a query reached the relay). */
  async function heldUntil(sent: (bytes: Buffer) => boolean): Promise<void> {
    while (!sent(relay.heldBytes())) {
      await new Promise((tick) => setTimeout(tick, 5));
    }
  }

  /** The public list, a product creation, the health check and a price quote, at once. */
  async function everyRoute() {
    const http = request(app.getHttpServer());
    const { session } = await auth.issue({
      id: `alice-${suite}`,
      username: 'alice',
      roles: ['customer'],
    });
    const [list, create, health, quote] = await Promise.all([
      http.get('/api/catalog/products'),
      http
        .post('/api/catalog/products')
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .send({ sku: `DB-${randomSuffix()}`, name: 'Kettle', priceCents: 3100 }),
      http.get('/api/catalog/health'),
      firstValueFrom(
        rpc.send<unknown>(CatalogMessages.prices, {
          skus: ['TEA-EARL-GREY'],
          [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog'),
        }),
      ).catch((error: unknown) => ({ refused: error })),
    ]);
    return { list, create, health, quote };
  }

  it('answers 503 database_unavailable on every route, never 500 nor a hang, and recovers by itself', async () => {
    await request(app.getHttpServer()).get('/api/catalog/products').expect(200);
    relay.hold();

    // More lists than the pool has clients: those waiting for one must not wait for ever either.
    const [stalled, ...queued] = await Promise.all([
      everyRoute(),
      ...Array.from({ length: POOL_SIZE + 2 }, () =>
        request(app.getHttpServer()).get('/api/catalog/products'),
      ),
    ]);
    const unavailable = {
      statusCode: 503,
      message: 'Database unavailable',
      error: 'database_unavailable',
    };
    expect(stalled.list.status).toBe(503);
    expect(stalled.list.body).toEqual(unavailable);
    expect(queued.map(({ status, body }) => ({ status, body }))).toEqual(
      queued.map(() => ({ status: 503, body: unavailable })),
    );
    expect(stalled.create.status).toBe(503);
    expect(stalled.create.body).toEqual(unavailable);
    expect(stalled.health.status).toBe(503);
    expect(stalled.health.body.details).toMatchObject({
      sessions: { status: 'up' },
      database: { status: 'down' },
    });
    expect(stalled.quote).toEqual({
      refused: { status: 503, message: 'Database unavailable', error: 'database_unavailable' },
    });

    relay.release();
    const back = await everyRoute();
    expect(back.list.status).toBe(200);
    expect(back.create.status).toBe(201);
    expect(back.health.status).toBe(200);
    expect(back.quote).toEqual([
      { sku: 'TEA-EARL-GREY', name: 'Earl Grey tea, 100 g', priceCents: 650 },
    ]);
  });

  it('answers 503 when PostgreSQL drops its connections mid-request, without storing the product, and serves the next request', async () => {
    const sku = `CUT-${randomSuffix()}`;
    await request(app.getHttpServer()).get('/api/catalog/health').expect(200);
    relay.hold();
    const http = request(app.getHttpServer());
    const answers = Promise.all([
      http.get('/api/catalog/products'),
      createProduct(sku),
      http.get('/api/catalog/health'),
    ]);
    await heldUntil(
      (bytes) =>
        bytes.includes(sku) && bytes.includes('FROM "products"') && bytes.includes('SELECT 1'),
    );
    relay.cut();
    const [list, create, health] = await answers;
    const unavailable = {
      statusCode: 503,
      message: 'Database unavailable',
      error: 'database_unavailable',
    };
    expect([list.status, list.body]).toEqual([503, unavailable]);
    expect([create.status, create.body]).toEqual([503, unavailable]);
    expect(health.status).toBe(503);
    expect(health.body.details).toMatchObject({ database: { status: 'down' } });

    // The INSERT never reached PostgreSQL: the retry creates the product, once.
    await createProduct(sku).expect(201);
    expect(await storedUnder(sku)).toBe(1);
    await request(app.getHttpServer()).get('/api/catalog/health').expect(200);
  });

  it('answers 503 to a creation whose answer is lost after PostgreSQL stored it, and 409 to its retry: stored once', async () => {
    const sku = `LOST-${randomSuffix()}`;
    relay.loseAnswer({ request: (bytes) => bytes.includes(sku) });
    const lost = await createProduct(sku);
    expect(relay.lost).toBe(1);
    expect(lost.status).toBe(503);
    expect(lost.body).toEqual({
      statusCode: 503,
      message: 'Database unavailable',
      error: 'database_unavailable',
    });

    const retry = await createProduct(sku);
    expect(retry.status).toBe(409);
    expect(await storedUnder(sku)).toBe(1);
  });
});
