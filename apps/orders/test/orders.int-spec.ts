import { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { SessionService, SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { randomSuffix, sessionCookie, startOrdersApp } from './orders-app';

const ORIGIN = 'http://localhost:3000';
const suite = randomSuffix();
const alice: SessionUser = { id: `alice-${suite}`, username: 'alice', roles: ['customer'] };
const bob: SessionUser = { id: `bob-${suite}`, username: 'bob', roles: ['customer'] };
const admin: SessionUser = { id: `admin-${suite}`, username: 'admin', roles: ['admin'] };
const auditor: SessionUser = { id: `auditor-${suite}`, username: 'audit', roles: ['auditor'] };

describe('orders (PostgreSQL, Redis)', () => {
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  const cookies: Record<string, string> = {};

  beforeAll(async () => {
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-${suite}`),
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    http = request(app.getHttpServer());
    for (const user of [alice, bob, admin, auditor]) {
      cookies[user.username] = await sessionCookie(app, user);
    }
  });

  afterAll(async () => {
    await app?.close();
  });

  function place(cookie: string, body: unknown) {
    return http
      .post('/api/orders')
      .set('Cookie', cookie)
      .set('Origin', ORIGIN)
      .send(body as object);
  }

  describe('anonymous', () => {
    it.each([
      ['GET', '/api/orders'],
      ['POST', '/api/orders'],
      ['GET', '/api/orders/00000000-0000-4000-8000-000000000000'],
    ])('%s %s answers 401', async (method, path) => {
      const response = await http[method === 'GET' ? 'get' : 'post'](path);
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ statusCode: 401, message: expect.any(String) });
    });

    it('answers 401 to a malformed or unknown token, in a cookie or a bearer header', async () => {
      const name = cookies['alice'].split('=')[0];
      await http.get('/api/orders').set('Cookie', `${name}=nonsense`).expect(401);
      await http.get('/api/orders').set('Authorization', 'Bearer nonsense').expect(401);
    });

    it('can read the health check, which reports Redis and the database', async () => {
      const response = await http.get('/api/orders/health').expect(200);
      expect(response.body.details).toEqual({
        sessions: { status: 'up' },
        database: { status: 'up' },
      });
    });
  });

  describe('POST /api/orders', () => {
    it('lets a customer place an order: 201 with id, userId, items, createdAt', async () => {
      const items = [
        { sku: 'TEA-01', quantity: 2 },
        { sku: 'MUG-02', quantity: 1 },
      ];
      const response = await place(cookies['alice'], { items }).expect(201);
      expect(response.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        userId: alice.id,
        items,
        createdAt: expect.any(String),
      });
      expect(Number.isNaN(Date.parse(response.body.createdAt))).toBe(false);
    });

    it('accepts a bearer token without an Origin header', async () => {
      const token = cookies['bob'].split('=')[1];
      await http
        .post('/api/orders')
        .set('Authorization', `Bearer ${token}`)
        .send({ items: [{ sku: 'PEN-03', quantity: 5 }] })
        .expect(201);
    });

    it('refuses a cookie-authenticated order from a foreign origin with 403', async () => {
      const response = await http
        .post('/api/orders')
        .set('Cookie', cookies['alice'])
        .set('Origin', 'https://evil.example')
        .send({ items: [{ sku: 'TEA-01', quantity: 1 }] });
      expect(response.status).toBe(403);
    });

    it('refuses an admin with 403: placing orders is for customers', async () => {
      const response = await place(cookies['admin'], { items: [{ sku: 'TEA-01', quantity: 1 }] });
      expect(response.status).toBe(403);
      expect(response.body).toEqual({ statusCode: 403, message: expect.any(String) });
    });

    it.each([
      ['no items', {}],
      ['an empty list', { items: [] }],
      ['items that are not a list', { items: 'TEA-01' }],
      ['a zero quantity', { items: [{ sku: 'TEA-01', quantity: 0 }] }],
      ['a fractional quantity', { items: [{ sku: 'TEA-01', quantity: 1.5 }] }],
      ['a quantity as a string', { items: [{ sku: 'TEA-01', quantity: '2' }] }],
      ['a missing sku', { items: [{ quantity: 1 }] }],
      ['a sku with spaces', { items: [{ sku: 'TEA 01', quantity: 1 }] }],
      ['an unknown field', { items: [{ sku: 'TEA-01', quantity: 1 }], total: 1 }],
      ['an unknown item field', { items: [{ sku: 'TEA-01', quantity: 1, price: 0 }] }],
      ['a null item', { items: [null] }],
      [
        'an item that is a list',
        { items: [{ sku: 'TEA-01', quantity: 1 }, [{ sku: 'X', quantity: 1 }]] },
      ],
      ['an empty list as item', { items: [[]] }],
      ['an item that is a string', { items: ['TEA-01'] }],
    ])('answers 400, not 500, to %s', async (_case, body) => {
      const response = await place(cookies['alice'], body);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
    });

    it.each([
      [
        'one sku on two lines',
        [
          { sku: 'DUP-A', quantity: 1 },
          { sku: 'DUP-A', quantity: 2 },
        ],
      ],
      [
        'one sku on two lines of many',
        [
          { sku: 'DUP-B', quantity: 1 },
          { sku: 'DUP-C', quantity: 1 },
          { sku: 'DUP-D', quantity: 1 },
          { sku: 'DUP-C', quantity: 1 },
        ],
      ],
      [
        'one line twice',
        [
          { sku: 'DUP-E', quantity: 1 },
          { sku: 'DUP-E', quantity: 1 },
        ],
      ],
    ])('answers 400 to %s, and places nothing', async (_case, items) => {
      const response = await place(cookies['alice'], { items });
      expect(response.status).toBe(400);
      expect(response.body).toEqual({
        statusCode: 400,
        message: expect.stringContaining('items must name each sku once'),
      });
      const mine = await http.get('/api/orders?limit=200').set('Cookie', cookies['alice']);
      expect(JSON.stringify(mine.body)).not.toContain(items[0].sku);
    });

    it.each([
      ['UMBRELLA', 'umbrella'],
      ['CASE-a', 'CASE-A'],
      ['Tea-01', 'tEA-01'],
    ])(
      "answers 400 to %s and %s on two lines, catalog's one product, and places nothing",
      async (first, second) => {
        const items = [
          { sku: first, quantity: 1 },
          { sku: 'OTHER-1', quantity: 1 },
          { sku: second, quantity: 2 },
        ];
        const response = await place(cookies['alice'], { items });
        expect(response.status).toBe(400);
        expect(response.body).toEqual({
          statusCode: 400,
          message: 'items must name each sku once (SKUs ignore case)',
        });
        const mine = await http.get('/api/orders?limit=200').set('Cookie', cookies['alice']);
        expect(JSON.stringify(mine.body)).not.toContain(first);
      },
    );

    it.each([
      ['empty objects', '{}'],
      ['numbers', '7'],
    ])(
      'refuses a body of 100 KiB of %s as items, naming no line past the cap',
      async (_case, item) => {
        // ~33,000 items: each one named in the error made a 900 KB answer.
        const items = Array.from({ length: 33_000 }, () => item).join(',');
        const response = await http
          .post('/api/orders')
          .set('Cookie', cookies['alice'])
          .set('Origin', ORIGIN)
          .set('Content-Type', 'application/json')
          .send(`{"items":[${items}]}`);
        expect(response.status).toBe(400);
        expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
        expect(response.body.message).not.toMatch(/items\.(5[1-9]|[6-9]\d|\d{3,})\./);
        expect(JSON.stringify(response.body).length).toBeLessThan(16 * 1024);
      },
    );

    it('answers 400 to a body that is not JSON', async () => {
      const response = await http
        .post('/api/orders')
        .set('Cookie', cookies['alice'])
        .set('Origin', ORIGIN)
        .set('Content-Type', 'application/json')
        .send('{"items": [');
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
    });
  });

  describe('reading orders', () => {
    let aliceOrder: string;
    let bobOrder: string;

    beforeAll(async () => {
      aliceOrder = (await place(cookies['alice'], { items: [{ sku: 'A-1', quantity: 1 }] })).body
        .id;
      bobOrder = (await place(cookies['bob'], { items: [{ sku: 'B-1', quantity: 1 }] })).body.id;
    });

    it('lists only her own orders to a customer', async () => {
      const response = await http.get('/api/orders').set('Cookie', cookies['alice']).expect(200);
      const ids = response.body.map((order: { id: string }) => order.id);
      expect(ids).toContain(aliceOrder);
      expect(ids).not.toContain(bobOrder);
      expect(response.body.every((order: { userId: string }) => order.userId === alice.id)).toBe(
        true,
      );
    });

    it('lists every order to an admin', async () => {
      const response = await http.get('/api/orders').set('Cookie', cookies['admin']).expect(200);
      const ids = response.body.map((order: { id: string }) => order.id);
      expect(ids).toEqual(expect.arrayContaining([aliceOrder, bobOrder]));
    });

    it('refuses a session without customer or admin role with 403', async () => {
      await http.get('/api/orders').set('Cookie', cookies['audit']).expect(403);
    });

    it("answers 404 to a session without customer or admin role reading someone's order", async () => {
      const response = await http.get(`/api/orders/${aliceOrder}`).set('Cookie', cookies['audit']);
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ statusCode: 404, message: expect.any(String) });
    });

    it('shows an order to its owner', async () => {
      const response = await http
        .get(`/api/orders/${aliceOrder}`)
        .set('Cookie', cookies['alice'])
        .expect(200);
      expect(response.body).toMatchObject({ id: aliceOrder, userId: alice.id });
    });

    it("answers 404 to another customer's order, as if it did not exist", async () => {
      const response = await http.get(`/api/orders/${aliceOrder}`).set('Cookie', cookies['bob']);
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ statusCode: 404, message: expect.any(String) });
    });

    it('shows any order to an admin', async () => {
      await http.get(`/api/orders/${bobOrder}`).set('Cookie', cookies['admin']).expect(200);
    });

    it('answers 404 to an unknown or malformed order id', async () => {
      await http
        .get('/api/orders/00000000-0000-4000-8000-000000000000')
        .set('Cookie', cookies['alice'])
        .expect(404);
      await http.get("/api/orders/1' OR '1'='1").set('Cookie', cookies['alice']).expect(404);
    });
  });

  describe('session changes', () => {
    it('answers 401 once the session is revoked', async () => {
      const user: SessionUser = { id: `carol-${suite}`, username: 'carol', roles: ['customer'] };
      const cookie = await sessionCookie(app, user);
      await http.get('/api/orders').set('Cookie', cookie).expect(200);
      await app.get(SessionService).revoke(cookie.split('=')[1]);
      await http.get('/api/orders').set('Cookie', cookie).expect(401);
    });

    it('applies new roles on the next request', async () => {
      const user: SessionUser = { id: `dave-${suite}`, username: 'dave', roles: ['customer'] };
      const cookie = await sessionCookie(app, user);
      const placed = await place(cookie, { items: [{ sku: 'D-1', quantity: 1 }] }).expect(201);
      await app.get(SessionService).setRolesForUser(user.id, ['auditor']);
      await place(cookie, { items: [{ sku: 'D-1', quantity: 1 }] }).expect(403);
      await http.get('/api/orders').set('Cookie', cookie).expect(403);
      // An order is its owner's to read whatever their roles (DESIGN: owner or admin).
      await http.get(`/api/orders/${placed.body.id}`).set('Cookie', cookie).expect(200);
      const other = await place(cookies['bob'], { items: [{ sku: 'D-2', quantity: 1 }] }).expect(
        201,
      );
      await http.get(`/api/orders/${other.body.id}`).set('Cookie', cookie).expect(404);
    });
  });
});
