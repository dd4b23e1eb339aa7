import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import { RedisSessionStore, SessionService, SessionUser, SessionUserChangedError } from '../src';
import { resolveSessionConfig } from '../src/lib/config/session.config';
import { startRedisServer } from '../src/testing';
import { REDIS_URL as url, sessionService, sleep, uniquePrefix, until } from './store-contract';

/**
 * Revocation that cannot be escaped, tried as a racing client and a patient one would: on
 * real Redis, with short timeouts and real concurrency.
 */
describe('Revocation (real Redis)', () => {
  const client = new Redis(url);
  afterAll(() => client.disconnect());

  it('keeps a rotated session listed, demotable and revocable until its unmoved deadline', async () => {
    const prefix = uniquePrefix();
    const { sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: prefix,
      idleTimeout: 1,
      absoluteTimeout: 3,
      touchInterval: 0.1,
    });
    const user = { id: `u-${prefix}`, username: 'mallory', roles: ['admin'] };
    try {
      const first = await sessions.create(user);
      // The key users' tags derive from must outlive every session they index: no TTL. No
      // key per user is written.
      expect(await client.pttl(`${prefix}user-tag-key`)).toBe(-1);
      expect(await client.exists(`${prefix}ut:${user.id}`)).toBe(0);
      for (let i = 0; i < 5; i++) {
        await sleep(300);
        expect(await sessions.validate(first.token)).not.toBeNull();
      }
      const rotated = await sessions.rotate(first.token);
      expect(rotated?.session.absoluteExpiresAt).toBe(first.session.absoluteExpiresAt);
      const [indexKey] = await client.keys(`${prefix}{*}:u:${user.id}`);
      expect(await client.pttl(indexKey)).toBeGreaterThanOrEqual(
        first.session.absoluteExpiresAt - Date.now() - 50,
      );
      for (let i = 0; i < 3; i++) {
        await sleep(300);
        expect(await sessions.validate(rotated?.token)).not.toBeNull();
      }
      // Past the point where a lookup key sized by the first login would have lapsed, the
      // rotated session is still reachable through the user: listed, demoted, revoked.
      expect((await sessions.listForUser(user.id)).map((s) => s.id)).toEqual([rotated?.session.id]);
      expect(await sessions.setRolesForUser(user.id, ['customer'])).toBe(1);
      expect((await sessions.validate(rotated?.token))?.roles).toEqual(['customer']);
      expect(await sessions.revokeAllForUser(user.id)).toBe(1);
      expect(await sessions.validate(rotated?.token)).toBeNull();

      // A rotation never lengthens a session: kept in use, it still dies at its first deadline.
      const second = await sessions.create(user);
      let token = second.token;
      while (Date.now() < second.session.absoluteExpiresAt - 400) {
        await sleep(300);
        token = (await sessions.rotate(token))?.token ?? '';
        expect(await sessions.validate(token)).not.toBeNull();
      }
      await sleep(second.session.absoluteExpiresAt - Date.now() + 100);
      expect(await sessions.validate(token)).toBeNull();
    } finally {
      await close();
    }
  }, 15_000);

  it('keeps the session "log out my other devices" came from when it was rotated meanwhile', async () => {
    // The route read its caller's session id, then a re-authentication (or a password change)
    // of the same session rotated it and answered with the new token: that token must live.
    const prefix = uniquePrefix();
    const { sessions, close } = await sessionService({ redis: { url }, keyPrefix: prefix });
    const user = { id: `u-${prefix}`, username: 'rotor', roles: ['customer'] };
    try {
      const caller = await sessions.create(user);
      const other = await sessions.create(user);
      const rotated = await sessions.rotate(caller.token);
      const twice = await sessions.rotate(rotated?.token ?? '');
      expect(await sessions.revokeAllForUser(user.id, { except: caller.session.id })).toBe(1);
      expect(await sessions.validate(twice?.token)).not.toBeNull();
      expect(await sessions.validate(other.token)).toBeNull();
      expect((await sessions.listForUser(user.id)).map((s) => s.id)).toEqual([twice?.session.id]);
    } finally {
      await close();
    }
  });

  it('slides a session by the idle timeout it was created with, whichever service validates it', async () => {
    const keyPrefix = uniquePrefix();
    const creator = await sessionService({
      redis: { url },
      keyPrefix,
      idleTimeout: 1,
      absoluteTimeout: 60,
      touchInterval: 0.05,
    });
    const lenient = await sessionService({
      redis: { url },
      keyPrefix,
      idleTimeout: 3600,
      absoluteTimeout: 86400,
    });
    try {
      const user = { id: `u-${keyPrefix}`, username: 'alice', roles: ['customer'] };
      const { token } = await creator.sessions.create(user);
      // Used through the lenient service, the session keeps its own one-second idle timeout.
      for (let i = 0; i < 3; i++) {
        await sleep(400);
        const seen = await lenient.sessions.validate(token);
        expect(seen).not.toBeNull();
        expect((seen?.expiresAt ?? 0) - (seen?.lastSeenAt ?? 0)).toBeLessThanOrEqual(1000);
      }
      const [key] = await client.keys(`${keyPrefix}{*}:s:*`);
      expect(await client.pttl(key)).toBeLessThanOrEqual(1000);
      await sleep(1300);
      expect(await lenient.sessions.validate(token)).toBeNull();
    } finally {
      await creator.close();
      await lenient.close();
    }
  });

  it('ends sessions older than a global revocation in every service, even those its sweep missed', async () => {
    const keyPrefix = uniquePrefix();
    const admin = await sessionService({ redis: { url }, keyPrefix });
    const elsewhere = await sessionService({ redis: { url }, keyPrefix });
    try {
      const user = { id: `u-${keyPrefix}`, username: 'alice', roles: ['customer'] };
      const { token } = await admin.sessions.create(user);
      const [key] = await client.keys(`${keyPrefix}{*}:s:*`);
      const copy = await client.hgetall(key);
      await admin.sessions.revokeEverything();
      // Put the session back as a sweep racing a rotation could leave it: only the watermark,
      // learned by the other service without a command per request, can end it now.
      await client.hset(key, copy);
      await client.pexpire(key, 60_000);
      let seen = await elsewhere.sessions.validate(token);
      for (let i = 0; seen && i < 30; i++) {
        await sleep(100);
        seen = await elsewhere.sessions.validate(token);
      }
      expect(seen).toBeNull();
      expect(await admin.sessions.validate(token)).toBeNull();
      await client.del(key);
    } finally {
      await admin.close();
      await elsewhere.close();
    }
  });

  it('warns of nothing when its watch on global revocations is stopped while subscribing', async () => {
    const options = { redis: { url }, keyPrefix: uniquePrefix() };
    const store = new RedisSessionStore({ url }, resolveSessionConfig(options));
    const warn = jest.spyOn(Logger.prototype, 'warn');
    let stop: () => void = () => undefined;
    const subscribe = Redis.prototype.subscribe;
    // Stopped as its connection became ready and the subscription was sent: a service closing
    // right after it started (a test, a failed bootstrap). The command fails with the closed
    // connection.
    const subscribing = jest.spyOn(Redis.prototype, 'subscribe').mockImplementation(function (
      this: Redis,
      ...args: Parameters<Redis['subscribe']>
    ) {
      stop();
      return subscribe.apply(this, args);
    });
    try {
      stop = store.watchNotBefore(() => undefined);
      await until(() => subscribing.mock.calls.length > 0);
      await sleep(200);
      const said = warn.mock.calls.map(([message]) => String(message));
      expect(said.filter((message) => message.includes('global revocations'))).toEqual([]);
    } finally {
      subscribing.mockRestore();
      warn.mockRestore();
      store.onModuleDestroy();
    }
  });

  it('keeps hearing of global revocations after its Redis restarted', async () => {
    const redis = await startRedisServer();
    const keyPrefix = uniquePrefix();
    const options = { redis: { url: redis.url }, keyPrefix, storeTimeout: 0.5 };
    const admin = await sessionService(options);
    const elsewhere = await sessionService(options);
    const inspect = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await redis.stop();
      await sleep(300);
      await redis.start();
      const user = { id: `u-${keyPrefix}`, username: 'alice', roles: ['customer'] };
      let issued = await admin.sessions.create(user).catch(() => null);
      for (let i = 0; !issued && i < 50; i++) {
        await sleep(100);
        issued = await admin.sessions.create(user).catch(() => null);
      }
      expect(await elsewhere.sessions.validate(issued?.token)).not.toBeNull();
      await inspect.connect();
      const [key] = await inspect.keys(`${keyPrefix}{*}:s:*`);
      const copy = await inspect.hgetall(key);
      await admin.sessions.revokeEverything();
      // Only the announcement on the subscription the restart dropped can end it now.
      await inspect.hset(key, copy);
      await inspect.pexpire(key, 60_000);
      let seen = await elsewhere.sessions.validate(issued?.token);
      for (let i = 0; seen && i < 30; i++) {
        await sleep(100);
        seen = await elsewhere.sessions.validate(issued?.token);
      }
      expect(seen).toBeNull();
    } finally {
      inspect.disconnect();
      await admin.close();
      await elsewhere.close();
      await redis.dispose();
    }
  });

  describe('a login racing a demotion', () => {
    let sessions: SessionService;
    let close: () => Promise<void>;

    beforeAll(async () => {
      ({ sessions, close } = await sessionService({ redis: { url }, keyPrefix: uniquePrefix() }));
    });
    afterAll(() => close());

    /**
     * The login of auth, reduced to its order of steps: read the generation, read the user's
     * roles ("the database"), create the session with that generation. The demotion: write
     * the database, then give the live sessions the new roles. Each step is delayed by an
     * offset of the grid, so every interleaving of the two is tried with real concurrency.
     */
    async function race(
      loginWaits: [number, number],
      demoteWait: number,
      withGeneration: boolean,
    ): Promise<'stale' | 'fresh' | 'refused'> {
      const database = { roles: ['admin'] };
      const user: SessionUser = { id: `u-${Math.random()}`, username: 'bob', roles: [] };
      const login = (async () => {
        const generation = await sessions.generationOf(user.id);
        await sleep(loginWaits[0]);
        const roles = [...database.roles];
        await sleep(loginWaits[1]);
        try {
          const issued = await sessions.create(
            { ...user, roles },
            {},
            withGeneration ? { generation } : {},
          );
          return issued.token;
        } catch (error) {
          if (error instanceof SessionUserChangedError) return null;
          throw error;
        }
      })();
      const demotion = (async () => {
        await sleep(demoteWait);
        database.roles = ['customer'];
        await sessions.setRolesForUser(user.id, database.roles);
      })();
      const [token] = await Promise.all([login, demotion]);
      if (!token) return 'refused';
      const session = await sessions.validate(token);
      return session?.roles.includes('admin') ? 'stale' : 'fresh';
    }

    const offsets: Array<[[number, number], number]> = [];
    for (const first of [0, 2, 6]) {
      for (const second of [0, 2, 6]) {
        for (const demote of [0, 1, 2, 3, 4, 5, 6, 8, 10, 12]) {
          offsets.push([[first, second], demote]);
        }
      }
    }

    it(`never leaves a session with the old roles (${offsets.length} interleavings)`, async () => {
      const outcomes = { stale: 0, fresh: 0, refused: 0 };
      for (const [waits, demote] of offsets) {
        outcomes[await race(waits, demote, true)]++;
      }
      expect(outcomes.stale).toBe(0);
      // The grid reached both sides of the race: some logins were refused, some went through.
      expect(outcomes.refused).toBeGreaterThan(0);
      expect(outcomes.fresh).toBeGreaterThan(0);
    });

    it('does leave stale sessions without the generation check (the grid finds the race)', async () => {
      const outcomes = { stale: 0, fresh: 0, refused: 0 };
      for (const [waits, demote] of offsets) {
        outcomes[await race(waits, demote, false)]++;
      }
      expect(outcomes.stale).toBeGreaterThan(0);
    });
  });
});
