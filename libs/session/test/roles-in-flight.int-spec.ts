import { get, IncomingMessage } from 'node:http';

import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { Controller, INestApplication, Req, Sse } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule, Query, Resolver, Subscription } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { Client, createClient } from 'graphql-ws';
import { interval, map } from 'rxjs';
import { WebSocket } from 'ws';

import type { SessionRequest } from '../src';
import { Roles, SessionGuard, SessionModule, SessionService, SessionSockets } from '../src';
import { holdNextValidation } from './held-validation';
import { OrderFeed, OrderPlaced } from './order-feed';
import { REDIS_URL, uniquePrefix, until } from './store-contract';

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

  /** No `@Roles`: admins follow every order placed, others their own, as the filter reads. */
  @Subscription(() => String, {
    filter: (order: OrderPlaced, _args: unknown, { req }: { req: SessionRequest }) =>
      req.session !== undefined &&
      (req.session.roles.includes('admin') || order.ownerId === req.session.userId),
  })
  orders(): AsyncIterator<OrderPlaced> {
    return feed.follow();
  }
}

@Controller('feed')
class FeedController {
  /** No `@Roles`: streams the roles the request's session holds at each tick. */
  @Sse('roles')
  roles(@Req() request: SessionRequest) {
    return interval(20).pipe(map(() => ({ data: request.session?.roles ?? [] })));
  }

  @Roles('admin')
  @Sse('admin')
  adminOnly() {
    return interval(20).pipe(map((i) => ({ data: { i } })));
  }
}

interface Stream {
  status: number;
  /** Each event's `event` name and parsed data, as they arrive. */
  events: { event: string; data: unknown }[];
  abort(): void;
}

/** A raw server-sent events client: what EventSource would see, without its reconnects. */
function openStream(base: string, path: string, token: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const request = get(
      `${base}${path}`,
      { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (response: IncomingMessage) => {
        const events: Stream['events'] = [];
        let buffer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const lines = buffer.slice(0, end).split('\n');
            buffer = buffer.slice(end + 2);
            const field = (name: string) =>
              lines
                .find((line) => line.startsWith(`${name}:`))
                ?.slice(name.length + 1)
                .trim();
            const data = field('data');
            if (data !== undefined) {
              events.push({ event: field('event') ?? 'message', data: JSON.parse(data) });
            }
          }
        });
        response.on('error', () => undefined);
        resolve({ status: response.statusCode ?? 0, events, abort: () => request.destroy() });
      },
    );
    request.on('error', reject);
  });
}

/**
 * A connection whose session was being validated when a `roles.changed` event arrived found
 * nothing of it registered yet: what it serves afterwards must follow the new roles, with or
 * without `@Roles`, not those the store answered before the change.
 */
describe('SessionSockets and a role change while a connection’s validation is in flight', () => {
  let app: INestApplication;
  let sessions: SessionService;
  let sockets: SessionSockets;
  let base: string;
  let client: Client | undefined;
  let bystander: Client | undefined;
  const streams: Stream[] = [];

  /** A graphql-ws client authenticated with `token`, connected at once. */
  function connect(token: string): Client {
    class BearerSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: { authorization: `Bearer ${token}` } });
      }
    }
    return createClient({
      url: `${base.replace('http', 'ws')}/graphql`,
      webSocketImpl: BearerSocket,
      retryAttempts: 0,
      lazy: false,
    });
  }

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
      controllers: [FeedController],
      providers: [OrdersResolver, { provide: APP_GUARD, useClass: SessionGuard }],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
    sessions = app.get(SessionService);
    sockets = app.get(SessionSockets);
    // A socket registered starts the sockets' reader: once a change of its roles has reached it
    // and the store check of the reader's start is over, changes reach the sockets as events.
    const user = { id: 'u-bystander', username: 'bystander', roles: ['customer'] };
    bystander = connect((await sessions.create(user)).token);
    await until(() => sockets.socketsOf(user.id).length === 1);
    await sessions.setRolesForUser(user.id, ['auditor']);
    await until(() => sockets.socketsOf(user.id)[0]?.session?.roles[0] === 'auditor');
    await sockets.checkAll();
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await client?.dispose();
    client = undefined;
    for (const stream of streams.splice(0)) stream.abort();
  });

  afterAll(async () => {
    await bystander?.dispose();
    await app?.close();
  });

  it('gives a subscription without @Roles, validating at the change, the new roles its filter reads', async () => {
    const user = { id: 'u-demoted-subscribing', username: 'demoted', roles: ['admin', 'customer'] };
    const { token } = await sessions.create(user);
    client = connect(token);
    // The handshake is registered: its socket shows when the event has arrived.
    await until(() => sockets.socketsOf(user.id).length === 1);
    const held = holdNextValidation(sessions);
    const received: string[] = [];
    client.subscribe<{ orders: string }>(
      { query: 'subscription { orders }' },
      {
        next: ({ data }) => data && received.push(data.orders),
        error: () => undefined,
        complete: () => undefined,
      },
    );
    await held.reading;
    await sessions.setRolesForUser(user.id, ['customer']);
    await until(() => sockets.socketsOf(user.id)[0]?.session?.roles.includes('admin') === false);
    held.release();

    await until(() => {
      feed.place({ orders: 'ready', ownerId: user.id });
      return received.length > 0;
    });
    feed.place({ orders: 'another user’s', ownerId: 'u-other' });
    feed.place({ orders: 'own', ownerId: user.id });
    await until(() => received.includes('own'));

    expect(received).not.toContain('another user’s');
    expect(sockets.socketsOf(user.id)).toHaveLength(1);
  });

  it('gives a stream without @Roles, validating at the change, the new roles on its request', async () => {
    const user = { id: 'u-demoted-streaming', username: 'demoted', roles: ['admin', 'customer'] };
    const { token } = await sessions.create(user);
    // A stream of the user, held already: it ends (403) when the event has arrived.
    const watching = await openStream(base, '/feed/admin', token);
    streams.push(watching);
    await until(() => watching.events.length > 0);
    const held = holdNextValidation(sessions);
    const opening = openStream(base, '/feed/roles', token);
    await held.reading;
    await sessions.setRolesForUser(user.id, ['customer']);
    await until(() => watching.events.at(-1)?.event === 'session-ended');
    held.release();
    const stream = await opening;
    streams.push(stream);
    await until(() => stream.events.length >= 3);

    expect(stream.status).toBe(200);
    expect(stream.events.slice(0, 3).map(({ data }) => data)).toEqual([
      ['customer'],
      ['customer'],
      ['customer'],
    ]);
  });
});
