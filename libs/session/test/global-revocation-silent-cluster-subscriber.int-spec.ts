import { Logger } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';

import { IssuedSession } from '../src';
import { redactedSessionEventsKey } from '../src/lib/events/session-events.publisher';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { RedisClusterProcess, startRedisCluster, startTcpRelay, TcpRelay } from '../src/testing';
import {
  refOf,
  revokeEverythingButTheSweep,
  sessionService,
  uniquePrefix,
  until,
} from './store-contract';

// Starting a cluster can take more than the default 5 s on a busy machine.
jest.setTimeout(90_000);

type Service = Awaited<ReturnType<typeof sessionService>>;

/**
 * On Redis Cluster a service hears of global revocations over one node's connection, which the
 * Cluster client picked for its subscriptions. When that connection goes silent (the node's
 * host died, a NAT forgot the connection: no FIN, no reset), nothing is sent on it to notice:
 * the service must still find out, or it never hears of a global revocation again, and its
 * cache and its reads serve the sessions the sweep could not reach (a rotation racing it) for
 * as long as they live. The node's relay strands the connections open through it; the
 * watermark and the session live on other nodes, which answer as before.
 */
describe('a service whose subscription to global revocations on Redis Cluster went silent', () => {
  let cluster: RedisClusterProcess;
  let relays: TcpRelay[];
  let nodes: Redis[];
  let inspect: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    relays = await Promise.all(cluster.nodes.map((node) => startTcpRelay(node.port)));
    nodes = cluster.nodes.map((node) => new Redis(node.port, '127.0.0.1'));
    inspect = new Cluster(cluster.addresses);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    inspect?.disconnect();
    for (const node of nodes ?? []) node.disconnect();
    await Promise.all((relays ?? []).map((relay) => relay.sever()));
    await cluster?.dispose();
  });

  /** The index of the node that holds `key`. */
  async function nodeOf(key: string): Promise<number> {
    const slot = Number(await inspect.cluster('KEYSLOT', key));
    const [address] = inspect.slots[slot];
    return cluster.nodes.findIndex((node) => address.endsWith(`:${node.port}`));
  }

  /** The indexes of the nodes where someone listens to `channel`, once someone does. */
  async function listeningNodes(channel: string): Promise<number[]> {
    let found: number[] = [];
    await until(async () => {
      const counts = await Promise.all(
        nodes.map(async (node) => Number(((await node.pubsub('NUMSUB', channel)) as unknown[])[1])),
      );
      found = counts.flatMap((count, index) => (count > 0 ? [index] : []));
      return found.length > 0;
    }, 20_000);
    return found;
  }

  /**
   * A service through the relays, under a key prefix of its own, whose subscription is on
   * another node than the watermark and the event stream its cache follows: that node goes
   * silent, they stay readable.
   */
  async function relayedService(extra: {
    localCache?: { ttl: number };
  }): Promise<{ service: Service; keyPrefix: string; silent: number }> {
    const natMap = Object.fromEntries(
      relays.map((relay) => [
        `127.0.0.1:${relay.targetPort}`,
        { host: '127.0.0.1', port: relay.port },
      ]),
    );
    for (let attempt = 0; attempt < 20; attempt++) {
      const keyPrefix = uniquePrefix();
      const service = await sessionService({
        redis: {
          cluster: relays.map((relay) => ({ host: '127.0.0.1', port: relay.port })),
          options: { natMap },
        },
        keyPrefix,
        storeTimeout: 0.3,
        ...extra,
      });
      const watermarkKey = new RedisKeys(keyPrefix).notBefore();
      const [silent, ...more] = await listeningNodes(watermarkKey);
      expect(more).toEqual([]);
      const read = [watermarkKey, redactedSessionEventsKey(keyPrefix)].map(nodeOf);
      if (!(await Promise.all(read)).includes(silent)) return { service, keyPrefix, silent };
      await service.close();
    }
    throw new Error('every subscription landed on a node the service reads');
  }

  it.each([
    ['without a local cache', {}],
    ['with a local cache', { localCache: { ttl: 60 } }],
  ])('learns of a later global revocation (%s)', async (_, extra) => {
    const { service: elsewhere, keyPrefix, silent } = await relayedService(extra);
    const keys = new RedisKeys(keyPrefix);
    const admin = await sessionService({ redis: { cluster: cluster.addresses }, keyPrefix });
    try {
      // A session on another node than the silent one, which this test keeps answering.
      let issued: IssuedSession | null = null;
      for (let user = 0; !issued && user < 50; user++) {
        const made = await admin.sessions.create({
          id: `u-${keyPrefix}-${user}`,
          username: 'alice',
          roles: ['customer'],
        });
        if ((await nodeOf(keys.session(refOf(made.token)))) !== silent) issued = made;
      }
      if (!issued) throw new Error('no session off the silent node');
      const { token } = issued;
      expect(await elsewhere.sessions.validate(token)).not.toBeNull();

      relays[silent].strand();
      const key = keys.session(refOf(token));
      const validate = () => elsewhere.sessions.validate(token);
      expect(await revokeEverythingButTheSweep(admin.sessions, inspect, key, validate, 200)).toBe(
        true,
      );
    } finally {
      await admin.close();
      await elsewhere.close();
    }
  });
});
