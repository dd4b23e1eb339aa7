import { Controller, Get, INestApplication } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';
import request from 'supertest';

import {
  CurrentUser,
  parseSessionId,
  SessionModuleOptions,
  SessionService,
  SessionStoreUnavailableError,
  SessionUser,
} from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import {
  RedisClusterProcess,
  RedisServerProcess,
  startRedisCluster,
  startRedisServer,
} from '../src/testing';
import { guardedApp, sessionKey, sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(60_000);

const alice = { id: 'u-wrongtype-alice', username: 'alice', roles: ['customer'] };

@Controller('wrong-type')
class WrongTypeController {
  @Get('me')
  me(@CurrentUser() user: SessionUser) {
    return user;
  }
}

/**
 * A session's key holding something else than a hash (written by hand, or by another program
 * sharing the Redis): Redis answers WRONGTYPE to the validation. That is a damaged session,
 * as a hash damaged by hand is, not a store that is down: 401, and the user's other sessions
 * are served as before.
 */
describe('SessionGuard when a session key holds another type', () => {
  let server: RedisServerProcess;
  let app: INestApplication;
  let admin: Redis;
  const keyPrefix = uniquePrefix();

  beforeAll(async () => {
    server = await startRedisServer();
    app = await guardedApp({ redis: { url: server.url }, keyPrefix }, [WrongTypeController]);
    admin = new Redis(server.url);
  });

  afterAll(async () => {
    admin?.disconnect();
    await app?.close();
    await server?.dispose();
  });

  const me = (token: string) =>
    request(app.getHttpServer()).get('/wrong-type/me').set('Authorization', `Bearer ${token}`);

  it.each([
    ['a string', (key: string) => admin.set(key, 'not a session')],
    ['a list', (key: string) => admin.rpush(key, 'u-wrongtype-alice', 'alice')],
    ['a set', (key: string) => admin.sadd(key, 'u-wrongtype-alice')],
  ])('answers 401 for %s, and serves the user’s other sessions', async (_kind, write) => {
    const sessions = app.get(SessionService);
    const damaged = await sessions.create(alice);
    const other = await sessions.create(alice);
    const key = sessionKey(keyPrefix, damaged.session.id);
    await admin.del(key);
    await write(key);

    const refused = await me(damaged.token);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ statusCode: 401 });
    await me(other.token).expect(200);
    // Nothing was written over what is there.
    expect(await admin.type(key)).not.toBe('hash');
  });
});

type Admin = Redis | Cluster;

/** What another program may leave at a key of the store: each Redis type but the right one. */
const OTHER_TYPES: Array<[string, (admin: Admin, key: string) => Promise<unknown>]> = [
  ['a string', (admin, key) => admin.set(key, 'not a session')],
  ['a list', (admin, key) => admin.rpush(key, 'u-wrongtype', 'alice')],
  ['a set', (admin, key) => admin.sadd(key, 'u-wrongtype')],
];

/** Replaces what `key` holds by `write`'s value, as a program sharing the Redis would. */
async function overwrite(
  admin: Admin,
  key: string,
  write: (admin: Admin, key: string) => Promise<unknown>,
) {
  await admin.del(key);
  await write(admin, key);
}

let users = 0;
/** A user of its own for each test, so that no test sees another's sessions. */
const aUser = () => ({
  id: `u-wrongtype-${++users}`,
  username: `user${users}`,
  roles: ['customer'],
});

/**
 * The writes that remove access (listing, revoking, role changes, revoke-all, the global
 * revocation) and logins at the cap, with a session key among a user's holding another type:
 * that key is a damaged session, dropped as a damaged hash is, and the user's other sessions
 * are reached. Redis answers WRONGTYPE to the commands on it otherwise, and each of these
 * answered 503 until someone deleted the key by hand.
 */
describe.each([
  ['one Redis', false],
  ['a Redis Cluster', true],
])('SessionService on %s with a session key holding another type', (_name, clustered) => {
  let server: RedisServerProcess | undefined;
  let cluster: RedisClusterProcess | undefined;
  let admin: Admin;
  const keyPrefix = uniquePrefix();
  const keys = new RedisKeys(keyPrefix);
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    if (clustered) {
      cluster = await startRedisCluster();
      admin = new Cluster(cluster.addresses);
      await new Promise((resolve) => (admin as Cluster).once('ready', resolve));
    } else {
      server = await startRedisServer();
      admin = new Redis(server.url);
    }
  });

  afterAll(async () => {
    for (const close of closers) await close();
    admin?.disconnect();
    await cluster?.dispose();
    await server?.dispose();
  });

  async function service(options: Partial<SessionModuleOptions> = {}): Promise<SessionService> {
    const redis = cluster
      ? { cluster: cluster.addresses }
      : { url: (server as RedisServerProcess).url };
    const { sessions, close } = await sessionService({
      redis,
      keyPrefix,
      ...options,
    } as SessionModuleOptions);
    closers.push(close);
    return sessions;
  }

  /** A user with three sessions, the first one's key overwritten by `write`. */
  async function damagedAmongOthers(
    sessions: SessionService,
    write: (admin: Admin, key: string) => Promise<unknown>,
  ) {
    const user = aUser();
    const damaged = await sessions.create(user);
    const others = [await sessions.create(user), await sessions.create(user)];
    const key = sessionKey(keyPrefix, damaged.session.id);
    await overwrite(admin, key, write);
    const { tag } = parseSessionId(damaged.session.id) as { tag: string };
    return { user, damaged, others, key, index: keys.index(tag, user.id) };
  }

  /** A user with one session, and that user's index and generation keys. */
  async function userWithSession(sessions: SessionService) {
    const user = aUser();
    const issued = await sessions.create(user);
    const { tag } = parseSessionId(issued.session.id) as { tag: string };
    return {
      user,
      issued,
      index: keys.index(tag, user.id),
      generation: keys.generation(tag, user.id),
    };
  }

  describe.each([
    ...OTHER_TYPES,
    ['a string that is no number', (admin: Admin, key: string) => admin.set(key, 'junk')],
  ] as typeof OTHER_TYPES)('with the user’s generation holding %s', (_kind, write) => {
    it('changes the user’s roles, and refuses a login that read the generation before', async () => {
      const sessions = await service();
      const { user, issued, generation } = await userWithSession(sessions);
      await overwrite(admin, generation, write);
      const read = await sessions.generationOf(user.id).catch(() => 'unreadable');

      await expect(sessions.setRolesForUser(user.id, ['admin'])).resolves.toBe(1);

      expect((await sessions.validate(issued.token))?.roles).toEqual(['admin']);
      await expect(sessions.create(user, {}, { generation: read })).rejects.toThrow();
      const fresh = await sessions.generationOf(user.id);
      await expect(sessions.create(user, {}, { generation: fresh })).resolves.toBeTruthy();
    });

    it('revokes every session of the user', async () => {
      const sessions = await service();
      const { user, issued, generation } = await userWithSession(sessions);
      await overwrite(admin, generation, write);

      await expect(sessions.revokeAllForUser(user.id)).resolves.toBe(1);

      expect(await sessions.validate(issued.token)).toBeNull();
      expect(Number(await admin.get(generation))).toBeGreaterThan(0);
    });
  });

  describe.each(OTHER_TYPES)('with the user’s index holding %s', (_kind, write) => {
    it('revokes a session by id, the index left as it is', async () => {
      const sessions = await service();
      const { user, issued, index } = await userWithSession(sessions);
      await overwrite(admin, index, write);

      await expect(sessions.revoke(issued.session.id, { ownerId: user.id })).resolves.toBe(true);

      expect(await sessions.validate(issued.token)).toBeNull();
      expect(await admin.type(index)).not.toBe('zset');
    });

    it('revokes every session of every user at once', async () => {
      const sessions = await service();
      const { issued, index } = await userWithSession(sessions);
      await overwrite(admin, index, write);

      await sessions.revokeEverything();

      expect(await sessions.validate(issued.token)).toBeNull();
      expect(await admin.exists(sessionKey(keyPrefix, issued.session.id))).toBe(0);
    });

    it('answers 503 to what needs the index, and changes nothing', async () => {
      const sessions = await service();
      const { user, issued, index } = await userWithSession(sessions);
      await overwrite(admin, index, write);

      for (const needsIndex of [
        () => sessions.listForUser(user.id),
        () => sessions.setRolesForUser(user.id, ['admin']),
        () => sessions.revokeAllForUser(user.id),
        () => sessions.create(user),
      ]) {
        await expect(needsIndex()).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      }
      expect((await sessions.validate(issued.token))?.roles).toEqual(['customer']);
    });
  });

  describe.each(OTHER_TYPES)('with the global revocation watermark holding %s', (_kind, write) => {
    it('logs in, rotates, validates, and revokes every session at once', async () => {
      const sessions = await service();
      await overwrite(admin, keys.notBefore(), write);
      const created = await sessions.create(aUser());
      // A rotation reads the watermark after its move (see RedisWatermark.sweepMoved).
      const issued = await sessions.rotate(created.token, { reauthenticated: true });
      expect(await sessions.validate(issued?.token)).not.toBeNull();

      await sessions.revokeEverything();

      expect(await sessions.validate(issued?.token)).toBeNull();
      expect(Number(await admin.get(keys.notBefore()))).toBeGreaterThan(0);
    });
  });

  describe.each(OTHER_TYPES)('holding %s', (_kind, write) => {
    it('lists the user’s other sessions and drops the damaged one from the index', async () => {
      const sessions = await service();
      const { user, damaged, others, key, index } = await damagedAmongOthers(sessions, write);

      const listed = await sessions.listForUser(user.id);

      expect(listed.map((session) => session.id).sort()).toEqual(
        others.map((other) => other.session.id).sort(),
      );
      expect(await admin.zrange(index, 0, -1)).not.toContain(
        parseSessionId(damaged.session.id)?.digest,
      );
      expect(await admin.exists(key)).toBe(0);
    });

    it('revokes the damaged session by id, its owner named or not', async () => {
      const sessions = await service();
      for (const ownerId of [undefined, 'owner']) {
        const { user, damaged, others, key, index } = await damagedAmongOthers(sessions, write);
        const owner = ownerId && user.id;

        await expect(
          sessions.revoke(damaged.session.id, owner ? { ownerId: owner } : {}),
        ).resolves.toBe(true);

        expect(await admin.exists(key)).toBe(0);
        if (owner) {
          expect(await admin.zrange(index, 0, -1)).toHaveLength(2);
        }
        for (const other of others) expect(await sessions.validate(other.token)).not.toBeNull();
      }
    });

    it('leaves the damaged key to its owner when another user names it', async () => {
      const sessions = await service();
      const { damaged, key } = await damagedAmongOthers(sessions, write);

      await expect(
        sessions.revoke(damaged.session.id, { ownerId: 'u-someone-else' }),
      ).resolves.toBe(false);

      expect(await admin.exists(key)).toBe(1);
    });

    it('gives the user’s other sessions their new roles', async () => {
      const sessions = await service();
      const { user, others, key } = await damagedAmongOthers(sessions, write);

      await expect(sessions.setRolesForUser(user.id, ['admin'])).resolves.toBe(2);

      for (const other of others) {
        expect((await sessions.validate(other.token))?.roles).toEqual(['admin']);
      }
      expect(await admin.exists(key)).toBe(0);
    });

    it('revokes every session of the user', async () => {
      const sessions = await service();
      const { user, others, key } = await damagedAmongOthers(sessions, write);

      await expect(sessions.revokeAllForUser(user.id)).resolves.toBeGreaterThanOrEqual(2);

      for (const other of others) expect(await sessions.validate(other.token)).toBeNull();
      expect(await admin.exists(key)).toBe(0);
    });

    it('reads, patches and rotates the damaged session as a missing one', async () => {
      const sessions = await service();
      const { damaged, others } = await damagedAmongOthers(sessions, write);

      await expect(sessions.get(damaged.session.id)).resolves.toBeNull();
      await expect(sessions.patch(damaged.session.id, { theme: 'dark' })).resolves.toBe(false);
      await expect(sessions.rotate(damaged.token)).resolves.toBeNull();
      expect(await sessions.validate(others[0].token)).not.toBeNull();
    });

    it.each(['evict-oldest', 'evict-idlest', 'refuse'] as const)(
      'logs the user in at the cap (%s), the damaged session no longer counted',
      async (capPolicy) => {
        const sessions = await service({ maxSessionsPerUser: 3, capPolicy });
        const { user, others } = await damagedAmongOthers(sessions, write);

        const created = await sessions.create(user);

        expect(await sessions.validate(created.token)).not.toBeNull();
        for (const other of others) expect(await sessions.validate(other.token)).not.toBeNull();
      },
    );

    it('revokes every session of every user at once', async () => {
      const sessions = await service();
      const { others } = await damagedAmongOthers(sessions, write);
      const kept = await sessions.create(aUser());

      await sessions.revokeEverything({ except: kept.session.id });

      for (const other of others) expect(await sessions.validate(other.token)).toBeNull();
      expect(await sessions.validate(kept.token)).not.toBeNull();
    });
  });
});
