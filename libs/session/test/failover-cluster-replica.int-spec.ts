import { Redis } from 'ioredis';

import { SessionService, SessionStoreUnavailableError, sessionAclRules } from '../src';
import { RedisClusterProcess, RedisServerProcess, startRedisCluster } from '../src/testing';
import { sessionKey, sessionService, sleep, uniquePrefix } from './store-contract';

jest.setTimeout(120_000);

/**
 * A Redis Cluster whose masters each have a replica, and a master that dies (SIGKILL) or hangs
 * (SIGSTOP: its connections stay open and nothing answers, as when its host freezes or a
 * partition cuts it off): the cluster promotes its replica. Through the failover a domain service (a `validator` Redis
 * user: scripts by SHA only) answers only sessions or 503s (never another error), finds the new
 * master by itself, and is served there without waiting for traffic of the owner's: Redis does
 * not replicate its script cache, so the owner must load the scripts on a promoted master as
 * soon as it learns of it. The owner keeps its promises there: revocations answered success
 * (durable: acknowledged by the replica) stay revoked, sessions not revoked still work.
 */
describe.each([
  ['dies', (node: RedisServerProcess) => node.stop()],
  ['hangs', async (node: RedisServerProcess) => node.freeze()],
])('a Redis Cluster master that %s, failing over to its replica', (_, fail) => {
  const prefix = uniquePrefix();
  let cluster: RedisClusterProcess;
  let sessions: SessionService;
  let validator: SessionService;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    cluster = await startRedisCluster(undefined, { replicas: 1 });
    await untilReplicasInSync(cluster);
    // ACLs are per node: replicas too, since they become masters.
    for (const { port } of cluster.nodes) {
      const node = new Redis(port, '127.0.0.1');
      await node.acl(
        'SETUSER',
        'orders',
        'on',
        '>orders-secret',
        ...sessionAclRules('validator', prefix),
      );
      node.disconnect();
    }
    const common = { keyPrefix: prefix, storeTimeout: 1, events: false as const };
    const owner = await sessionService({
      ...common,
      redis: { cluster: cluster.addresses },
      durability: { replicas: 1, timeout: 0.5 },
    });
    const orders = await sessionService({
      ...common,
      redis: {
        cluster: cluster.addresses,
        options: { redisOptions: { username: 'orders', password: 'orders-secret' } },
      },
    });
    closers.push(owner.close, orders.close);
    sessions = owner.sessions;
    validator = orders.sessions;
  });

  afterAll(async () => {
    for (const close of closers) await close();
    cluster?.nodes.forEach((node) => node.thaw());
    await cluster?.dispose();
  });

  it('keeps acknowledged revocations and live sessions, answering only 503 meanwhile', async () => {
    const users = Array.from({ length: 12 }, (_, n) => ({
      id: `u-replica-${n}`,
      username: `replica${n}`,
      roles: ['customer'],
    }));
    const kept: Array<{ userId: string; token: string; id: string }> = [];
    const revoked: string[] = [];
    for (const user of users) {
      const [first, second] = [await sessions.create(user), await sessions.create(user)];
      expect(await sessions.revoke(first.token)).toBe(true);
      revoked.push(first.token);
      kept.push({ userId: user.id, token: second.token, id: second.session.id });
    }

    // The master holding the first user's sessions dies; the users it held are the victims.
    const masters = await masterOfEachSession(
      cluster,
      kept.map(({ id }) => sessionKey(prefix, id)),
    );
    const victimPort = masters[0];
    const onVictim = new Set(kept.filter((_, i) => masters[i] === victimPort).map((k) => k.userId));
    expect(onVictim.size).toBeGreaterThan(0);
    expect(onVictim.size).toBeLessThan(users.length);
    const victim = cluster.nodes.find((node) => node.port === victimPort);
    if (!victim) throw new Error(`no node on port ${victimPort}`);
    await fail(victim);
    const killedAt = Date.now();

    // Until the domain service validates every kept session again: each answer a session or a
    // 503, nothing else. Only it asks: nothing the owner does here would load the scripts.
    const unexpected: string[] = [];
    let unavailable = 0;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const outcomes = await Promise.all(
        kept.map(({ token }) =>
          validator.validate(token).then(
            (session) => (session ? 'ok' : 'null'),
            (error: Error) => {
              if (error instanceof SessionStoreUnavailableError) {
                unavailable++;
              } else {
                unexpected.push(`${error.name}: ${error.message}`);
              }
              return 'error';
            },
          ),
        ),
      );
      if (outcomes.every((outcome) => outcome === 'ok')) break;
      expect(outcomes).not.toContain('null'); // a kept session is never reported gone
      if (Date.now() > deadline) throw new Error(`no recovery: ${outcomes.join(' ')}`);
      await sleep(200);
    }
    console.info(
      `master failed -> every session served again: ${Date.now() - killedAt} ms, ` +
        `${unavailable} answers 503 meanwhile`,
    );
    expect(unexpected).toEqual([]);
    expect(unavailable).toBeGreaterThan(0); // the failover was seen

    for (const token of revoked) {
      expect(await sessions.validate(token)).toBeNull();
    }
    // Logins and revocations work on every shard; a durable one on the promoted master, which
    // has no replica left, answers 503 rather than a success a second failover could undo.
    for (const user of users) {
      const { token } = await sessions.create(user);
      if (onVictim.has(user.id)) {
        await expect(sessions.revoke(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      } else {
        expect(await sessions.revoke(token)).toBe(true);
      }
    }
  });
});

/** Waits until every replica's link to its master is up. */
async function untilReplicasInSync(cluster: RedisClusterProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const node of cluster.nodes) {
    const client = new Redis(node.port, '127.0.0.1');
    try {
      for (;;) {
        const info = await client.info('replication');
        if (info.includes('role:master') || info.includes('master_link_status:up')) break;
        if (Date.now() > deadline) throw new Error(`replica ${node.port} never in sync`);
        await sleep(100);
      }
    } finally {
      client.disconnect();
    }
  }
}

/** The port of the master serving each key's slot. */
async function masterOfEachSession(cluster: RedisClusterProcess, keys: string[]) {
  const client = new Redis(cluster.nodes[0].port, '127.0.0.1');
  try {
    const ranges = (await client.call('CLUSTER', 'SLOTS')) as Array<
      [number, number, [string, number, ...unknown[]], ...unknown[]]
    >;
    return Promise.all(
      keys.map(async (key) => {
        const slot = (await client.call('CLUSTER', 'KEYSLOT', key)) as number;
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        return Number(range?.[2][1]);
      }),
    );
  } finally {
    client.disconnect();
  }
}
