import { Cluster } from 'ioredis';

import { RedisClusterProcess, startRedisCluster } from '../src/testing';
import { sessionKey, sessionService, uniquePrefix, until } from './store-contract';

jest.setTimeout(120_000);

/**
 * A global revocation's watermark is read by every service when its subscription connects:
 * the sweep may have missed sessions (a master added since the revoking client last read the
 * cluster's slots, a key moving between masters while it scanned), and the watermark is what
 * refuses those then. On Redis Cluster a service started after the revocation never read it:
 * the read raced the store's own connection, failed, and was not tried again.
 */
describe('a service started after a global revocation on Redis Cluster', () => {
  let cluster: RedisClusterProcess;
  let raw: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    raw = new Cluster(cluster.addresses);
  });

  afterAll(async () => {
    raw?.disconnect();
    await cluster?.dispose();
  });

  it('learns the watermark, and refuses a session the sweep did not reach', async () => {
    const keyPrefix = uniquePrefix();
    const options = { redis: { cluster: cluster.addresses }, keyPrefix, events: false as const };
    const revoker = await sessionService(options);
    try {
      const user = { id: 'u-late', username: 'late', roles: ['customer'] };
      const missed = await revoker.sessions.create(user);
      const key = sessionKey(keyPrefix, missed.session.id);
      const saved = await raw.dumpBuffer(key);
      await revoker.sessions.revokeEverything();
      // What a sweep that missed a master leaves behind: the session, as it was.
      await raw.restore(key, 0, saved as Buffer);

      for (let start = 0; start < 3; start++) {
        const late = await sessionService(options);
        try {
          await until(async () => (await late.sessions.validate(missed.token)) === null, 3000);
        } finally {
          await late.close();
        }
      }
    } finally {
      await revoker.close();
    }
  });
});
