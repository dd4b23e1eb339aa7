import { createHash } from 'node:crypto';

import { Cluster, Redis } from 'ioredis';

import { RedisSessionStore, SessionStoreUnavailableError } from '../src';
import { resolveSessionConfig } from '../src/lib/config/session.config';
import type { SessionCommonOptions } from '../src/lib/config/session-options.interface';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import type { StoreClock } from '../src/lib/store/store-clock';
import { newSecret, SessionRef, sessionRef } from '../src/lib/token/session.token';
import { startRedisCluster, startRedisServer } from '../src/testing';
import { REDIS_URL as url, sleep, uniquePrefix } from './store-contract';

jest.setTimeout(60_000);

function storeOn(redisUrl: string, options: SessionCommonOptions = {}): RedisSessionStore {
  const all = { redis: { url: redisUrl }, keyPrefix: uniquePrefix(), ...options };
  return new RedisSessionStore(all.redis, resolveSessionConfig(all));
}

type Chunk = string | Buffer;
type Writable = {
  _write: (chunk: Chunk, ...rest: unknown[]) => void;
  _writev?: (chunks: Array<{ chunk: Chunk }>, ...rest: unknown[]) => void;
};

async function ready(store: RedisSessionStore): Promise<void> {
  for (let i = 0; store.redis.status !== 'ready'; i++) {
    if (i > 200) throw new Error(`store never connected (${store.redis.status})`);
    await sleep(25);
  }
}

/** What a validation sends: EVALSHA of the validate script. */
const VALIDATE_SHA = createHash('sha1').update(SESSION_SCRIPTS.cloakroomValidate.lua).digest('hex');

/**
 * The socket writes (system calls, corked or not) the given connections make, each as the
 * number of validations it carries: 0 for the store's own checks (that Redis still holds its
 * scripts, every few seconds; Redis's clock, read again a second after a slow reading on a busy
 * machine), which write on the same connection whenever their timers fall due, also while a
 * turn's validations wait for their answers.
 */
function socketWrites(connections: Redis[]): number[] {
  const writes: number[] = [];
  const record = (chunks: Chunk[]) => {
    const sent = chunks.map((chunk) => chunk.toString()).join('');
    writes.push(sent.split(VALIDATE_SHA).length - 1);
  };
  for (const connection of connections) {
    const socket = connection.stream as unknown as Writable;
    const write = socket._write;
    socket._write = function (this: unknown, chunk, ...rest) {
      record([chunk]);
      return write.call(this, chunk, ...rest);
    };
    const writev = socket._writev;
    if (writev) {
      socket._writev = function (this: unknown, chunks, ...rest) {
        record(chunks.map(({ chunk }) => chunk));
        return writev.call(this, chunks, ...rest);
      };
    }
  }
  return writes;
}

/** The writes that carried validations, each as the number it carried. */
const carryingValidations = (writes: number[]) => writes.filter((validations) => validations > 0);

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
    const writes = socketWrites(connectionOf(store));
    const answers = await Promise.all(refs.map((ref) => store.validate(ref)));
    expect(carryingValidations(writes)).toEqual([refs.length]);
    answers.forEach((session, n) => {
      if (n % 4 === 3) {
        expect(session).toBeNull();
      } else {
        expect(session).toMatchObject({ id: refs[n].id, userId: `u-${n}`, roles: [`role-${n}`] });
      }
    });
  });

  it('sends them in one write while the store writes its own checks as they wait for answers', async () => {
    const refs = await Promise.all(Array.from({ length: 10 }, (_, n) => created(store, 200 + n)));
    const clock = (store as unknown as { clock: StoreClock }).clock;
    const writes = socketWrites(connectionOf(store));
    const answers = Promise.all(refs.map((ref) => store.validate(ref)));
    // Right after the turn's write, before any answer can be read: what the store does a second
    // after a reading of Redis's clock too slow to keep (a busy machine).
    await new Promise((resolve) => setImmediate(resolve));
    const measured = clock.measure();
    expect((await answers).map((session) => session?.id)).toEqual(refs.map((ref) => ref.id));
    await measured;
    expect(writes).toEqual([refs.length, 0]);
    expect(carryingValidations(writes)).toEqual([refs.length]);
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
      const writes = socketWrites(connectionOf(plain));
      await Promise.all(refs.map((ref) => plain.validate(ref)));
      expect(carryingValidations(writes).length).toBeGreaterThan(1);
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
      const writes = socketWrites(nodes);
      const answers = await Promise.all(refs.map((ref) => clustered.validate(ref)));
      expect(answers.map((session) => session?.userId)).toEqual(refs.map((_, n) => `u-${n}`));
      const carrying = carryingValidations(writes);
      expect(carrying.length).toBeLessThanOrEqual(nodes.length);
      expect(carrying.reduce((sum, validations) => sum + validations, 0)).toBe(refs.length);
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
        const writes = socketWrites(connectionOf(own));
        const again = await Promise.all([
          own.validate(ref as SessionRef),
          own.validate(ref as SessionRef),
        ]);
        expect(again.map((session) => session?.id)).toEqual([ref?.id, ref?.id]);
        expect(carryingValidations(writes)).toEqual([2]);
      }
    } finally {
      own.onModuleDestroy();
      await redis.dispose();
    }
  });
});
