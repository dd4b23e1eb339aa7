import type { IncomingMessage } from 'node:http';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { createClient } from 'graphql-ws';
import { WebSocket } from 'ws';

import { SessionGuard, SessionModule, SessionService } from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { alice, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

const ORIGIN = 'http://localhost:3000';

/** What really ran: a refusal must leave it as it was. */
const ran = { placed: 0, streams: 0 };

@Resolver()
class FixtureResolver {
  @Query(() => String)
  ping(): string {
    return 'pong';
  }

  @Mutation(() => String)
  place(): string {
    ran.placed++;
    return 'placed';
  }

  @Subscription(() => String)
  ticks(): AsyncIterator<{ ticks: string }> {
    ran.streams++;
    return (async function* () {
      yield { ticks: 'tick' };
    })();
  }
}

type WsExtra = { request: IncomingMessage; socket: WebSocket };

/**
 * The README's context without `onConnect`: each operation of a graphql-ws connection is checked
 * by the guard on the connection's upgrade request, a GET that a page of another origin opens
 * with the user's cookie (WebSockets have no CORS).
 */
describe('SessionGuard on graphql-ws operations checked on the upgrade request', () => {
  let server: RedisServerProcess;
  let app: INestApplication;
  let sessions: SessionService;
  let url: string;

  beforeAll(async () => {
    server = await startRedisServer();
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: server.url },
          keyPrefix: uniquePrefix(),
          allowedOrigins: [ORIGIN],
        }),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          path: '/graphql',
          subscriptions: { 'graphql-ws': true },
          context: ({ req, extra }: { req?: IncomingMessage; extra?: WsExtra }) => ({
            req: req ?? extra?.request,
          }),
        }),
      ],
      providers: [FixtureResolver, { provide: APP_GUARD, useClass: SessionGuard }],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    url = `ws://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/graphql`;
    sessions = app.get(SessionService);
  });

  afterAll(async () => {
    await app?.close();
    await server?.dispose();
  });

  /** One operation on a connection of its own whose upgrade carries `headers`. */
  function operation(
    headers: Record<string, string>,
    query: string,
  ): Promise<{ data: unknown[]; errors: string[] }> {
    class HeaderSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers });
      }
    }
    const client = createClient({ url, webSocketImpl: HeaderSocket, retryAttempts: 0 });
    const data: unknown[] = [];
    const errors: string[] = [];
    return new Promise((resolve) => {
      const done = () => {
        void client.dispose();
        resolve({ data, errors });
      };
      client.subscribe(
        { query },
        {
          next: (result) => {
            if (result.data) data.push(result.data);
            for (const error of result.errors ?? []) errors.push(error.message);
          },
          error: (error) => {
            const list = Array.isArray(error) ? error : [error];
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

  it('refuses cookie operations whose handshake came from an origin it does not allow, and runs nothing', async () => {
    const { token } = await sessions.create(alice);
    const cookie = `cr_session=${token}`;
    const before = { ...ran };
    for (const origin of ['http://localhost:4000', 'null', undefined]) {
      const headers: Record<string, string> = origin ? { cookie, origin } : { cookie };
      for (const query of ['mutation { place }', 'subscription { ticks }', 'query { ping }']) {
        const outcome = await operation(headers, query);
        expect({ origin, query, ...outcome }).toEqual({
          origin,
          query,
          data: [],
          errors: ['Cross-origin request refused'],
        });
      }
    }
    expect(ran).toEqual(before);
  });

  it('serves cookie operations from an allowed origin, and bearer ones from anywhere', async () => {
    const { token } = await sessions.create(alice);
    const allowed: Record<string, string>[] = [
      { cookie: `cr_session=${token}`, origin: ORIGIN },
      { authorization: `Bearer ${token}`, origin: 'http://localhost:4000' },
      { authorization: `Bearer ${token}` },
    ];
    for (const headers of allowed) {
      expect(await operation(headers, 'mutation { place }')).toEqual({
        data: [{ place: 'placed' }],
        errors: [],
      });
      expect(await operation(headers, 'subscription { ticks }')).toEqual({
        data: [{ ticks: 'tick' }],
        errors: [],
      });
    }
  });
});
