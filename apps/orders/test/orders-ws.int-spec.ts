import { AddressInfo, connect as connectTcp, Socket } from 'node:net';
import { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import request from 'supertest';

import {
  parseSessionId,
  Session,
  SessionCookieService,
  SessionService,
  SessionSockets,
  SessionStore,
  SessionUser,
} from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { OrdersService } from '../src/app/orders/orders.service';
import { eventually, LiveSocket, openLiveSocket } from './live-socket';
import { randomSuffix, sessionCookie, startOrdersApp } from './orders-app';

const ORIGIN = 'http://localhost:3000';
/** Numbers the handshakes of `authenticated`, to find the server's answer to each. */
const HANDSHAKE_HEADER = 'x-test-handshake';

interface ListedOrder {
  id: string;
  userId: string;
}
const suite = randomSuffix();
const alice: SessionUser = { id: `alice-${suite}`, username: 'alice', roles: ['customer'] };
const bob: SessionUser = { id: `bob-${suite}`, username: 'bob', roles: ['customer'] };
const auditor: SessionUser = { id: `auditor-${suite}`, username: 'audit', roles: ['auditor'] };
const carol: SessionUser = { id: `carol-${suite}`, username: 'carol', roles: ['customer'] };
const dave: SessionUser = { id: `dave-${suite}`, username: 'dave', roles: ['customer'] };

describe('GET /api/orders/ws (PostgreSQL, Redis)', () => {
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  let url: string;
  let sockets: SessionSockets;
  const open: LiveSocket[] = [];
  /** The server's authentication of each handshake `authenticated` made, by its number. */
  const handshakes = new Map<string, Promise<Session | null>>();
  let handshakeCount = 0;

  beforeAll(async () => {
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-ws-${suite}`),
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    url = `ws://127.0.0.1:${port}/api/orders/ws`;
    http = request(app.getHttpServer());
    sockets = app.get(SessionSockets);
    const authenticate = sockets.authenticate.bind(sockets);
    jest.spyOn(sockets, 'authenticate').mockImplementation((client, request) => {
      const answer = authenticate(client, request);
      const number = request.headers[HANDSHAKE_HEADER];
      if (typeof number === 'string') handshakes.set(number, answer);
      return answer;
    });
  });

  // The server sees a terminated socket close a little later: wait, so that the next test's
  // count of registered sockets starts from a settled number.
  afterEach(async () => {
    for (const socket of open.splice(0)) socket.ws.terminate();
    await eventually(() => sockets.size === 0);
  });

  afterAll(async () => {
    await app?.close();
  });

  function connect(headers: Record<string, string>): LiveSocket {
    const socket = openLiveSocket(url, headers);
    open.push(socket);
    return socket;
  }

  /**
   * A socket whose handshake the server has accepted and registered. Its own registration is
   * awaited, not a count of registered sockets: other sockets may close meanwhile (a
   * revocation's event arrives when it does).
   */
  async function authenticated(headers: Record<string, string>): Promise<LiveSocket> {
    const number = String(handshakeCount++);
    const socket = connect({ ...headers, [HANDSHAKE_HEADER]: number });
    await socket.opened;
    await eventually(() => handshakes.has(number));
    const session = await handshakes.get(number);
    handshakes.delete(number);
    expect(session).not.toBeNull();
    return socket;
  }

  const withCookie = (cookie: string) => ({ Cookie: cookie, Origin: ORIGIN });

  // A refused upgrade's status stands for the close code (`openLiveSocket`).
  it('refuses a handshake without a session with 401, before upgrading it', async () => {
    expect((await connect({ Origin: ORIGIN }).closed).code).toBe(401);
    expect((await connect({ Authorization: 'Bearer nonsense' }).closed).code).toBe(401);
  });

  it('refuses a cookie handshake from a foreign origin, or without one, with 403', async () => {
    const cookie = await sessionCookie(app, alice);
    expect((await connect({ Cookie: cookie, Origin: 'https://evil.example' }).closed).code).toBe(
      403,
    );
    expect((await connect({ Cookie: cookie }).closed).code).toBe(403);
    expect(sockets.socketsOf(alice.id)).toHaveLength(0);
  });

  it('accepts a bearer handshake without an Origin', async () => {
    const cookie = await sessionCookie(app, alice);
    await authenticated({ Authorization: `Bearer ${cookie.split('=')[1]}` });
  });

  it('answers an upgrade to a path it serves no WebSocket on with a JSON 404, nosniff and no-store', async () => {
    const { port } = app.getHttpServer().address() as AddressInfo;
    for (const path of ['/api/orders/nope', '/api/orders/ws/x', '/elsewhere']) {
      const text = await new Promise<string>((resolve) => {
        let received = '';
        const socket = connectTcp(port, '127.0.0.1', () =>
          socket.write(
            `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
              'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
          ),
        );
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => (received += chunk));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(received));
      });
      const [head, body] = text.split('\r\n\r\n');
      expect({ path, status: head.split('\r\n')[0] }).toEqual({
        path,
        status: 'HTTP/1.1 404 Not Found',
      });
      expect(head).toContain('X-Content-Type-Options: nosniff');
      expect(head).toContain('Cache-Control: no-store');
      expect(JSON.parse(body)).toEqual({ statusCode: 404, message: 'Not Found' });
    }
  });

  it("pushes a placed order to all its owner's sockets, REST or GraphQL, and to no one else", async () => {
    const aliceCookie = await sessionCookie(app, alice);
    const bobCookie = await sessionCookie(app, bob);
    const aliceTab1 = await authenticated(withCookie(aliceCookie));
    const aliceTab2 = await authenticated(withCookie(await sessionCookie(app, alice)));
    const bobTab = await authenticated(withCookie(bobCookie));

    const rest = await http
      .post('/api/orders')
      .set('Cookie', aliceCookie)
      .set('Origin', ORIGIN)
      .send({ items: [{ sku: 'WS-1', quantity: 3 }] })
      .expect(201);
    const graphql = await http
      .post('/api/orders/graphql')
      .set('Cookie', aliceCookie)
      .set('Origin', ORIGIN)
      .send({ query: 'mutation { placeOrder(items: [{ sku: "WS-2", quantity: 1 }]) { id } }' })
      .expect(200);
    const ids = [rest.body.id, graphql.body.data.placeOrder.id];

    for (const tab of [aliceTab1, aliceTab2]) {
      await eventually(() => tab.frames.length === 2);
      expect(tab.frames.map((frame) => frame.order?.id)).toEqual(ids);
    }
    expect(aliceTab1.frames[0]).toEqual({
      type: 'order',
      order: { ...rest.body, createdAt: rest.body.createdAt },
    });
    // Bob's own order reaches him: his socket works, and heard nothing of Alice's.
    await http
      .post('/api/orders')
      .set('Cookie', bobCookie)
      .set('Origin', ORIGIN)
      .send({ items: [{ sku: 'WS-BOB', quantity: 1 }] })
      .expect(201);
    await eventually(() => bobTab.frames.length === 1);
    expect(bobTab.frames[0].order?.userId).toBe(bob.id);
  });

  it('closes the socket with 4401 when its session is revoked, and only that one', async () => {
    const cookie = await sessionCookie(app, alice);
    const other = await authenticated(withCookie(await sessionCookie(app, alice)));
    const socket = await authenticated(withCookie(cookie));
    const revokedAt = performance.now();
    await app.get(SessionService).revoke(cookie.split('=')[1]);
    const { code, reason, at } = await socket.closed;
    // Closed on the revocation's event from the lifecycle stream: the periodic check (and a
    // push's read of the store) would have found the session gone and said 'Session ended'.
    expect({ code, reason }).toEqual({ code: 4401, reason: 'Session revoked' });
    const delayMs = at - revokedAt;
    console.info(`ws revocation -> close 4401 in ${delayMs.toFixed(1)} ms`);
    expect(other.ws.readyState).toBe(other.ws.OPEN);
  });

  it('sends an order to no socket whose session ended unannounced, and closes it with 4401', async () => {
    const user: SessionUser = { ...carol, id: `carol-gap-${suite}` };
    const issued = await app.get(SessionService).create(user, { userAgent: 'e2e' });
    const ended = await authenticated(
      withCookie(`${app.get(SessionCookieService).name}=${issued.token}`),
    );
    const live = await authenticated(withCookie(await sessionCookie(app, user)));
    // The store alone publishes no event: what a socket sees when the lifecycle stream has a
    // gap, or before the revocation's event reaches this process.
    const ref = parseSessionId(issued.session.id);
    if (!ref) throw new Error(`not a session id: ${issued.session.id}`);
    expect(await app.get<SessionStore>(SessionStore).revoke(ref)).toBe(issued.session.id);

    const { order } = await app
      .get(OrdersService)
      .place(user, { items: [{ sku: 'WS-GAP', quantity: 1 }] });

    await eventually(() => live.frames.length === 1);
    expect(live.frames[0].order?.id).toBe(order.id);
    expect(ended.frames).toEqual([]);
    expect((await ended.closed).code).toBe(4401);
  });

  it('never pushes an order placed after a revocation was answered to the revoked socket', async () => {
    const sessions = app.get(SessionService);
    const orders = app.get(OrdersService);
    const leaked: number[] = [];
    for (let round = 0; round < 40; round++) {
      const user: SessionUser = { ...dave, id: `dave-${round}-${suite}` };
      const cookie = await sessionCookie(app, user);
      const socket = await authenticated(withCookie(cookie));
      await sessions.revoke(cookie.split('=')[1]);
      await orders.place(user, { items: [{ sku: 'WS-LATE', quantity: 1 }] });
      expect((await socket.closed).code).toBe(4401);
      if (socket.frames.length > 0) leaked.push(round);
    }
    expect(leaked).toEqual([]);
  });

  it('closes every socket of a user whose sessions are all revoked', async () => {
    const tabs = [
      await authenticated(withCookie(await sessionCookie(app, bob))),
      await authenticated(withCookie(await sessionCookie(app, bob))),
    ];
    await app.get(SessionService).revokeAllForUser(bob.id);
    for (const tab of tabs) {
      expect((await tab.closed).code).toBe(4401);
    }
  });

  it("registers a handshake validated while the user's other sessions were revoked, and pushes to it alone", async () => {
    const user: SessionUser = { ...carol, id: `carol-kept-${suite}` };
    const sessions = app.get(SessionService);
    const other = await authenticated(withCookie(await sessionCookie(app, user)));
    const kept = (await sessionCookie(app, user)).split('=')[1];
    // The kept session's handshake: the store answers it, and the answer is taken up only once
    // the revocation's event has closed the other socket.
    const validate = sessions.validate.bind(sessions);
    let answered!: () => void;
    const storeAnswered = new Promise<void>((resolve) => (answered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const hold = jest.spyOn(sessions, 'validate').mockImplementation(async (token) => {
      const session = await validate(token);
      if (token === kept) {
        answered();
        await released;
      }
      return session;
    });
    try {
      const opening = authenticated({ Authorization: `Bearer ${kept}` });
      await storeAnswered;
      await sessions.revokeAllForUser(user.id, { except: sessions.idOf(kept) ?? undefined });
      expect((await other.closed).code).toBe(4401);
      release();
      const socket = await opening;

      const { order } = await app
        .get(OrdersService)
        .place(user, { items: [{ sku: 'WS-KEPT', quantity: 1 }] });
      await eventually(() => socket.frames.length === 1);
      expect(socket.frames[0].order?.id).toBe(order.id);
      expect(other.frames).toEqual([]);
    } finally {
      release();
      hold.mockRestore();
    }
  });

  it('answers a "recent" message under the list\'s roles, checked per message', async () => {
    const aliceCookie = await sessionCookie(app, alice);
    await http
      .post('/api/orders')
      .set('Cookie', aliceCookie)
      .set('Origin', ORIGIN)
      .send({ items: [{ sku: 'WS-RECENT', quantity: 1 }] })
      .expect(201);
    const customer = await authenticated(withCookie(aliceCookie));
    customer.ws.send(JSON.stringify({ event: 'recent' }));
    await eventually(() => customer.frames.length === 1);
    const answer = customer.frames[0] as unknown as { event: string; data: ListedOrder[] };
    expect(answer.event).toBe('recent');
    expect(answer.data.length).toBeGreaterThan(0);
    expect(answer.data.every((order) => order.userId === alice.id)).toBe(true);

    // A session without the list's roles gets no socket at all.
    expect((await connect(withCookie(await sessionCookie(app, auditor))).closed).code).toBe(403);

    // Roles taken away behind the lifecycle stream's back (no event, no check yet): the
    // message's own validation reads them, and refuses it.
    const demoted = { ...alice, id: `alice-demoted-${suite}` };
    const socket = await authenticated(withCookie(await sessionCookie(app, demoted)));
    await app.get<SessionStore>(SessionStore).setRoles(demoted.id, ['auditor']);
    socket.ws.send(JSON.stringify({ event: 'recent' }));
    await eventually(() => socket.frames.length === 1);
    expect(socket.frames[0]).toMatchObject({
      event: 'exception',
      data: { status: 403, pattern: 'recent' },
    });
  });

  it('never answers a message of a revoked session: the socket closes with 4401', async () => {
    const cookie = await sessionCookie(app, bob);
    const socket = await authenticated(withCookie(cookie));
    // Revoked behind the lifecycle stream's back: the next message finds it out.
    await app.get(SessionService).revoke(cookie.split('=')[1]);
    socket.ws.send(JSON.stringify({ event: 'recent' }));
    expect((await socket.closed).code).toBe(4401);
    expect(socket.frames).toEqual([]);
  });

  it('answers 4 "recent" messages in flight, and closes a socket that floods (1008) before checking them', async () => {
    const cookie = await sessionCookie(app, alice);
    const polite = await authenticated(withCookie(cookie));
    for (let i = 0; i < 4; i++) polite.ws.send(JSON.stringify({ event: 'recent' }));
    await eventually(() => polite.frames.length === 4);
    expect(polite.ws.readyState).toBe(polite.ws.OPEN);

    const flooder = await authenticated(withCookie(cookie));
    const validations = jest.spyOn(app.get(SessionService), 'validate');
    const frame = JSON.stringify({ event: 'recent' });
    for (let i = 0; i < 2000; i++) flooder.ws.send(frame);
    expect((await flooder.closed).code).toBe(1008);
    // Each message it got to handle cost one session check; the rest never reached Redis.
    expect(validations.mock.calls.length).toBeLessThan(100);
    validations.mockRestore();
  });

  it('terminates a socket that pings without reading its pongs, once past 1 MiB unread', async () => {
    const socket = await authenticated(withCookie(await sessionCookie(app, alice)));
    const stream = (socket.ws as unknown as { _socket: Socket })._socket;
    stream.pause();
    const payload = Buffer.alloc(125);
    for (let i = 0; i < 200_000; i++) socket.ws.ping(payload);
    // 25 MB of pongs it never reads: the server drops the socket instead of queueing them.
    await eventually(() => sockets.size === 0, 10_000);
    stream.resume();
    expect((await socket.closed).code).toBe(1006);
  });

  it('terminates a socket that leaves the orders pushed to it unread, once past 1 MiB unread', async () => {
    const socket = await authenticated(withCookie(await sessionCookie(app, carol)));
    const stream = (socket.ws as unknown as { _socket: Socket })._socket;
    stream.pause();
    // The largest order there is (50 items, 32-letter SKUs): about 3 KB pushed per order. Once
    // the TCP buffers are full, each one unread would wait in the server's memory, per socket.
    const items = Array.from({ length: 50 }, (_, i) => ({
      sku: `PUSH-${String(i).padStart(2, '0')}-${'X'.repeat(24)}`,
      quantity: 1000,
    }));
    const orders = app.get(OrdersService);
    for (let batch = 0; batch < 120 && sockets.size > 0; batch++) {
      await Promise.all(Array.from({ length: 20 }, () => orders.place(carol, { items })));
    }
    await eventually(() => sockets.size === 0);
    stream.resume();
    expect((await socket.closed).code).toBe(1006);
  }, 60_000);

  it("refuses a user's sockets past the 32nd (429), and takes one again once one closes", async () => {
    const bearer = { Authorization: `Bearer ${(await sessionCookie(app, dave)).split('=')[1]}` };
    const tabs: LiveSocket[] = [];
    for (let i = 0; i < 16; i++) tabs.push(await authenticated(bearer));
    // Another session of the same user shares the allowance.
    const other = withCookie(await sessionCookie(app, dave));
    for (let i = 0; i < 16; i++) tabs.push(await authenticated(other));
    // Refused before its upgrade: `closed` holds the refusal's status.
    const extra = connect(bearer);
    expect((await extra.closed).code).toBe(429);
    expect(tabs.every((tab) => tab.ws.readyState === tab.ws.OPEN)).toBe(true);
    tabs[0].ws.close();
    await eventually(() => sockets.socketsOf(dave.id).length === 31);
    const again = await authenticated(bearer);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(again.ws.readyState).toBe(again.ws.OPEN);
  });

  it("pushes each order to exactly its owner's live sockets while sessions open, end and are revoked, as a model says", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.commands(liveCommands, { maxCommands: 30, size: 'max' }),
        async (sequence) => {
          run++;
          const users = Array.from({ length: LIVE_USERS }, (_, i) => ({
            id: `live-${suite}-${run}-${i}`,
            username: `live-${i}`,
            roles: ['customer'],
          }));
          const real: LiveReal = {
            users,
            tokens: [],
            sockets: [],
            open: async (token) => authenticated({ Authorization: `Bearer ${token}` }),
            login: async (user) => (await sessionCookie(app, user)).split('=')[1],
            place: async (user, token) => {
              if (token === undefined) {
                return (await app.get(OrdersService).place(user, { items: LIVE_ITEMS })).order.id;
              }
              const placed = await http
                .post('/api/orders')
                .set('Authorization', `Bearer ${token}`)
                .send({ items: LIVE_ITEMS })
                .expect(201);
              return placed.body.id;
            },
            sessions: app.get(SessionService),
            store: app.get<SessionStore>(SessionStore),
          };
          const model: LiveModel = { sessions: [], sockets: [] };
          try {
            await fc.asyncModelRun(() => ({ model, real }), sequence);
            // Sockets of sessions ended behind the service's back close at the next check.
            await sockets.checkAll();
            for (const [i, held] of model.sockets.entries()) {
              if (!held.live) expect(await closeCode(real.sockets[i])).toBe(4401);
            }
          } finally {
            // Every socket this run opened, the one a failed command never handed over too.
            for (const socket of open) socket.ws.terminate();
            await eventually(() => sockets.size === 0);
          }
        },
      ),
      { numRuns: 20 },
    );
  }, 180_000);

  it('closes a socket whose message is larger than the one message clients send (1009)', async () => {
    const socket = await authenticated(withCookie(await sessionCookie(app, bob)));
    socket.ws.send(JSON.stringify({ event: 'recent', data: 'x'.repeat(8192) }));
    expect((await socket.closed).code).toBe(1009);
  });
});

describe('GET /api/orders/ws with a 2 s idle timeout (PostgreSQL, Redis)', () => {
  let app: INestApplication;
  let url: string;
  const open: LiveSocket[] = [];

  beforeAll(async () => {
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-ws-idle-${suite}`),
      SESSION_ALLOWED_ORIGINS: ORIGIN,
      SESSION_IDLE_TIMEOUT: '2',
    });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    url = `ws://127.0.0.1:${port}/api/orders/ws`;
  });

  afterAll(async () => {
    for (const socket of open) socket.ws.terminate();
    await app?.close();
  });

  it('keeps a session alive by its messages only: a quiet or pinging socket closes with 4401 when it idles out', async () => {
    const connect = async (user: SessionUser) => {
      const cookie = await sessionCookie(app, user);
      const socket = openLiveSocket(url, { Cookie: cookie, Origin: ORIGIN });
      open.push(socket);
      await socket.opened;
      return { socket, token: cookie.split('=')[1] };
    };
    const quiet = await connect({ ...alice, id: `quiet-${suite}` });
    const pinging = await connect({ ...bob, id: `pinging-${suite}` });
    const talking = await connect({ ...carol, id: `talking-${suite}` });
    // Orders pushed to the quiet socket read its session without sliding it.
    const orders = app.get(OrdersService);
    const quietUser: SessionUser = { ...alice, id: `quiet-${suite}` };
    const activity = setInterval(() => {
      pinging.socket.ws.ping();
      talking.socket.ws.send(JSON.stringify({ event: 'recent' }));
      void orders.place(quietUser, { items: [{ sku: 'IDLE', quantity: 1 }] });
    }, 300);
    try {
      const expired = { code: 4401, reason: 'Session expired' };
      const [a, b] = await Promise.all([quiet.socket.closed, pinging.socket.closed]);
      expect([a, b].map(({ code, reason }) => ({ code, reason }))).toEqual([expired, expired]);
      // Its sessions idled out meanwhile; the one whose socket sent messages did not.
      const sessions = app.get(SessionService);
      expect(await sessions.validate(quiet.token)).toBeNull();
      expect(talking.socket.ws.readyState).toBe(talking.socket.ws.OPEN);
      expect(await sessions.validate(talking.token)).not.toBeNull();
    } finally {
      clearInterval(activity);
    }
  }, 30_000);
});

const LIVE_USERS = 2;
const LIVE_ITEMS = [{ sku: 'LIVE-MODEL', quantity: 1 }];

/** The model: each session's owner and whether it is live; each socket's and what it heard. */
interface LiveModel {
  sessions: { user: number; live: boolean }[];
  sockets: { session: number; live: boolean; orders: string[] }[];
}

interface LiveReal {
  users: SessionUser[];
  /** The token of each session of the model, by index. */
  tokens: string[];
  /** Each socket of the model, by index. */
  sockets: LiveSocket[];
  open(token: string): Promise<LiveSocket>;
  login(user: SessionUser): Promise<string>;
  /** Places an order over REST with the token, or in the service without one. */
  place(user: SessionUser, token?: string): Promise<string>;
  sessions: SessionService;
  store: SessionStore;
}

/**
 * What every socket heard is what the model says: the orders placed for its session's owner
 * while it was live, and nothing since.
 */
function expectHeard(model: LiveModel, real: LiveReal): void {
  const heard = real.sockets.map((socket) =>
    socket.frames.map((frame) => frame.order?.id ?? `?${frame.type}`),
  );
  expect(heard).toEqual(model.sockets.map((socket) => socket.orders));
}

/** How the socket closed; fails, rather than hangs, when it stays open. */
async function closeCode(socket: LiveSocket): Promise<number> {
  let code: number | undefined;
  void socket.closed.then((closed) => (code = closed.code));
  await eventually(() => code !== undefined);
  return code as number;
}

function endSessions(model: LiveModel, ended: (session: number) => boolean): number[] {
  const closing: number[] = [];
  for (const [i, session] of model.sessions.entries()) {
    if (session.live && ended(i)) session.live = false;
  }
  for (const [i, socket] of model.sockets.entries()) {
    if (socket.live && !model.sessions[socket.session].live) {
      socket.live = false;
      closing.push(i);
    }
  }
  return closing;
}

/** A socket opened on a new session of a user, or on another of a session already open. */
class Open implements fc.AsyncCommand<LiveModel, LiveReal> {
  constructor(
    readonly user: number,
    readonly reuse: number | null,
  ) {}
  check = () => true;
  async run(model: LiveModel, real: LiveReal): Promise<void> {
    const live = model.sessions.flatMap((s, i) => (s.live && s.user === this.user ? [i] : []));
    let session: number;
    if (this.reuse !== null && live.length > 0) {
      session = live[this.reuse % live.length];
    } else {
      session = model.sessions.push({ user: this.user, live: true }) - 1;
      real.tokens[session] = await real.login(real.users[this.user]);
    }
    real.sockets.push(await real.open(real.tokens[session]));
    model.sockets.push({ session, live: true, orders: [] });
    expectHeard(model, real);
  }
  toString = () => `Open(user ${this.user}, ${this.reuse === null ? 'new session' : 'reuse'})`;
}

/** An order of a user, over REST with one of their live sessions or placed in the service. */
class Place implements fc.AsyncCommand<LiveModel, LiveReal> {
  constructor(
    readonly user: number,
    readonly rest: boolean,
  ) {}
  check = () => true;
  async run(model: LiveModel, real: LiveReal): Promise<void> {
    const own = model.sessions.findIndex((s) => s.live && s.user === this.user);
    const token = this.rest && own >= 0 ? real.tokens[own] : undefined;
    const id = await real.place(real.users[this.user], token);
    const hearing = model.sockets.filter(
      (socket) => socket.live && model.sessions[socket.session].user === this.user,
    );
    for (const socket of hearing) socket.orders.push(id);
    const heardBy = (i: number) => real.sockets[i].frames.some((frame) => frame.order?.id === id);
    await eventually(() =>
      model.sockets.every((socket, i) => !hearing.includes(socket) || heardBy(i)),
    );
    expectHeard(model, real);
    // The push closed the sockets of the user's sessions that ended unannounced (4401).
    for (const [i, socket] of model.sockets.entries()) {
      if (!socket.live && model.sessions[socket.session].user === this.user) {
        expect(await closeCode(real.sockets[i])).toBe(4401);
      }
    }
  }
  toString = () => `Place(user ${this.user}${this.rest ? ', REST' : ''})`;
}

/**
 * A session ends: logged out (`revoke`), its user's others revoked (`others`), or deleted in the
 * store with no event (`unannounced`, as in a gap of the lifecycle stream). Announced ends
 * close its sockets with 4401 at once; an unannounced one's sockets hear no order placed since.
 */
class End implements fc.AsyncCommand<LiveModel, LiveReal> {
  constructor(
    readonly pick: number,
    readonly how: 'revoke' | 'others' | 'unannounced',
  ) {}
  check = (model: Readonly<LiveModel>) => model.sessions.some((s) => s.live);
  async run(model: LiveModel, real: LiveReal): Promise<void> {
    const live = model.sessions.flatMap((s, i) => (s.live ? [i] : []));
    const session = live[this.pick % live.length];
    const token = real.tokens[session];
    const user = model.sessions[session].user;
    let closing: number[];
    if (this.how === 'others') {
      const except = real.sessions.idOf(token) ?? undefined;
      await real.sessions.revokeAllForUser(real.users[user].id, { except });
      closing = endSessions(model, (i) => i !== session && model.sessions[i].user === user);
    } else {
      if (this.how === 'revoke') {
        await real.sessions.revoke(token);
      } else {
        const ref = parseSessionId(real.sessions.idOf(token));
        if (!ref) throw new Error('not a session token');
        await real.store.revoke(ref);
      }
      closing = endSessions(model, (i) => i === session);
    }
    if (this.how !== 'unannounced') {
      for (const i of closing) expect(await closeCode(real.sockets[i])).toBe(4401);
    }
    expectHeard(model, real);
  }
  toString = () => `End(#${this.pick}, ${this.how})`;
}

const liveUser = fc.nat(LIVE_USERS - 1);
const endArb = fc
  .tuple(fc.nat(20), fc.constantFrom('revoke' as const, 'others' as const, 'unannounced' as const))
  .map(([pick, how]) => new End(pick, how));
// fc.commands picks among its arbitraries evenly: opening, placing and ending are listed twice
// each, so that sequences often place an order for a user whose sessions ended.
const liveCommands = [
  fc.tuple(liveUser, fc.option(fc.nat(5))).map(([user, reuse]) => new Open(user, reuse)),
  fc.tuple(liveUser, fc.option(fc.nat(5))).map(([user, reuse]) => new Open(user, reuse)),
  fc.tuple(liveUser, fc.boolean()).map(([user, rest]) => new Place(user, rest)),
  fc.tuple(liveUser, fc.boolean()).map(([user, rest]) => new Place(user, rest)),
  endArb,
  endArb,
];
