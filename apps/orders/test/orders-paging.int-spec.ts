import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { OrdersService } from '../src/app/orders/orders.service';
import { randomSuffix, sessionCookie, startOrdersApp } from './orders-app';

interface ListedOrder {
  id: string;
  userId: string;
  createdAt: string;
}

const dir = mkdtempSync(join(tmpdir(), 'orders-paging-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each([
  ['PostgreSQL', 'postgres://postgres@127.0.0.1:5432/test'],
  ['SQLite', `sqlite:${join(dir, 'orders.sqlite')}`],
])('GET /api/orders?limit=&cursor= (%s)', (_database, databaseUrl) => {
  const suite = randomSuffix();
  const walker: SessionUser = { id: `walker-${suite}`, username: 'walker', roles: ['customer'] };
  const other: SessionUser = { id: `other-${suite}`, username: 'other', roles: ['customer'] };
  const admin: SessionUser = { id: `admin-${suite}`, username: 'admin', roles: ['admin'] };
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  let orders: OrdersService;
  const cookies: Record<string, string> = {};
  /** The walker's orders placed before any walk, newest first as the service sorts them. */
  let existing: string[];

  beforeAll(async () => {
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: databaseUrl,
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-paging-${suite}`),
    });
    http = request(app.getHttpServer());
    orders = app.get(OrdersService);
    for (const user of [walker, other, admin]) {
      cookies[user.id] = await sessionCookie(app, user);
    }
    // In bursts of 10: many orders share a millisecond, so the id must break the ties.
    for (let burst = 0; burst < 12; burst++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          orders.place(walker, { items: [{ sku: `W-${burst}-${i}`, quantity: 1 }] }),
        ),
      );
    }
    await orders.place(other, { items: [{ sku: 'O-1', quantity: 1 }] });
    existing = (await orders.list(walker, { limit: 200 })).items.map((order) => order.id);
  });

  afterAll(async () => {
    await app?.close();
  });

  function get(user: SessionUser, query: string) {
    return http.get(`/api/orders${query}`).set('Cookie', cookies[user.id]);
  }

  /** Follows `Link: rel="next"` from `first` to the end; `between` runs while each page loads. */
  async function walk(user: SessionUser, first: string, between?: () => Promise<unknown>) {
    const pages: ListedOrder[][] = [];
    let next: string | null = first;
    while (next) {
      const [response] = await Promise.all([get(user, next), between?.()]);
      expect(response.status).toBe(200);
      pages.push(response.body);
      const link = response.headers['link'] as string | undefined;
      next = (link && /^<\/api\/orders(\?[^>]+)>; rel="next"$/.exec(link)?.[1]) || null;
    }
    return pages;
  }

  it('walks all pages while orders are placed, without a duplicate or a skipped order', async () => {
    let placed = 0;
    const pages = await walk(walker, '?limit=25', () =>
      Promise.all(
        Array.from({ length: 3 }, () =>
          orders.place(walker, { items: [{ sku: `NEW-${placed++}`, quantity: 1 }] }),
        ),
      ),
    );
    const seen = pages.flat().map((order) => order.id);
    expect(placed).toBeGreaterThan(0);
    expect(new Set(seen).size).toBe(seen.length);
    // Every order that existed before the walk, in order; those placed during it are newer
    // than the first page's cursor, so they can only show up on the first page.
    const before = new Set(existing);
    expect(seen.filter((id) => before.has(id))).toEqual(existing);
    expect(seen.slice(25).every((id) => before.has(id))).toBe(true);
    expect(pages.slice(0, -1).every((page) => page.length === 25)).toBe(true);
  });

  it('lists newest first, ties on the same instant broken by id', async () => {
    const [page] = await walk(walker, '?limit=200');
    for (let i = 1; i < page.length; i++) {
      const [before, after] = [page[i - 1], page[i]];
      const order = Date.parse(before.createdAt) - Date.parse(after.createdAt);
      expect(order > 0 || (order === 0 && before.id > after.id)).toBe(true);
    }
  });

  it('answers 50 orders by default with a Link to the rest, and no Link on the last page', async () => {
    const first = await get(walker, '').expect(200);
    expect(first.body).toHaveLength(50);
    expect(first.headers['link']).toMatch(/^<\/api\/orders\?cursor=[A-Za-z0-9_-]+>; rel="next"$/);
    const all = await get(walker, '?limit=200').expect(200);
    expect(all.body.length).toBeGreaterThanOrEqual(120);
    expect(all.body.length).toBeLessThanOrEqual(200);
    if (all.body.length < 200) {
      expect(all.headers['link']).toBeUndefined();
    }
  });

  it('links the next page by its path alone, whatever form the request target took', async () => {
    // An absolute-form target (`GET http://evil.example/api/orders`) must not put its host in
    // the Link a client follows.
    const server = app.getHttpServer() as Server;
    if (!server.listening) {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    const { port } = server.address() as AddressInfo;
    const link = await new Promise<string>((resolve, reject) => {
      const sent = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: 'http://evil.example/api/orders?limit=1',
          headers: { Cookie: cookies[walker.id], Connection: 'close' },
        },
        (response) => {
          response.resume();
          resolve(String(response.headers['link']));
        },
      );
      sent.on('error', reject).end();
    });
    expect(link).toMatch(/^<\/api\/orders\?cursor=[A-Za-z0-9_-]+&limit=1>; rel="next"$/);
  });

  it("pages a customer's own orders only, whatever the cursor", async () => {
    const pages = await walk(other, '?limit=1');
    expect(pages.flat().map((order) => order.userId)).toEqual([other.id]);
    const link: string = (await get(walker, '?limit=1')).headers['link'];
    const walkerCursor = /cursor=([^&>]+)/.exec(link)?.[1];
    expect(walkerCursor).toBeDefined();
    const response = await get(other, `?cursor=${walkerCursor}`).expect(200);
    expect(response.body.every((order: ListedOrder) => order.userId === other.id)).toBe(true);
  });

  it("pages every user's orders to an admin", async () => {
    const pages = await walk(admin, '?limit=200');
    const ids = new Set(pages.flat().map((order) => order.id));
    expect(existing.every((id) => ids.has(id))).toBe(true);
    expect(pages.flat().some((order) => order.userId === other.id)).toBe(true);
  });

  it('accepts limit=1 and limit=200', async () => {
    expect((await get(walker, '?limit=1').expect(200)).body).toHaveLength(1);
    await orders.place(walker, { items: [{ sku: 'MORE', quantity: 1 }] });
    while ((await orders.list(walker, { limit: 200 })).items.length < 200) {
      await Promise.all(
        Array.from({ length: 10 }, () =>
          orders.place(walker, { items: [{ sku: 'M', quantity: 1 }] }),
        ),
      );
    }
    const response = await get(walker, '?limit=200').expect(200);
    expect(response.body).toHaveLength(200);
    expect(response.headers['link']).toBeDefined();
  });

  it.each(['0', '201', '-1', '1.5', '1e2', 'ten', '', '10&limit=20', '99999999999'])(
    'answers 400, not 500, to limit=%s',
    async (limit) => {
      const response = await get(walker, `?limit=${limit}`);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
    },
  );

  it.each([
    ['garbage', 'garbage!'],
    ['base64url of junk', Buffer.from('junk').toString('base64url')],
    [
      'a pair with an injected id',
      Buffer.from(`["2026-01-01T00:00:00.000Z","' OR 1=1 --"]`).toString('base64url'),
    ],
    ['an object', Buffer.from('{"createdAt":0}').toString('base64url')],
    ['a huge value', 'A'.repeat(10_000)],
    ['a repeated parameter', 'a&cursor=b'],
    ['empty (a null `next` sent as text)', ''],
  ])('answers 400, not 500, to a cursor that is %s', async (_case, cursor) => {
    const response = await get(walker, `?cursor=${cursor}`);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
  });

  it('answers 400 to an unknown query parameter', async () => {
    await get(walker, '?offset=10').expect(400);
  });
});
