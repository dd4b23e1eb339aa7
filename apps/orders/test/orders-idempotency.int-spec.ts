import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { Order } from '../src/app/orders/entities/order.entity';
import { IDEMPOTENCY_KEY_TTL_MS } from '../src/app/orders/idempotency/idempotency-key';
import { ORIGIN, randomSuffix, sendRaw, sessionCookie, startOrdersApp } from './orders-app';

const dir = mkdtempSync(join(tmpdir(), 'orders-idempotency-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { id?: string; userId?: string; statusCode?: number; message?: string; error?: string };
}

describe.each([
  ['PostgreSQL', 'postgres://postgres@127.0.0.1:5432/test'],
  ['SQLite', `sqlite:${join(dir, 'orders.sqlite')}`],
])('POST /api/orders with an Idempotency-Key (%s, Redis)', (_database, url) => {
  const suite = randomSuffix();
  const alice: SessionUser = { id: `alice-${suite}`, username: 'alice', roles: ['customer'] };
  const bob: SessionUser = { id: `bob-${suite}`, username: 'bob', roles: ['customer'] };
  let app: INestApplication;
  let base: { host: string; port: number };
  const cookies: Record<string, string> = {};

  beforeAll(async () => {
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: url,
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-idempotency-${suite}`),
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    const server = app.getHttpServer() as Server;
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    base = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
    for (const user of [alice, bob]) {
      cookies[user.id] = await sessionCookie(app, user);
    }
  });

  afterAll(async () => {
    await app?.close();
  });

  /**
   * One POST over a connection of its own, headers as given (a list sends the header once per
   * value): fetch would join them, and refuse some values before they leave.
   */
  async function place(user: SessionUser, body: unknown, key?: string | string[]): Promise<Answer> {
    const headers = key === undefined ? {} : { 'Idempotency-Key': key };
    return (await sendRaw(base, 'POST', '/api/orders', cookies[user.id], body, headers)) as Answer;
  }

  const ordersOf = (user: SessionUser) =>
    app.get(DataSource).getRepository(Order).findBy({ userId: user.id });
  const withSku = async (user: SessionUser, sku: string) =>
    (await ordersOf(user)).filter((order) => order.items.some((item) => item.sku === sku));
  const items = (sku: string, quantity = 1) => ({ items: [{ sku, quantity }] });

  it('answers a retry the order the key placed, 201 with Idempotent-Replayed, and places no other', async () => {
    const key = randomUUID();
    const first = await place(alice, items('RETRY-1', 2), key);
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    for (let retry = 0; retry < 3; retry++) {
      const again = await place(alice, items('RETRY-1', 2), key);
      expect(again.status).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(first.body);
    }
    expect((await withSku(alice, 'RETRY-1')).map((order) => order.id)).toEqual([first.body.id]);
  });

  it('answers a retry listing the same items in another order the order the key placed', async () => {
    const key = randomUUID();
    const lines = [
      { sku: 'REORDER-A', quantity: 1 },
      { sku: 'REORDER-B', quantity: 2 },
      { sku: 'REORDER-C', quantity: 3 },
    ];
    const first = await place(alice, { items: lines }, key);
    expect(first.status).toBe(201);
    for (const order of [
      [2, 1, 0],
      [1, 2, 0],
      [0, 2, 1],
    ]) {
      const again = await place(alice, { items: order.map((i) => lines[i]) }, key);
      expect({ status: again.status, body: again.body }).toEqual({ status: 201, body: first.body });
      expect(again.headers['idempotent-replayed']).toBe('true');
    }
    // The same SKUs with one quantity moved to another line are other items.
    const moved = [
      { sku: 'REORDER-A', quantity: 2 },
      { sku: 'REORDER-B', quantity: 1 },
      { sku: 'REORDER-C', quantity: 3 },
    ];
    expect((await place(alice, { items: moved }, key)).status).toBe(422);
    expect((await withSku(alice, 'REORDER-A')).map((order) => order.id)).toEqual([first.body.id]);
  });

  it('places a new order for each request without a key, as before', async () => {
    await place(alice, items('NO-KEY'));
    await place(alice, items('NO-KEY'));
    expect(await withSku(alice, 'NO-KEY')).toHaveLength(2);
  });

  it('answers 422 JSON to the key reused with other items, and places nothing', async () => {
    const key = randomUUID();
    const first = await place(alice, items('REUSED', 1), key);
    expect(first.status).toBe(201);
    for (const other of [
      items('REUSED', 2),
      items('REUSED-X', 1),
      { items: [...items('REUSED').items, { sku: 'MORE', quantity: 1 }] },
    ]) {
      const reused = await place(alice, other, key);
      expect(reused.status).toBe(422);
      expect(reused.body).toEqual({
        statusCode: 422,
        message: expect.stringMatching(/Idempotency-Key/),
        error: 'idempotency_key_reused',
      });
    }
    expect(await withSku(alice, 'REUSED-X')).toEqual([]);
    expect(await withSku(alice, 'MORE')).toEqual([]);
  });

  it("keeps keys per user: another user's same key places that user's own order", async () => {
    const key = randomUUID();
    const hers = await place(alice, items('SHARED-KEY'), key);
    const his = await place(bob, items('SHARED-KEY'), key);
    expect(his.status).toBe(201);
    expect(his.headers['idempotent-replayed']).toBeUndefined();
    expect(his.body.id).not.toBe(hers.body.id);
    expect(his.body.userId).toBe(bob.id);
    // Nor does his other body make hers a 422, nor his key answer him her order.
    const bobsOther = await place(bob, items('SHARED-KEY', 3), randomUUID());
    expect(bobsOther.status).toBe(201);
    const herRetry = await place(alice, items('SHARED-KEY'), key);
    expect(herRetry.body.id).toBe(hers.body.id);
    expect(await withSku(alice, 'SHARED-KEY')).toHaveLength(1);
    expect(await withSku(bob, 'SHARED-KEY')).toHaveLength(2);
  });

  it('places exactly one order for 20 concurrent requests with one key, round after round', async () => {
    for (let round = 0; round < 8; round++) {
      const key = randomUUID();
      const sku = `RACE-${round}`;
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => place(alice, items(sku), key)),
      );
      expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(201));
      const ids = new Set(answers.map((answer) => answer.body.id));
      expect(ids.size).toBe(1);
      const fresh = answers.filter((answer) => answer.headers['idempotent-replayed'] !== 'true');
      expect(fresh).toHaveLength(1);
      expect((await withSku(alice, sku)).map((order) => order.id)).toEqual([...ids]);
    }
  });

  it('places one order for 20 concurrent requests of one key listing the same items in other orders', async () => {
    for (let round = 0; round < 5; round++) {
      const key = randomUUID();
      const lines = ['A', 'B', 'C'].map((sku, i) => ({
        sku: `SHUFFLE-${sku}-${round}`,
        quantity: i + 1,
      }));
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const shift = i % 3;
          const rotated = [...lines.slice(shift), ...lines.slice(0, shift)];
          return place(alice, { items: i % 2 ? rotated.reverse() : rotated }, key);
        }),
      );
      expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(201));
      expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
      const fresh = answers.filter((answer) => answer.headers['idempotent-replayed'] !== 'true');
      expect(fresh).toHaveLength(1);
      expect(await withSku(alice, lines[0].sku)).toHaveLength(1);
    }
  });

  it('places one order for a key raced with two bodies: the other body is answered 422', async () => {
    for (let round = 0; round < 5; round++) {
      const key = randomUUID();
      const [a, b] = [`MIX-A-${round}`, `MIX-B-${round}`];
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => place(alice, items(i % 2 ? a : b), key)),
      );
      const placed = [...(await withSku(alice, a)), ...(await withSku(alice, b))];
      expect(placed).toHaveLength(1);
      const winner = placed[0].items[0].sku;
      answers.forEach((answer, i) => {
        const sent = i % 2 ? a : b;
        expect([sent, answer.status, answer.body.id]).toEqual(
          sent === winner ? [sent, 201, placed[0].id] : [sent, 422, undefined],
        );
      });
    }
  });

  it.each([
    ['empty', ''],
    ['a space', ' '],
    ['a space inside', 'a b'],
    ['256 characters', 'k'.repeat(256)],
    ['a tab inside', 'a\tb'],
    ['a Latin-1 letter', 'caf\u00e9'],
    ['an empty quoted string', '""'],
    ['a quoted string with a space', '"a b"'],
    ['an unterminated quote', '"abc'],
    ['two headers', ['key-1', 'key-2']],
  ])('answers 400 to a key that is %s, and places nothing', async (_case, key) => {
    const sku = `BAD-KEY-${randomSuffix()}`;
    const answer = await place(alice, items(sku), key);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      statusCode: 400,
      message: expect.stringMatching(/Idempotency-Key/),
    });
    expect(await withSku(alice, sku)).toEqual([]);
  });

  it("takes any 1 to 255 visible ASCII characters, and the draft's quoted form as the same key", async () => {
    const longest = `${randomSuffix()}~!"#$%&'()*+,-./:;<=>?@[\\]^_\`{|}`.padEnd(255, 'z');
    const first = await place(alice, items('ODD-KEY'), longest);
    expect(first.status).toBe(201);
    const quoted = `"${longest.replace(/[\\"]/g, '\\$&')}"`;
    const again = await place(alice, items('ODD-KEY'), quoted);
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
  });

  it('lets a key go after 24 hours: the same key then places a new order', async () => {
    const key = randomUUID();
    const old = {
      id: randomUUID(),
      userId: alice.id,
      items: items('EXPIRED').items,
      createdAt: new Date(Date.now() - IDEMPOTENCY_KEY_TTL_MS - 60_000),
    };
    await app
      .get(DataSource)
      .getRepository(Order)
      .insert({ ...old, idempotencyKey: key });
    const young = {
      ...old,
      id: randomUUID(),
      createdAt: new Date(Date.now() - IDEMPOTENCY_KEY_TTL_MS + 60_000),
    };
    const youngKey = randomUUID();
    await app
      .get(DataSource)
      .getRepository(Order)
      .insert({ ...young, idempotencyKey: youngKey });

    const answers = await Promise.all(
      Array.from({ length: 10 }, () => place(alice, items('EXPIRED'), key)),
    );
    const ids = new Set(answers.map((answer) => answer.body.id));
    expect(ids.size).toBe(1);
    expect(ids.has(old.id)).toBe(false);
    expect(
      answers.filter((answer) => answer.headers['idempotent-replayed'] !== 'true'),
    ).toHaveLength(1);
    // The old order stays; only its key was let go.
    expect((await withSku(alice, 'EXPIRED')).map((order) => order.id).sort()).toEqual(
      [old.id, young.id, ...ids].sort(),
    );
    const replayed = await place(alice, items('EXPIRED'), youngKey);
    expect(replayed.body.id).toBe(young.id);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
  });

  it('never answers the key it keeps', async () => {
    const key = randomUUID();
    const placed = await place(alice, items('NO-LEAK'), key);
    const listed = JSON.stringify(
      (await sendRaw(base, 'GET', '/api/orders', cookies[alice.id])).body,
    );
    expect(JSON.stringify(placed.body)).not.toContain(key);
    expect(listed).toContain(placed.body.id);
    expect(listed).not.toContain(key);
  });
});
