import { INestApplication, Logger } from '@nestjs/common';
import request from 'supertest';

import { SessionService, SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { OrdersService } from '../src/app/orders/orders.service';
import { randomSuffix, sessionCookie, startOrdersApp } from './orders-app';

const ORIGIN = 'http://localhost:3000';
const PATH = '/api/orders/graphql';
const suite = randomSuffix();
const alice: SessionUser = { id: `alice-${suite}`, username: 'alice', roles: ['customer'] };
const bob: SessionUser = { id: `bob-${suite}`, username: 'bob', roles: ['customer'] };
const admin: SessionUser = { id: `admin-${suite}`, username: 'admin', roles: ['admin'] };
const auditor: SessionUser = { id: `auditor-${suite}`, username: 'audit', roles: ['auditor'] };

const MY_ORDERS = 'query { myOrders { id items { sku quantity } createdAt } }';
const place = (sku: string, quantity = 1) =>
  `mutation { placeOrder(items: [{ sku: "${sku}", quantity: ${quantity} }]) { id } }`;

describe('POST /api/orders/graphql (PostgreSQL, Redis)', () => {
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  const cookies: Record<string, string> = {};

  beforeAll(async () => {
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-graphql-${suite}`),
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    http = request(app.getHttpServer());
    for (const user of [alice, bob, admin, auditor]) {
      cookies[user.id] = await sessionCookie(app, user);
    }
  });

  afterAll(async () => {
    await app?.close();
  });

  function post(query: string, user?: SessionUser, origin: string | null = ORIGIN) {
    const call = http.post(PATH).send({ query });
    if (user) call.set('Cookie', cookies[user.id]);
    if (origin) call.set('Origin', origin);
    return call;
  }

  const codesOf = (body: { errors?: { extensions?: { code?: string } }[] }) =>
    (body.errors ?? []).map((error) => error.extensions?.code);

  it('answers GraphQL on its path only, never below it nor over GET', async () => {
    for (const path of [`${PATH}/x`, `${PATH}/x/y`]) {
      const viaGet = await http
        .get(`${path}?query=${encodeURIComponent(MY_ORDERS)}`)
        .set('Cookie', cookies[alice.id])
        .set('apollo-require-preflight', '1')
        .expect(404);
      expect(viaGet.body).toEqual({ statusCode: 404, message: 'Not Found' });
      await http
        .post(path)
        .set('Cookie', cookies[alice.id])
        .set('Origin', ORIGIN)
        .send({ query: MY_ORDERS })
        .expect(404);
    }
  });

  it("answers 200 with data: a customer's mutation, then her orders", async () => {
    const placed = await post(place('GQL-1', 2), alice).expect(200);
    expect(placed.headers['content-type']).toMatch(/^application\/json/);
    expect(placed.body.errors).toBeUndefined();
    const id = placed.body.data.placeOrder.id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const listed = await post(MY_ORDERS, alice).expect(200);
    expect(listed.body.errors).toBeUndefined();
    expect(listed.body.data.myOrders[0]).toEqual({
      id,
      items: [{ sku: 'GQL-1', quantity: 2 }],
      createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    });
    // REST sees the same order.
    await http.get(`/api/orders/${id}`).set('Cookie', cookies[alice.id]).expect(200);
  });

  it("shows a customer only her own orders, and an admin only theirs under 'myOrders'", async () => {
    await post(place('GQL-BOB'), bob).expect(200);
    const mine = (await post(MY_ORDERS, alice)).body.data.myOrders;
    expect(
      mine.some((order: { items: { sku: string }[] }) => order.items[0].sku === 'GQL-BOB'),
    ).toBe(false);
    const theirs = await post(MY_ORDERS, admin).expect(200);
    expect(theirs.body).toEqual({ data: { myOrders: [] } });
  });

  it('answers UNAUTHENTICATED and no data without a session', async () => {
    for (const query of [MY_ORDERS, place('GQL-ANON')]) {
      const response = await post(query);
      expect(response.status).toBe(200);
      expect(response.body.data).toBeNull();
      expect(codesOf(response.body)).toEqual(['UNAUTHENTICATED']);
    }
  });

  it('answers UNAUTHENTICATED to an unknown bearer token', async () => {
    const response = await http
      .post(PATH)
      .set('Authorization', 'Bearer nonsense')
      .send({ query: MY_ORDERS });
    expect(codesOf(response.body)).toEqual(['UNAUTHENTICATED']);
    expect(response.body.data).toBeNull();
  });

  it('answers FORBIDDEN to a session without the role', async () => {
    const listed = await post(MY_ORDERS, auditor);
    expect(listed.body.data).toBeNull();
    expect(codesOf(listed.body)).toEqual(['FORBIDDEN']);
    // Placing orders is for customers.
    const placed = await post(place('GQL-ADMIN'), admin);
    expect(placed.body.data).toBeNull();
    expect(codesOf(placed.body)).toEqual(['FORBIDDEN']);
  });

  it('refuses a cookie-authenticated mutation from a foreign origin, and places nothing', async () => {
    for (const [origin, site] of [
      ['https://evil.example', undefined],
      [null, 'cross-site'],
      [null, undefined],
    ] as const) {
      const call = post(place('GQL-EVIL'), alice, origin);
      if (site) call.set('Sec-Fetch-Site', site);
      const response = await call;
      expect(response.body.data).toBeNull();
      expect(codesOf(response.body)).toEqual(['FORBIDDEN']);
    }
    const mine = (await post(MY_ORDERS, alice)).body.data.myOrders;
    expect(JSON.stringify(mine)).not.toContain('GQL-EVIL');
  });

  it('accepts a bearer mutation without an Origin header', async () => {
    const token = cookies[bob.id].split('=')[1];
    const response = await http
      .post(PATH)
      .set('Authorization', `Bearer ${token}`)
      .send({ query: place('GQL-BEARER') })
      .expect(200);
    expect(response.body.data.placeOrder.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never runs a mutation sent over GET, even with the CSRF-prevention header', async () => {
    for (const headers of [{}, { 'apollo-require-preflight': 'true' }]) {
      const response = await http
        .get(PATH)
        .query({ query: place('GQL-GET') })
        .set('Cookie', cookies[alice.id])
        .set('Origin', ORIGIN)
        .set(headers);
      expect(response.status).toBe(404);
      expect(response.body.data).toBeUndefined();
    }
    const mine = (await post(MY_ORDERS, alice)).body.data.myOrders;
    expect(JSON.stringify(mine)).not.toContain('GQL-GET');
  });

  it('refuses a POST a plain form could send (text/plain, form-encoded) before any resolver', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const response = await http
        .post(PATH)
        .set('Cookie', cookies[alice.id])
        .set('Origin', ORIGIN)
        .set('Content-Type', type)
        .send(JSON.stringify({ query: place('GQL-FORM') }));
      expect(response.status).toBe(400);
      expect(response.body.data).toBeUndefined();
    }
    const mine = (await post(MY_ORDERS, alice)).body.data.myOrders;
    expect(JSON.stringify(mine)).not.toContain('GQL-FORM');
  });

  it('serves GraphQL over POST only: a GET is the REST order route, 404 for this path', async () => {
    const response = await http
      .get(PATH)
      .query({ query: MY_ORDERS })
      .set('Cookie', cookies[alice.id])
      .set('apollo-require-preflight', 'true');
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ statusCode: 404, message: expect.any(String) });
  });

  it.each([
    ['a zero quantity', place('GQL-0', 0)],
    ['a sku with spaces', place('GQL 0')],
    ['no items', 'mutation { placeOrder(items: []) { id } }'],
  ])('answers BAD_REQUEST to %s, and places nothing', async (_case, query) => {
    const response = await post(query, alice).expect(200);
    expect(response.body.data).toBeNull();
    expect(codesOf(response.body)).toEqual(['BAD_REQUEST']);
  });

  it('refuses, before any resolver, a query whose aliases multiply the answer', async () => {
    const page = 'id createdAt items { sku quantity }';
    const aliased = Array.from({ length: 20 }, (_, i) => `a${i}: myOrders { ${page} }`);
    const refused = await post(`{ ${aliased.join(' ')} }`, alice).expect(400);
    expect(codesOf(refused.body)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(refused.body.errors[0].message).toMatch(/asks for too much/);
    expect(refused.body.data).toBeUndefined();
    // Four copies of the largest page are still one query.
    const four = Array.from({ length: 4 }, (_, i) => `a${i}: myOrders(limit: 200) { ${page} }`);
    const answered = await post(`{ ${four.join(' ')} }`, alice).expect(200);
    expect(answered.body.errors).toBeUndefined();
  });

  it('refuses, without a session, a query of more than 1,000 tokens before validating it', async () => {
    // graphql-js compares same-named fields pairwise: validating these cost about a second each.
    const repeated = `{ ${'myOrders { id } '.repeat(5000)}}`;
    const response = await post(repeated).expect(400);
    expect(codesOf(response.body)).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(response.body.errors[0].message).toMatch(/more th\w+ 1000 tokens/);
    expect(response.body.data).toBeUndefined();
  });

  it('takes an order of 50 items written inline, the most an order holds', async () => {
    const items = Array.from(
      { length: 50 },
      (_, i) => `{ sku: "GQL-INLINE-${i}", quantity: 1000 }`,
    );
    const query = `mutation Place { placeOrder(items: [${items.join(', ')}]) { id userId items { sku quantity } createdAt } }`;
    const response = await post(query, alice).expect(200);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data.placeOrder.items).toHaveLength(50);
  });

  it('refuses, session or not, aliases whose limit is a variable or negative as if each took 200', async () => {
    const page = 'id createdAt items { sku quantity }';
    const variable = Array.from({ length: 5 }, (_, i) => `a${i}: myOrders(limit: $l) { ${page} }`);
    const refused = await http
      .post(PATH)
      .send({ query: `query ($l: Int!) { ${variable.join(' ')} }`, variables: { l: 200 } })
      .expect(400);
    expect(refused.body.errors[0].message).toMatch(/asks for too much/);
    const large = Array.from({ length: 40 }, (_, i) => `a${i}: myOrders(limit: 200) { ${page} }`);
    const negative = `{ z: myOrders(limit: -2000000000) { id } ${large.join(' ')} }`;
    expect((await post(negative, alice).expect(400)).body.errors[0].message).toMatch(
      /asks for too much/,
    );
  });

  it('refuses, without a session, fragments spread 3 times down a chain of 14', async () => {
    const levels = 14;
    const fragments = Array.from({ length: levels }, (_, i) => {
      const body = i === levels - 1 ? 'id' : `...F${i + 1} `.repeat(3);
      return `fragment F${i} on Order { ${body} }`;
    });
    const response = await post(`query { myOrders(limit: 0) { ...F0 } } ${fragments.join(' ')}`);
    expect(response.status).toBe(400);
    expect(codesOf(response.body)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(response.body.errors[0].message).toMatch(/asks for too much/);
  });

  it.each([
    [
      'two aliased placeOrder fields',
      `mutation { a: placeOrder(items: [{ sku: "GQL-TWICE", quantity: 1 }]) { id }
        b: placeOrder(items: [{ sku: "GQL-TWICE", quantity: 2 }]) { id } }`,
    ],
    [
      'one placeOrder twice with the same arguments, which graphql-js would run once',
      `mutation { placeOrder(items: [{ sku: "GQL-TWICE", quantity: 1 }]) { id }
        placeOrder(items: [{ sku: "GQL-TWICE", quantity: 1 }]) { id } }`,
    ],
    [
      'a placeOrder in a fragment spread twice',
      `mutation { ...P ...P } fragment P on Mutation { a: placeOrder(items: [{ sku: "GQL-TWICE", quantity: 1 }]) { id } }`,
    ],
    [
      'a placeOrder beside one in a fragment of a fragment',
      `mutation { placeOrder(items: [{ sku: "GQL-TWICE", quantity: 1 }]) { id } ...Q }
        fragment Q on Mutation { ...R } fragment R on Mutation { b: placeOrder(items: [{ sku: "GQL-TWICE", quantity: 3 }]) { id } }`,
    ],
    [
      'placeOrder fields in inline fragments, one skipped',
      `mutation { ... on Mutation { a: placeOrder(items: [{ sku: "GQL-TWICE", quantity: 1 }]) { id } }
        ... @skip(if: true) { b: placeOrder(items: [{ sku: "GQL-TWICE", quantity: 2 }]) { id } } }`,
    ],
    [
      '11 aliased placeOrder fields',
      `mutation { ${Array.from(
        { length: 11 },
        (_, i) => `p${i}: placeOrder(items: [{ sku: "GQL-TWICE", quantity: 1 }]) { id }`,
      ).join(' ')} }`,
    ],
  ])('refuses a mutation of %s before any resolver, and places nothing', async (_case, query) => {
    const placeOrder = jest.spyOn(app.get(OrdersService), 'place');
    try {
      const response = await post(query, alice).expect(400);
      const refusal = response.body.errors.find(
        (error: { extensions?: { reason?: string } }) =>
          error.extensions?.reason === 'ONE_ORDER_PER_REQUEST',
      );
      expect(refusal).toEqual({
        message: expect.stringMatching(/one order/),
        locations: expect.any(Array),
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED', reason: 'ONE_ORDER_PER_REQUEST' },
      });
      expect(response.body.data).toBeUndefined();
      expect(placeOrder).not.toHaveBeenCalled();
    } finally {
      placeOrder.mockRestore();
    }
  });

  it('still takes one placeOrder beside other root fields, and in a fragment', async () => {
    const one = await post(
      `mutation { ...P __typename } fragment P on Mutation { placeOrder(items: [{ sku: "GQL-ONE", quantity: 1 }]) { id } }`,
      alice,
    ).expect(200);
    expect(one.body.errors).toBeUndefined();
    expect(one.body.data.placeOrder.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers BAD_REQUEST to one sku on two lines, and places nothing', async () => {
    const response = await post(
      'mutation { placeOrder(items: [{ sku: "GQL-DUP", quantity: 1 }, { sku: "GQL-DUP", quantity: 2 }]) { id } }',
      alice,
    );
    expect(codesOf(response.body)).toEqual(['BAD_REQUEST']);
    expect(response.body.errors[0].extensions.originalError.message).toContain(
      'items must name each sku once (SKUs ignore case)',
    );
    const mine = (await post(MY_ORDERS, alice)).body.data.myOrders;
    expect(JSON.stringify(mine)).not.toContain('GQL-DUP');
  });

  it("answers BAD_REQUEST to SKUs that differ only in case, catalog's one product, and places nothing", async () => {
    const response = await post(
      'mutation { placeOrder(items: [{ sku: "GQL-CASE", quantity: 1 }, { sku: "gql-case", quantity: 2 }]) { id } }',
      alice,
    );
    expect(codesOf(response.body)).toEqual(['BAD_REQUEST']);
    expect(response.body.errors[0].extensions.originalError.message).toEqual([
      'items must name each sku once (SKUs ignore case)',
    ]);
    expect(JSON.stringify(response.body)).not.toMatch(/\bat .*\.(js|ts):\d+/);
    const mine = (await post(MY_ORDERS, alice)).body.data.myOrders;
    expect(JSON.stringify(mine).toLowerCase()).not.toContain('gql-case');
  });

  it.each([
    ['2147483648', 'GRAPHQL_VALIDATION_FAILED'],
    ['1.5', 'GRAPHQL_VALIDATION_FAILED'],
    ['1e3', 'GRAPHQL_VALIDATION_FAILED'],
    ['"2"', 'GRAPHQL_VALIDATION_FAILED'],
    ['0', 'BAD_REQUEST'],
    ['-5', 'BAD_REQUEST'],
    ['1001', 'BAD_REQUEST'],
  ])('answers a quantity of %s with %s, no stack, and places nothing', async (quantity, code) => {
    const response = await post(
      `mutation { placeOrder(items: [{ sku: "GQL-NUM", quantity: ${quantity} }]) { id } }`,
      alice,
    );
    expect(codesOf(response.body)).toEqual([code]);
    expect(response.body.data ?? null).toBeNull();
    expect(JSON.stringify(response.body)).not.toMatch(/stacktrace|\.[jt]s:\d+/);
    const mine = (await post(MY_ORDERS, alice)).body.data.myOrders;
    expect(JSON.stringify(mine)).not.toContain('GQL-NUM');
  });

  it.each([2 ** 40, 1.5, Number.MAX_SAFE_INTEGER, '2'])(
    'answers a quantity of %s in variables with BAD_USER_INPUT',
    async (quantity) => {
      const response = await http
        .post(PATH)
        .set('Cookie', cookies[alice.id])
        .set('Origin', ORIGIN)
        .send({
          query: 'mutation ($items: [OrderItemInput!]!) { placeOrder(items: $items) { id } }',
          variables: { items: [{ sku: 'GQL-NUM', quantity }] },
        });
      expect(response.status).toBe(400);
      expect(codesOf(response.body)).toEqual(['BAD_USER_INPUT']);
      expect(JSON.stringify(response.body)).not.toMatch(/stacktrace|\.[jt]s:\d+/);
    },
  );

  describe('placeOrder(idempotencyKey:)', () => {
    const keyed = (key: string, sku: string, quantity = 1) => ({
      query: `mutation ($key: String, $items: [OrderItemInput!]!) { placeOrder(items: $items, idempotencyKey: $key) { id userId } }`,
      variables: { key, items: [{ sku, quantity }] },
    });
    const send = (body: object, user: SessionUser) =>
      http.post(PATH).set('Cookie', cookies[user.id]).set('Origin', ORIGIN).send(body);

    it('answers a retry the order the key placed, with Idempotent-Replayed, and places no other', async () => {
      const key = `gql-${randomSuffix()}`;
      const first = await send(keyed(key, 'GQL-KEY'), alice).expect(200);
      expect(first.body.errors).toBeUndefined();
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => send(keyed(key, 'GQL-KEY'), alice)),
      );
      for (const again of answers) {
        expect(again.body).toEqual(first.body);
        expect(again.headers['idempotent-replayed']).toBe('true');
      }
      // The REST route's keys are the same keys.
      const rest = await http
        .post('/api/orders')
        .set('Cookie', cookies[alice.id])
        .set('Origin', ORIGIN)
        .set('Idempotency-Key', key)
        .send({ items: [{ sku: 'GQL-KEY', quantity: 1 }] })
        .expect(201);
      expect(rest.body.id).toBe(first.body.data.placeOrder.id);
      const mine = (await post(MY_ORDERS, alice)).body.data.myOrders;
      expect(
        mine.filter((order: { items: { sku: string }[] }) => order.items[0].sku === 'GQL-KEY'),
      ).toHaveLength(1);
    });

    it('answers BAD_USER_INPUT to the key reused with other items, and keeps keys per user', async () => {
      const key = `gql-${randomSuffix()}`;
      const hers = await send(keyed(key, 'GQL-REUSE'), alice).expect(200);
      const reused = await send(keyed(key, 'GQL-REUSE', 2), alice);
      expect(codesOf(reused.body)).toEqual(['BAD_USER_INPUT']);
      expect(reused.body.errors[0].message).toMatch(/Idempotency-Key/);
      const his = await send(keyed(key, 'GQL-REUSE', 2), bob).expect(200);
      expect(his.body.errors).toBeUndefined();
      expect(his.body.data.placeOrder.userId).toBe(bob.id);
      expect(his.body.data.placeOrder.id).not.toBe(hers.body.data.placeOrder.id);
    });

    it.each([
      ['empty', ''],
      ['256 characters', 'k'.repeat(256)],
      ['a space inside', 'a b'],
      ['a newline inside', 'a\nb'],
      ['not ASCII', 'cl\u00e9'],
      ['a control character', '\u0001'],
    ])('answers BAD_REQUEST to a key that is %s, and places nothing', async (_case, key) => {
      const sku = `GQL-BADKEY-${randomSuffix()}`;
      const response = await send(keyed(key, sku), alice);
      expect(codesOf(response.body)).toEqual(['BAD_REQUEST']);
      const mine = (await post(MY_ORDERS, alice)).body.data.myOrders;
      expect(JSON.stringify(mine)).not.toContain(sku);
    });
  });

  it('refuses a query of 11 root fields before any resolver: each one is a database query', async () => {
    const list = jest.spyOn(app.get(OrdersService), 'list');
    try {
      const aliased = Array.from({ length: 11 }, (_, i) => `a${i}: myOrders(limit: 1) { id }`);
      const response = await post(`{ ${aliased.join(' ')} }`, alice).expect(400);
      expect(codesOf(response.body)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(response.body.errors[0].message).toMatch(/more than 10 fields/);
      expect(list).not.toHaveBeenCalled();
      const ten = await post(`{ ${aliased.slice(1).join(' ')} }`, alice).expect(200);
      expect(ten.body.errors).toBeUndefined();
      expect(list).toHaveBeenCalledTimes(10);
    } finally {
      list.mockRestore();
    }
  });

  it('answers BAD_REQUEST to a limit out of bounds', async () => {
    const response = await post('query { myOrders(limit: 201) { id } }', alice);
    expect(codesOf(response.body)).toEqual(['BAD_REQUEST']);
  });

  it.each([
    [
      'a null variable',
      { query: 'query ($l: Int) { myOrders(limit: $l) { id } }', variables: { l: null } },
    ],
    [
      'a variable whose default is null',
      { query: 'query ($l: Int = null) { myOrders(limit: $l) { id } }' },
    ],
  ])(
    'answers BAD_REQUEST, never an internal error, to a limit of %s, session or not',
    async (_case, body) => {
      const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      try {
        const anonymous = await http.post(PATH).send(body);
        expect(codesOf(anonymous.body)).toEqual(['UNAUTHENTICATED']);
        const response = await http
          .post(PATH)
          .set('Authorization', `Bearer ${cookies[alice.id].split('=')[1]}`)
          .send(body);
        expect(response.body.data).toBeNull();
        expect(codesOf(response.body)).toEqual(['BAD_REQUEST']);
        expect(logged).not.toHaveBeenCalled();
      } finally {
        logged.mockRestore();
      }
    },
  );

  it('refuses a subscription, which it does not serve, as a client error', async () => {
    const response = await post('subscription { myOrders { id } }', alice).expect(400);
    expect(codesOf(response.body)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(response.body.errors[0].message).toMatch(/no subscription/);
    expect(response.body.data).toBeUndefined();
  });

  it('sends no stack trace with an error, and keeps no-store and nosniff', async () => {
    const response = await post(place('GQL-ANON'));
    expect(JSON.stringify(response.body)).not.toMatch(/stacktrace|\.ts:\d+/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('validates the session once per request, however many fields it asks', async () => {
    const validate = jest.spyOn(app.get(SessionService), 'validate');
    try {
      const response = await post(
        'query { a: myOrders(limit: 1) { id } b: myOrders(limit: 2) { id } }',
        alice,
      );
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data.a).toHaveLength(1);
      expect(validate).toHaveBeenCalledTimes(1);
    } finally {
      validate.mockRestore();
    }
  });

  it('serves no landing page', async () => {
    const response = await http.get(PATH).set('Accept', 'text/html');
    expect(response.headers['content-type'] ?? '').not.toMatch(/text\/html/);
  });
});
