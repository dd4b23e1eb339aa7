import { INestApplication } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { lastValueFrom } from 'rxjs';

import {
  RedisSessionStore,
  SessionCacheInvalidator,
  SessionEvents,
  SessionModule,
  SessionService,
} from '../src';
import { resolveSessionConfig } from '../src/lib/config/session.config';
import { parseSessionId, SessionRef } from '../src/lib/token/session.token';
import { REDIS_URL as url, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

const { hostname, port } = new URL(url);
const transport = { host: hostname, port: Number(port) };
const alice = { id: 'u-cache-alice', username: 'alice', roles: ['customer'] };

describe('SessionService with localCache', () => {
  const keyPrefix = uniquePrefix();
  let app: INestApplication;
  let sessions: SessionService;
  // Another service's view of the same Redis, with no cache: it revokes behind our back,
  // the way the auth service does.
  let auth: RedisSessionStore;
  let events: ClientProxy;
  let redis: Redis;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      // A long ttl: only the event can make the cache forget within the test.
      imports: [SessionModule.forRoot({ redis: { url }, keyPrefix, localCache: { ttl: 300 } })],
      controllers: [SessionCacheInvalidator],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.connectMicroservice({ transport: Transport.REDIS, options: transport });
    await app.startAllMicroservices();
    await app.init();
    sessions = app.get(SessionService);
    auth = new RedisSessionStore({ url }, resolveSessionConfig({ redis: { url }, keyPrefix }));
    events = ClientProxyFactory.create({ transport: Transport.REDIS, options: transport });
    await events.connect();
    redis = new Redis(url);
  });

  afterAll(async () => {
    await events?.close();
    auth?.onModuleDestroy();
    await app?.close();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) {
      await redis.del(...keys);
    }
    redis?.disconnect();
  });

  /** Emits the event until the token stops validating; events are idempotent. */
  async function emitUntilRefused(token: string, pattern: string, payload: object) {
    for (;;) {
      await lastValueFrom(events.emit(pattern, payload), { defaultValue: undefined });
      const session = await sessions.validate(token);
      if (!session) {
        return session;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it('refuses a session revoked elsewhere once session.revoked arrives', async () => {
    const { token, session } = await sessions.create(alice);
    expect(await sessions.validate(token)).toMatchObject({ id: session.id });

    expect(await auth.revoke(ref(session.id))).toBe(true);
    // Served from the cache: the revocation has not reached this service yet.
    expect(await sessions.validate(token)).toMatchObject({ id: session.id });

    expect(await emitUntilRefused(token, SessionEvents.revoked, { ids: [session.id] })).toBeNull();
    expect(await sessions.validate(token)).toBeNull();
  });

  it('forgets every session of a user but the kept one on user.sessions.revoked', async () => {
    const kept = await sessions.create(alice);
    const other = await sessions.create(alice);
    await sessions.validate(kept.token);
    await sessions.validate(other.token);

    await auth.revokeAll(alice.id, ref(kept.session.id));
    expect(await sessions.validate(other.token)).not.toBeNull();

    const payload = { userId: alice.id, exceptId: kept.session.id };
    expect(
      await emitUntilRefused(other.token, SessionEvents.userSessionsRevoked, payload),
    ).toBeNull();
    expect(await sessions.validate(kept.token)).toMatchObject({ id: kept.session.id });
  });

  it('serves the new roles after user.roles.changed', async () => {
    const { token } = await sessions.create(alice);
    await sessions.validate(token);

    await auth.setRoles(alice.id, ['admin']);
    expect((await sessions.validate(token))?.roles).toEqual(['customer']);

    const payload = { userId: alice.id, roles: ['admin'] };
    for (;;) {
      await lastValueFrom(events.emit(SessionEvents.userRolesChanged, payload), {
        defaultValue: undefined,
      });
      if ((await sessions.validate(token))?.roles.includes('admin')) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect((await sessions.validate(token))?.roles).toEqual(['admin']);
  });

  it('drops cached sessions this service revokes itself, without waiting for an event', async () => {
    const { token, session } = await sessions.create(alice);
    await sessions.validate(token);
    await sessions.revoke(session.id);
    expect(await sessions.validate(token)).toBeNull();
  });
});

function ref(id: string): SessionRef {
  return parseSessionId(id) as SessionRef;
}
