import { mkdtempSync, rmSync } from 'node:fs';
import { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import { DataSource, Repository } from 'typeorm';

import { SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { Order, OrderItem } from '../src/app/orders/entities/order.entity';
import { IDEMPOTENCY_KEY_TTL_MS } from '../src/app/orders/idempotency/idempotency-key';
import {
  ORIGIN,
  RawAnswer,
  randomSuffix,
  sendRaw,
  sessionCookie,
  startOrdersApp,
} from './orders-app';

const USERS = 3;
/** Few keys and SKUs, so that keys collide across users and requests repeat one another. */
const KEYS = ['key-a', 'key-b', 'key-c'];
const SKUS = ['SKU-A', 'SKU-B', 'SKU-C'];
/** Far enough from the key's 24 hours that no run, however slow, crosses the line. */
const MARGIN_MS = 60 * 60 * 1000;
const RUNS = 40;
const dir = mkdtempSync(join(tmpdir(), 'orders-idempotency-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Via = 'rest' | 'graphql';

/** An order as both the REST routes and GraphQL answer it. */
interface Placed {
  id: string;
  userId: string;
  items: OrderItem[];
  createdAt: string;
}

interface UserModel {
  user: SessionUser;
  cookie: string;
  orders: Placed[];
  /** The order each key was last placed with; the key names it while the order is young. */
  keys: Map<string, Placed>;
}

interface Model {
  users: UserModel[];
}

interface Real {
  base: { host: string; port: number };
  rows: Repository<Order>;
  /** Sent with every key: a run's keys meet no order of an earlier run's. */
  run: string;
}

/** What one placement was answered, the same words for both transports. */
type Outcome =
  | { outcome: 'placed' | 'replayed'; order: Placed }
  | { outcome: 'reused' | 'invalid' }
  | { outcome: 'unexpected'; answer: unknown };

/**
 * The items of a request: `retry` stands for the items the key holds in the model (or
 * `fallback` when it holds none), so that the same request comes again often; `reorder` lists
 * them in another order (see `reordered`), as a client that rebuilt its basket would.
 */
interface Items {
  retry: boolean;
  reorder: number;
  fallback: OrderItem[];
}

/** The same lines in any order: an order names each SKU once, so its lines are a set. */
const sameItems = (a: OrderItem[], b: OrderItem[]) =>
  JSON.stringify([...a].sort(bySku)) === JSON.stringify([...b].sort(bySku));
const bySku = (a: OrderItem, b: OrderItem) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0);
/** One of the orders of `items`: a rotation, reversed or not (every order of three lines). */
function reordered(items: OrderItem[], reorder: number): OrderItem[] {
  const shift = reorder % items.length;
  const rotated = [...items.slice(shift), ...items.slice(0, shift)];
  return reorder % 6 >= 3 ? rotated.reverse() : rotated;
}
const hasDuplicateSku = (items: OrderItem[]) =>
  new Set(items.map((item) => item.sku)).size !== items.length;
const isLive = (order: Placed) => Date.parse(order.createdAt) > Date.now() - IDEMPOTENCY_KEY_TTL_MS;
const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function send(
  real: Real,
  method: 'GET' | 'POST',
  path: string,
  cookie: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<RawAnswer> {
  return sendRaw(real.base, method, path, cookie, body, headers);
}

const PLACE_ORDER = `mutation ($key: String, $items: [OrderItemInput!]!) {
  placeOrder(items: $items, idempotencyKey: $key) { id userId items { sku quantity } createdAt }
}`;

/** One placement over REST (`key` as the header says it) or GraphQL (`idempotencyKey`). */
async function place(
  real: Real,
  owner: UserModel,
  via: Via,
  items: OrderItem[],
  key: string | null,
): Promise<Outcome> {
  if (via === 'rest') {
    const answer = await send(
      real,
      'POST',
      '/api/orders',
      owner.cookie,
      { items },
      key === null ? {} : { 'Idempotency-Key': key },
    );
    const body = answer.body as { error?: string };
    if (answer.status === 201) {
      const replayed = answer.headers['idempotent-replayed'] === 'true';
      return { outcome: replayed ? 'replayed' : 'placed', order: answer.body as Placed };
    }
    if (answer.status === 422 && body.error === 'idempotency_key_reused') {
      return { outcome: 'reused' };
    }
    if (answer.status === 400) return { outcome: 'invalid' };
    return { outcome: 'unexpected', answer: { status: answer.status, body } };
  }
  const answer = await send(real, 'POST', '/api/orders/graphql', owner.cookie, {
    query: PLACE_ORDER,
    variables: { key, items },
  });
  const body = answer.body as {
    data?: { placeOrder: Placed } | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  const codes = (body.errors ?? []).map((error) => error.extensions?.code);
  if (answer.status === 200 && codes.length === 0 && body.data) {
    const replayed = answer.headers['idempotent-replayed'] === 'true';
    return { outcome: replayed ? 'replayed' : 'placed', order: body.data.placeOrder };
  }
  if (codes.join() === 'BAD_USER_INPUT' && /Idempotency-Key/.test(body.errors?.[0].message ?? '')) {
    return { outcome: 'reused' };
  }
  if (codes.join() === 'BAD_REQUEST') return { outcome: 'invalid' };
  return { outcome: 'unexpected', answer: { status: answer.status, body } };
}

function itemsFor(owner: UserModel, key: string | null, items: Items): OrderItem[] {
  const held = key === null ? undefined : owner.keys.get(key);
  return reordered(items.retry && held ? held.items : items.fallback, items.reorder);
}

/**
 * Sends `requests` (items and transport each) at once with one key, or none, and checks their
 * answers against the model, which they then update. Without a key each valid request places
 * an order. With a key a live order holds, those of its items are answered it, replayed, and
 * the others 422. With a key no live order holds, exactly one request places an order, whichever
 * won: those of the winner's items are answered it, replayed, and the others 422.
 */
async function placeAll(
  model: Model,
  real: Real,
  who: number,
  key: string | null,
  requests: { items: OrderItem[]; via: Via }[],
): Promise<void> {
  const owner = model.users[who];
  const sentKey = (via: Via, index: number) => {
    if (key === null) return null;
    const scoped = `${key}.${real.run}`;
    // Every third REST request names the key in the draft's quoted form: the same key.
    return via === 'rest' && index % 3 === 2 ? `"${scoped}"` : scoped;
  };
  const answers = await Promise.all(
    requests.map(({ items, via }, index) => place(real, owner, via, items, sentKey(via, index))),
  );
  const valid = (index: number) => !hasDuplicateSku(requests[index].items);
  const known = new Set(model.users.flatMap((user) => user.orders.map((order) => order.id)));

  if (key === null) {
    const expected = requests.map((_, index) => (valid(index) ? 'placed' : 'invalid'));
    expect(
      answers.map((answer) => (answer.outcome === 'unexpected' ? answer : answer.outcome)),
    ).toEqual(expected);
    for (const [index, answer] of answers.entries()) {
      if (answer.outcome !== 'placed') continue;
      expectFresh(answer.order, owner, requests[index].items, known);
      known.add(answer.order.id);
      owner.orders.push(answer.order);
    }
    return;
  }

  const held = owner.keys.get(key);
  const live = held && isLive(held) ? held : undefined;
  const winner = live
    ? -1
    : answers.findIndex((answer, index) => answer.outcome === 'placed' && valid(index));
  const holder = live ?? (winner >= 0 ? (answers[winner] as { order: Placed }).order : undefined);
  const expected = requests.map(({ items }, index) => {
    if (!valid(index)) return { outcome: 'invalid' };
    if (!holder) return { outcome: 'placed or replayed' };
    if (index === winner) return { outcome: 'placed', id: holder.id };
    return sameItems(items, holder.items)
      ? { outcome: 'replayed', id: holder.id }
      : { outcome: 'reused' };
  });
  expect(
    answers.map((answer) =>
      'order' in answer ? { outcome: answer.outcome, id: answer.order.id } : answer,
    ),
  ).toEqual(expected);
  for (const answer of answers) {
    if (answer.outcome === 'replayed') expect(answer.order).toEqual(holder);
  }
  if (!live && holder) {
    expectFresh(holder, owner, requests[winner].items, known);
    owner.orders.push(holder);
    owner.keys.set(key, holder);
  }
}

function expectFresh(order: Placed, owner: UserModel, items: OrderItem[], known: Set<string>) {
  expect(known.has(order.id)).toBe(false);
  expect(order).toEqual({
    id: expect.any(String),
    userId: owner.user.id,
    items,
    createdAt: expect.any(String),
  });
}

/** Each user lists exactly their orders of the model, newest first, and no one else's. */
async function expectAsModel(model: Model, real: Real): Promise<void> {
  for (const owner of model.users) {
    const answer = await send(real, 'GET', '/api/orders?limit=200', owner.cookie);
    expect(answer.status).toBe(200);
    const listed = answer.body as Placed[];
    expect({ user: owner.user.id, orders: [...listed].sort(byId) }).toEqual({
      user: owner.user.id,
      orders: [...owner.orders].sort(byId),
    });
    const times = listed.map((order) => Date.parse(order.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  }
}

const userArb = fc.integer({ min: 0, max: USERS - 1 });
const keyArb = fc.constantFrom(...KEYS);
const viaArb = fc.constantFrom<Via>('rest', 'graphql');
/** One line per SKU, in any order: two baskets may be one in another order. */
const basketArb = fc
  .tuple(
    fc.shuffledSubarray(SKUS, { minLength: 1 }),
    fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 3, maxLength: 3 }),
  )
  .map(([skus, quantities]) => skus.map((sku, i) => ({ sku, quantity: quantities[i] })));
/** Now and then one SKU on two lines: a 400 whatever the key. */
const linesArb = fc.oneof(
  { weight: 9, arbitrary: basketArb },
  { weight: 1, arbitrary: basketArb.map((items) => [...items, items[0]]) },
);
const itemsArb: fc.Arbitrary<Items> = fc.record({
  retry: fc.boolean(),
  reorder: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat(5) }),
  fallback: linesArb,
});

class Place implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly who: number,
    readonly key: string | null,
    readonly items: Items,
    readonly via: Via,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const items = itemsFor(model.users[this.who], this.key, this.items);
    await placeAll(model, real, this.who, this.key, [{ items, via: this.via }]);
    await expectAsModel(model, real);
  }
  toString = () => `Place(${this.who}, ${this.key}, ${JSON.stringify(this.items)}, ${this.via})`;
}

/**
 * `count` requests of the same items at once, each listing them in its own order; `mixed`
 * alternates REST and GraphQL among them.
 */
class Burst implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly who: number,
    readonly key: string | null,
    readonly items: Items,
    readonly count: number,
    readonly mixed: boolean,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const items = itemsFor(model.users[this.who], this.key, this.items);
    const requests = Array.from({ length: this.count }, (_, i) => ({
      items: reordered(items, i),
      via: (this.mixed && i % 2 ? 'graphql' : 'rest') as Via,
    }));
    await placeAll(model, real, this.who, this.key, requests);
    await expectAsModel(model, real);
  }
  toString = () =>
    `Burst(${this.who}, ${this.key}, ${JSON.stringify(this.items)}, x${this.count}${this.mixed ? ', mixed' : ''})`;
}

/** One key raced with two baskets: one order, of either basket. */
class SplitBurst implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly who: number,
    readonly key: string,
    readonly first: Items,
    readonly second: OrderItem[],
    readonly count: number,
    readonly via: Via,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const first = itemsFor(model.users[this.who], this.key, this.first);
    const requests = Array.from({ length: this.count }, (_, i) => ({
      items: i % 2 ? this.second : first,
      via: this.via,
    }));
    await placeAll(model, real, this.who, this.key, requests);
    await expectAsModel(model, real);
  }
  toString = () =>
    `SplitBurst(${this.who}, ${this.key}, ${JSON.stringify(this.first)} / ${JSON.stringify(this.second)}, x${this.count}, ${this.via})`;
}

/** Every user sends the same key at once, each their own burst: keys are per user. */
class Crowd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly key: string,
    readonly items: Items,
    readonly count: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    await Promise.all(
      model.users.map((owner, who) => {
        const items = itemsFor(owner, this.key, this.items);
        const requests = Array.from({ length: this.count }, (_, i) => ({
          items,
          via: (i % 2 ? 'graphql' : 'rest') as Via,
        }));
        return placeAll(model, real, who, this.key, requests);
      }),
    );
    await expectAsModel(model, real);
  }
  toString = () => `Crowd(${this.key}, ${JSON.stringify(this.items)}, x${this.count} each)`;
}

/**
 * One of the keys the model has seen placed, with its user, by `pick` in the order of their
 * orders' age: the small values fast-check favours make time pass over the newest orders and
 * clients come back to the oldest.
 */
function heldKey(
  model: Readonly<Model>,
  pick: number,
  from: 'newest' | 'oldest',
): { who: number; key: string } {
  const sign = from === 'oldest' ? 1 : -1;
  const held = model.users
    .flatMap((owner, who) => [...owner.keys].map(([key, order]) => ({ who, key, order })))
    .sort((a, b) => sign * (Date.parse(a.order.createdAt) - Date.parse(b.order.createdAt)));
  return held[pick % held.length];
}
const holdsAnyKey = (model: Readonly<Model>) => model.users.some((owner) => owner.keys.size > 0);

/** A client comes back with a key it has used: a retry, other items, or both at once. */
class Again implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly items: Items,
    readonly count: number,
    readonly via: Via,
  ) {}
  check = holdsAnyKey;
  async run(model: Model, real: Real): Promise<void> {
    const { who, key } = heldKey(model, this.pick, 'oldest');
    const items = itemsFor(model.users[who], key, this.items);
    const requests = Array.from({ length: this.count }, () => ({ items, via: this.via }));
    await placeAll(model, real, who, key, requests);
    await expectAsModel(model, real);
  }
  toString = () =>
    `Again(#${this.pick}, ${JSON.stringify(this.items)}, x${this.count}, ${this.via})`;
}

/**
 * Moves the order a key was last placed with to just inside or just past the key's 24 hours,
 * as if that much time had passed (the service compares the row's `createdAt`).
 */
class Age implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly expired: boolean,
  ) {}
  check = holdsAnyKey;
  async run(model: Model, real: Real): Promise<void> {
    const { who, key } = heldKey(model, this.pick, 'newest');
    const order = model.users[who].keys.get(key) as Placed;
    const age = IDEMPOTENCY_KEY_TTL_MS + (this.expired ? MARGIN_MS : -MARGIN_MS);
    const createdAt = new Date(Date.now() - age);
    await real.rows.update({ id: order.id }, { createdAt });
    order.createdAt = createdAt.toISOString();
    await expectAsModel(model, real);
  }
  toString = () => `Age(#${this.pick}, ${this.expired ? 'expired' : 'live'})`;
}

/** `myOrders` answers the model's orders too. */
class ListOverGraphql implements fc.AsyncCommand<Model, Real> {
  constructor(readonly who: number) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const owner = model.users[this.who];
    const answer = await send(real, 'POST', '/api/orders/graphql', owner.cookie, {
      query: 'query { myOrders(limit: 200) { id userId items { sku quantity } createdAt } }',
    });
    const body = answer.body as { data?: { myOrders: Placed[] }; errors?: unknown };
    expect(body.errors).toBeUndefined();
    expect([...(body.data?.myOrders ?? [])].sort(byId)).toEqual([...owner.orders].sort(byId));
  }
  toString = () => `ListOverGraphql(${this.who})`;
}

/** An order is found for its owner, and missing (404) for everyone else. */
class Peek implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly who: number,
    readonly owner: number,
    readonly pick: number,
  ) {}
  check = (model: Readonly<Model>) => model.users[this.owner].orders.length > 0;
  async run(model: Model, real: Real): Promise<void> {
    const orders = model.users[this.owner].orders;
    const order = orders[this.pick % orders.length];
    const answer = await send(real, 'GET', `/api/orders/${order.id}`, model.users[this.who].cookie);
    expect({ status: answer.status, body: answer.body }).toEqual(
      this.who === this.owner
        ? { status: 200, body: order }
        : { status: 404, body: expect.objectContaining({ statusCode: 404 }) },
    );
  }
  toString = () => `Peek(${this.who}, order of ${this.owner} #${this.pick})`;
}

const againArb = fc
  .tuple(fc.nat(20), itemsArb, fc.integer({ min: 1, max: 3 }), viaArb)
  .map(([pick, items, count, via]) => new Again(pick, items, count, via));
const ageArb = fc.tuple(fc.nat(20), fc.boolean()).map(([pick, expired]) => new Age(pick, expired));
// fc.commands picks among its arbitraries evenly: coming back to a key and time passing are
// listed twice, so that sequences age keys and use them again often.
const commands = [
  againArb,
  againArb,
  ageArb,
  ageArb,
  fc
    .tuple(userArb, fc.option(keyArb, { freq: 4 }), itemsArb, viaArb)
    .map(([who, key, items, via]) => new Place(who, key, items, via)),
  fc
    .tuple(
      userArb,
      fc.option(keyArb, { freq: 5 }),
      itemsArb,
      fc.integer({ min: 2, max: 6 }),
      fc.boolean(),
    )
    .map(([who, key, items, count, mixed]) => new Burst(who, key, items, count, mixed)),
  fc
    .tuple(userArb, keyArb, itemsArb, basketArb, fc.integer({ min: 2, max: 6 }), viaArb)
    .map(
      ([who, key, first, second, count, via]) =>
        new SplitBurst(who, key, first, second, count, via),
    ),
  fc
    .tuple(keyArb, itemsArb, fc.integer({ min: 1, max: 3 }))
    .map(([key, items, count]) => new Crowd(key, items, count)),
  userArb.map((who) => new ListOverGraphql(who)),
  fc.tuple(userArb, userArb, fc.nat(20)).map(([who, owner, pick]) => new Peek(who, owner, pick)),
];

describe.each([
  ['PostgreSQL', 'postgres://postgres@127.0.0.1:5432/test'],
  ['SQLite', `sqlite:${join(dir, 'orders.sqlite')}`],
])('Idempotency-Key against a model (%s, Redis)', (_database, url) => {
  const suite = randomSuffix();
  let app: INestApplication;
  let shared: Omit<Real, 'run'>;
  let runs = 0;

  beforeAll(async () => {
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: url,
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-idempotency-model-${suite}`),
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    const server = app.getHttpServer() as Server;
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    shared = {
      base: { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
      rows: app.get(DataSource).getRepository(Order),
    };
  });

  afterAll(async () => {
    await app?.close();
  });

  it('answers placements, retries, races and expired keys as the model does, per user', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commands, { maxCommands: 15, size: 'medium' }),
        async (sequence) => {
          const run = ++runs;
          const users: UserModel[] = [];
          for (let i = 0; i < USERS; i++) {
            const user: SessionUser = {
              id: `shopper-${suite}-${run}-${i}`,
              username: `shopper-${i}`,
              roles: ['customer'],
            };
            users.push({
              user,
              cookie: await sessionCookie(app, user),
              orders: [],
              keys: new Map(),
            });
          }
          const real = { ...shared, run: `${suite}-${run}` };
          await fc.asyncModelRun(() => ({ model: { users }, real }), sequence);
        },
      ),
      { numRuns: RUNS },
    );
  }, 180_000);
});
