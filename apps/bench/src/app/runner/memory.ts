import { Redis } from 'ioredis';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';

import { deleteByPrefix } from './redis-stats';
import { SessionFacts, storeExpressSession } from './connect-redis-session';

/** One kind of key the store writes for each session or user. */
export interface KeyKind {
  keys: number;
  /** MEMORY USAGE of all keys of the kind, divided by the number of sessions. */
  bytesPerSession: number;
  /** OBJECT ENCODING of one of them. */
  encoding: string;
}

/** Where a session's Redis memory goes, from MEMORY USAGE of every key under a prefix. */
export interface MemoryBreakdown {
  /** Sum of the per-session and per-user kinds: what one more session (and user) costs. */
  bytesPerSession: number;
  kinds: Record<string, KeyKind>;
  /** Keys shared by every session (the event stream, the revocation watermark), in bytes. */
  sharedKeys: Record<string, number>;
}

// Names for the store's key kinds (see the store's redis-keys.ts); an unknown kind keeps its
// letter, so a new kind shows up in the report instead of vanishing.
const KIND_NAMES: Record<string, string> = {
  s: 'sessionHash',
  u: 'userIndex',
  g: 'userGeneration',
  ut: 'userTag',
};

const SCAN_BATCH = 5_000;

/**
 * Walks every key under `prefix` and charges it to its kind: the segment before the id, after
 * the `{tag}:` hash tag if any. A key with no id segment is shared by all sessions.
 */
export async function memoryBreakdown(
  redis: Redis,
  prefix: string,
  sessions: number,
): Promise<MemoryBreakdown> {
  const bytes = new Map<string, { keys: number; bytes: number; sample: string }>();
  const sharedKeys: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', SCAN_BATCH);
    cursor = next;
    const pipeline = redis.pipeline();
    // SAMPLES 0: every element of a collection counted, not an estimate from five.
    keys.forEach((key) => pipeline.memory('USAGE', key, 'SAMPLES', 0));
    const usage = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const [error, size] = usage[i];
      if (error || size === null) {
        return; // expired or deleted between SCAN and MEMORY USAGE
      }
      const rest = key.slice(prefix.length).replace(/^\{[^}]*\}:/, '');
      const separator = rest.indexOf(':');
      if (separator < 0) {
        sharedKeys[rest] = Number(size);
        return;
      }
      const kind = KIND_NAMES[rest.slice(0, separator)] ?? rest.slice(0, separator);
      const entry = bytes.get(kind) ?? { keys: 0, bytes: 0, sample: key };
      entry.keys++;
      entry.bytes += Number(size);
      bytes.set(kind, entry);
    });
  } while (cursor !== '0');

  const kinds: Record<string, KeyKind> = {};
  for (const [kind, { keys, bytes: total, sample }] of bytes) {
    kinds[kind] = {
      keys,
      bytesPerSession: Math.round((total / sessions) * 10) / 10,
      encoding: String(await redis.object('ENCODING', sample)),
    };
  }
  const perSession = [...bytes.values()].reduce((sum, { bytes: total }) => sum + total, 0);
  return { bytesPerSession: Math.round(perSession / sessions), kinds, sharedKeys };
}

/**
 * What connect-redis (through express-session's serialisation) takes for the same sessions:
 * stored under a prefix of their own, measured with MEMORY USAGE, deleted. Mean bytes.
 */
export async function connectRedisBytes(
  redisUrl: string,
  prefix: string,
  sessions: SessionFacts[],
): Promise<number> {
  const client = createClient({ url: redisUrl });
  await client.connect();
  const store = new RedisStore({ client, prefix });
  try {
    let total = 0;
    for (const facts of sessions) {
      const sid = await storeExpressSession(store, facts);
      total += Number(await client.memoryUsage(prefix + sid, { SAMPLES: 0 }));
    }
    return Math.round(total / sessions.length);
  } finally {
    await client.quit();
    const redis = new Redis(redisUrl);
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
  }
}
