import { RedisSessionStore, SessionStoreMisconfiguredError } from '../src';
import { resolveSessionConfig } from '../src/lib/config/session.config';
import { RedisServerProcess, startRedisServer } from '../src/testing';

describe('RedisSessionStore.verify', () => {
  let redis: RedisServerProcess;

  beforeAll(async () => {
    redis = await startRedisServer(undefined, ['--maxmemory', '64mb']);
  });
  afterAll(() => redis.dispose());

  async function verifyWith(policy: string): Promise<unknown> {
    const url = `redis://127.0.0.1:${redis.port}`;
    const store = new RedisSessionStore({ url }, resolveSessionConfig({ redis: { url } }));
    await store.onModuleInit();
    try {
      await store.redis.config('SET', 'maxmemory-policy', policy);
      return await store.verify().then(
        () => null,
        (error: unknown) => error,
      );
    } finally {
      store.onModuleDestroy();
    }
  }

  it.each(['allkeys-lru', 'allkeys-lfu', 'allkeys-random'])(
    'refuses a Redis whose maxmemory-policy is %s: it can evict the keys that index sessions',
    async (policy) => {
      const failure = await verifyWith(policy);
      expect(failure).toBeInstanceOf(SessionStoreMisconfiguredError);
      expect((failure as Error).message).toContain(`maxmemory-policy ${policy}`);
      expect((failure as Error).message).toContain('noeviction');
    },
  );

  it.each(['noeviction', 'volatile-lru', 'volatile-ttl'])(
    'accepts a Redis whose maxmemory-policy is %s',
    async (policy) => {
      expect(await verifyWith(policy)).toBeNull();
    },
  );
});
