import type { IncomingMessage } from 'node:http';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import fc from 'fast-check';
import { Client, createClient } from 'graphql-ws';
import { WebSocket } from 'ws';

import type { SessionModuleOptions, SessionRequest } from '../src';
import {
  InMemorySessionStore,
  Roles,
  SessionGuard,
  SessionModule,
  SessionService,
  SessionSockets,
} from '../src';
import { holdValidations } from './held-validation';
import { OrderFeed, OrderPlaced } from './order-feed';
import { REDIS_URL, uniquePrefix, until } from './store-contract';

jest.setTimeout(120_000);

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

  @Mutation(() => String)
  touch(): string {
    return 'touched';
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

/** One step of a run: what the client or the administrator does next. */
type Step =
  | { kind: 'operation'; mutation: boolean }
  | { kind: 'change' }
  | { kind: 'release'; pick: number }
  | { kind: 'check' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('operation' as const), mutation: fc.boolean() }),
  fc.constant({ kind: 'change' as const }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat(7) }),
  fc.constant({ kind: 'check' as const }),
);

const ADMIN = ['admin', 'customer'];
const CUSTOMER = ['customer'];

/**
 * How the service hears of a change: the lifecycle events (Redis), or, with no events (an
 * in-memory store, as a `remote` one), only the sockets' periodic check of the store.
 */
const hearing: [string, () => SessionModuleOptions][] = [
  ['from the lifecycle events', () => ({ redis: { url: REDIS_URL }, keyPrefix: uniquePrefix() })],
  [
    'from the periodic check alone',
    () => ({ store: new InMemorySessionStore(), sockets: { checkInterval: 0.1 } }),
  ],
];

/**
 * Every operation sent on a graphql-ws connection is validated on the connection's upgrade
 * request, where the running subscriptions' filters read the session. One validated before a
 * role change, whose answer arrives after it, must neither put the old roles back there nor
 * hold back new ones: whatever order the validations' answers and the changes take, once this
 * service has heard of a change (the connection's socket shows it), the filter reads it.
 */
describe.each(hearing)(
  'GraphQL operations on a graphql-ws connection while roles change, heard %s',
  (_how, options) => {
    let app: INestApplication;
    let sessions: SessionService;
    let sockets: SessionSockets;
    let base: string;
    const clients: Client[] = [];

    /** A graphql-ws client authenticated with `token`, connected at once. */
    function connect(token: string): Client {
      class BearerSocket extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers: { authorization: `Bearer ${token}` } });
        }
      }
      const client = createClient({
        url: `${base.replace('http', 'ws')}/graphql`,
        webSocketImpl: BearerSocket,
        retryAttempts: 0,
        lazy: false,
      });
      clients.push(client);
      return client;
    }

    /** Runs one query or mutation on the connection: its data, or its errors' codes. */
    function operation(client: Client, query: string): Promise<unknown> {
      return new Promise((resolve) => {
        let answer: unknown;
        client.subscribe(
          { query },
          {
            next: ({ data, errors }) =>
              (answer = errors?.map((e) => e.extensions?.['code']) ?? data),
            error: (error) => resolve({ error: String(error) }),
            complete: () => resolve(answer),
          },
        );
      });
    }

    beforeAll(async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          SessionModule.forRoot(options()),
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
      base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
      sessions = app.get(SessionService);
      sockets = app.get(SessionSockets);
      // A socket registered starts the sockets' reader: once a change of its roles has reached it
      // and the store check of the reader's start is over, changes reach the sockets as events.
      const user = { id: 'u-bystander', username: 'bystander', roles: ['customer'] };
      connect((await sessions.create(user)).token);
      await until(() => sockets.socketsOf(user.id).length === 1);
      await sessions.setRolesForUser(user.id, ['auditor']);
      await until(() => sockets.socketsOf(user.id)[0]?.session?.roles[0] === 'auditor');
      await sockets.checkAll();
    });

    afterEach(() => {
      jest.restoreAllMocks();
    });

    afterAll(async () => {
      for (const client of clients) await client.dispose();
      await app?.close();
    });

    it('never lets a running subscription’s filter read a role taken away, nor miss one granted, once the change is heard', async () => {
      const user = { id: 'u-regraded', username: 'regraded', roles: ADMIN };
      const { token } = await sessions.create(user);
      const client = connect(token);
      const received: string[] = [];
      let ended: unknown;
      client.subscribe<{ orders: string }>(
        { query: 'subscription { orders }' },
        {
          next: ({ data }) => data && received.push(data.orders),
          error: (error) => (ended = error),
          complete: () => (ended = 'complete'),
        },
      );
      await until(() => {
        feed.place({ orders: 'ready', ownerId: user.id });
        return received.length > 0;
      });

      let roles = ADMIN;
      let checks = 0;
      /** The roles this service has heard of: the connection's socket shows them. */
      const heard = () =>
        until(() => sockets.socketsOf(user.id)[0]?.session?.roles.join() === roles.join());
      /** Another user's order reaches the filter's owner if and only if they are admin now. */
      const check = async () => {
        const n = ++checks;
        feed.place({ orders: `other ${n}`, ownerId: 'u-other' });
        feed.place({ orders: `own ${n}`, ownerId: user.id });
        await until(() => received.includes(`own ${n}`));
        return { roles, other: received.includes(`other ${n}`) };
      };
      const expected = () => ({ roles, other: roles.includes('admin') });

      let runs = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
          runs++;
          if (roles !== ADMIN) {
            roles = ADMIN;
            await sessions.setRolesForUser(user.id, roles);
          }
          await heard();
          const gate = holdValidations(sessions);
          // The answers of the held operations, in the order of `gate.held`.
          const answers: Promise<unknown>[] = [];
          try {
            for (const next of steps) {
              if (next.kind === 'operation') {
                const reading = gate.held.length + 1;
                answers.push(operation(client, next.mutation ? 'mutation { touch }' : '{ ping }'));
                await until(() => gate.held.length === reading);
              } else if (next.kind === 'change') {
                roles = roles === ADMIN ? CUSTOMER : ADMIN;
                await sessions.setRolesForUser(user.id, roles);
                await heard();
              } else if (next.kind === 'release' && gate.held.length > 0) {
                const index = next.pick % gate.held.length;
                const [answer] = answers.splice(index, 1);
                gate.held[index].release();
                expect(await answer).not.toHaveProperty('error');
              } else if (next.kind === 'check') {
                expect(await check()).toEqual(expected());
              }
            }
            // The operations still held answer last, in order, each followed by a check.
            while (gate.held.length > 0) {
              const [answer] = answers.splice(0, 1);
              gate.held[0].release();
              expect(await answer).not.toHaveProperty('error');
              expect(await check()).toEqual(expected());
            }
            expect(await check()).toEqual(expected());
          } finally {
            gate.stop();
            await Promise.all(answers);
          }
        }),
        {
          numRuns: 30,
          endOnFailure: true,
          // The interleaving of the report: an operation read before a demotion answers after it.
          examples: [
            [
              [
                { kind: 'operation', mutation: false },
                { kind: 'change' },
                { kind: 'release', pick: 0 },
                { kind: 'check' },
              ],
            ],
          ],
        },
      );
      expect(runs).toBeGreaterThanOrEqual(30);
      expect(ended).toBeUndefined();
      expect(sockets.socketsOf(user.id)).toHaveLength(1);
    });
  },
);
