import { Redis } from 'ioredis';

import { IssuedSession, SessionStoreUnavailableError } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { parseSessionId, SessionRef } from '../src/lib/token/session.token';
import { relayedRedis } from './relayed-redis';
import { sessionService, sleep, uniquePrefix, until } from './store-contract';

jest.setTimeout(60_000);

const ref = (issued: IssuedSession) => parseSessionId(issued.session.id) as SessionRef;

/**
 * A login or a rotation whose answer was lost is answered 503 and undone later: undo-create.lua
 * puts back the sessions the login evicted at the cap (set aside, where a global revocation's
 * sweep never looks), undo-rotate.lua moves the session back to its old key (which the sweep
 * may have passed while the session was under the new one). A global revocation between the
 * write and its undo ends those sessions: put back, they would stay in the store, listed and
 * counted at the cap, while every service refuses them.
 *
 * The write reaches a paused Redis; its answer and the undo sent behind it wait in a relay,
 * which then drops them: the undo goes again on the next connection, after the revocation.
 */
describe('an undo after a global revocation that ends what it puts back', () => {
  const redis = relayedRedis();
  let users = 0;
  const newUser = () => {
    const id = `u-undo-revoked-${process.pid}-${users++}`;
    return { id, username: id, roles: ['customer'] };
  };

  async function start(options: { scan?: (keys: string[]) => string[] } = {}) {
    const keyPrefix = uniquePrefix();
    const shared = { keyPrefix, maxSessionsPerUser: 2, events: false as const };
    const relayed = await sessionService({
      ...shared,
      redis: { url: `redis://127.0.0.1:${redis.relay.port}` },
      storeTimeout: 0.3,
    });
    const client = new Redis(redis.server.url, { maxRetriesPerRequest: 0 });
    const { scan: filter } = options;
    if (filter) {
      const scan = client.scan.bind(client) as (...args: unknown[]) => Promise<[string, string[]]>;
      client.scan = (async (...args: unknown[]) => {
        const [cursor, found] = await scan(...args);
        return [cursor, filter(found)];
      }) as typeof client.scan;
    }
    const revoker = await sessionService({ ...shared, redis: { client } });
    return {
      sessions: relayed.sessions,
      revoker: revoker.sessions,
      keys: new RedisKeys(keyPrefix),
      close: async () => {
        await relayed.close();
        await revoker.close();
        client.disconnect();
      },
    };
  }

  /** Sends `write` to a paused Redis, which runs it once its caller got a 503 and the undo. */
  async function ranAfterItsTimeout(write: () => Promise<unknown>): Promise<void> {
    await redis.admin.client('PAUSE', 3000, 'WRITE');
    const pending = write();
    await sleep(100); // the write reached Redis, which holds it
    redis.relay.hold(); // its answer, and the undo sent at the timeout, wait in the relay
    await expect(pending).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    await sleep(50);
    await redis.admin.call('CLIENT', 'UNPAUSE');
    await sleep(50); // Redis ran the write
  }

  it('deletes a session a login evicted and its undo put back', async () => {
    const { sessions, revoker, keys, close } = await start();
    try {
      const user = newUser();
      const oldest = await sessions.create(user);
      await sleep(5);
      await sessions.create(user);
      const evicted = keys.session(ref(oldest));
      await ranAfterItsTimeout(() => sessions.create(user));
      // The late login set the oldest session aside, where the sweep does not look.
      expect(await redis.admin.exists(evicted)).toBe(0);
      await revoker.revokeEverything();
      redis.relay.cut(); // the answer and the undo are lost with the connection
      // The undo, sent again on the next connection, puts the evicted session back (its
      // index entry shows it), and then must delete it.
      await until(
        async () =>
          (await redis.admin.exists(keys.evictedPrefix(ref(oldest).tag) + ref(oldest).digest)) ===
          0,
        10_000,
      );
      await until(async () => (await redis.admin.exists(evicted)) === 0, 3000).catch(
        () => undefined,
      );
      expect(await redis.admin.exists(evicted)).toBe(0);
      expect(await sessions.listForUser(user.id)).toEqual([]);
    } finally {
      await close();
    }
  });

  it('deletes a session a rotation moved and its undo moved back', async () => {
    let hidden: (key: string) => boolean = () => false;
    const { sessions, revoker, keys, close } = await start({
      scan: (found) => found.filter((key) => !hidden(key)),
    });
    try {
      const user = newUser();
      const caller = await sessions.create(user);
      const other = await sessions.create(user);
      const { tag, digest } = ref(caller);
      const from = keys.session(ref(caller));
      await ranAfterItsTimeout(() => sessions.rotate(caller.token, { reauthenticated: true }));
      expect(await redis.admin.exists(from)).toBe(0);
      // The sweep misses the moved session, as one whose SCAN passed the old key while the
      // session was under the new one, and the new key once the undo had moved it back.
      const otherKey = keys.session(ref(other));
      hidden = (key) => key.startsWith(keys.sessionPrefix(tag)) && key !== otherKey;
      await revoker.revokeEverything();
      redis.relay.cut();
      // The undo moves it back, leaving a forward from the rotation's digest to the old one.
      await until(async () => {
        const forwards = await redis.admin.keys(`${keys.forwardPrefix(tag)}*`);
        const leads = await Promise.all(forwards.map((key) => redis.admin.get(key)));
        return leads.includes(digest);
      }, 10_000);
      await until(async () => (await redis.admin.exists(from)) === 0, 3000).catch(() => undefined);
      expect(await redis.admin.exists(from)).toBe(0);
      expect(await sessions.listForUser(user.id)).toEqual([]);
    } finally {
      await close();
    }
  });
});
