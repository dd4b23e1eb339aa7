import type { IncomingMessage } from 'node:http';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { INestApplication, Injectable } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule, Query, Resolver, Subscription } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { Client, createClient } from 'graphql-ws';
import { WebSocket } from 'ws';

import type { Session } from '../src';
import {
  Roles,
  SessionGuard,
  SessionModule,
  SessionService,
  SessionSockets,
  SessionStore,
} from '../src';
import { alice, REDIS_URL, sleep, uniquePrefix, until } from './store-contract';

jest.setTimeout(30_000);

/** How many subscriptions the resolver really started: a refusal must leave it at 0. */
const started = { ticks: 0 };

@Resolver()
class TickResolver {
  @Query(() => String)
  ping(): string {
    return 'pong';
  }

  /** Ticks every 10 ms until the subscription ends. */
  @Subscription(() => String)
  @Roles('customer')
  clock(): AsyncIterator<{ clock: string }> {
    started.ticks++;
    return (async function* () {
      for (let i = 0; ; i++) {
        await sleep(10);
        yield { clock: `tick ${i}` };
      }
    })();
  }

  @Subscription(() => String)
  @Roles('customer')
  ticks(): AsyncIterator<{ ticks: string }> {
    started.ticks++;
    return (async function* () {
      for (let i = 0; i < 3; i++) {
        yield { ticks: `tick ${i}` };
      }
    })();
  }
}

/**
 * `SessionGuard` whose validations wait, once they have their answer, for `gate` when it is
 * set: a subscription's validation held in flight while events arrive.
 */
@Injectable()
class GatedGuard extends SessionGuard {
  static gate?: Promise<void>;
  static waiting?: () => void;

  protected override async validate(token: string): Promise<Session | null> {
    const session = await super.validate(token);
    if (GatedGuard.gate) {
      GatedGuard.waiting?.();
      await GatedGuard.gate;
    }
    return session;
  }
}

type WsContext = {
  req?: IncomingMessage;
  extra?: { request: IncomingMessage; socket: WebSocket };
};

/**
 * An app with graphql-ws subscriptions behind the global `SessionGuard`, set up as `setup`
 * says: `default` (the driver's context), `request` (the upgrade request passed as `req`, as
 * the README shows) or `sockets` (that, and each connection handed to `SessionSockets` in
 * graphql-ws's `onConnect`, so that a revocation closes it).
 */
async function subscriptionApp(
  setup: 'default' | 'request' | 'sockets',
  guard: typeof SessionGuard = SessionGuard,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({ redis: { url: REDIS_URL }, keyPrefix: uniquePrefix() }),
      GraphQLModule.forRootAsync<ApolloDriverConfig>({
        driver: ApolloDriver,
        inject: [SessionSockets],
        useFactory: (sockets: SessionSockets) => ({
          autoSchemaFile: true,
          path: '/graphql',
          subscriptions: {
            'graphql-ws':
              setup === 'sockets'
                ? {
                    onConnect: async ({ extra }: { extra: unknown }) => {
                      const { socket, request } = extra as NonNullable<WsContext['extra']>;
                      return (await sockets.authenticate(socket, request)) !== null;
                    },
                  }
                : true,
          },
          context:
            setup === 'default'
              ? undefined
              : ({ req, extra }: WsContext) => ({ req: req ?? extra?.request }),
        }),
      }),
    ],
    providers: [TickResolver, { provide: APP_GUARD, useClass: guard }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

interface SubscribeOptions {
  field?: 'ticks' | 'clock';
  /** Sends the token as `Authorization: Bearer` instead of the session cookie. */
  bearer?: boolean;
  onTick?: (tick: string) => void;
}

interface Connection {
  client: Client;
  /** The WebSocket close code once the connection closed. */
  closed: Promise<number | undefined>;
}

/**
 * A graphql-ws client of `app` with an optional session token on its upgrade request, which
 * connects at once and keeps its connection (one WebSocket) until disposed.
 */
function connect(app: INestApplication, token?: string, bearer = false): Connection {
  const { port } = app.getHttpServer().address() as { port: number };
  const headers = !token
    ? {}
    : bearer
      ? { authorization: `Bearer ${token}` }
      : { cookie: `cr_session=${token}` };
  class CookieSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers });
    }
  }
  let onClosed!: (code: number | undefined) => void;
  const closed = new Promise<number | undefined>((resolve) => (onClosed = resolve));
  const client = createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: CookieSocket,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined,
  });
  client.on('closed', (event) => onClosed((event as { code?: number }).code));
  return { client, closed };
}

/**
 * Runs one subscription to `field` on a connection, and answers once it ended: what it
 * received and its errors.
 */
function run(
  { client }: Connection,
  field: 'ticks' | 'clock',
  onTick: (tick: string) => void = () => undefined,
): Promise<{ ticks: string[]; errors: string[] }> {
  const ticks: string[] = [];
  const errors: string[] = [];
  return new Promise((resolve) => {
    const done = () => resolve({ ticks, errors });
    client.subscribe<Record<string, string>>(
      { query: `subscription { ${field} }` },
      {
        next: (result) => {
          const tick = result.data?.[field];
          if (tick) {
            ticks.push(tick);
            onTick(tick);
          }
          for (const error of result.errors ?? []) errors.push(error.message);
        },
        error: (error) => {
          const list = Array.isArray(error) ? error : [error];
          // An Error, a GraphQL error, or the CloseEvent of a connection the server closed.
          for (const item of list) {
            const { message, reason } = item as { message?: string; reason?: string };
            errors.push(message ?? reason ?? String(item));
          }
          done();
        },
        complete: done,
      },
    );
  });
}

/**
 * Subscribes to `field` (default `ticks`) on a connection of its own, and answers once the
 * subscription ended: what it received, its errors, and the WebSocket close code when the
 * server closed the connection.
 */
async function subscribe(
  app: INestApplication,
  token?: string,
  { field = 'ticks', bearer = false, onTick = () => undefined }: SubscribeOptions = {},
): Promise<{ ticks: string[]; errors: string[]; code?: number }> {
  const connection = connect(app, token, bearer);
  let code: number | undefined;
  void connection.closed.then((closedWith) => (code = closedWith));
  const outcome = await run(connection, field, onTick);
  // A close ends the subscription with an error first: let its code arrive.
  await Promise.race([connection.closed, sleep(50)]);
  void connection.client.dispose();
  return code === undefined ? outcome : { ...outcome, code };
}

/** Resolves at the first tick `onTick` of a subscription sees. */
function firstTick(): { ticking: Promise<void>; onTick: () => void } {
  let onTick!: () => void;
  const ticking = new Promise<void>((resolve) => (onTick = resolve));
  return { ticking, onTick };
}

describe('GraphQL subscriptions (graphql-ws) behind SessionGuard', () => {
  let sessions: SessionService;
  let apps: INestApplication[] = [];

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    apps = [];
  });

  beforeEach(() => {
    started.ticks = 0;
  });

  /** Starts the describe's app (see `subscriptionApp`) before its tests; `app` once started. */
  function appFor(
    setup: Parameters<typeof subscriptionApp>[0],
    guard?: typeof SessionGuard,
  ): { app: INestApplication } {
    const fixture = {} as { app: INestApplication };
    beforeAll(async () => {
      fixture.app = await subscriptionApp(setup, guard);
      apps.push(fixture.app);
      sessions = fixture.app.get(SessionService);
    });
    return fixture;
  }

  describe('with the driver’s default context (no request on it)', () => {
    const fixture = appFor('default');

    it('refuses every subscription, even one whose upgrade carried a live session, and runs nothing', async () => {
      const { token } = await sessions.create(alice, {});
      for (const presented of [token, undefined]) {
        const outcome = await subscribe(fixture.app, presented);
        expect(outcome.ticks).toEqual([]);
        expect(outcome.errors.join(' ')).toMatch(/Authentication required/);
      }
      expect(started.ticks).toBe(0);
    });
  });

  describe('with a context that passes the upgrade request as `req`', () => {
    const fixture = appFor('request');
    // Bearer tokens: a cookie's operations need an allowed Origin on the upgrade (its own test).
    const bearer: SubscribeOptions = { bearer: true };

    it('serves a live session with the role, and refuses none, a revoked one and one without the role', async () => {
      const live = await sessions.create(alice, {});
      expect(await subscribe(fixture.app, live.token, bearer)).toEqual({
        ticks: ['tick 0', 'tick 1', 'tick 2'],
        errors: [],
      });
      expect(started.ticks).toBe(1);

      const revoked = await sessions.create(alice, {});
      await sessions.revoke(revoked.token);
      const clerk = await sessions.create({ ...alice, roles: ['clerk'] }, {});
      const refusals = await Promise.all([
        subscribe(fixture.app),
        subscribe(fixture.app, revoked.token, bearer),
        subscribe(fixture.app, clerk.token, bearer),
      ]);
      expect(refusals.map((outcome) => outcome.ticks)).toEqual([[], [], []]);
      expect(refusals[0].errors.join(' ')).toMatch(/Authentication required/);
      expect(refusals[1].errors.join(' ')).toMatch(/Authentication required/);
      expect(refusals[2].errors.join(' ')).toMatch(/Missing role/);
      expect(started.ticks).toBe(1);
    });

    it('validates every subscription of a connection on its own, not once per upgrade request', async () => {
      const user = { ...alice, id: 'u-one-connection' };
      const first = await sessions.create(user, {});
      const connection = connect(fixture.app, first.token, true);
      expect(await run(connection, 'ticks')).toEqual({
        ticks: ['tick 0', 'tick 1', 'tick 2'],
        errors: [],
      });
      // Same connection, same upgrade request: the role taken away, then the session revoked.
      await sessions.setRolesForUser(user.id, ['clerk']);
      const withoutRole = await run(connection, 'ticks');
      await sessions.revoke(first.token);
      const revoked = await run(connection, 'ticks');
      void connection.client.dispose();
      expect(withoutRole).toEqual({ ticks: [], errors: ['Missing role'] });
      expect(revoked).toEqual({ ticks: [], errors: ['Authentication required'] });
      expect(started.ticks).toBe(1);
    });
  });

  describe('with each connection handed to SessionSockets in onConnect', () => {
    const fixture = appFor('sockets');
    const clock: SubscribeOptions = { field: 'clock', bearer: true };

    /**
     * Returns once the start of the sockets' event reader is behind (a gap, whose check of the
     * store closes sockets too): a role change has reached a socket, by its event or by that
     * check, and the check running then is over.
     */
    async function followingEvents(): Promise<void> {
      const sockets = fixture.app.get(SessionSockets);
      const user = { ...alice, id: 'u-bystander' };
      const connection = connect(fixture.app, (await sessions.create(user, {})).token, true);
      const { ticking, onTick } = firstTick();
      const running = run(connection, 'clock', onTick);
      await ticking;
      await sessions.setRolesForUser(user.id, ['clerk', 'customer']);
      await until(() => sockets.socketsOf(user.id)[0]?.session?.roles[0] === 'clerk');
      await sockets.checkAll();
      void connection.client.dispose();
      await running;
    }

    it('ends a running subscription with 4401 as soon as its session is revoked, and no other', async () => {
      await followingEvents();
      const doomed = await sessions.create(alice, {});
      const kept = await sessions.create(alice, {});
      let firstTick!: () => void;
      const ticking = new Promise<void>((resolve) => (firstTick = resolve));
      const ending = subscribe(fixture.app, doomed.token, { ...clock, onTick: () => firstTick() });
      let othersTicks = 0;
      const other = subscribe(fixture.app, kept.token, { ...clock, onTick: () => othersTicks++ });
      await ticking;
      await sessions.revoke(doomed.token);
      const ended = await ending;
      expect(ended.code).toBe(4401);
      // The revocation's event closed it: the periodic check of the sockets (30 s away) would
      // have found the session gone in the store and said 'Session ended'.
      expect(ended.errors).toEqual(['Session revoked']);
      // The other session's subscription goes on ticking until its own session ends.
      const before = othersTicks;
      await sleep(100);
      expect(othersTicks).toBeGreaterThan(before);
      await sessions.revoke(kept.token);
      expect((await other).code).toBe(4401);
    });

    it('closes a connection with 4403 when its session loses the role a running subscription needs, and no other', async () => {
      const user = { ...alice, id: 'u-role-lost' };
      const other = { ...alice, id: 'u-role-kept' };
      const connection = connect(fixture.app, (await sessions.create(user, {})).token, true);
      const others = connect(fixture.app, (await sessions.create(other, {})).token, true);
      const { ticking, onTick } = firstTick();
      const running = run(connection, 'clock', onTick);
      let othersTicks = 0;
      const othersRunning = run(others, 'clock', () => othersTicks++);
      await ticking;

      // A change that keeps one of the subscription's roles leaves it running.
      await sessions.setRolesForUser(user.id, ['clerk', 'customer']);
      expect(await Promise.race([connection.closed, sleep(200).then(() => 'open')])).toBe('open');
      expect(fixture.app.get(SessionSockets).socketsOf(user.id)[0]?.session?.roles).toEqual([
        'clerk',
        'customer',
      ]);

      // The periodic check closes with the same code and reason: it is counted, to tell.
      const checks = jest.spyOn(fixture.app.get(SessionSockets), 'checkAll');
      try {
        await sessions.setRolesForUser(user.id, ['clerk']);
        expect(await connection.closed).toBe(4403);
        // No check of the sockets ran meanwhile (the periodic one is 30 s away): the
        // roles.changed event closed it.
        expect(checks).not.toHaveBeenCalled();
      } finally {
        checks.mockRestore();
      }
      expect((await running).errors).toEqual(['Role removed']);

      const before = othersTicks;
      await sleep(100);
      expect(othersTicks).toBeGreaterThan(before);
      void others.client.dispose();
      await othersRunning;
    });

    it('closes with 4403 at the periodic check when roles changed with no event', async () => {
      const user = { ...alice, id: 'u-role-quiet' };
      const { token } = await sessions.create(user, {});
      const connection = connect(fixture.app, token, true);
      const { ticking, onTick } = firstTick();
      const running = run(connection, 'clock', onTick);
      await ticking;
      // Written to the store directly: no roles.changed event is published.
      await fixture.app.get(SessionStore).setRoles(user.id, ['clerk']);
      await fixture.app.get(SessionSockets).checkAll();
      expect(await connection.closed).toBe(4403);
      await running;
    });

    it('refuses the connection itself without a live session, or with a cookie and no allowed Origin', async () => {
      const revoked = await sessions.create(alice, {});
      await sessions.revoke(revoked.token);
      const live = await sessions.create(alice, {});
      const outcomes = await Promise.all([
        subscribe(fixture.app, undefined, clock),
        subscribe(fixture.app, revoked.token, clock),
        // A browser's cookie rides along on any site's handshake: without an allowed Origin
        // it is refused (the handshake rule of SessionSockets).
        subscribe(fixture.app, live.token, { field: 'clock' }),
      ]);
      for (const outcome of outcomes) {
        expect(outcome.ticks).toEqual([]);
        expect(outcome.code).toBe(4401);
      }
      expect(started.ticks).toBe(0);
    });
  });

  describe('when the roles change while a subscription’s validation is in flight', () => {
    const fixture = appFor('sockets', GatedGuard);

    afterEach(() => {
      GatedGuard.gate = undefined;
    });

    it('refuses that subscription, as one begun after the change, and runs nothing', async () => {
      const user = { ...alice, id: 'u-role-race' };
      const connection = connect(fixture.app, (await sessions.create(user, {})).token, true);
      let open!: () => void;
      GatedGuard.gate = new Promise<void>((resolve) => (open = resolve));
      const validated = new Promise<void>((resolve) => (GatedGuard.waiting = resolve));
      const startedBefore = started.ticks;
      const running = run(connection, 'clock');
      // The guard holds a session that still has the role when the change is published...
      await validated;
      await sessions.setRolesForUser(user.id, ['clerk']);
      const sockets = fixture.app.get(SessionSockets);
      while (sockets.socketsOf(user.id)[0]?.session?.roles.includes('customer')) {
        await sleep(10);
      }
      // ...and the event has been applied (it found no subscription to stop) before it goes on.
      open();
      expect(await running).toEqual({ ticks: [], errors: ['Missing role'] });
      expect(started.ticks).toBe(startedBefore);
      // The connection, which runs nothing that needs the role, stays open.
      expect(sockets.socketsOf(user.id)).toHaveLength(1);
      await connection.client.dispose();
    });
  });
});
