import type { IncomingMessage } from 'node:http';

import { INestApplication, UseGuards } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { WebSocket } from 'ws';

import {
  CurrentUser,
  SessionGuard,
  SessionModule,
  SessionService,
  SessionSockets,
  SessionUser,
} from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { holdNextValidation } from './held-validation';
import { AuthenticatingGateway, connectSocket, SocketConnection } from './raw-socket';
import { admin, alice, sleep, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

const ORIGIN = 'http://localhost:3000';

@UseGuards(SessionGuard)
@WebSocketGateway({ path: '/ws' })
class FixtureGateway extends AuthenticatingGateway {
  @SubscribeMessage('whoami')
  whoami(@CurrentUser() user: SessionUser) {
    return { event: 'whoami', data: user.username };
  }
}

describe('SessionSockets against hostile handshakes (real Redis)', () => {
  let server: RedisServerProcess;
  let app: INestApplication;
  let sessions: SessionService;
  let sockets: SessionSockets;
  let url: string;
  const open: WebSocket[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: server.url },
          keyPrefix: uniquePrefix(),
          allowedOrigins: [ORIGIN],
          maxSessionsPerUser: 0,
          // Far off: a close within a test's time comes from the handshake or an event.
          sockets: { checkInterval: 30 },
        }),
      ],
      providers: [FixtureGateway],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    url = `ws://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/ws`;
    sessions = app.get(SessionService);
    sockets = app.get(SessionSockets);
  });

  afterEach(() => {
    for (const socket of open.splice(0)) socket.terminate();
  });

  afterAll(async () => {
    await app?.close();
    await server?.dispose();
  });

  function connect(headers: Record<string, string>): SocketConnection {
    const connection = connectSocket(url, headers);
    open.push(connection.socket);
    return connection;
  }

  const cookie = (token: string) => `cr_session=${token}`;

  /** Open and authenticated: it answers a message. */
  async function ready(connection: SocketConnection) {
    await connection.opened;
    connection.socket.send(JSON.stringify({ event: 'whoami', data: {} }));
    return connection.next();
  }

  /** How the socket closed, or 'still open' after a bound far beyond an event's way. */
  function closedWithin(connection: SocketConnection) {
    return Promise.race([connection.closed, sleep(5000).then(() => 'still open')]);
  }

  describe.each([
    ['cookie', (token: string) => ({ cookie: cookie(token), origin: ORIGIN })],
    ['bearer', (token: string) => ({ authorization: `Bearer ${token}` })],
  ] as const)('with the token in a %s', (_name, headersOf) => {
    it('closes with 4401 a socket whose session was revoked while its handshake validated, its event not in yet', async () => {
      const { token, session } = await sessions.create(alice);
      const hold = holdNextValidation(sessions);
      const connection = connect(headersOf(token));
      await hold.reading;
      await sessions.revoke(session.id);
      hold.release();
      expect(await closedWithin(connection)).toMatchObject({ code: 4401 });
      expect(sockets.socketsOf(alice.id)).toEqual([]);
    });

    it('closes with 4401 a socket whose session was revoked while its handshake validated, its event already in', async () => {
      const { token, session } = await sessions.create(alice);
      // A socket of the same session already open: its close says the event has arrived.
      const witness = connect(headersOf(token));
      await ready(witness);
      const hold = holdNextValidation(sessions);
      const connection = connect(headersOf(token));
      await hold.reading;
      await sessions.revoke(session.id);
      expect(await closedWithin(witness)).toMatchObject({ code: 4401 });
      hold.release();
      // Nothing will announce this session again: only the handshake itself can refuse it.
      expect(await closedWithin(connection)).toMatchObject({ code: 4401 });
      expect(sockets.socketsOf(alice.id)).toEqual([]);
    });

    it('closes with 4401 a socket whose token was rotated while its handshake validated', async () => {
      const { token } = await sessions.create(alice);
      const hold = holdNextValidation(sessions);
      const connection = connect(headersOf(token));
      await hold.reading;
      const rotated = await sessions.rotate(token);
      hold.release();
      if (!rotated) throw new Error('the rotation found no session');
      expect(await closedWithin(connection)).toMatchObject({ code: 4401 });
      // The rotated token is the one that opens a socket now.
      expect(await ready(connect(headersOf(rotated.token)))).toEqual({
        event: 'whoami',
        data: 'alice',
      });
    });
  });

  it('refuses a cookie handshake from an origin that only looks allowed, and a cookie next to another bearer token', async () => {
    const own = (await sessions.create(alice)).token;
    const other = (await sessions.create(admin)).token;
    for (const origin of [
      'null',
      `${ORIGIN}/`,
      'HTTP://LOCALHOST:3000',
      'http://localhost:3000:80',
    ]) {
      expect(await closedWithin(connect({ cookie: cookie(own), origin }))).toMatchObject({
        code: 4401,
        reason: 'Origin not allowed',
      });
    }
    for (const [inCookie, inHeader] of [
      [own, other],
      [other, own],
    ]) {
      const connection = connect({
        cookie: cookie(inCookie),
        origin: ORIGIN,
        authorization: `Bearer ${inHeader}`,
      });
      expect(await closedWithin(connection)).toMatchObject({
        code: 4401,
        reason: 'Authentication required',
      });
    }
    expect(sockets.socketsOf(alice.id)).toEqual([]);
    expect(sockets.socketsOf(admin.id)).toEqual([]);
  });

  it('refuses a handshake with two Authorization header lines, whatever they say', async () => {
    const own = (await sessions.create(alice)).token;
    const other = (await sessions.create(admin)).token;
    for (const lines of [
      [`Bearer ${own}`, `Bearer ${other}`],
      [`Bearer ${other}`, `Bearer ${own}`],
      [`Bearer ${own}`, `Bearer ${own}`],
      [`Bearer ${own}`, 'Basic YWxpY2U6eA=='],
    ]) {
      // Node writes one header line per value of an array.
      const connection = connect({ authorization: lines as unknown as string });
      expect(await closedWithin(connection)).toMatchObject({
        code: 4401,
        reason: 'Authentication required',
      });
    }
    expect(sockets.socketsOf(alice.id)).toEqual([]);
    expect(sockets.socketsOf(admin.id)).toEqual([]);
  });
  it('admits before an upgrade only what authenticate accepts, and says how to refuse the rest', async () => {
    const own = (await sessions.create(alice)).token;
    const upgrade = (
      headers: Record<string, string>,
      rawHeaders = Object.entries(headers).flat(),
    ) => ({ headers, rawHeaders }) as unknown as IncomingMessage;
    const bearer = { authorization: `Bearer ${own}` };
    const unauthenticated = { status: 401, message: 'Authentication required' };
    expect(await sockets.admit(upgrade({}))).toEqual(unauthenticated);
    expect(await sockets.admit(upgrade(bearer))).toBeNull();
    expect(await sockets.admit(upgrade(bearer), ['admin'])).toEqual({
      status: 403,
      message: 'Missing role',
    });
    expect(await sockets.admit(upgrade({ cookie: cookie(own) }))).toEqual({
      status: 403,
      message: 'Origin not allowed',
    });
    expect(await sockets.admit(upgrade({ cookie: cookie(own), origin: ORIGIN }))).toBeNull();
    const twice = ['Authorization', bearer.authorization, 'authorization', bearer.authorization];
    expect(await sockets.admit(upgrade(bearer, twice))).toEqual(unauthenticated);
    await sessions.revoke(own);
    expect(await sockets.admit(upgrade(bearer))).toEqual(unauthenticated);
  });
});
