import type { IncomingMessage } from 'node:http';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  Field,
  GraphQLModule,
  ObjectType,
  Query,
  ResolveField,
  Resolver,
  Subscription,
} from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { Client, createClient, FormattedExecutionResult } from 'graphql-ws';
import { WebSocket } from 'ws';

import { Roles, SessionGuard, SessionModule, SessionService, SessionSockets } from '../src';
import { OrderFeed, OrderPlaced } from './order-feed';
import { REDIS_URL, uniquePrefix, until } from './store-contract';

jest.setTimeout(30_000);

const feed = new OrderFeed();

type WsContext = {
  req?: IncomingMessage;
  extra?: { request: IncomingMessage; socket: WebSocket };
};

@ObjectType()
class PlacedOrder {
  @Field()
  orders!: string;

  @Field({ nullable: true })
  margin?: string;
}

@Resolver(() => PlacedOrder)
class OrdersResolver {
  @Query(() => String)
  ping(): string {
    return 'pong';
  }

  @Subscription(() => PlacedOrder, { resolve: (order: OrderPlaced) => order })
  @Roles('customer', 'admin')
  orders(): AsyncIterator<OrderPlaced> {
    return feed.follow();
  }

  /** Resolved for each order a subscription sends: admins only. */
  @ResolveField(() => String, { nullable: true })
  @Roles('admin')
  margin(): string {
    return 'admin only';
  }
}

/**
 * A field resolver of a subscription's payload runs for every event the subscription sends,
 * long after the subscription's validation: with `fieldResolverEnhancers: ['guards']` the guard
 * checks its `@Roles` each time, against the roles the session has then, not those read when
 * the subscription started.
 */
describe('GraphQL field resolvers of a running subscription’s events', () => {
  let app: INestApplication;
  let sessions: SessionService;
  let sockets: SessionSockets;
  let client: Client | undefined;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({ redis: { url: REDIS_URL }, keyPrefix: uniquePrefix() }),
        GraphQLModule.forRootAsync<ApolloDriverConfig>({
          driver: ApolloDriver,
          inject: [SessionSockets],
          useFactory: (held: SessionSockets) => ({
            autoSchemaFile: true,
            path: '/graphql',
            fieldResolverEnhancers: ['guards'],
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
    sessions = app.get(SessionService);
    sockets = app.get(SessionSockets);
  });

  afterAll(async () => {
    await client?.dispose();
    await app?.close();
  });

  it('refuses an admin-only field of the events sent after admin was taken away', async () => {
    const user = { id: 'u-field-demoted', username: 'demoted', roles: ['admin', 'customer'] };
    const { token } = await sessions.create(user);
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
    const received: FormattedExecutionResult<{ orders: PlacedOrder }, unknown>[] = [];
    client.subscribe<{ orders: PlacedOrder }>(
      { query: 'subscription { orders { orders margin } }' },
      {
        next: (result) => received.push(result),
        error: () => undefined,
        complete: () => undefined,
      },
    );
    // Running (its resolver follows the feed), and no event has resolved the field yet.
    await until(() => feed.following === 1);
    await sessions.setRolesForUser(user.id, ['customer']);
    await until(() => sockets.socketsOf(user.id)[0]?.session?.roles.includes('admin') === false);

    feed.place({ orders: 'after the demotion', ownerId: user.id });
    await until(() => received.length === 1);
    expect(received[0].data).toEqual({ orders: { orders: 'after the demotion', margin: null } });
    expect(received[0].errors?.map((error) => error.message)).toEqual(['Missing role']);
  });
});
