import { INestApplication, UseGuards } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { WebSocket } from 'ws';

import {
  CurrentSession,
  Roles,
  Session,
  SessionGuard,
  SessionModule,
  SessionModuleOptions,
  SessionService,
  SessionSockets,
  SessionStore,
} from '../src';
import { SessionRpcModule } from '../src/rpc';
import { freePort, RedisServerProcess, startRedisServer } from '../src/testing';
import { holdNextValidation } from './held-validation';
import { AuthenticatingGateway, connectSocket, SocketConnection } from './raw-socket';
import { sleep, startRpcServer, testCertificates, uniquePrefix, until } from './store-contract';

jest.setTimeout(60_000);

/**
 * Far longer than any test waits: a socket closed within a test was closed by something else
 * than the periodic check.
 */
const CHECK_INTERVAL_S = 120;

@UseGuards(SessionGuard)
@WebSocketGateway({ path: '/ws' })
class FixtureGateway extends AuthenticatingGateway {
  @SubscribeMessage('ping')
  ping() {
    return { event: 'pong', data: null };
  }

  @Roles('admin')
  @SubscribeMessage('admin')
  adminOnly(@CurrentSession() session: Session) {
    return { event: 'admin', data: session.roles };
  }
}

/** What a gateway reads before it pushes through `socketsOf`. */
const rolesHeld = (sockets: SessionSockets, userId: string) =>
  sockets.socketsOf(userId).map((socket) => socket.session?.roles);

describe('SessionSockets keeps an open socket’s session current', () => {
  let server: RedisServerProcess;
  const apps: INestApplication[] = [];
  const open: WebSocket[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
  });

  afterEach(async () => {
    for (const socket of open.splice(0)) socket.terminate();
    for (const app of apps.splice(0)) await app.close();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  async function fixture(options: Partial<SessionModuleOptions> = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          ...('remote' in options
            ? {}
            : { redis: { url: server.url }, keyPrefix: uniquePrefix(), maxSessionsPerUser: 0 }),
          sockets: { checkInterval: CHECK_INTERVAL_S },
          ...options,
        } as SessionModuleOptions),
      ],
      providers: [FixtureGateway],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    apps.push(app);
    const url = `ws://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/ws`;
    const sessions = app.get(SessionService);
    const sockets = app.get(SessionSockets);

    function connect(token: string): SocketConnection {
      const connection = connectSocket(url, { authorization: `Bearer ${token}` });
      open.push(connection.socket);
      return connection;
    }

    /** A socket of another user, registered: the lifecycle stream is being followed. */
    async function following() {
      const user = { id: `u-bystander-${open.length}`, username: 'bystander', roles: ['c'] };
      connect((await sessions.create(user)).token);
      await until(() => sockets.socketsOf(user.id).length === 1);
      // The reader's start gap and the check it runs are behind us.
      await sleep(300);
    }

    return {
      sessions,
      sockets,
      connect,
      following,
      holdNextValidation: () => holdNextValidation(sessions),
    };
  }

  describe('when the roles change while a validation is in flight', () => {
    it('gives a socket whose handshake was validating the new roles, not those it read', async () => {
      const { sessions, sockets, connect, following, holdNextValidation } = await fixture();
      await following();
      const user = { id: 'u-demoted-at-handshake', username: 'demoted', roles: ['admin'] };
      const { token } = await sessions.create(user);
      // Another socket of the user, open already: it shows when the event has arrived.
      connect(token);
      await until(() => sockets.socketsOf(user.id).length === 1);
      const held = holdNextValidation();
      const connection = connect(token);
      await held.reading;
      await sessions.setRolesForUser(user.id, ['customer']);
      // The roles.changed event reaches this service while the handshake's answer is held.
      await until(() => rolesHeld(sockets, user.id)[0]?.[0] === 'customer');
      held.release();
      await until(() => sockets.socketsOf(user.id).length === 2);
      expect(rolesHeld(sockets, user.id)).toEqual([['customer'], ['customer']]);
      connection.socket.send(JSON.stringify({ event: 'admin', data: {} }));
      expect(await connection.next()).toMatchObject({
        event: 'exception',
        data: { status: 403 },
      });
    });

    it('gives a socket whose message was validating the new roles, and refuses that message without them', async () => {
      const { sessions, sockets, connect, following, holdNextValidation } = await fixture();
      await following();
      const user = { id: 'u-demoted-in-message', username: 'demoted', roles: ['admin'] };
      const { token } = await sessions.create(user);
      const connection = connect(token);
      await until(() => sockets.socketsOf(user.id).length === 1);
      const held = holdNextValidation();
      connection.socket.send(JSON.stringify({ event: 'admin', data: {} }));
      await held.reading;
      await sessions.setRolesForUser(user.id, ['customer']);
      await until(() => rolesHeld(sockets, user.id)[0]?.[0] === 'customer');
      held.release();
      expect(await connection.next()).toMatchObject({
        event: 'exception',
        data: { status: 403 },
      });
      expect(rolesHeld(sockets, user.id)).toEqual([['customer']]);
    });
  });

  describe('when Redis ends the session by its TTL (no event)', () => {
    it('closes every socket of a session at its absolute deadline, without waiting for the periodic check', async () => {
      const { sessions, connect } = await fixture({ idleTimeout: 60, absoluteTimeout: 2 });
      const { token, session } = await sessions.create({
        id: 'u-deadline',
        username: 'd',
        roles: ['c'],
      });
      // Many sockets of one session, none sending anything: nothing else would end them.
      const connections = [connect(token), connect(token), connect(token)];
      for (const { closed } of connections) {
        const { code, reason } = await closed;
        expect({ code, reason }).toEqual({ code: 4401, reason: 'Session expired' });
      }
      const late = sessions.now() - session.absoluteExpiresAt;
      console.log(`3 sockets closed ${late} ms after their session's absolute deadline`);
      expect(late).toBeGreaterThanOrEqual(0);
    });

    it('closes a socket whose session idled out, without waiting for the periodic check', async () => {
      const { sessions, connect } = await fixture({ idleTimeout: 1.5, absoluteTimeout: 60 });
      const { token } = await sessions.create({ id: 'u-idle', username: 'i', roles: ['c'] });
      const connection = connect(token);
      const { code, reason } = await connection.closed;
      expect({ code, reason }).toEqual({ code: 4401, reason: 'Session expired' });
      expect(await sessions.validate(token)).toBeNull();
    });

    it('keeps open a socket whose session is kept alive elsewhere past its first idle expiry', async () => {
      const { sessions, sockets, connect } = await fixture({
        idleTimeout: 1.5,
        absoluteTimeout: 60,
      });
      const user = { id: 'u-active-elsewhere', username: 'a', roles: ['c'] };
      const { token } = await sessions.create(user);
      const connection = connect(token);
      await until(() => sockets.socketsOf(user.id).length === 1);
      // Another tab's requests: validations that slide the idle timeout, none on the socket.
      for (let i = 0; i < 20; i++) {
        expect(await sessions.validate(token)).not.toBeNull();
        await sleep(200);
      }
      expect(connection.socket.readyState).toBe(WebSocket.OPEN);
      // Left alone, it idles out, and the socket closes with it.
      const { code, reason } = await connection.closed;
      expect({ code, reason }).toEqual({ code: 4401, reason: 'Session expired' });
    });
  });

  /**
   * A remote caller sees only the fields its capability grants: without the session's times it
   * knows no expiry to wait for, and its sockets keep to the periodic check. (A timer armed for
   * NaN ms fires at once: one idle socket made hundreds of validations a second, each sliding
   * the session's idle timeout.)
   */
  it('arms no expiry timer for a remote session read without its time fields', async () => {
    const certificates = testCertificates();
    const port = await freePort();
    const rpc = await startRpcServer(
      port,
      uniquePrefix(),
      certificates,
      SessionRpcModule.register({
        capabilities: {
          catalog: { calls: ['validate'], fields: ['id', 'userId', 'username', 'roles'] },
        },
      }),
    );
    try {
      const { connect, sockets } = await fixture({
        remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('catalog') },
      });
      const user = { id: 'u-remote-untimed', username: 'untimed', roles: ['customer'] };
      const { token } = await rpc.sessions.create(user);
      connect(token);
      await until(() => sockets.socketsOf(user.id).length === 1);
      const validations = jest.spyOn(rpc.server.get<SessionStore>(SessionStore), 'validate');
      await sleep(1000);
      expect(validations).not.toHaveBeenCalled();
      expect(sockets.socketsOf(user.id)).toHaveLength(1);
    } finally {
      await rpc.server.close();
      certificates.dispose();
    }
  });
});
