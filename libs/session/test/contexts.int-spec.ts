import { performance } from 'node:perf_hooks';

import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { INestApplication, UseGuards } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Field, GraphQLModule, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import request from 'supertest';
import { WebSocket } from 'ws';

import {
  CurrentSession,
  CurrentUser,
  Public,
  RequireRecentAuth,
  Roles,
  Session,
  SessionGuard,
  SessionModule,
  SessionService,
  SessionSockets,
  SessionStore,
  SessionUser,
} from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { AuthenticatingGateway, connectSocket, SocketConnection } from './raw-socket';
import { admin, alice, refOf, sleep, uniquePrefix, until } from './store-contract';

jest.setTimeout(30_000);

const ORIGIN = 'http://localhost:3000';
const FOREIGN = 'https://evil.example';
const CHECK_INTERVAL_S = 0.5;

type Headers = Record<string, string | undefined>;

@ObjectType()
class Me {
  @Field()
  username!: string;

  @Field(() => [String])
  roles!: string[];

  @Field()
  sessionId!: string;
}

/** Counts what really ran, so a refusal is proven by a side effect that did not happen. */
const ran = { placed: 0, sensitive: 0 };

@Resolver()
class FixtureResolver {
  @Query(() => Me)
  me(@CurrentUser() user: SessionUser, @CurrentSession() session: Session): Me {
    return { username: user.username, roles: user.roles, sessionId: session.id };
  }

  @Public()
  @Query(() => String)
  open(): string {
    return 'open';
  }

  @Roles('admin')
  @Query(() => String)
  adminOnly(): string {
    return 'admin only';
  }

  @Roles('customer')
  @Mutation(() => String)
  place(@CurrentUser() user: SessionUser): string {
    ran.placed++;
    return `placed by ${user.username}`;
  }

  @RequireRecentAuth(0.3)
  @Mutation(() => String)
  sensitive(): string {
    ran.sensitive++;
    return 'done';
  }
}

// Nest binds neither APP_GUARD nor useGlobalGuards() to gateways: a gateway names its guard.
@UseGuards(SessionGuard)
@WebSocketGateway({ path: '/ws' })
class FixtureGateway extends AuthenticatingGateway {
  @SubscribeMessage('whoami')
  whoami(@CurrentUser() user: SessionUser) {
    return { event: 'whoami', data: user };
  }

  @Roles('admin')
  @SubscribeMessage('admin')
  adminOnly(@CurrentSession() session: Session) {
    return { event: 'admin', data: session.username };
  }
}

function defined(headers: Headers): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

describe('SessionGuard and SessionSockets in GraphQL and WebSocket contexts', () => {
  let server: RedisServerProcess;
  let app: INestApplication;
  let sessions: SessionService;
  let sockets: SessionSockets;
  let wsUrl: string;

  const keyPrefix = uniquePrefix();

  /**
   * The fixture app. The main one checks sockets only every 30 s (the default), so that a close
   * within a test's time proves the lifecycle events closed it.
   */
  async function fixtureApp(checkInterval: number): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: server.url },
          keyPrefix,
          allowedOrigins: [ORIGIN],
          maxSessionsPerUser: 0,
          sockets: { checkInterval },
        }),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          path: '/graphql',
        }),
      ],
      providers: [FixtureResolver, FixtureGateway, { provide: APP_GUARD, useClass: SessionGuard }],
    }).compile();
    const fixture = moduleRef.createNestApplication({ logger: false });
    fixture.useWebSocketAdapter(new WsAdapter(fixture));
    await fixture.listen(0, '127.0.0.1');
    return fixture;
  }

  const wsUrlOf = (fixture: INestApplication) =>
    `ws://127.0.0.1:${(fixture.getHttpServer().address() as { port: number }).port}/ws`;

  beforeAll(async () => {
    server = await startRedisServer();
    app = await fixtureApp(30);
    wsUrl = wsUrlOf(app);
    sessions = app.get(SessionService);
    sockets = app.get(SessionSockets);
  });

  afterAll(async () => {
    await app?.close();
    await server?.dispose();
  });

  const cookie = (token: string) => `cr_session=${token}`;

  describe('GraphQL (Apollo driver, code-first)', () => {
    const gql = (query: string, headers: Headers = {}) =>
      request(app.getHttpServer())
        .post('/graphql')
        .set(defined({ 'content-type': 'application/json', ...headers }))
        .send({ query });

    it('answers 200 with data for a session, from the cookie or a bearer token', async () => {
      const { token, session } = await sessions.create(alice);
      for (const headers of [
        { cookie: cookie(token), origin: ORIGIN },
        { authorization: `Bearer ${token}` },
      ]) {
        const res = await gql('{ me { username roles sessionId } }', headers);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          data: { me: { username: 'alice', roles: ['customer'], sessionId: session.id } },
        });
      }
    });

    it('answers UNAUTHENTICATED without a session, or with a revoked one, and serves @Public', async () => {
      const { token } = await sessions.create(alice);
      await sessions.revoke(token);
      for (const headers of [{}, { authorization: `Bearer ${token}` }]) {
        const res = await gql('{ me { username } }', headers);
        expect(res.body.data).toBeNull();
        expect(res.body.errors).toHaveLength(1);
        expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
        expect(res.body.errors[0].message).toBe('Authentication required');
      }
      expect((await gql('{ open }')).body).toEqual({ data: { open: 'open' } });
    });

    it('answers FORBIDDEN without the role, and data with it', async () => {
      const customer = await sessions.create(alice);
      const administrator = await sessions.create(admin);
      const refused = await gql('{ adminOnly }', { authorization: `Bearer ${customer.token}` });
      expect(refused.body.data).toBeNull();
      expect(refused.body.errors[0].extensions.code).toBe('FORBIDDEN');
      const allowed = await gql('{ adminOnly }', {
        authorization: `Bearer ${administrator.token}`,
      });
      expect(allowed.body).toEqual({ data: { adminOnly: 'admin only' } });
    });

    it('refuses a cookie mutation from a foreign origin, and runs it from an allowed one or with a bearer token', async () => {
      const { token } = await sessions.create(alice);
      const before = ran.placed;
      for (const headers of [
        { cookie: cookie(token), origin: FOREIGN },
        { cookie: cookie(token), 'sec-fetch-site': 'cross-site' },
        { cookie: cookie(token) },
      ]) {
        const res = await gql('mutation { place }', headers);
        expect(res.body.data).toBeNull();
        expect(res.body.errors[0].extensions.code).toBe('FORBIDDEN');
        expect(res.body.errors[0].message).toBe('Cross-origin request refused');
      }
      expect(ran.placed).toBe(before);
      expect(
        (await gql('mutation { place }', { cookie: cookie(token), origin: ORIGIN })).body,
      ).toEqual({ data: { place: 'placed by alice' } });
      expect(
        (await gql('mutation { place }', { authorization: `Bearer ${token}`, origin: FOREIGN }))
          .body,
      ).toEqual({ data: { place: 'placed by alice' } });
      expect(ran.placed).toBe(before + 2);
    });

    it('never runs a mutation sent over GET', async () => {
      const { token } = await sessions.create(alice);
      const before = ran.placed;
      const res = await request(app.getHttpServer())
        .get('/graphql')
        .query({ query: 'mutation { place }' })
        .set({ cookie: cookie(token), 'apollo-require-preflight': 'true' });
      expect(res.status).toBe(405);
      expect(res.body.errors[0].message).toBe(
        'GET requests only support query operations, not mutation operations',
      );
      // A query over GET works with the same headers: the refusal is about the mutation.
      const query = await request(app.getHttpServer())
        .get('/graphql')
        .query({ query: '{ me { username } }' })
        .set({ cookie: cookie(token), 'apollo-require-preflight': 'true' });
      expect(query.body).toEqual({ data: { me: { username: 'alice' } } });
      expect(ran.placed).toBe(before);
    });

    it('enforces @RequireRecentAuth: UNAUTHENTICATED with reauthentication_required once the window passed', async () => {
      const { token } = await sessions.create(alice);
      const bearer = { authorization: `Bearer ${token}` };
      expect((await gql('mutation { sensitive }', bearer)).body).toEqual({
        data: { sensitive: 'done' },
      });
      await sleep(400);
      const before = ran.sensitive;
      const res = await gql('mutation { sensitive }', bearer);
      expect(res.body.data).toBeNull();
      expect(res.body.errors[0].extensions).toMatchObject({
        code: 'UNAUTHENTICATED',
        originalError: { statusCode: 401, error: 'reauthentication_required' },
      });
      expect(ran.sensitive).toBe(before);
      const rotated = await sessions.rotate(token, { reauthenticated: true });
      if (!rotated) throw new Error('the session should rotate');
      expect(
        (await gql('mutation { sensitive }', { authorization: `Bearer ${rotated.token}` })).body,
      ).toEqual({ data: { sensitive: 'done' } });
    });

    it('answers INTERNAL_SERVER_ERROR with status 503 while the store is down, never data', async () => {
      const { token } = await sessions.create(alice);
      await server.stop();
      try {
        const res = await gql('{ me { username } }', { authorization: `Bearer ${token}` });
        expect(res.body.data).toBeNull();
        expect(res.body.errors[0].extensions).toMatchObject({
          code: 'INTERNAL_SERVER_ERROR',
          status: 503,
        });
      } finally {
        await server.start();
      }
      // The restarted Redis is empty: recovery shows with a session created after it.
      await until(async () => {
        const fresh = await sessions.create(alice).catch(() => null);
        if (!fresh) return false;
        const res = await gql('{ me { username } }', { authorization: `Bearer ${fresh.token}` });
        return res.body.data !== null;
      });
    });

    it('validates once per HTTP request however many root fields it asks for', async () => {
      const { token } = await sessions.create(admin);
      const validate = jest.spyOn(sessions, 'validate');
      try {
        const res = await gql('{ me { username } adminOnly a: me { roles } }', {
          authorization: `Bearer ${token}`,
        });
        expect(res.body.data).toEqual({
          me: { username: 'admin' },
          adminOnly: 'admin only',
          a: { roles: ['admin'] },
        });
        expect(validate).toHaveBeenCalledTimes(1);
      } finally {
        validate.mockRestore();
      }
    });
  });

  describe('WebSockets (@nestjs/platform-ws)', () => {
    const open: WebSocket[] = [];

    afterEach(() => {
      for (const socket of open.splice(0)) socket.terminate();
    });

    function connect(headers: Headers = {}, url = wsUrl): SocketConnection {
      const connection = connectSocket(url, defined(headers));
      open.push(connection.socket);
      return connection;
    }

    const send = (connection: SocketConnection, event: string) =>
      connection.socket.send(JSON.stringify({ event, data: {} }));

    /** Open and authenticated: it answers a message. */
    async function ready(connection: SocketConnection) {
      await connection.opened;
      send(connection, 'whoami');
      return connection.next();
    }

    it('closes a handshake without a session, or with a dead one, with 4401', async () => {
      const { token } = await sessions.create(alice);
      await sessions.revoke(token);
      for (const headers of [
        {},
        { origin: ORIGIN, cookie: cookie('not-a-token') },
        { authorization: `Bearer ${token}` },
      ]) {
        const { closed } = connect(headers);
        expect(await closed).toMatchObject({ code: 4401, reason: 'Authentication required' });
      }
    });

    it('closes with 4401 a handshake with two different session cookies, whichever comes first', async () => {
      const own = (await sessions.create(alice)).token;
      const planted = (await sessions.create(admin)).token;
      for (const cookies of [
        [cookie(planted), cookie(own)],
        [cookie(own), cookie(planted)],
      ]) {
        const connection = connect({ origin: ORIGIN, cookie: cookies.join('; ') });
        const accepted = ready(connection).then((answer) => ({ accepted: answer }));
        expect(await Promise.race([connection.closed, accepted])).toMatchObject({
          code: 4401,
          reason: 'Authentication required',
        });
      }
      expect(sockets.socketsOf(alice.id)).toEqual([]);
      expect(sockets.socketsOf(admin.id)).toEqual([]);
    });

    it('closes a cookie handshake from a foreign or missing Origin with 4401, and accepts a bearer one from anywhere', async () => {
      const { token } = await sessions.create(alice);
      for (const headers of [
        { cookie: cookie(token), origin: FOREIGN },
        { cookie: cookie(token) },
      ]) {
        expect(await connect(headers).closed).toMatchObject({
          code: 4401,
          reason: 'Origin not allowed',
        });
      }
      for (const headers of [
        { cookie: cookie(token), origin: ORIGIN },
        { authorization: `Bearer ${token}`, origin: FOREIGN },
        { authorization: `Bearer ${token}` },
      ]) {
        expect(await ready(connect(headers))).toEqual({
          event: 'whoami',
          data: { id: 'u-alice', username: 'alice', roles: ['customer'] },
        });
      }
    });

    it('checks @Roles per message: an exception frame without the role, the socket stays open', async () => {
      const customer = connect({ authorization: `Bearer ${(await sessions.create(alice)).token}` });
      await ready(customer);
      send(customer, 'admin');
      expect(await customer.next()).toEqual({
        event: 'exception',
        data: { status: 403, message: 'Missing role', pattern: 'admin' },
      });
      expect(customer.socket.readyState).toBe(WebSocket.OPEN);
      send(customer, 'whoami');
      expect((await customer.next()).event).toBe('whoami');

      const administrator = connect({
        authorization: `Bearer ${(await sessions.create(admin)).token}`,
      });
      await ready(administrator);
      send(administrator, 'admin');
      expect(await administrator.next()).toEqual({ event: 'admin', data: 'admin' });
    });

    it('reads roles again per message: a role granted while connected counts at once', async () => {
      const user = { id: 'u-promoted', username: 'promoted', roles: ['customer'] };
      const connection = connect({
        authorization: `Bearer ${(await sessions.create(user)).token}`,
      });
      await ready(connection);
      send(connection, 'admin');
      expect((await connection.next()).event).toBe('exception');
      await sessions.setRolesForUser(user.id, ['admin']);
      send(connection, 'admin');
      expect(await connection.next()).toEqual({ event: 'admin', data: 'promoted' });
    });

    it('closes the socket with 4401 when its session is revoked, and leaves another session’s socket open', async () => {
      const revoked = await sessions.create(alice);
      const kept = await sessions.create(alice);
      const doomed = connect({ authorization: `Bearer ${revoked.token}` });
      const survivor = connect({ authorization: `Bearer ${kept.token}` });
      await ready(doomed);
      await ready(survivor);
      await sessions.revoke(revoked.session.id);
      expect(await doomed.closed).toMatchObject({ code: 4401, reason: 'Session revoked' });
      await sleep(100);
      expect(survivor.socket.readyState).toBe(WebSocket.OPEN);
      send(survivor, 'whoami');
      expect((await survivor.next()).event).toBe('whoami');
    });

    it('closes every socket of a user on revokeAllForUser, but the one spared', async () => {
      const user = { id: 'u-all', username: 'all', roles: ['customer'] };
      const other = { id: 'u-other', username: 'other', roles: ['customer'] };
      const issued = await Promise.all([1, 2, 3].map(() => sessions.create(user)));
      const connections = issued.map(({ token }) => connect({ authorization: `Bearer ${token}` }));
      const bystander = connect({
        authorization: `Bearer ${(await sessions.create(other)).token}`,
      });
      await Promise.all([...connections, bystander].map(ready));
      await sessions.revokeAllForUser(user.id, { except: issued[0].session.id });
      for (const connection of connections.slice(1)) {
        expect((await connection.closed).code).toBe(4401);
      }
      await sleep(100);
      expect(connections[0].socket.readyState).toBe(WebSocket.OPEN);
      expect(bystander.socket.readyState).toBe(WebSocket.OPEN);
      await sessions.revokeAllForUser(user.id);
      expect((await connections[0].closed).code).toBe(4401);
    });

    it('closes every socket on revokeEverything, but the spared session’s', async () => {
      const spared = await sessions.create(admin);
      const others = await Promise.all([alice, admin, alice].map((user) => sessions.create(user)));
      const keep = connect({ authorization: `Bearer ${spared.token}` });
      const doomed = others.map(({ token }) => connect({ authorization: `Bearer ${token}` }));
      await Promise.all([keep, ...doomed].map(ready));
      await sessions.revokeEverything({ except: spared.session.id });
      for (const connection of doomed) {
        expect((await connection.closed).code).toBe(4401);
      }
      await sleep(100);
      expect(keep.socket.readyState).toBe(WebSocket.OPEN);
    });

    /**
     * What a socket answers once the event that closed the others was applied: the server
     * closed it on that same event (its close comes first), or it answers the message.
     */
    function answerOf(connection: SocketConnection) {
      send(connection, 'whoami');
      return Promise.race([connection.next(), connection.closed]);
    }

    it('keeps the socket of the session a revokeAllForUser spared under the id a rotation gave it', async () => {
      // The caller read its session id, then a re-authentication rotated that session and its
      // client reconnected with the new token, before "log out my other devices" ran.
      const user = { id: 'u-rotated-all', username: 'rotated', roles: ['customer'] };
      const caller = await sessions.create(user);
      const others = await Promise.all([1, 2].map(() => sessions.create(user)));
      const rotated = await sessions.rotate(caller.token, { reauthenticated: true });
      const kept = connect({ authorization: `Bearer ${rotated?.token}` });
      const doomed = others.map(({ token }) => connect({ authorization: `Bearer ${token}` }));
      await Promise.all([kept, ...doomed].map(ready));
      expect(await sessions.revokeAllForUser(user.id, { except: caller.session.id })).toBe(2);
      for (const connection of doomed) {
        expect(await connection.closed).toMatchObject({ code: 4401, reason: 'Session revoked' });
      }
      expect(await answerOf(kept)).toMatchObject({ event: 'whoami' });
      expect(kept.socket.readyState).toBe(WebSocket.OPEN);
    });

    it('keeps the socket of the session a revokeEverything spared under the id a rotation gave it', async () => {
      const caller = await sessions.create(admin);
      const others = await Promise.all([alice, admin].map((user) => sessions.create(user)));
      const rotated = await sessions.rotate(caller.token, { reauthenticated: true });
      const kept = connect({ authorization: `Bearer ${rotated?.token}` });
      const doomed = others.map(({ token }) => connect({ authorization: `Bearer ${token}` }));
      await Promise.all([kept, ...doomed].map(ready));
      await sessions.revokeEverything({ except: caller.session.id });
      for (const connection of doomed) {
        expect(await connection.closed).toMatchObject({ code: 4401, reason: 'Session revoked' });
      }
      expect(await answerOf(kept)).toMatchObject({ event: 'whoami' });
      expect(kept.socket.readyState).toBe(WebSocket.OPEN);
    });

    it('closes a socket whose session was rotated (its token is dead)', async () => {
      const { token } = await sessions.create(alice);
      const connection = connect({ authorization: `Bearer ${token}` });
      await ready(connection);
      await sessions.rotate(token, { reauthenticated: true });
      expect(await connection.closed).toMatchObject({ code: 4401, reason: 'Session rotated' });
    });

    it('closes within the periodic check a socket whose session vanished without an event', async () => {
      const checking = await fixtureApp(CHECK_INTERVAL_S);
      const checks = jest.spyOn(checking.get(SessionSockets), 'checkAll');
      try {
        const { token } = await sessions.create(alice);
        const connection = connect({ authorization: `Bearer ${token}` }, wsUrlOf(checking));
        await ready(connection);
        // Let the stream reader's start (a gap, which triggers a check at once) pass first.
        await sleep(300);
        // Behind SessionService's back: no lifecycle event is published.
        const started = performance.now();
        await app.get<SessionStore>(SessionStore).revoke(refOf(token));
        // The first check to begin after the revocation closes it, not a later one (one running
        // then may have read the store before). The deadline only stops a hang.
        const running = new Set(checks.mock.results.map(({ value }) => value));
        const next = () => checks.mock.results.find(({ value }) => !running.has(value));
        await until(() => next() !== undefined, 25_000);
        await next()?.value;
        expect(checking.get(SessionSockets).socketsOf(alice.id)).toHaveLength(0);
        const { code, reason, at } = await connection.closed;
        expect({ code, reason }).toEqual({ code: 4401, reason: 'Session ended' });
        console.log(
          `closed by the periodic check (checkInterval ${CHECK_INTERVAL_S} s) after ` +
            `${(at - started).toFixed(0)} ms`,
        );
      } finally {
        checks.mockRestore();
        await checking.close();
      }
    });

    it('unregisters a socket when it closes', async () => {
      const user = { id: 'u-leaving', username: 'leaving', roles: ['customer'] };
      const connections = await Promise.all(
        [1, 2].map(async () =>
          connect({ authorization: `Bearer ${(await sessions.create(user)).token}` }),
        ),
      );
      await Promise.all(connections.map(ready));
      expect(sockets.socketsOf(user.id)).toHaveLength(2);
      connections[0].socket.close();
      await until(() => sockets.socketsOf(user.id).length === 1);
      connections[1].socket.terminate();
      await until(() => sockets.socketsOf(user.id).length === 0);
    });

    it('measures the delay from revocation to close over 20 sockets', async () => {
      const count = 20;
      const issued = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          sessions.create({ id: `u-m${i}`, username: `m${i}`, roles: ['customer'] }),
        ),
      );
      const delays: number[] = [];
      for (const [i, { token, session }] of issued.entries()) {
        const connection = connect({ authorization: `Bearer ${token}` });
        await ready(connection);
        const started = performance.now();
        if (i % 2 === 0) await sessions.revoke(session.id);
        else await sessions.revokeAllForUser(session.userId);
        const { code, reason, at } = await connection.closed;
        // Closed on the revocation's event: the periodic check (30 s away) says 'Session ended'.
        expect({ code, reason }).toEqual({ code: 4401, reason: 'Session revoked' });
        delays.push(at - started);
      }
      delays.sort((a, b) => a - b);
      const pick = (q: number) => delays[Math.min(count - 1, Math.floor(q * count))];
      console.log(
        `revocation -> close over ${count} sockets (ms, from the call to the client's close event): ` +
          `median ${pick(0.5).toFixed(1)}, p90 ${pick(0.9).toFixed(1)}, max ${delays[count - 1].toFixed(1)}`,
      );
    });
  });
});
