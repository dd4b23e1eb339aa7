import { Logger } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';

import { SessionService, SessionStoreUnavailableError } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { RedisClusterProcess, startRedisCluster, startTcpRelay, TcpRelay } from '../src/testing';
import { refOf, sessionService, sleep, uniquePrefix, until } from './store-contract';

// Starting a cluster can take more than the default 5 s on a busy machine.
jest.setTimeout(90_000);

type Service = Awaited<ReturnType<typeof sessionService>>;
type Answer = 'live' | 'refused' | 'unavailable';

/** What validating `token` answers: a session (200), none (401), or the store down (503). */
async function answerTo(sessions: SessionService, token: string): Promise<Answer> {
  try {
    return (await sessions.validate(token)) ? 'live' : 'refused';
  } catch (error) {
    // Anything else would be a 500.
    if (error instanceof SessionStoreUnavailableError) return 'unavailable';
    throw error;
  }
}

/**
 * A Cluster client holds one connection per node. A NAT or a middlebox that forgets one of them
 * closes nothing (no FIN, no reset): the node is well, the slots still name it, a failover never
 * comes, and every command for its slots times out for as long as the kernel keeps the
 * connection. The node's relay strands the connections open through it (nothing passes either
 * way, nothing closes) and relays new ones as before, as a NAT that forgot a connection does.
 */
describe('a Redis Cluster node connection that goes silent, the node well', () => {
  let cluster: RedisClusterProcess;
  let nodes: Redis[];
  let inspect: Cluster;
  let relays: TcpRelay[];
  let warnings: jest.SpyInstance;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    cluster = await startRedisCluster();
    nodes = cluster.nodes.map((node) => new Redis(node.port, '127.0.0.1'));
    inspect = new Cluster(cluster.addresses);
  });

  beforeEach(async () => {
    relays = await Promise.all(cluster.nodes.map((node) => startTcpRelay(node.port)));
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await Promise.all(relays.map((relay) => relay.sever()));
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    inspect?.disconnect();
    for (const node of nodes ?? []) node.disconnect();
    await cluster?.dispose();
  });

  /** The index of the node that holds `key`. */
  async function nodeOf(key: string): Promise<number> {
    const slot = Number(await inspect.cluster('KEYSLOT', key));
    const [address] = inspect.slots[slot];
    return cluster.nodes.findIndex((node) => address.endsWith(`:${node.port}`));
  }

  /** A service of `keyPrefix` whose node connections go through the relays. */
  async function relayedService(keyPrefix: string): Promise<Service> {
    const natMap = Object.fromEntries(
      relays.map((relay) => [
        `127.0.0.1:${relay.targetPort}`,
        { host: '127.0.0.1', port: relay.port },
      ]),
    );
    const service = await sessionService({
      redis: {
        cluster: relays.map((relay) => ({ host: '127.0.0.1', port: relay.port })),
        options: { natMap },
      },
      keyPrefix,
      storeTimeout: 0.3,
    });
    closers.push(service.close);
    return service;
  }

  /** A service of `keyPrefix` straight to the nodes, which nothing strands. */
  async function directService(keyPrefix: string): Promise<Service> {
    const service = await sessionService({ redis: { cluster: cluster.addresses }, keyPrefix });
    closers.push(service.close);
    return service;
  }

  /** The nodes (relay addresses) whose connection the service dropped as silent. */
  function dropped(): string[] {
    return warnings.mock.calls
      .map(([message]) => String(message))
      .filter((message) => message.includes('connecting again'))
      .map((message) => /node (\S+) /.exec(message)?.[1] ?? message);
  }

  it.each([
    ['the node of the session', (silent: number) => [silent]],
    ['every node', () => cluster.nodes.map((_, node) => node)],
  ])(
    'answers 503, then serves on a new connection, revocations honoured: %s silent',
    async (_, stranded) => {
      const keyPrefix = uniquePrefix();
      const keys = new RedisKeys(keyPrefix);
      const relayed = await relayedService(keyPrefix);
      const elsewhere = await directService(keyPrefix);
      // One user's sessions share a slot.
      const user = { id: `u-${keyPrefix}`, username: 'alice', roles: ['customer'] };
      const kept = await elsewhere.sessions.create(user);
      const revoked = await elsewhere.sessions.create(user);
      const silent = await nodeOf(keys.session(refOf(kept.token)));
      expect(await nodeOf(keys.session(refOf(revoked.token)))).toBe(silent);
      expect(await answerTo(relayed.sessions, kept.token)).toBe('live');
      expect(await answerTo(relayed.sessions, revoked.token)).toBe('live');

      const silentRelays = stranded(silent).map((node) => relays[node]);
      for (const relay of silentRelays) relay.strand();
      expect(await answerTo(relayed.sessions, kept.token)).toBe('unavailable');
      expect(await elsewhere.sessions.revoke(revoked.token)).toBe(true);

      // Never un-stranded: only a new connection through the relay serves the node's slots. The
      // deadline only keeps a service that never replaces the connection from hanging the run.
      const answers = { kept: new Set<Answer>(), revoked: new Set<Answer>() };
      await until(async () => {
        const [keptNow, revokedNow] = await Promise.all([
          answerTo(relayed.sessions, kept.token),
          answerTo(relayed.sessions, revoked.token),
        ]);
        answers.kept.add(keptNow);
        answers.revoked.add(revokedNow);
        return keptNow === 'live';
      }, 20_000);
      expect(answers.revoked.has('live')).toBe(false);
      expect(answers.kept.has('refused')).toBe(false);
      expect(await answerTo(relayed.sessions, revoked.token)).toBe('refused');

      expect(await elsewhere.sessions.revoke(kept.token)).toBe(true);
      expect(await answerTo(relayed.sessions, kept.token)).toBe('refused');
      // The silent connections were replaced, and only they: the others answered their PINGs.
      expect(new Set(dropped())).toEqual(
        new Set(silentRelays.map(({ port }) => `127.0.0.1:${port}`)),
      );
    },
  );

  it('keeps the connection of a node that is only slow: the answers come after the timeout', async () => {
    const keyPrefix = uniquePrefix();
    const keys = new RedisKeys(keyPrefix);
    const relayed = await relayedService(keyPrefix);
    const user = { id: `u-${keyPrefix}`, username: 'alice', roles: ['customer'] };
    const { token } = await relayed.sessions.create(user);
    const slow = nodes[await nodeOf(keys.session(refOf(token)))];
    expect(await answerTo(relayed.sessions, token)).toBe('live');

    // The node busy for 0.6 s: a validation sent meanwhile times out (0.3 s), but the
    // connection hears its answer, and the PING's, well within the second a silent one waits.
    const busy = slow.eval(
      `local from = redis.call('TIME')
       repeat local now = redis.call('TIME')
       until (now[1] - from[1]) * 1000000 + (now[2] - from[2]) > 600000`,
      0,
    );
    await sleep(20);
    expect(await answerTo(relayed.sessions, token)).toBe('unavailable');
    await busy;
    // Past the wait for an answer to the PING: a connection dropped would have been by now.
    await sleep(1_500);
    for (let call = 0; call < 5; call++) {
      expect(await answerTo(relayed.sessions, token)).toBe('live');
    }
    expect(dropped()).toEqual([]);
  });
});
