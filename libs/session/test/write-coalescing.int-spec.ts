import { Cluster, Redis } from 'ioredis';

import { RedisSessionStore, SessionStoreUnavailableError } from '../src';
import { resolveSessionConfig } from '../src/lib/config/session.config';
import type { SessionCommonOptions } from '../src/lib/config/session-options.interface';
import { newSecret, SessionRef, sessionRef } from '../src/lib/token/session.token';
import { startRedisCluster, startRedisServer } from '../src/testing';
import { REDIS_URL as url, sleep, uniquePrefix } from './store-contract';

jest.setTimeout(60_000);

function storeOn(redisUrl: string, options: SessionCommonOptions = {}): RedisSessionStore {
  const all = { redis: { url: redisUrl }, keyPrefix: uniquePrefix(), ...options };
  return new RedisSessionStore(all.redis, resolveSessionConfig(all));
}

type Writable = { _write: (...args: unknown[]) => void; _writev?: (...args: unknown[]) => void };

async function ready(store: RedisSessionStore): Promise<void> {
  for (let i = 0; store.redis.status !== 'ready'; i++) {
    if (i > 200) throw new Error(`store never connected (${store.redis.status})`);
    await sleep(25);
  }
}

/** Counts the socket writes (system calls, corked or not) the given connections make. */
function countWrites(connections: Redis[]): { readonly count: number } {
  const counter = { count: 0 };
  for (const connection of connections) {
    const socket = connection.stream as unknown as Writable;
    for (const method of ['_write', '_writev'] as const) {
      const original = socket[method];
      if (!original) continue;
      socket[method] = function (this: unknown, ...args: unknown[]) {
        counter.count++;
        return original.apply(this, args);
      };
    }
  }
  return counter;
}

const connectionOf = (store: RedisSessionStore) => [store.redis as Redis];

/** A live session of its own user (roles naming the user), straight through the store. */
async function created(store: RedisSessionStore, n: number): Promise<SessionRef> {
  const { digest } = newSecret();
  const made = await store.create({
    digest,
    user: { id: `u-${n}`, username: `user${n}`, roles: [`role-${n}`] },
    persistent: false,
    attributes: {},
  });
  if (!made) throw new Error('not created');
  return sessionRef(made.tag, digest);
}

describe('RedisSessionStore write coalescing', () => {
  let store: RedisSessionStore;

  beforeAll(async () => {
    store = storeOn(url);
    await ready(store);
  });

  afterAll(() => store?.onModuleDestroy());

  it('sends the validations of one loop turn in one write, each answered with its own session', async () => {
    const refs = await Promise.all(Array.from({ length: 40 }, (_, n) => created(store, n)));
    // Every fourth one is gone: its answer must stay null, not take a neighbour's.
    await Promise.all(refs.filter((_, n) => n % 4 === 3).map((ref) => store.revoke(ref)));
    // The store's first missing session looks once for the key prefix's user-tag key (a hint
    // at a misconfigured prefix): done before counting, as it is no per-request write.
    expect(await store.validate(refs[3])).toBeNull();
    const writes = countWrites(connectionOf(store));
    const answers = await Promise.all(refs.map((ref) => store.validate(ref)));
    expect(writes.count).toBe(1);
    answers.forEach((session, n) => {
      if (n % 4 === 3) {
        expect(session).toBeNull();
      } else {
        expect(session).toMatchObject({ id: refs[n].id, userId: `u-${n}`, roles: [`role-${n}`] });
      }
    });
  });

  it('keeps the order of the commands it merges: validate, revoke, validate', async () => {
    const ref = await created(store, 100);
    const [before, revoked, after] = await Promise.all([
      store.validate(ref),
      store.revoke(ref),
      store.validate(ref),
    ]);
    expect(before).toMatchObject({ id: ref.id });
    expect(revoked).toBe(ref.id);
    expect(after).toBeNull();
  });

  it('writes once per validation with coalesceWrites off (what the count above guards against)', async () => {
    const plain = storeOn(url, { coalesceWrites: false });
    try {
      await ready(plain);
      const refs = await Promise.all(Array.from({ length: 10 }, (_, n) => created(plain, n)));
      const writes = countWrites(connectionOf(plain));
      await Promise.all(refs.map((ref) => plain.validate(ref)));
      expect(writes.count).toBeGreaterThan(1);
    } finally {
      plain.onModuleDestroy();
    }
  });

  it('on Redis Cluster, sends one write per node for a turn of validations across slots', async () => {
    const cluster = await startRedisCluster();
    const keyPrefix = uniquePrefix();
    const options = { redis: { cluster: cluster.addresses }, keyPrefix };
    const clustered = new RedisSessionStore(options.redis, resolveSessionConfig(options));
    try {
      await ready(clustered);
      // Users spread over the slots of all three masters.
      const refs = await Promise.all(Array.from({ length: 30 }, (_, n) => created(clustered, n)));
      const nodes = (clustered.redis as Cluster).nodes('master');
      const slotsUsed = new Set(refs.map((ref) => ref.tag)).size;
      expect(slotsUsed).toBeGreaterThan(3);
      const writes = countWrites(nodes);
      const answers = await Promise.all(refs.map((ref) => clustered.validate(ref)));
      expect(answers.map((session) => session?.userId)).toEqual(refs.map((_, n) => `u-${n}`));
      expect(writes.count).toBeLessThanOrEqual(nodes.length);
    } finally {
      clustered.onModuleDestroy();
      await cluster.dispose();
    }
  });

  it('answers 503, never hangs, when Redis dies with writes held, and validates again once it is back', async () => {
    const redis = await startRedisServer();
    const own = storeOn(redis.url, { storeTimeout: 0.5 });
    try {
      await ready(own);
      for (let trial = 0; trial < 3; trial++) {
        const refs = await Promise.all(Array.from({ length: 20 }, (_, n) => created(own, n)));
        const pending = refs.map((ref) => own.validate(ref));
        // Killed within the same loop turn: the batch is still corked in this process.
        const killed = redis.stop();
        const settled = await Promise.allSettled(pending);
        await killed;
        for (const outcome of settled) {
          if (outcome.status === 'rejected') {
            expect(outcome.reason).toBeInstanceOf(SessionStoreUnavailableError);
          }
        }
        await redis.start();
        // Back: a new connection, a new session, validated through the coalescer again.
        let ref: SessionRef | null = null;
        for (let i = 0; !ref && i < 100; i++) {
          ref = await created(own, 1000 + trial).catch(() => null);
          if (!ref) await sleep(50);
        }
        expect(ref).not.toBeNull();
        const writes = countWrites(connectionOf(own));
        const again = await Promise.all([
          own.validate(ref as SessionRef),
          own.validate(ref as SessionRef),
        ]);
        expect(again.map((session) => session?.id)).toEqual([ref?.id, ref?.id]);
        expect(writes.count).toBe(1);
      }
    } finally {
      own.onModuleDestroy();
      await redis.dispose();
    }
  });
});
