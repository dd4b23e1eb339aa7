import { Cluster } from 'ioredis';

import { RedisClusterProcess, startRedisCluster } from '../src/testing';
import { alice, sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(60_000);

describe('Redis Cluster key layout', () => {
  let cluster: RedisClusterProcess;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(cluster.addresses);
    await new Promise((resolve) => client.once('ready', resolve));
  });

  afterAll(async () => {
    client?.disconnect();
    await cluster?.dispose();
  });

  it('keeps a user’s sessions and index in one hash slot', async () => {
    const prefix = uniquePrefix();
    const { sessions, close } = await sessionService({
      redis: { cluster: cluster.addresses },
      keyPrefix: prefix,
    });
    try {
      await sessions.create(alice);
      await sessions.create(alice);
      const keys: string[] = [];
      for (const node of client.nodes('master')) keys.push(...(await node.keys(`${prefix}{*`)));
      expect(keys).toHaveLength(3);
      const slots = new Set(await Promise.all(keys.map((key) => client.cluster('KEYSLOT', key))));
      expect(slots.size).toBe(1);
    } finally {
      await close();
    }
  });
});
