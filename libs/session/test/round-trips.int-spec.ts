import { Redis } from 'ioredis';

import { SessionStore } from '../src';
import { StoreClock } from '../src/lib/store/store-clock';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { alice, sessionKey, sessionService } from './store-contract';

/**
 * The SHAs earlier releases send to validate (their validate.lua, prelude included): the flat
 * field/value reply, then the one-string reply.
 */
const V1_VALIDATE_SHA = '52dd008e0ec059ecc4d81656a81eb0d6a6d0a7b9';
const V2_VALIDATE_SHA = '037582d776afd519bf36db67fc19ec79db2d5291';

jest.setTimeout(30_000);

/**
 * Commands Redis executed since the last reset, except the ones the test itself sends, the
 * store's check, every few seconds and not per request, that Redis still holds its scripts, and
 * the ping that keeps the subscription to global revocations honest, every second.
 */
async function commandCounts(admin: Redis): Promise<Record<string, number>> {
  const info = await admin.info('commandstats');
  const counts: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (!['info', 'config|resetstat', 'script|exists', 'ping'].includes(match[1])) {
      counts[match[1]] = Number(match[2]);
    }
  }
  return counts;
}

/**
 * Waits until the service under test has subscribed to global revocations, read the watermark
 * once and kept a reading of Redis's clock (one too slow to keep, on a busy machine, is read
 * again a second later): those commands are not per request, and must not be counted.
 */
async function settled(admin: Redis, store: SessionStore): Promise<void> {
  const clock = (store as unknown as { clock: StoreClock }).clock;
  for (let i = 0; i < 100; i++) {
    const [, subscribers] = (await admin.pubsub('NUMSUB', 'cr:not-before')) as [string, number];
    if (Number(subscribers) === 1 && clock.uncertainty !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}

describe('SessionService round trips (dedicated redis-server)', () => {
  let server: RedisServerProcess;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.port, '127.0.0.1');
  });

  afterAll(async () => {
    admin.disconnect();
    await server.dispose();
  });

  it('validates a token with exactly one EVALSHA and nothing else', async () => {
    const { sessions, store, close } = await sessionService({ redis: { url: server.url } });
    try {
      const { token } = await sessions.create(alice);
      await sessions.validate(token);
      await settled(admin, store);
      await admin.config('RESETSTAT');
      for (let i = 0; i < 10; i++) await sessions.validate(token);
      // commandstats also counts the calls a script makes inside Redis (HGETALL, TIME, PTTL, the
      // GET of the owner's record of changes): those cost no round trip. The only command sent
      // over the network is EVALSHA.
      expect(await commandCounts(admin)).toEqual({
        evalsha: 10,
        hgetall: 10,
        time: 10,
        pttl: 10,
        get: 10,
      });
    } finally {
      await close();
    }
  });

  it('refuses malformed tokens without any Redis command', async () => {
    const { sessions, store, close } = await sessionService({ redis: { url: server.url } });
    try {
      await settled(admin, store);
      await admin.config('RESETSTAT');
      for (const token of ['', 'nope', 'cr1.short.x', 'x'.repeat(56), 'cr1.' + '!'.repeat(52)]) {
        expect(await sessions.validate(token)).toBeNull();
      }
      expect(await commandCounts(admin)).toEqual({});
    } finally {
      await close();
    }
  });

  it('names the session of a token without any Redis command', async () => {
    const { sessions, store, close } = await sessionService({ redis: { url: server.url } });
    try {
      const { token, session } = await sessions.create(alice);
      await settled(admin, store);
      await admin.config('RESETSTAT');
      expect(sessions.idOf(token)).toBe(session.id);
      expect(sessions.idOf('not-a-token')).toBeNull();
      expect(await commandCounts(admin)).toEqual({});
    } finally {
      await close();
    }
  });

  it('loads earlier releases’ validation scripts too, for services still running them', async () => {
    await admin.script('FLUSH');
    const { sessions, close } = await sessionService({ redis: { url: server.url } });
    try {
      const { session } = await sessions.create(alice);
      // Loaded when the connection became ready, asynchronously.
      await waitFor(async () => {
        const loaded = (await admin.script('EXISTS', V1_VALIDATE_SHA, V2_VALIDATE_SHA)) as number[];
        if (!loaded.every(Boolean)) throw new Error('not loaded yet');
      });
      const key = sessionKey('cr:', session.id);
      const flat = await admin.evalsha(V1_VALIDATE_SHA, 1, key, 1_800_000, 60_000);
      expect(flat).toEqual(expect.arrayContaining(['u', 'u-alice', 'n', 'alice']));
      const joined = await admin.evalsha(V2_VALIDATE_SHA, 1, key, 1_800_000, 60_000);
      expect(String(joined).split('\0').slice(0, 2)).toEqual(['u-alice', 'alice']);
    } finally {
      await close();
    }
  });

  it('survives a script cache flush (NOSCRIPT) and a Redis restart', async () => {
    const { sessions, close } = await sessionService({ redis: { url: server.url } });
    try {
      const { token } = await sessions.create(alice);
      await admin.script('FLUSH');
      expect((await sessions.validate(token))?.userId).toBe('u-alice');

      await server.stop();
      await expect(sessions.validate(token)).rejects.toThrow('Session store unavailable');
      await server.start();
      const fresh = await waitFor(() => sessions.create(alice));
      expect((await sessions.validate(fresh.token))?.userId).toBe('u-alice');
    } finally {
      await close();
      admin.disconnect();
      admin = new Redis(server.port, '127.0.0.1');
    }
  });
});

async function waitFor<T>(attempt: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
