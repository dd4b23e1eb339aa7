import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';

import {
  Session,
  SessionService,
  SessionSocket,
  SessionSockets,
  SessionStore,
  SessionUser,
} from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { OrdersService } from '../src/app/orders/orders.service';
import { eventually, LiveSocket, openLiveSocket, refusedHandshake } from './live-socket';
import { ORIGIN, randomSuffix, sessionCookie, startOrdersApp } from './orders-app';

const suite = randomSuffix();
const ITEMS = [{ sku: 'WS-OPEN', quantity: 1 }];

/** A user of the suite, with a name of its own so that no other test's order reaches it. */
function user(name: string, roles: string[] = ['customer']): SessionUser {
  return { id: `${name}-${suite}`, username: name, roles };
}

describe('GET /api/orders/ws handshake (PostgreSQL, Redis)', () => {
  let app: INestApplication;
  let url: string;
  let sockets: SessionSockets;
  let sessions: SessionService;
  let orders: OrdersService;
  const open: LiveSocket[] = [];

  beforeAll(async () => {
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-ws-handshake-${suite}`),
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    url = `ws://127.0.0.1:${port}/api/orders/ws`;
    sockets = app.get(SessionSockets);
    sessions = app.get(SessionService);
    orders = app.get(OrdersService);
  });

  afterEach(async () => {
    jest.restoreAllMocks();
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

  const bearer = async (who: SessionUser) => ({
    Authorization: `Bearer ${(await sessionCookie(app, who)).split('=')[1]}`,
  });

  it('refuses a handshake before upgrading it: JSON 401 without a live session, 403 for a foreign Origin or no role of the list', async () => {
    const authenticate = jest.spyOn(sockets, 'authenticate');
    const cookie = await sessionCookie(app, user('refused'));
    const revoked = await sessionCookie(app, user('refused'));
    await sessions.revoke(revoked.split('=')[1]);
    const twice = await bearer(user('refused'));
    const unauthenticated = { statusCode: 401, message: 'Authentication required' };
    const foreign = { statusCode: 403, message: 'Origin not allowed' };
    const roleless = { statusCode: 403, message: 'Missing role' };
    const cases: [string, Record<string, string>, object][] = [
      ['no token', { Origin: ORIGIN }, unauthenticated],
      ['malformed bearer', { Authorization: 'Bearer nonsense' }, unauthenticated],
      ['revoked cookie', { Cookie: revoked, Origin: ORIGIN }, unauthenticated],
      ['two cookies', { Cookie: `${cookie}; ${revoked}`, Origin: ORIGIN }, unauthenticated],
      ['cookie, foreign Origin', { Cookie: cookie, Origin: 'https://evil.example' }, foreign],
      ['cookie, no Origin', { Cookie: cookie }, foreign],
      ['no role', await bearer(user('norole', [])), roleless],
      ['another role only', await bearer(user('auditor', ['auditor'])), roleless],
      [
        'two Authorization lines',
        // Node writes one header line per value of an array.
        { Authorization: [twice.Authorization, twice.Authorization] as unknown as string },
        unauthenticated,
      ],
    ];
    for (const [name, headers, body] of cases) {
      const answer = await refusedHandshake(url, headers);
      expect({ name, status: answer.status, body: answer.body }).toEqual({
        name,
        status: (body as { statusCode: number }).statusCode,
        body,
      });
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(answer.headers['cache-control']).toBe('no-store');
    }
    // None was ever a socket: nothing to register, nothing any push could reach.
    expect(authenticate).not.toHaveBeenCalled();
  });

  it('pushes every order placed once the client sees open, however long the registration takes', async () => {
    const authenticate = sockets.authenticate.bind(sockets);
    const liveSocketsOf = sockets.liveSocketsOf.bind(sockets);
    /** Each user's latest push lookup: awaited, the push it served was sent (or not). */
    const lookups = new Map<string, Promise<SessionSocket[]>>();
    jest.spyOn(sockets, 'liveSocketsOf').mockImplementation((userId) => {
      const lookup = liveSocketsOf(userId);
      lookups.set(userId, lookup);
      return lookup;
    });
    const missed: number[] = [];
    for (let round = 0; round < 10; round++) {
      const owner = user(`open-${round}`);
      const socket = connect(await bearer(owner));
      // The order is placed at the client's `open`, and its push has run once this resolves.
      const placedAtOpen = new Promise<string>((resolve) =>
        socket.ws.once('open', () => {
          void orders.place(owner, { items: ITEMS }).then(async ({ order }) => {
            await lookups.get(owner.id);
            resolve(order.id);
          });
        }),
      );
      // The socket's registration waits until that push has run: were the client told `open`
      // before its socket is registered, the push would miss it. A server that registers first
      // holds the 101 meanwhile, and is let go on a timer: the client cannot place that order.
      let registered!: Promise<Session | null>;
      jest.spyOn(sockets, 'authenticate').mockImplementationOnce((client, request) => {
        registered = (async () => {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            placedAtOpen,
            new Promise((resolve) => (timer = setTimeout(resolve, 200))),
          ]).finally(() => clearTimeout(timer));
          return authenticate(client, request);
        })();
        return registered;
      });
      const first = await placedAtOpen;
      expect(await registered).not.toBeNull();
      const { order: marker } = await orders.place(owner, { items: ITEMS });
      await eventually(() => socket.frames.some((frame) => frame.order?.id === marker.id));
      const heard = socket.frames.map((frame) => frame.order?.id);
      if (heard[0] !== first) missed.push(round);
      expect(heard.slice(-1)).toEqual([marker.id]);
    }
    expect(missed).toEqual([]);
  });

  it('closes a live socket with 4403 when its roles are removed, and keeps one that keeps a role of the list', async () => {
    const customer = user('demoted');
    const admin = user('promoted', ['admin']);
    const demoted = connect(await bearer(customer));
    const kept = connect(await bearer(admin));
    await Promise.all([demoted.opened, kept.opened]);
    await sessions.setRolesForUser(customer.id, ['auditor']);
    await sessions.setRolesForUser(admin.id, ['admin', 'auditor']);
    const { code, reason } = await demoted.closed;
    expect({ code, reason }).toEqual({ code: 4403, reason: 'Role removed' });

    // Still heard: an order of the user who kept a role reaches the socket.
    const { order } = await orders.place(admin, { items: ITEMS });
    await eventually(() => kept.frames.some((frame) => frame.order?.id === order.id));
    expect(kept.ws.readyState).toBe(kept.ws.OPEN);
  });

  it('closes with 4403 a socket whose roles were removed unannounced, at the next check of the store', async () => {
    const customer = user('silently-demoted');
    const socket = connect(await bearer(customer));
    await socket.opened;
    // Behind the lifecycle stream: the store alone announces nothing (a gap in the events).
    await app.get<SessionStore>(SessionStore).setRoles(customer.id, []);
    await sockets.checkAll();
    expect((await socket.closed).code).toBe(4403);
  });

  it('pushes no order to a socket whose roles were removed unannounced, and closes it with 4403', async () => {
    const customer = user('demoted-before-push');
    const socket = connect(await bearer(customer));
    await socket.opened;
    // Behind the lifecycle stream: no event, and no check of the store (periodic, or after a
    // gap in the events) but the push's own.
    jest.spyOn(sockets, 'checkAll').mockResolvedValue();
    await app.get<SessionStore>(SessionStore).setRoles(customer.id, []);
    await orders.place(customer, { items: ITEMS });
    expect((await socket.closed).code).toBe(4403);
    expect(socket.frames).toEqual([]);
  });

  it('closes with 4403 a socket whose roles were removed between its admission and its registration', async () => {
    const customer = user('demoted-midway');
    const token = (await bearer(customer)).Authorization.split(' ')[1];
    const authenticate = sockets.authenticate.bind(sockets);
    // Admitted with its roles; they go before the socket is registered, whose registration
    // reads the admission's validation, and the change's event arrives when it does.
    jest.spyOn(sockets, 'authenticate').mockImplementationOnce(async (client, request) => {
      await sessions.setRolesForUser(customer.id, []);
      return authenticate(client, request);
    });
    const socket = connect({ Authorization: `Bearer ${token}` });
    expect((await socket.closed).code).toBe(4403);
    expect(socket.frames).toEqual([]);
  });

  it('validates a handshake once, and closes with 4401 a socket whose session ended after its admission', async () => {
    const token = (await bearer(user('admitted-once'))).Authorization.split(' ')[1];
    const validate = jest.spyOn(sessions, 'validate');
    const socket = connect({ Authorization: `Bearer ${token}` });
    await socket.opened;
    expect(validate.mock.calls.filter(([given]) => given === token)).toHaveLength(1);

    const ended = (await bearer(user('revoked-midway'))).Authorization.split(' ')[1];
    const authenticate = sockets.authenticate.bind(sockets);
    jest.spyOn(sockets, 'authenticate').mockImplementationOnce(async (client, request) => {
      await sessions.revoke(ended);
      return authenticate(client, request);
    });
    const late = connect({ Authorization: `Bearer ${ended}` });
    expect((await late.closed).code).toBe(4401);
    expect(late.frames).toEqual([]);
  });

  it('refuses with a JSON 429 a handshake past the 32 sockets a user may hold, before upgrading it', async () => {
    const many = user('many-tabs');
    const headers = await bearer(many);
    const tabs = Array.from({ length: 32 }, () => connect(headers));
    await Promise.all(tabs.map((tab) => tab.opened));
    const answer = await refusedHandshake(url, headers);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 429,
      body: { statusCode: 429, message: 'Too many sockets' },
    });
    expect(sockets.socketsOf(many.id)).toHaveLength(32);
  });

  it('holds at most 32 sockets of a user when 48 handshakes of one session race, and refuses (429) or closes (1008) the others', async () => {
    const flood = user('flood');
    const headers = await bearer(flood);
    const tabs = Array.from({ length: 48 }, () => connect(headers));
    // Admitted while fewer than 32 were registered, a handshake is closed with 1008 once
    // registered past them; admitted later, it is refused before its upgrade.
    const ended: number[] = [];
    for (const tab of tabs) void tab.closed.then(({ code }) => ended.push(code));
    await eventually(() => ended.length === 16);
    expect(ended.filter((code) => code !== 1008 && code !== 429)).toEqual([]);
    expect(sockets.socketsOf(flood.id)).toHaveLength(32);
    expect(tabs.filter((tab) => tab.ws.readyState === tab.ws.OPEN)).toHaveLength(32);
  });

  it('ignores binary, malformed and unknown messages, and answers the next "recent"', async () => {
    const socket = connect(await bearer(user('fuzzer')));
    await socket.opened;
    const junk: (string | Buffer)[] = [
      Buffer.from([0xff, 0x00, 0xfe]),
      Buffer.from(JSON.stringify({ event: 'recent' }).slice(0, 5)),
      'not json',
      'null',
      '[]',
      '"recent"',
      JSON.stringify({ event: 'constructor' }),
      JSON.stringify({ event: '__proto__' }),
      JSON.stringify({ event: 'handleConnection' }),
      JSON.stringify({ event: { toString: null } }),
    ];
    for (const frame of junk) socket.ws.send(frame);
    socket.ws.send(JSON.stringify({ event: 'recent' }));
    await eventually(() => socket.frames.length > 0);
    expect(socket.frames).toEqual([{ event: 'recent', data: [] }]);
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  });

  it('closes a socket whose message, sent in small fragments, outgrows 4 KiB (1009)', async () => {
    const socket = connect(await bearer(user('fragments')));
    await socket.opened;
    for (let i = 0; i < 40; i++) socket.ws.send('x'.repeat(200), { fin: false });
    expect((await socket.closed).code).toBe(1009);
  });
});
