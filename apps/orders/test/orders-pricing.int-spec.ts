import { readFileSync } from 'node:fs';
import {
  Controller,
  ExecutionContext,
  INestApplication,
  INestMicroservice,
  Injectable,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import request from 'supertest';

import { freePort, startTcpRelay, testKeyPrefix } from '@cloakroom/session/testing';
import {
  CurrentSession,
  Roles,
  Session,
  SessionGuard,
  SessionModule,
  SessionService,
  SessionUser,
} from '@cloakroom/session';
import { sessionRpcTransport } from '@cloakroom/session/rpc';

import { catalogLink, randomSuffix, sessionCookie, startOrdersApp } from './orders-app';

const ORIGIN = 'http://localhost:3000';
const suite = randomSuffix();
const keyPrefix = testKeyPrefix(`pricing-${suite}`);
const alice: SessionUser = { id: `alice-${suite}`, username: 'alice', roles: ['customer'] };

/** What the stand-in catalog was asked, and for whom. */
const asked: Array<{ skus: string[]; session: Session }> = [];
let answer: unknown = null;
/** When set, the stand-in refuses every message with this status after the library's checks. */
let refusal: 401 | 403 | null = null;

/** The library's guard, then a refusal a test asked for (a session revoked in between). */
@Injectable()
class RefusingGuard extends SessionGuard {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const allowed = await super.canActivate(context);
    if (refusal) throw this.refuseRpc(refusal, 'refused', 'Refused by the test');
    return allowed;
  }
}

@Controller()
class StandInCatalog {
  @MessagePattern('catalog.prices')
  @Roles('customer', 'admin')
  prices(@Payload() payload: { skus: string[] }, @CurrentSession() session: Session) {
    asked.push({ skus: payload.skus, session });
    return answer;
  }
}

/**
 * A stand-in for catalog's RPC: the same library guard, trusting orders' key, on the same
 * Redis as orders, over the same mutual TLS.
 */
async function startStandInCatalog(port: number): Promise<INestMicroservice> {
  const { certificates, keys } = catalogLink();
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({
        redis: { url: 'redis://127.0.0.1:6379' },
        keyPrefix,
        assertions: {
          service: 'catalog',
          trustedKeys: [
            { kid: 'orders-1', issuer: 'orders', publicKey: readFileSync(keys.publicKey) },
          ],
        },
      }),
    ],
    controllers: [StandInCatalog],
    providers: [{ provide: APP_GUARD, useClass: RefusingGuard }],
  }).compile();
  const server = certificates.servers['catalog'];
  const catalog = moduleRef.createNestMicroservice({
    ...sessionRpcTransport({
      host: '127.0.0.1',
      port,
      tls: {
        ca: readFileSync(certificates.ca),
        cert: readFileSync(server.cert),
        key: readFileSync(server.key),
      },
    }),
    logger: false,
  });
  await catalog.listen();
  return catalog;
}

describe("POST /api/orders/quote: prices from catalog, asked on the shopper's behalf", () => {
  let app: INestApplication;
  let catalog: INestMicroservice | undefined;
  let catalogPort: number;
  let http: ReturnType<typeof request>;

  const quote = (cookie: string, items: unknown) =>
    http.post('/api/orders/quote').set('Cookie', cookie).set('Origin', ORIGIN).send({ items });

  beforeAll(async () => {
    catalogPort = await freePort();
    catalog = await startStandInCatalog(catalogPort);
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: keyPrefix,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
      CATALOG_RPC_PORT: String(catalogPort),
      CATALOG_RPC_TIMEOUT: '1',
    });
    http = request(app.getHttpServer());
  });

  afterAll(async () => {
    await app?.close();
    await catalog?.close();
  });

  beforeEach(() => {
    asked.length = 0;
    refusal = null;
    answer = [
      { sku: 'TEA-1', name: 'Tea', priceCents: 650 },
      { sku: 'MUG-1', name: 'Mug', priceCents: 1200 },
    ];
  });

  it("prices the basket, lists unknown SKUs, and catalog saw the shopper's session", async () => {
    const cookie = await sessionCookie(app, alice);
    const response = await quote(cookie, [
      { sku: 'TEA-1', quantity: 3 },
      { sku: 'GONE-1', quantity: 1 },
      { sku: 'MUG-1', quantity: 1 },
    ]).expect(200);
    expect(response.body).toEqual({
      items: [
        { sku: 'TEA-1', quantity: 3, name: 'Tea', unitPriceCents: 650, priceCents: 1950 },
        { sku: 'MUG-1', quantity: 1, name: 'Mug', unitPriceCents: 1200, priceCents: 1200 },
      ],
      totalCents: 3150,
      unknownSkus: ['GONE-1'],
    });
    expect(asked).toHaveLength(1);
    expect(asked[0].skus).toEqual(['TEA-1', 'GONE-1', 'MUG-1']);
    expect(asked[0].session).toMatchObject({ userId: alice.id, username: 'alice' });
  });

  it('hands catalog the session as the store has it now, roles changed since login included', async () => {
    const user = { ...alice, id: `alice-roles-${suite}` };
    const cookie = await sessionCookie(app, user);
    await app.get(SessionService).setRolesForUser(user.id, ['customer', 'auditor']);
    await quote(cookie, [{ sku: 'TEA-1', quantity: 1 }]).expect(200);
    expect(asked.at(-1)?.session.roles).toEqual(['customer', 'auditor']);
  });

  it.each([
    [401, { statusCode: 401, message: 'Authentication required' }],
    [403, { statusCode: 403, message: 'Missing role' }],
  ] as const)('answers %i when catalog refuses the session with it', async (status, body) => {
    const cookie = await sessionCookie(app, alice);
    refusal = status;
    const response = await quote(cookie, [{ sku: 'TEA-1', quantity: 1 }]);
    expect(response.status).toBe(status);
    expect(response.body).toEqual(body);
    expect(asked).toEqual([]);
  });

  it('refuses a malformed basket before asking catalog', async () => {
    const cookie = await sessionCookie(app, alice);
    for (const items of [[], [{ sku: '../x', quantity: 1 }], 'x', [{ sku: 'A', quantity: 0 }]]) {
      const response = await quote(cookie, items);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
    }
    expect(asked).toEqual([]);
  });

  it('answers 401 without a session, and never asks catalog', async () => {
    await http
      .post('/api/orders/quote')
      .send({ items: [{ sku: 'TEA-1', quantity: 1 }] })
      .expect(401);
    expect(asked).toEqual([]);
  });

  it('answers 503 when catalog answers nonsense', async () => {
    const cookie = await sessionCookie(app, alice);
    answer = [{ sku: 'TEA-1', priceCents: 'free' }];
    const response = await quote(cookie, [{ sku: 'TEA-1', quantity: 1 }]).expect(503);
    expect(response.body).toEqual({
      statusCode: 503,
      message: 'Catalog unavailable',
      error: 'catalog_unavailable',
    });
  });

  it("prices the most an order holds at catalog's highest price exactly", async () => {
    const cookie = await sessionCookie(app, alice);
    const items = Array.from({ length: 50 }, (_, i) => ({ sku: `TOP-${i}`, quantity: 1000 }));
    answer = items.map(({ sku }) => ({ sku, name: 'Top', priceCents: 100_000_000 }));
    const response = await quote(cookie, items).expect(200);
    expect(response.body.totalCents).toBe(5_000_000_000_000);
    expect(
      response.body.items.every((line: { priceCents: number }) => line.priceCents === 1e11),
    ).toBe(true);
  });

  it.each([
    ['a line past 2^53', [{ sku: 'BIG-0', quantity: 2 }], Number.MAX_SAFE_INTEGER],
    [
      'safe lines whose total is past 2^53',
      Array.from({ length: 50 }, (_, i) => ({ sku: `BIG-${i}`, quantity: 1000 })),
      200_000_000_000,
    ],
    ['a negative price', [{ sku: 'BIG-0', quantity: 1 }], -1],
  ])('answers 503, never a rounded or negative amount, to %s', async (_case, items, priceCents) => {
    const cookie = await sessionCookie(app, alice);
    answer = items.map(({ sku }) => ({ sku, name: 'Big', priceCents }));
    const response = await quote(cookie, items);
    expect(response.status).toBe(503);
    expect(response.body).toEqual({
      statusCode: 503,
      message: 'Catalog unavailable',
      error: 'catalog_unavailable',
    });
  });

  it('answers 400 to SKUs that differ only in case, one product to catalog, before asking it', async () => {
    const cookie = await sessionCookie(app, alice);
    const response = await quote(cookie, [
      { sku: 'UMBRELLA', quantity: 1 },
      { sku: 'umbrella', quantity: 1 },
    ]);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      statusCode: 400,
      message: 'items must name each sku once (SKUs ignore case)',
    });
    expect(asked).toEqual([]);
  });

  it("prices lines spelled in another case than catalog's, under catalog's spelling", async () => {
    const cookie = await sessionCookie(app, alice);
    answer = [
      { sku: 'UMBRELLA', name: 'Folding umbrella', priceCents: 2450 },
      { sku: 'TEA-1', name: 'Tea', priceCents: 650 },
    ];
    const response = await quote(cookie, [
      { sku: 'umbrella', quantity: 2 },
      { sku: 'Gone-1', quantity: 1 },
      { sku: 'tEA-1', quantity: 1 },
    ]).expect(200);
    expect(response.body).toEqual({
      items: [
        {
          sku: 'UMBRELLA',
          quantity: 2,
          name: 'Folding umbrella',
          unitPriceCents: 2450,
          priceCents: 4900,
        },
        { sku: 'TEA-1', quantity: 1, name: 'Tea', unitPriceCents: 650, priceCents: 650 },
      ],
      totalCents: 5550,
      unknownSkus: ['Gone-1'],
    });
    // Catalog is asked as the basket spells them: it matches them in any case itself.
    expect(asked[0].skus).toEqual(['umbrella', 'Gone-1', 'tEA-1']);
  });

  it("prices the most lines an order holds, each spelled in another case than catalog's", async () => {
    const cookie = await sessionCookie(app, alice);
    const items = Array.from({ length: 50 }, (_, i) => ({ sku: `top-${i}`, quantity: 2 }));
    answer = items.map(({ sku }, i) => ({ sku: sku.toUpperCase(), name: 'Top', priceCents: i }));
    const response = await quote(cookie, items).expect(200);
    expect(response.body.unknownSkus).toEqual([]);
    expect(response.body.items).toEqual(
      items.map(({ sku }, i) => ({
        sku: sku.toUpperCase(),
        quantity: 2,
        name: 'Top',
        unitPriceCents: i,
        priceCents: 2 * i,
      })),
    );
    expect(response.body.totalCents).toBe(2 * ((49 * 50) / 2));
  });

  it('answers 503 when catalog prices one SKU twice, in two cases', async () => {
    const cookie = await sessionCookie(app, alice);
    answer = [
      { sku: 'UMBRELLA', name: 'Folding umbrella', priceCents: 2450 },
      { sku: 'umbrella', name: 'Cheap umbrella', priceCents: 1 },
    ];
    const response = await quote(cookie, [{ sku: 'Umbrella', quantity: 1 }]);
    expect(response.status).toBe(503);
    expect(response.body).toEqual({
      statusCode: 503,
      message: 'Catalog unavailable',
      error: 'catalog_unavailable',
    });
  });

  it('answers 503 while catalog is down, and prices again once it is back', async () => {
    const cookie = await sessionCookie(app, alice);
    await catalog?.close();
    catalog = undefined;
    const down = await quote(cookie, [{ sku: 'TEA-1', quantity: 1 }]);
    expect(down.status).toBe(503);
    expect(down.body.error).toBe('catalog_unavailable');
    catalog = await startStandInCatalog(catalogPort);
    let status = 0;
    for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
      status = (await quote(cookie, [{ sku: 'TEA-1', quantity: 1 }])).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
  });

  it("prices again within seconds when catalog's host dies without closing the connection", async () => {
    // Nothing passes a stranded connection and nothing closes it; a new one reaches catalog
    // (another catalog took over the address).
    const relay = await startTcpRelay(catalogPort);
    const throughRelay = await startOrdersApp({
      ORDERS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: keyPrefix,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
      CATALOG_RPC_PORT: String(relay.port),
      CATALOG_RPC_TIMEOUT: '1',
    });
    try {
      const cookie = await sessionCookie(throughRelay, alice);
      const ask = () =>
        request(throughRelay.getHttpServer())
          .post('/api/orders/quote')
          .set('Cookie', cookie)
          .set('Origin', ORIGIN)
          .send({ items: [{ sku: 'TEA-1', quantity: 1 }] });
      expect((await ask()).status).toBe(200);
      relay.strand();
      const started = Date.now();
      expect((await ask()).status).toBe(503);
      // Silent for 2 s (twice the 1 s timeout) with a quote given up: dropped, and the next
      // quote connects again.
      let status = 0;
      while (status !== 200 && Date.now() - started < 8_000) {
        status = (await ask()).status;
      }
      expect(status).toBe(200);
    } finally {
      await throughRelay.close();
      await relay.sever();
    }
  }, 20_000);
});
