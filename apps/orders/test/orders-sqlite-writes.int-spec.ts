import { mkdtempSync, rmSync } from 'node:fs';
import { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication, Logger } from '@nestjs/common';
import Database from 'better-sqlite3';
import { DataSource } from 'typeorm';

import { SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { Order } from '../src/app/orders/entities/order.entity';
import { OrdersService } from '../src/app/orders/orders.service';
import { eventually, openLiveSocket } from './live-socket';
import { randomSuffix, sessionCookie, startOrdersApp } from './orders-app';

const ORIGIN = 'http://localhost:3000';
/** A SKU whose insert the test's trigger fails, as a full disk or an I/O error would. */
const FAILING_SKU = 'WRITE-FAILS';

const dir = mkdtempSync(join(tmpdir(), 'orders-sqlite-writes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * TypeORM's SQLite drivers run every query of the service on one connection: a write that
 * opened a transaction there took in every other request's writes until it ended. An order
 * answered 201 then sat uncommitted in another request's transaction (a crash lost it), and
 * was rolled back with it when that request's write failed.
 */
describe('orders on SQLite under concurrent writes', () => {
  const file = join(dir, 'orders.sqlite');
  const suite = randomSuffix();
  const users: SessionUser[] = Array.from({ length: 5 }, (_, i) => ({
    id: `writer${i}-${suite}`,
    username: `writer${i}`,
    roles: ['customer'],
  }));
  /** Whose orders the HTTP test places: no one else's orders in their lists. */
  const shoppers: SessionUser[] = users.map((user) => ({ ...user, id: `shopper-${user.id}` }));
  const admin: SessionUser = { id: `admin-${suite}`, username: 'admin', roles: ['admin'] };
  let app: INestApplication;
  let orders: OrdersService;
  let base: string;
  const cookies: Record<string, string> = {};
  let errors: jest.SpyInstance;

  beforeAll(async () => {
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: `sqlite:${file}`,
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-sqlite-writes-${suite}`),
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    const server = app.getHttpServer() as Server;
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    orders = app.get(OrdersService);
    for (const user of [...users, ...shoppers, admin]) {
      cookies[user.id] = await sessionCookie(app, user);
    }
    await app
      .get(DataSource)
      .query(
        `CREATE TRIGGER orders_write_fails BEFORE INSERT ON orders ` +
          `WHEN NEW.items LIKE '%${FAILING_SKU}%' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
      );
  });

  beforeEach(() => {
    errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => errors.mockRestore());

  afterAll(async () => {
    await app?.close();
  });

  /** The ids committed to the file, as another process (or the service after a crash) reads them. */
  function committed(): Set<string> {
    const reader = new Database(file, { readonly: true });
    try {
      const rows = reader.prepare('SELECT id FROM orders').all() as { id: string }[];
      return new Set(rows.map((row) => row.id));
    } finally {
      reader.close();
    }
  }

  async function ticks(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await Promise.resolve();
  }

  function placeAfter(count: number, user: SessionUser, sku: string): Promise<Order> {
    return ticks(count)
      .then(() => orders.place(user, { items: [{ sku, quantity: 1 }] }))
      .then(({ order }) => order);
  }

  it('has each order committed when it answers it, whatever the interleaving', async () => {
    const uncommitted: string[] = [];
    for (let offset = 0; offset < 40; offset++) {
      await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          placeAfter(i * offset, users[i], `NOW-${offset}-${i}`).then((order) => {
            // Synchronously, before anything else of the service runs.
            if (!committed().has(order.id)) uncommitted.push(order.id);
          }),
        ),
      );
    }
    expect(uncommitted).toEqual([]);
  });

  it('keeps every order it answered when a concurrent write fails, at any offset', async () => {
    const lost: string[] = [];
    for (let offset = 0; offset < 40; offset++) {
      const results = await Promise.allSettled([
        placeAfter(0, users[0], FAILING_SKU),
        ...Array.from({ length: 3 }, (_, i) => placeAfter(offset + i, users[i + 1], `OK-${i}`)),
      ]);
      expect(results[0].status).toBe('rejected');
      const stored = committed();
      for (const result of results.slice(1)) {
        expect(result.status).toBe('fulfilled');
        const { id } = (result as PromiseFulfilledResult<Order>).value;
        if (!stored.has(id)) lost.push(id);
      }
    }
    expect(lost).toEqual([]);
  });

  it('lists every order answered 201 exactly once after 200 concurrent POSTs, GraphQL mutations and socket reads, some writes failing', async () => {
    const sockets = shoppers.map((user) =>
      openLiveSocket(`ws://${base}/api/orders/ws`, { Cookie: cookies[user.id], Origin: ORIGIN }),
    );
    await Promise.all(sockets.map((socket) => socket.opened));
    const before = committed();
    const placed: { id: string; userId: string }[] = [];
    const post = (path: string, user: SessionUser, body: unknown) =>
      fetch(`http://${base}${path}`, {
        method: 'POST',
        headers: { Cookie: cookies[user.id], Origin: ORIGIN, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    const rest = Array.from({ length: 200 }, async (_, i) => {
      const sku = i % 25 === 7 ? FAILING_SKU : `REST-${i}`;
      const response = await post('/api/orders', shoppers[i % shoppers.length], {
        items: [{ sku, quantity: 1 }],
      });
      if (sku === FAILING_SKU) {
        expect(response.status).toBe(500);
      } else {
        expect(response.status).toBe(201);
        placed.push((await response.json()) as Order);
      }
    });
    const graphql = Array.from({ length: 40 }, async (_, i) => {
      const query = `mutation { placeOrder(items: [{ sku: "GQL-${i}", quantity: 2 }]) { id userId } }`;
      const response = await post('/api/orders/graphql', shoppers[i % shoppers.length], { query });
      const body = (await response.json()) as { data: { placeOrder: Order } };
      placed.push(body.data.placeOrder);
    });
    for (const socket of sockets) {
      socket.ws.send(JSON.stringify({ event: 'recent' }));
    }
    await Promise.all([...rest, ...graphql]);
    expect(placed).toHaveLength(232);

    /** Every order a user sees, following the `Link` cursor from page to page. */
    async function walk(user: SessionUser, limit: number): Promise<string[]> {
      const seen: string[] = [];
      let next: string | null = `/api/orders?limit=${limit}`;
      while (next) {
        const response: Response = await fetch(`http://${base}${next}`, {
          headers: { Cookie: cookies[user.id] },
        });
        expect(response.status).toBe(200);
        seen.push(...((await response.json()) as Order[]).map((order) => order.id));
        next = /^<([^>]+)>; rel="next"$/.exec(response.headers.get('link') ?? '')?.[1] ?? null;
      }
      return seen;
    }

    const everyone = await walk(admin, 17);
    expect(new Set(everyone).size).toBe(everyone.length);
    expect(everyone.filter((id) => !before.has(id)).sort()).toEqual(
      placed.map((order) => order.id).sort(),
    );
    const stored = committed();
    expect(placed.filter((order) => !stored.has(order.id))).toEqual([]);
    for (const [index, user] of shoppers.entries()) {
      const own = placed.filter((order) => order.userId === user.id).map((order) => order.id);
      expect((await walk(user, 4)).sort()).toEqual(own.sort());
      // Each order reached its owner's socket once (the failed ones never did).
      await eventually(
        () => sockets[index].frames.filter((frame) => frame.type === 'order').length >= own.length,
      );
      const pushed = sockets[index].frames.flatMap((frame) =>
        frame.type === 'order' && frame.order ? [frame.order.id] : [],
      );
      expect(pushed.sort()).toEqual(own.sort());
    }
    for (const socket of sockets) socket.ws.terminate();
  });
});
