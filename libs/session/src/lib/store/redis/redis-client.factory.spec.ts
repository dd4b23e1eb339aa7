import { Cluster, Redis } from 'ioredis';

import {
  createRedisClient,
  duplicateWithoutResending,
  resendsAfterBrokenConnection,
} from './redis-client.factory';

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

describe('resendsAfterBrokenConnection', () => {
  const node = [{ host: '127.0.0.1', port: 1 }];
  const clients: Array<Redis | Cluster> = [];
  const lazy = <T extends Redis | Cluster>(client: T): T => {
    clients.push(client);
    return client;
  };
  const retry = () => 100;

  afterAll(() => {
    for (const client of clients) client.disconnect();
  });

  it.each([
    ['a Redis with ioredis defaults', () => new Redis({ lazyConnect: true }), true],
    [
      'a Redis retrying per request',
      () => new Redis({ lazyConnect: true, maxRetriesPerRequest: 1 }),
      true,
    ],
    [
      'a Redis with no retries',
      () => new Redis({ lazyConnect: true, maxRetriesPerRequest: 0 }),
      false,
    ],
    [
      'a Redis that does not resend',
      () => new Redis({ lazyConnect: true, autoResendUnfulfilledCommands: false }),
      false,
    ],
    ['a Cluster with ioredis defaults', () => new Cluster(node, { lazyConnect: true }), true],
    [
      'a Cluster with no node retry strategy',
      () => new Cluster(node, { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 0 } }),
      true,
    ],
    [
      'a Cluster whose nodes retry per request',
      () => new Cluster(node, { lazyConnect: true, clusterNodeRetryStrategy: retry }),
      true,
    ],
    [
      'a Cluster as the store makes one',
      () =>
        new Cluster(node, {
          lazyConnect: true,
          clusterNodeRetryStrategy: retry,
          redisOptions: { maxRetriesPerRequest: 0 },
        }),
      false,
    ],
  ])('%s', (_name, make, expected) => {
    expect(resendsAfterBrokenConnection(lazy(make()))).toBe(expected);
  });

  it('is false of every client the store makes, and of a duplicate made not to resend', () => {
    const made = [
      createRedisClient({ url: 'redis://127.0.0.1:1' }, settings).client,
      createRedisClient({ cluster: node }, settings).client,
    ].map(lazy);
    expect(made.map(resendsAfterBrokenConnection)).toEqual([false, false]);

    const natMap = { '10.0.0.1:1': { host: '127.0.0.1', port: 1 } };
    const given = [
      new Redis({ lazyConnect: true, db: 3 }),
      new Cluster(node, { lazyConnect: true, natMap, redisOptions: { password: 'p' } }),
    ].map(lazy);
    const duplicates = given.map(duplicateWithoutResending).map(lazy);
    expect(duplicates.map(resendsAfterBrokenConnection)).toEqual([false, false]);
    // Everything else of the given client's options is kept.
    expect((duplicates[0] as Redis).options.db).toBe(3);
    expect((duplicates[1] as Cluster).options.natMap).toEqual(natMap);
    expect((duplicates[1] as Cluster).options.redisOptions?.password).toBe('p');
  });
});
