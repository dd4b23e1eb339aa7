import type { IncomingMessage } from 'node:http';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule, Query, Resolver, Subscription } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { Client, createClient } from 'graphql-ws';
import { WebSocket } from 'ws';

import type { SessionRequest } from '../src';
import { Roles, SessionGuard, SessionModule, SessionService, SessionSockets } from '../src';
import { OrderFeed, OrderPlaced } from './order-feed';
import { REDIS_URL, sessionService, uniquePrefix, until } from './store-contract';

jest.setTimeout(30_000);

const feed = new OrderFeed();

type WsContext = {
  req?: IncomingMessage;
  extra?: { request: IncomingMessage; socket: WebSocket };
};

@Resolver()
class OrdersResolver {
  @Query(() => String)
  ping(): string {
    return 'pong';
  }

  /** Admins follow every order placed, customers their own: the filter reads the session. */
  @Subscription(() => String, {
    filter: (order: OrderPlaced, _args: unknown, { req }: { req: SessionRequest }) =>
      req.session !== undefined &&
      (req.session.roles.includes('admin') || order.ownerId === req.session.userId),
  })
  @Roles('customer', 'admin')
  orders(): AsyncIterator<OrderPlaced> {
    return feed.follow();
  }
}

/**
 * A subscription that filters what it sends by the session's roles, on a connection that stays
 * open because the session kept one role the subscription needs: a role taken away must stop
 * what it allowed, as soon as the connection's sockets hear of the change.
 */
describe('GraphQL subscriptions filtering by the session’s roles', () => {
  let app: INestApplication;
  let sockets: SessionSockets;
  let other: Awaited<ReturnType<typeof sessionService>>;
  let client: Client | undefined;
  const keyPrefix = uniquePrefix();

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({ redis: { url: REDIS_URL }, keyPrefix }),
        GraphQLModule.forRootAsync<ApolloDriverConfig>({
          driver: ApolloDriver,
          inject: [SessionSockets],
          useFactory: (held: SessionSockets) => ({
            autoSchemaFile: true,
            path: '/graphql',
            subscriptions: {
              'graphql-ws': {
                onConnect: async ({ extra }: { extra: unknown }) => {
                  const { socket, request } = extra as NonNullable<WsContext['extra']>;
                  return (await held.authenticate(socket, request)) !== null;
                },
              },
            },
            context: ({ req, extra }: WsContext) => ({ req: req ?? extra?.request }),
          }),
        }),
      ],
      providers: [OrdersResolver, { provide: APP_GUARD, useClass: SessionGuard }],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    sockets = app.get(SessionSockets);
    // The role is changed by another service, as the auth service does.
    other = await sessionService({ redis: { url: REDIS_URL }, keyPrefix });
  });

  afterEach(async () => {
    await client?.dispose();
  });

  afterAll(async () => {
    await app?.close();
    await other?.close();
  });

  it('stops sending an admin every order once admin is taken away, and keeps their own', async () => {
    const user = { id: 'u-demoted', username: 'demoted', roles: ['admin', 'customer'] };
    const { token } = await app.get(SessionService).create(user);
    const { port } = app.getHttpServer().address() as { port: number };
    class BearerSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: { authorization: `Bearer ${token}` } });
      }
    }
    client = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: BearerSocket,
      retryAttempts: 0,
    });
    const received: string[] = [];
    client.subscribe<{ orders: string }>(
      { query: 'subscription { orders }' },
      {
        next: ({ data }) => data && received.push(data.orders),
        error: () => undefined,
        complete: () => undefined,
      },
    );
    await until(() => {
      feed.place({ orders: 'ready', ownerId: user.id });
      return received.length > 0;
    });
    feed.place({ orders: 'another user’s, as admin', ownerId: 'u-other' });
    await until(() => received.includes('another user’s, as admin'));

    await other.sessions.setRolesForUser(user.id, ['customer']);
    await until(() => sockets.socketsOf(user.id)[0]?.session?.roles.includes('admin') === false);
    feed.place({ orders: 'another user’s, as customer', ownerId: 'u-other' });
    feed.place({ orders: 'own, as customer', ownerId: user.id });
    await until(() => received.includes('own, as customer'));

    expect(received).not.toContain('another user’s, as customer');
    expect(sockets.socketsOf(user.id)).toHaveLength(1);
  });
});
