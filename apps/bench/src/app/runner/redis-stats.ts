import { Redis } from 'ioredis';

/** Calls per Redis command since the server started (INFO commandstats). */
export type CommandCounts = Map<string, number>;

export async function commandCounts(redis: Redis): Promise<CommandCounts> {
  const counts: CommandCounts = new Map();
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) {
      counts.set(match[1], Number(match[2]));
    }
  }
  return counts;
}

/** Commands run between two readings, the readings' own INFO calls left out. */
export function commandDelta(before: CommandCounts, after: CommandCounts): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, calls] of after) {
    const added = calls - (before.get(name) ?? 0);
    if (added > 0 && name !== 'info') {
      delta[name] = added;
    }
  }
  return delta;
}

export async function usedMemory(redis: Redis): Promise<number> {
  const match = /used_memory:(\d+)/.exec(await redis.info('memory'));
  return match ? Number(match[1]) : Number.NaN;
}

/** Deletes every key under a prefix, in batches, without blocking Redis for long. */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length) {
      deleted += await redis.unlink(...keys);
    }
  } while (cursor !== '0');
  return deleted;
}
