import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule, Query, Resolver, Subscription } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { createClient } from 'graphql-ws';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';

import { Roles, SessionGuard, SessionModule, SessionService, SessionSockets } from '../src';
import { alice, REDIS_URL, sleep, uniquePrefix } from './store-contract';

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
    providers: [TickResolver, { provide: APP_GUARD, useClass: SessionGuard }],
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

/**
 * Subscribes to `field` (default `ticks`) with an optional session token on the upgrade
 * request, and answers once the subscription ended: what it received, its errors, and the
 * WebSocket close code when the server closed the connection.
 */
function subscribe(
  app: INestApplication,
  token?: string,
  { field = 'ticks', bearer = false, onTick = () => undefined }: SubscribeOptions = {},
): Promise<{ ticks: string[]; errors: string[]; code?: number }> {
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
  const client = createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: CookieSocket,
    retryAttempts: 0,
  });
  const ticks: string[] = [];
  const errors: string[] = [];
  let code: number | undefined;
  client.on('closed', (event) => (code = (event as { code?: number }).code));
  return new Promise((resolve) => {
    const done = () => {
      void client.dispose();
      resolve(code === undefined ? { ticks, errors } : { ticks, errors, code });
    };
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
          for (const item of list) errors.push(String((item as Error).message ?? item));
          done();
        },
        complete: done,
      },
    );
  });
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
  function appFor(setup: Parameters<typeof subscriptionApp>[0]): { app: INestApplication } {
    const fixture = {} as { app: INestApplication };
    beforeAll(async () => {
      fixture.app = await subscriptionApp(setup);
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

    it('serves a live session with the role, and refuses none, a revoked one and one without the role', async () => {
      const live = await sessions.create(alice, {});
      expect(await subscribe(fixture.app, live.token)).toEqual({
        ticks: ['tick 0', 'tick 1', 'tick 2'],
        errors: [],
      });
      expect(started.ticks).toBe(1);

      const revoked = await sessions.create(alice, {});
      await sessions.revoke(revoked.token);
      const clerk = await sessions.create({ ...alice, roles: ['clerk'] }, {});
      const refusals = await Promise.all([
        subscribe(fixture.app),
        subscribe(fixture.app, revoked.token),
        subscribe(fixture.app, clerk.token),
      ]);
      expect(refusals.map((outcome) => outcome.ticks)).toEqual([[], [], []]);
      expect(refusals[0].errors.join(' ')).toMatch(/Authentication required/);
      expect(refusals[1].errors.join(' ')).toMatch(/Authentication required/);
      expect(refusals[2].errors.join(' ')).toMatch(/Missing role/);
      expect(started.ticks).toBe(1);
    });
  });

  describe('with each connection handed to SessionSockets in onConnect', () => {
    const fixture = appFor('sockets');
    const clock: SubscribeOptions = { field: 'clock', bearer: true };

    it('ends a running subscription with 4401 as soon as its session is revoked, and no other', async () => {
      const doomed = await sessions.create(alice, {});
      const kept = await sessions.create(alice, {});
      let revokedAt = 0;
      let firstTick!: () => void;
      const ticking = new Promise<void>((resolve) => (firstTick = resolve));
      const ending = subscribe(fixture.app, doomed.token, { ...clock, onTick: () => firstTick() });
      let othersTicks = 0;
      const other = subscribe(fixture.app, kept.token, { ...clock, onTick: () => othersTicks++ });
      await ticking;
      await sessions.revoke(doomed.token);
      revokedAt = performance.now();
      const ended = await ending;
      const closedAfter = performance.now() - revokedAt;
      expect(ended.code).toBe(4401);
      // The periodic check of the sockets is 30 s away: closing sooner, with room for a slow
      // machine, means the revocation's event closed it.
      expect(closedAfter).toBeLessThan(10_000);
      // The other session's subscription goes on ticking until its own session ends.
      const before = othersTicks;
      await sleep(100);
      expect(othersTicks).toBeGreaterThan(before);
      await sessions.revoke(kept.token);
      expect((await other).code).toBe(4401);
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
});
