import { Redis } from 'ioredis';

import { createRedisClient } from './redis-client.factory';

const settings = { storeTimeoutMs: 1000, autoPipelining: false };

describe('createRedisClient', () => {
  it('refuses an ioredis keyPrefix for a store constructed without the module, before connecting', () => {
    const given = new Redis({ lazyConnect: true, keyPrefix: 'app:' });
    const connects = jest.spyOn(Redis.prototype, 'connect');
    try {
      expect(() => createRedisClient({ client: given }, settings)).toThrow(
        'SessionModule: `redis.client` carries an ioredis keyPrefix: set keyPrefix on SessionModule, not on the ioredis client',
      );
      expect(() =>
        createRedisClient(
          { url: 'redis://127.0.0.1:6379', options: { keyPrefix: 'app:' } },
          settings,
        ),
      ).toThrow('`redis.options` carries an ioredis keyPrefix');
      expect(connects).not.toHaveBeenCalled();
    } finally {
      for (const client of connects.mock.contexts) (client as Redis).disconnect();
      connects.mockRestore();
      given.disconnect();
    }
  });
});
