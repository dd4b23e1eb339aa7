import { Cluster, Redis } from 'ioredis';

import {
  InMemorySessionStore,
  SessionModuleOptions,
  SessionService,
  SessionStoreUnavailableError,
} from '../src';
import { startRedisCluster, startRedisServer } from '../src/testing';
import { REDIS_URL, sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(120_000);

/** Tries of the race per backend, each at another offset between its two calls. */
const TRIES = 60;
/** Event-loop turns one call of a try waits before it starts, at most. */
const MAX_OFFSET = 12;

const turns = async (count: number) => {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
};

interface Backend {
  name: string;
  start(): Promise<{ options: SessionModuleOptions; stop: () => Promise<void> }>;
}

/** Private servers: a global revocation SCANs the whole keyspace of every master. */
const BACKENDS: Backend[] = [
  {
    name: 'a single Redis',
    async start() {
      const redis = await startRedisServer();
      return {
        options: { redis: { url: redis.url }, keyPrefix: uniquePrefix() },
        stop: () => redis.dispose(),
      };
    },
  },
  {
    name: 'a three-master Redis Cluster',
    async start() {
      const cluster = await startRedisCluster();
      const client = new Cluster(cluster.addresses);
      await new Promise((resolve) => client.once('ready', resolve));
      client.disconnect();
      return {
        options: { redis: { cluster: cluster.addresses }, keyPrefix: uniquePrefix() },
        stop: () => cluster.dispose(),
      };
    },
  },
  {
    name: 'the in-memory store',
    async start() {
      return { options: { store: new InMemorySessionStore() }, stop: async () => undefined };
    },
  },
];

/**
 * "Revoke every session but mine" names the caller's session by the id its guard read. A
 * re-authentication or a password change of that same session may rotate it before the global
 * revocation gets to it, and answer with the new token: the caller now holds that token, which
 * must survive, whichever of the two reached the store first.
 */
describe.each(BACKENDS)(
  'A global revocation sparing a session rotated meanwhile, on $name',
  (backend) => {
    let stop: () => Promise<void>;
    let sessions: SessionService;
    let close: () => Promise<void>;
    const admin = { id: 'u-admin', username: 'admin', roles: ['admin'] };
    const alice = { id: 'u-alice', username: 'alice', roles: ['customer'] };

    beforeAll(async () => {
      const started = await backend.start();
      stop = started.stop;
      ({ sessions, close } = await sessionService(started.options));
    });

    afterAll(async () => {
      await close?.();
      await stop?.();
    });

    it('spares the session the caller’s id was rotated to, even twice, before it ran', async () => {
      const caller = await sessions.create(admin);
      const victim = await sessions.create(alice);
      const once = await sessions.rotate(caller.token, { reauthenticated: true });
      const twice = await sessions.rotate(once?.token ?? '', { revokeOthersOf: admin.id });
      expect(await sessions.revokeEverything({ except: caller.session.id })).toBeGreaterThanOrEqual(
        1,
      );
      const kept = await sessions.validate(twice?.token);
      expect(kept?.id).toBe(twice?.session.id);
      expect(kept?.createdAt).toBeGreaterThan(caller.session.createdAt);
      expect(await sessions.validate(victim.token)).toBeNull();
      expect(await sessions.validate(caller.token)).toBeNull();
      // Kept past the watermark: a later global revocation that spares nobody ends it.
      await sessions.revokeEverything();
      expect(await sessions.validate(twice?.token)).toBeNull();
    });

    it('keeps the exemption through a rotation after it: the creation time moves with it', async () => {
      const caller = await sessions.create(admin);
      await sessions.revokeEverything({ except: caller.session.id });
      const exempt = await sessions.get(caller.session.id);
      expect(exempt?.createdAt).toBeGreaterThan(caller.session.createdAt);
      const rotated = await sessions.rotate(caller.token, { reauthenticated: true });
      expect(rotated?.session.createdAt).toBe(exempt?.createdAt);
      expect((await sessions.validate(rotated?.token))?.createdAt).toBe(exempt?.createdAt);
      // Surviving is no re-authentication; the rotation that was one still counts as one.
      expect(exempt?.authenticatedAt).toBe(caller.session.authenticatedAt);
      expect(rotated?.session.authenticatedAt).toBeGreaterThanOrEqual(caller.session.createdAt);
    });

    it(`keeps the caller's rotated token in ${TRIES} races of a rotation with the revocation`, async () => {
      const lost: string[] = [];
      for (let i = 0; i < TRIES; i++) {
        const caller = await sessions.create(admin);
        const victim = await sessions.create(alice);
        const offset = i % MAX_OFFSET;
        const rotationFirst = Math.floor(i / MAX_OFFSET) % 2 === 0;
        const [rotated] = await Promise.all([
          turns(rotationFirst ? 0 : offset).then(() =>
            sessions.rotate(caller.token, { reauthenticated: true }),
          ),
          turns(rotationFirst ? offset : 0).then(() =>
            sessions.revokeEverything({ except: caller.session.id }),
          ),
        ]);
        expect(rotated).not.toBeNull();
        if (!(await sessions.validate(rotated?.token))) {
          lost.push(`${rotationFirst ? 'rotation' : 'revocation'} first by ${offset} turns`);
        }
        expect(await sessions.validate(victim.token)).toBeNull();
        await sessions.revokeEverything();
        // A session created in the watermark's own millisecond is created before it, dead on
        // arrival, and a rotation deletes it: the next try starts a millisecond later.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      expect(lost).toEqual([]);
    });
  },
);

describe('A global revocation sparing a session, while the session’s slot migrates', () => {
  it('is refused, changing nothing, when the tag’s migration fence exists', async () => {
    // keep.lua follows forwards to keys it builds itself: it declares the fence that holds it
    // back (TRYAGAIN) while a slot migrates, and refuses one that exists, like revoke.lua.
    const keyPrefix = uniquePrefix();
    const client = new Redis(REDIS_URL);
    const { sessions, close } = await sessionService({ redis: { url: REDIS_URL }, keyPrefix });
    const caller = await sessions.create({ id: 'u-admin', username: 'admin', roles: ['admin'] });
    const fence = `${keyPrefix}{${caller.token.split('.')[1]}}:f`;
    try {
      await client.set(fence, 'x');
      await expect(sessions.revokeEverything({ except: caller.session.id })).rejects.toThrow(
        SessionStoreUnavailableError,
      );
      expect((await sessions.get(caller.session.id))?.createdAt).toBe(caller.session.createdAt);
      expect(await client.exists(`${keyPrefix}not-before`)).toBe(0);
    } finally {
      await client.del(fence);
      await sessions.revokeEverything();
      await close();
      client.disconnect();
    }
  });
});
