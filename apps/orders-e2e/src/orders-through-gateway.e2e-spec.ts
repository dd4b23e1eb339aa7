import { randomBytes } from 'node:crypto';

import WebSocket from 'ws';

import { eventually } from '@cloakroom/e2e-support';

import { OrdersStack } from './support/orders-stack';

interface ListedOrder {
  id: string;
  userId: string;
}

interface Frame {
  type: string;
  order?: ListedOrder;
}

/** A client socket that records its frames and how it ended. */
function openSocket(url: string, headers: Record<string, string>) {
  const ws = new WebSocket(url, { headers });
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    ws.on('close', (code, reason) =>
      resolve({ code, reason: String(reason), at: performance.now() }),
    );
    ws.on('unexpected-response', (_req, res) =>
      resolve({ code: res.statusCode ?? 0, reason: '', at: performance.now() }),
    );
  });
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  return { ws, frames, closed, opened };
}

/**
 * Orders' paged list, GraphQL and live WebSocket as a browser meets them: the built auth,
 * orders and gateway, sessions from a real login, everything through the gateway.
 */
describe('orders through the gateway (built apps)', () => {
  const stack = new OrdersStack();
  let origin: string;
  let socketUrl: string;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    await stack.start();
    origin = stack.baseUrl;
    socketUrl = `${stack.baseUrl.replace(/^http/, 'ws')}/api/orders/ws`;
  }, 60_000);

  afterEach(() => {
    for (const ws of sockets.splice(0)) ws.terminate();
  });

  afterAll(async () => {
    await stack.stop();
  });

  /** Logs in with a cookie, as the page does; answers the `Cookie` header to send back. */
  async function login(username: string, password = `${username}-password`): Promise<string> {
    const response = await fetch(`${origin}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: origin },
      body: JSON.stringify({ username, password }),
    });
    expect(response.status).toBe(200);
    return sessionCookieOf(response);
  }

  /** The session cookie an answer sets, as the `Cookie` header to send back. */
  function sessionCookieOf(response: Response): string {
    return response.headers.getSetCookie()[0].split(';')[0];
  }

  function send(cookie: string, method: string, path: string, body?: unknown, from = origin) {
    return fetch(`${origin}${path}`, {
      method,
      headers: { Cookie: cookie, Origin: from, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  const placeOrder = (cookie: string, sku: string) =>
    send(cookie, 'POST', '/api/orders', { items: [{ sku, quantity: 1 }] });

  function graphql(cookie: string | null, query: string, from = origin) {
    return fetch(`${origin}/api/orders/graphql`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Origin: from,
        ...(cookie && { Cookie: cookie }),
      },
      body: JSON.stringify({ query }),
    }).then(async (response) => ({
      status: response.status,
      body: (await response.json()) as {
        data?: Record<string, unknown> | null;
        errors?: { extensions: { code: string } }[];
      },
    }));
  }

  function socket(headers: Record<string, string>) {
    const opened = openSocket(socketUrl, headers);
    sockets.push(opened.ws);
    return opened;
  }

  /** An authenticated socket: its owner's next order reaches it (the probe keeps retrying). */
  async function liveSocket(cookie: string) {
    const live = socket({ Cookie: cookie, Origin: origin });
    await live.opened;
    await eventually(async () => {
      await placeOrder(cookie, 'PROBE');
      await new Promise((resolve) => setTimeout(resolve, 100));
      return live.frames.length > 0;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    live.frames.length = 0;
    return live;
  }

  describe('GET /api/orders?limit=&cursor=', () => {
    it('walks ~120 orders page by page while more are placed: no duplicate, none skipped', async () => {
      const cookie = await login('alice');
      for (let burst = 0; burst < 12; burst++) {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) => placeOrder(cookie, `P-${burst}-${i}`)),
        );
      }
      const everything = await send(cookie, 'GET', '/api/orders?limit=200');
      const existing = ((await everything.json()) as ListedOrder[]).map((order) => order.id);
      expect(existing.length).toBeGreaterThanOrEqual(120);

      const seen: string[] = [];
      let next: string | null = '/api/orders?limit=30';
      let pages = 0;
      while (next) {
        const [response]: [Response, unknown] = await Promise.all([
          send(cookie, 'GET', next),
          placeOrder(cookie, `DURING-${pages}`),
        ]);
        expect(response.status).toBe(200);
        seen.push(...((await response.json()) as ListedOrder[]).map((order) => order.id));
        const link: string | null = response.headers.get('link');
        next = (link && /^<([^>]+)>; rel="next"$/.exec(link)?.[1]) || null;
        pages++;
      }
      expect(new Set(seen).size).toBe(seen.length);
      const before = new Set(existing);
      expect(seen.filter((id) => before.has(id))).toEqual(existing);
      expect(pages).toBeGreaterThanOrEqual(Math.ceil(existing.length / 30));
    });

    it('answers 400 to a limit out of bounds or a forged cursor, and the page still reads an array', async () => {
      const cookie = await login('bob');
      for (const query of ['limit=201', 'limit=0', 'limit=abc', 'cursor=%00%01', 'cursor=eyJ9']) {
        const response = await send(cookie, 'GET', `/api/orders?${query}`);
        expect(response.status).toBe(400);
        expect(await response.json()).toEqual({ statusCode: 400, message: expect.any(String) });
      }
      const plain = await send(cookie, 'GET', '/api/orders');
      expect(Array.isArray(await plain.json())).toBe(true);
    });
  });

  describe('POST /api/orders with an Idempotency-Key', () => {
    it('places one order for a request sent 10 times at once and retried, the retries marked replayed', async () => {
      const cookie = await login('alice');
      const key = randomBytes(16).toString('hex');
      const sku = `IDEM-${key.slice(0, 8)}`;
      const post = (quantity = 1) =>
        fetch(`${origin}/api/orders`, {
          method: 'POST',
          headers: {
            Cookie: cookie,
            Origin: origin,
            'Content-Type': 'application/json',
            'Idempotency-Key': key,
          },
          body: JSON.stringify({ items: [{ sku, quantity }] }),
        });
      const answers = await Promise.all(Array.from({ length: 10 }, () => post()));
      expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(201));
      const ids = new Set(
        await Promise.all(
          answers.map(async (answer) => ((await answer.json()) as { id: string }).id),
        ),
      );
      expect(ids.size).toBe(1);
      const replayed = answers.filter((answer) => answer.headers.get('idempotent-replayed'));
      expect(replayed.map((answer) => answer.headers.get('idempotent-replayed'))).toEqual(
        Array(9).fill('true'),
      );
      const reused = await post(2);
      expect(reused.status).toBe(422);
      expect(await reused.json()).toEqual({
        statusCode: 422,
        message: expect.any(String),
        error: 'idempotency_key_reused',
      });
      const mine = (await (await send(cookie, 'GET', '/api/orders?limit=200')).json()) as {
        id: string;
        items: { sku: string }[];
      }[];
      expect(mine.filter((order) => order.items[0].sku === sku).map((order) => order.id)).toEqual([
        ...ids,
      ]);
    });
  });

  describe('POST /api/orders/graphql', () => {
    it('answers 200 with data to a customer: placeOrder, then myOrders', async () => {
      const cookie = await login('bob');
      const placed = await graphql(
        cookie,
        'mutation { placeOrder(items: [{ sku: "GQL-E2E", quantity: 2 }]) { id } }',
      );
      expect(placed.status).toBe(200);
      const id = (placed.body.data?.['placeOrder'] as { id: string }).id;
      const mine = await graphql(
        cookie,
        'query { myOrders { id items { sku quantity } createdAt } }',
      );
      expect(mine.body.errors).toBeUndefined();
      expect((mine.body.data?.['myOrders'] as { id: string }[])[0]).toMatchObject({
        id,
        items: [{ sku: 'GQL-E2E', quantity: 2 }],
      });
    });

    it('answers UNAUTHENTICATED without a session and FORBIDDEN without the role', async () => {
      const anonymous = await graphql(null, 'query { myOrders { id } }');
      expect(anonymous.body.data).toBeNull();
      expect(anonymous.body.errors?.map((error) => error.extensions.code)).toEqual([
        'UNAUTHENTICATED',
      ]);
      const admin = await graphql(
        await login('admin'),
        'mutation { placeOrder(items: [{ sku: "X", quantity: 1 }]) { id } }',
      );
      expect(admin.body.data).toBeNull();
      expect(admin.body.errors?.map((error) => error.extensions.code)).toEqual(['FORBIDDEN']);
    });

    it('refuses a cookie mutation from a foreign origin, and one sent over GET', async () => {
      const cookie = await login('alice');
      const mutation = 'mutation { placeOrder(items: [{ sku: "CSRF", quantity: 1 }]) { id } }';
      const foreign = await graphql(cookie, mutation, 'https://evil.example');
      expect(foreign.body.data).toBeNull();
      expect(foreign.body.errors?.map((error) => error.extensions.code)).toEqual(['FORBIDDEN']);
      const overGet = await fetch(
        `${origin}/api/orders/graphql?query=${encodeURIComponent(mutation)}`,
        { headers: { Cookie: cookie, 'apollo-require-preflight': 'true' } },
      );
      expect(overGet.status).toBeGreaterThanOrEqual(400);
      const mine = await send(cookie, 'GET', '/api/orders?limit=200');
      expect(JSON.stringify(await mine.json())).not.toContain('CSRF');
    });
  });

  describe('GET /api/orders/ws', () => {
    // A refused upgrade's status stands for the close code (`openSocket`).
    it('refuses a handshake without a session (401), or with a cookie from a foreign origin (403)', async () => {
      expect((await socket({ Origin: origin }).closed).code).toBe(401);
      const cookie = await login('alice');
      expect((await socket({ Cookie: cookie, Origin: 'https://evil.example' }).closed).code).toBe(
        403,
      );
    });

    it('pushes a placed order to its owner only', async () => {
      const alice = await login('alice');
      const bob = await login('bob');
      const aliceLive = await liveSocket(alice);
      const bobLive = await liveSocket(bob);
      const placed = (await (await placeOrder(alice, 'LIVE-1')).json()) as ListedOrder;
      await eventually(() => aliceLive.frames.length === 1);
      expect(aliceLive.frames[0]).toEqual({ type: 'order', order: placed });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(bobLive.frames).toEqual([]);
    });

    it('closes the socket with 4401 when its session logs out, and says how fast', async () => {
      const delays: number[] = [];
      for (let run = 0; run < 5; run++) {
        const cookie = await login('alice');
        const live = await liveSocket(cookie);
        const loggedOutAt = performance.now();
        const logout = await send(cookie, 'POST', '/api/auth/logout');
        expect(logout.status).toBe(204);
        const { code, reason, at } = await live.closed;
        // Closed on the logout's event: orders' periodic check of its sockets (30 s away)
        // would have found the session gone and said 'Session ended'.
        expect({ code, reason }).toEqual({ code: 4401, reason: 'Session revoked' });
        delays.push(at - loggedOutAt);
      }
      delays.sort((a, b) => a - b);
      console.info(
        `logout -> WebSocket closed 4401 through the gateway, 5 runs: ` +
          `min ${delays[0].toFixed(1)} ms, median ${delays[2].toFixed(1)} ms, ` +
          `max ${delays[4].toFixed(1)} ms (from sending the logout)`,
      );
    });

    it("closes the other devices' sockets at once on every revocation auth answers, and on a role taken away (4403)", async () => {
      const admin = await login('admin');
      const username = `mobile-${randomBytes(4).toString('hex')}`;
      const password = randomBytes(12).toString('hex');
      const created = await send(admin, 'POST', '/api/auth/users', {
        username,
        password,
        roles: ['customer'],
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      const signIn = (secret = password) => login(username, secret);
      /** Resolves with how each socket ended, once every one of them has. */
      const ends = (...lives: { closed: Promise<{ code: number; reason: string }> }[]) =>
        Promise.all(
          lives.map(({ closed }) => closed.then(({ code, reason }) => ({ code, reason }))),
        );
      const revoked = { code: 4401, reason: 'Session revoked' };

      // "Log out my other devices": every other session's socket closes; the caller's stays.
      const here = await signIn();
      const [phone, tablet] = [await signIn(), await signIn()];
      const hereLive = await liveSocket(here);
      const others = [await liveSocket(phone), await liveSocket(tablet)];
      expect((await send(here, 'DELETE', '/api/auth/sessions')).status).toBe(204);
      expect(await ends(...others)).toEqual([revoked, revoked]);
      const placed = (await (await placeOrder(here, 'OTHERS-GONE')).json()) as ListedOrder;
      // Its frames include the other sockets' probes: they belong to the same user.
      await eventually(() => hereLive.frames.some((frame) => frame.order?.id === placed.id));

      // A password change: the other devices' sockets close, and so does the caller's old one
      // (its token is dead: the session was rotated).
      const laptop = await liveSocket(await signIn());
      const newPassword = randomBytes(12).toString('hex');
      const changed = await send(here, 'POST', '/api/auth/password', {
        currentPassword: password,
        newPassword,
      });
      expect(changed.status).toBe(200);
      const rotated = sessionCookieOf(changed);
      expect(await ends(laptop, hereLive)).toEqual([
        revoked,
        { code: 4401, reason: 'Session rotated' },
      ]);

      // An admin takes the role away: the socket closes (4403) and the next operation is
      // refused, at once; a new handshake is refused (403) until the role is back.
      const rotatedLive = await liveSocket(rotated);
      const setRoles = (roles: string[]) =>
        send(admin, 'PUT', `/api/auth/users/${id}/roles`, { roles });
      expect((await setRoles([])).status).toBe(200);
      expect(await ends(rotatedLive)).toEqual([{ code: 4403, reason: 'Role removed' }]);
      const mine = await graphql(rotated, 'query { myOrders { id } }');
      expect(mine.body.errors?.map((error) => error.extensions.code)).toEqual(['FORBIDDEN']);
      expect((await socket({ Cookie: rotated, Origin: origin }).closed).code).toBe(403);
      expect((await setRoles(['customer'])).status).toBe(200);
      const restoredLive = await liveSocket(rotated);

      // An admin revokes the user's sessions, then disables the user: each closes at once.
      expect((await send(admin, 'DELETE', `/api/auth/users/${id}/sessions`)).status).toBe(204);
      expect(await ends(restoredLive)).toEqual([revoked]);
      const last = socket({ Cookie: await signIn(newPassword), Origin: origin });
      await last.opened;
      await eventually(() => last.ws.readyState === last.ws.OPEN);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(
        (await send(admin, 'PUT', `/api/auth/users/${id}/disabled`, { disabled: true })).status,
      ).toBe(200);
      expect(await ends(last)).toEqual([revoked]);
    }, 60_000);
  });
});
