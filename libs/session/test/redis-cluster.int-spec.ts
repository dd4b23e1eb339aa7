import { Cluster } from 'ioredis';

import { RedisClusterProcess, startRedisCluster } from '../src/testing';
import { describeStoreContract } from './store-contract';

let cluster: RedisClusterProcess;
let client: Cluster;

jest.setTimeout(60_000);

afterAll(async () => {
  client?.disconnect();
  await cluster?.dispose();
});

describeStoreContract('RedisSessionStore on a three-master Redis Cluster', async () => {
  cluster = await startRedisCluster([7301, 7302, 7303]);
  client = new Cluster(cluster.addresses);
  await new Promise((resolve) => client.once('ready', resolve));
  return { options: { redis: { cluster: cluster.addresses } }, client };
});

describe('Redis Cluster key layout', () => {
  it('keeps a user’s sessions and index in one hash slot', async () => {
    // Relies on the contract suite above having started the cluster in this file.
    const { sessionService, alice, uniquePrefix } = await import('./store-contract');
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
