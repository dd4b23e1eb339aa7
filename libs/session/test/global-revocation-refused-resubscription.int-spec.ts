import { Logger } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';

import { SessionRedisConnection } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { startRedisCluster, startRedisSentinels, startRedisServer } from '../src/testing';
import { refOf, sessionService, sleep, uniquePrefix, until } from './store-contract';

// Starting a cluster can take more than the default 5 s on a busy machine; a subscription
// refused for a while is tried again after a back-off of a few seconds.
jest.setTimeout(180_000);

interface Topology {
  redis: SessionRedisConnection;
  /**
   * Whether the connection that was refused has been pinged since: the first ping answered on a
   * Cluster's new subscription connection reads the watermark, which would find a revocation
   * made before it without any subscription.
   */
  pingedSinceRefused(): Promise<boolean>;
  /** A connection to every node, for ACLs and for killing clients. */
  nodes: Redis[];
  /** A client that reads and writes any key. */
  inspect: Redis | Cluster;
  dispose(): Promise<void>;
}

async function clusterTopology(): Promise<Topology> {
  const cluster = await startRedisCluster();
  const nodes = cluster.nodes.map((node) => new Redis(node.port, '127.0.0.1'));
  const inspect = new Cluster(cluster.addresses);
  return {
    redis: { cluster: cluster.addresses },
    pingedSinceRefused: async () => {
      const lists = await Promise.all(nodes.map((node) => node.client('LIST')));
      return lists.some((list) =>
        String(list)
          .split('\n')
          .some((line) =>
            / name=ioredis-cluster\(subscriber\)\S* .* sub=0 .* cmd=ping /.test(line),
          ),
      );
    },
    nodes,
    inspect,
    dispose: async () => {
      inspect.disconnect();
      for (const node of nodes) node.disconnect();
      await cluster.dispose();
    },
  };
}

async function singleTopology(): Promise<Topology> {
  const server = await startRedisServer();
  const node = new Redis(server.port, '127.0.0.1');
  return {
    redis: { url: server.url },
    // A single node's connection reads the watermark when it connects, before it subscribes.
    pingedSinceRefused: async () => true,
    nodes: [node],
    inspect: node,
    dispose: async () => {
      node.disconnect();
      await server.dispose();
    },
  };
}

async function sentinelTopology(): Promise<Topology> {
  const primary = await startRedisServer();
  const sentinels = await startRedisSentinels(
    { name: 'cloakroom', port: primary.port, quorum: 1 },
    1,
  );
  const node = new Redis(primary.port, '127.0.0.1');
  return {
    redis: {
      sentinels: sentinels.map(({ port }) => ({ host: '127.0.0.1', port })),
      name: 'cloakroom',
    },
    // The primary's connection reads the watermark when it connects, before it subscribes.
    pingedSinceRefused: async () => true,
    nodes: [node],
    inspect: node,
    dispose: async () => {
      node.disconnect();
      await Promise.all(sentinels.map((sentinel) => sentinel.dispose()));
      await primary.dispose();
    },
  };
}

/**
 * How many subscriptions to `channel` the nodes refused so far (the ACL log counts repeats of
 * one); a service with a local cache subscribes to other channels too.
 */
async function refusedSubscriptions(nodes: Redis[], channel: string): Promise<number> {
  let refused = 0;
  for (const node of nodes) {
    const entries = (await node.acl('LOG')) as unknown[][];
    for (const entry of entries) {
      const fields = entry.map(String);
      const field = (name: string) => fields[fields.indexOf(name) + 1];
      if (field('reason') === 'channel' && field('object') === channel) {
        refused += Number(field('count'));
      }
    }
  }
  return refused;
}

/**
 * A service subscribes to global revocations again whenever its subscription connection is
 * lost: on Redis Cluster the Cluster client does it on a node it picks, on a single Redis the
 * store does it on its reconnected connection. A node may refuse that SUBSCRIBE (ACL, a node
 * still loading, a transient error), and nothing else ever subscribes again by itself: the
 * connection lives and answers pings, subscribed to nothing. The service must try again once
 * the refusal ends, or it never hears of a global revocation again, and its cache and its reads
 * serve the sessions the sweep could not reach (a rotation racing it) for as long as they live.
 */
describe.each([
  ['Redis Cluster', clusterTopology],
  ['a single Redis', singleTopology],
  ['Redis Sentinel', sentinelTopology],
])('a service whose subscription to global revocations was refused on %s', (_, start) => {
  let topology: Topology;

  beforeAll(async () => {
    topology = await start();
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await topology?.dispose();
  });

  async function onEveryNode(...args: string[]): Promise<void> {
    await Promise.all(topology.nodes.map((node) => node.call(args[0], ...args.slice(1))));
  }

  /** How many clients subscribed to `channel`, over every node. */
  async function subscribers(channel: string): Promise<number> {
    const counts = await Promise.all(
      topology.nodes.map(async (node) =>
        Number(((await node.pubsub('NUMSUB', channel)) as unknown[])[1]),
      ),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  }

  it.each([
    ['its subscription was lost, without a local cache', {}, 'lost'],
    ['its subscription was lost, with a local cache', { localCache: { ttl: 60 } }, 'lost'],
    ['its first subscription was refused', {}, 'first'],
  ])(
    'learns of a later global revocation once subscribing is allowed again (%s)',
    async (__, extra, refused) => {
      const keyPrefix = uniquePrefix();
      const keys = new RedisKeys(keyPrefix);
      const refusedBefore = await refusedSubscriptions(topology.nodes, keys.notBefore());
      // Every subscription of the store's user refused: from the start, or once the subscribed
      // connection is lost, so that the subscription is made again.
      if (refused === 'first') await onEveryNode('ACL', 'SETUSER', 'default', 'resetchannels');
      const elsewhere = await sessionService({
        redis: topology.redis,
        keyPrefix,
        storeTimeout: 0.3,
        ...extra,
      });
      let admin: Awaited<ReturnType<typeof sessionService>> | null = null;
      try {
        if (refused === 'lost') {
          await until(async () => (await subscribers(keys.notBefore())) === 1, 20_000);
          await onEveryNode('ACL', 'SETUSER', 'default', 'resetchannels');
          await onEveryNode('CLIENT', 'KILL', 'TYPE', 'pubsub');
        }
        await until(
          async () =>
            (await refusedSubscriptions(topology.nodes, keys.notBefore())) > refusedBefore,
          20_000,
        );
        // Refused more than once: subscribing again, which the pings after it do not mask.
        await until(
          async () =>
            (await topology.pingedSinceRefused()) ||
            (await refusedSubscriptions(topology.nodes, keys.notBefore())) > refusedBefore + 1,
          20_000,
        );
        await onEveryNode('ACL', 'SETUSER', 'default', 'allchannels');

        admin = await sessionService({ redis: topology.redis, keyPrefix });
        const { token } = await admin.sessions.create({
          id: `u-${keyPrefix}`,
          username: 'alice',
          roles: ['customer'],
        });
        expect(await elsewhere.sessions.validate(token)).not.toBeNull();

        // A global revocation whose sweep missed the session (as one racing a rotation could):
        // only the watermark ends it.
        const key = keys.session(refOf(token));
        const copy = await topology.inspect.hgetall(key);
        await admin.sessions.revokeEverything();
        await topology.inspect.hset(key, copy);
        await topology.inspect.pexpire(key, 120_000);

        // A 503 on a busy machine serves nothing: asked again. The deadline only stops a service
        // that never learns from hanging the run.
        const validate = () => elsewhere.sessions.validate(token).catch(() => undefined);
        await until(async () => (await validate()) === null, 60_000);
        for (let i = 0; i < 20; i++) {
          await sleep(50);
          expect((await validate()) ?? null).toBeNull();
        }
        await topology.inspect.del(key);
      } finally {
        await onEveryNode('ACL', 'SETUSER', 'default', 'allchannels');
        await admin?.close();
        await elsewhere.close();
      }
    },
  );
});

/**
 * The wait between two tries after a refusal is timed on the monotonic clock: on the wall clock,
 * a host clock set back an hour right after a refusal (NTP, an operator) put the next try off by
 * that hour, and the service heard no global revocation all that time.
 */
describe('a service whose subscription to global revocations was refused, the host clock then set back', () => {
  const realNow = Date.now;
  let topology: Topology;

  beforeAll(async () => {
    topology = await singleTopology();
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await topology?.dispose();
  });

  it('subscribes again as soon as it is allowed', async () => {
    const [node] = topology.nodes;
    const keyPrefix = uniquePrefix();
    const keys = new RedisKeys(keyPrefix);
    const subscribed = async () =>
      Number(((await node.pubsub('NUMSUB', keys.notBefore())) as unknown[])[1]) === 1;
    const refusedBefore = await refusedSubscriptions(topology.nodes, keys.notBefore());
    const service = await sessionService({
      redis: topology.redis,
      keyPrefix,
      storeTimeout: 0.3,
    });
    try {
      await until(subscribed, 20_000);
      await node.acl('SETUSER', 'default', 'resetchannels');
      await node.client('KILL', 'TYPE', 'pubsub');
      await until(
        async () => (await refusedSubscriptions(topology.nodes, keys.notBefore())) > refusedBefore,
        20_000,
      );
      const step = jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
      await node.acl('SETUSER', 'default', 'allchannels');
      // Tries come at most 2 s apart after one or two refusals; the deadline is generous.
      await until(subscribed, 20_000);
      step.mockRestore();
    } finally {
      await node.acl('SETUSER', 'default', 'allchannels');
      await service.close();
    }
  });
});
