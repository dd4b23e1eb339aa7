import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule, Query, Resolver, Subscription } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { createClient } from 'graphql-ws';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';

import { Roles, SessionGuard, SessionModule, SessionService } from '../src';
import { alice, REDIS_URL, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

/** How many subscriptions the resolver really started: a refusal must leave it at 0. */
const started = { ticks: 0 };

@Resolver()
class TickResolver {
  @Query(() => String)
  ping(): string {
    return 'pong';
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
 * An app with a graphql-ws subscription behind the global `SessionGuard`. `passUpgrade` gives
 * the resolvers' context the WebSocket upgrade request as `req`, as the README suggests.
 */
async function subscriptionApp(passUpgrade: boolean): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({ redis: { url: REDIS_URL }, keyPrefix: uniquePrefix() }),
      GraphQLModule.forRoot<ApolloDriverConfig>({
        driver: ApolloDriver,
        autoSchemaFile: true,
        path: '/graphql',
        subscriptions: { 'graphql-ws': true },
        context: passUpgrade
          ? (ctx: { req?: IncomingMessage; extra?: { request?: IncomingMessage } }) => ({
              req: ctx.req ?? ctx.extra?.request,
            })
          : undefined,
      }),
    ],
    providers: [TickResolver, { provide: APP_GUARD, useClass: SessionGuard }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Subscribes to `ticks` with an optional session cookie on the upgrade request. */
function subscribe(
  app: INestApplication,
  token?: string,
): Promise<{ ticks: string[]; errors: string[] }> {
  const { port } = app.getHttpServer().address() as { port: number };
  const headers = token ? { cookie: `cr_session=${token}` } : {};
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
  return new Promise((resolve) => {
    const done = () => {
      void client.dispose();
      resolve({ ticks, errors });
    };
    client.subscribe<{ ticks: string }>(
      { query: 'subscription { ticks }' },
      {
        next: (result) => {
          if (result.data?.ticks) ticks.push(result.data.ticks);
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

  describe('with the driver’s default context (no request on it)', () => {
    let app: INestApplication;

    beforeAll(async () => {
      app = await subscriptionApp(false);
      apps.push(app);
      sessions = app.get(SessionService);
    });

    it('refuses every subscription, even one whose upgrade carried a live session, and runs nothing', async () => {
      const { token } = await sessions.create(alice, {});
      for (const presented of [token, undefined]) {
        const outcome = await subscribe(app, presented);
        expect(outcome.ticks).toEqual([]);
        expect(outcome.errors.join(' ')).toMatch(/Authentication required/);
      }
      expect(started.ticks).toBe(0);
    });
  });

  describe('with a context that passes the upgrade request as `req`', () => {
    let app: INestApplication;

    beforeAll(async () => {
      app = await subscriptionApp(true);
      apps.push(app);
      sessions = app.get(SessionService);
    });

    it('serves a live session with the role, and refuses none, a revoked one and one without the role', async () => {
      const live = await sessions.create(alice, {});
      expect(await subscribe(app, live.token)).toEqual({
        ticks: ['tick 0', 'tick 1', 'tick 2'],
        errors: [],
      });
      expect(started.ticks).toBe(1);

      const revoked = await sessions.create(alice, {});
      await sessions.revoke(revoked.token);
      const clerk = await sessions.create({ ...alice, roles: ['clerk'] }, {});
      const refusals = await Promise.all([
        subscribe(app),
        subscribe(app, revoked.token),
        subscribe(app, clerk.token),
      ]);
      expect(refusals.map((outcome) => outcome.ticks)).toEqual([[], [], []]);
      expect(refusals[0].errors.join(' ')).toMatch(/Authentication required/);
      expect(refusals[1].errors.join(' ')).toMatch(/Authentication required/);
      expect(refusals[2].errors.join(' ')).toMatch(/Missing role/);
      expect(started.ticks).toBe(1);
    });
  });
});
