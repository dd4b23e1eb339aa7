import { spawnSync } from 'node:child_process';

import { Redis } from 'ioredis';

// The Jest teardown belongs to no project; its test sits with the prefix helper it serves.
// eslint-disable-next-line @nx/enforce-module-boundaries
import deleteTestKeys, { deleteEndedTestKeys } from '../../../tools/jest/delete-test-keys';
import { freePort, testKeyPrefix } from '../src/testing';
import { REDIS_URL } from './store-contract';

jest.setTimeout(30_000);

/** The pid of a process that has ended. */
function endedPid(): number {
  const { pid, status } = spawnSync(process.execPath, ['-e', '']);
  expect(status).toBe(0);
  return pid as number;
}

/** Keys of several kinds (with and without a TTL) under `prefix`, their names. */
async function writeKeys(redis: Redis, prefix: string): Promise<string[]> {
  const keys = [`${prefix}string`, `${prefix}hash`, `${prefix}stream`, `${prefix}ttl`];
  await redis
    .multi()
    .set(keys[0], 'x')
    .hset(keys[1], 'f', 'v')
    .xadd(keys[2], '*', 'event', '{}')
    .set(keys[3], 'x', 'EX', 60)
    .exec();
  return keys;
}

async function existing(redis: Redis, keys: string[]): Promise<number> {
  return keys.length ? redis.exists(...keys) : 0;
}

describe('test keys left in Redis', () => {
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });

  afterAll(() => redis.quit());

  it('names the process that wrote them, and never repeats', () => {
    const prefixes = Array.from({ length: 1000 }, () => testKeyPrefix('orders'));
    expect(new Set(prefixes).size).toBe(1000);
    for (const prefix of prefixes) {
      expect(prefix).toMatch(new RegExp(`^test:${process.pid}:orders:[0-9a-f]{8}:$`));
    }
  });

  it("deletes an ended process's keys and keeps a running one's and everything else", async () => {
    const ended = endedPid();
    const gone = await writeKeys(redis, `test:${ended}:spec:${Date.now()}:`);
    const ours = await writeKeys(redis, testKeyPrefix('spec'));
    const parents = await writeKeys(redis, `test:${process.ppid}:spec:${Date.now()}:`);
    const others = [
      ...(await writeKeys(redis, `kept:${ended}:`)),
      ...(await writeKeys(redis, `test:nopid:${Date.now()}:`)),
    ];
    try {
      // No process counts as the caller here: this one's keys stand for a running process's.
      await deleteEndedTestKeys(redis, 0);

      expect(await existing(redis, gone)).toBe(0);
      expect(await existing(redis, ours)).toBe(ours.length);
      expect(await existing(redis, parents)).toBe(parents.length);
      expect(await existing(redis, others)).toBe(others.length);
    } finally {
      await redis.del(...ours, ...parents, ...others);
    }
  });

  it('counts the calling process as ended (tests run in band ran in it)', async () => {
    // A stand-in pid for "this process", so that this file's own keys are not touched.
    const self = 2 ** 22 + (process.pid % 1000);
    const mine = await writeKeys(redis, `test:${self}:spec:`);
    const running = await writeKeys(redis, `test:${self + 1}:spec:`);
    try {
      await deleteEndedTestKeys(redis, self, () => true);

      expect(await existing(redis, mine)).toBe(0);
      expect(await existing(redis, running)).toBe(running.length);
    } finally {
      await redis.del(...running);
    }
  });

  it('goes through every page of the scan', async () => {
    const prefix = `test:${endedPid()}:many:`;
    const keys = Array.from({ length: 5000 }, (_, i) => `${prefix}${i}`);
    await redis.mset(...keys.flatMap((key) => [key, '1']));

    expect(await deleteEndedTestKeys(redis, 0)).toBeGreaterThanOrEqual(5000);
    expect(await existing(redis, keys)).toBe(0);
  });

  it('lets the run end when Redis does not answer', async () => {
    const url = process.env['REDIS_URL'];
    process.env['REDIS_URL'] = `redis://127.0.0.1:${await freePort()}`;
    try {
      await expect(deleteTestKeys()).resolves.toBeUndefined();
    } finally {
      if (url === undefined) delete process.env['REDIS_URL'];
      else process.env['REDIS_URL'] = url;
    }
  });
});
