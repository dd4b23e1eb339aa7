import { Redis } from 'ioredis';

import { SessionService } from '../src';
import { freePort, RedisServerProcess } from '../src/testing';
import { RedisSentinelProcess } from '../src/testing/redis-sentinel';
import { sleep } from './store-contract';

/** A Redis server for a primary or replica of a failover test, on `port` or a free one. */
export async function startNode(
  port?: number,
  extraArgs: string[] = [],
): Promise<RedisServerProcess> {
  // A replica's full sync starts at once, not after the default 5 s wait for more replicas.
  const node = new RedisServerProcess(port ?? (await freePort()), [
    '--repl-diskless-sync-delay',
    '0',
    ...extraArgs,
  ]);
  await node.start();
  return node;
}

/**
 * A replica of whatever listens on `upstreamPort` (a primary, or a relay in front of one), on
 * `port` or a free one, once it is in sync.
 */
export async function startReplica(
  upstreamPort: number,
  port?: number,
  extraArgs: string[] = [],
): Promise<RedisServerProcess> {
  const replica = await startNode(port, [
    '--replicaof',
    '127.0.0.1',
    String(upstreamPort),
    ...extraArgs,
  ]);
  const client = new Redis(replica.port, '127.0.0.1');
  try {
    await until(async () => (await client.info('replication')).includes('master_link_status:up'));
  } finally {
    client.disconnect();
  }
  return replica;
}

/**
 * Has the Sentinels monitoring `name` promote `replica`: `SENTINEL FAILOVER`, retried while the
 * Sentinel has not yet found the replica usable, until a Sentinel names the replica as the
 * primary. The Sentinels may also fail over on their own (the dead primary is down for longer
 * than `down-after-milliseconds` while this waits): that promotion counts, and asking again
 * after it would ask to fail over the new primary, whose only replica is the dead one.
 */
export async function forceFailover(
  sentinel: RedisSentinelProcess,
  replica: RedisServerProcess,
  name: string,
): Promise<void> {
  const client = new Redis(sentinel.port, '127.0.0.1');
  try {
    await until(async () => {
      const [, port] = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[];
      if (Number(port) === replica.port) return true;
      try {
        await client.call('SENTINEL', 'FAILOVER', name);
      } catch (error) {
        if (!/NOGOODSLAVE|INPROG/.test((error as Error).message)) throw error;
      }
      return false;
      // A Sentinel refreshes what it knows of a replica every few seconds, and slower on a
      // busy machine: 30 s was once not enough to find the new replica usable.
    }, 60_000);
  } finally {
    client.disconnect();
  }
}

/**
 * Waits until every Sentinel counts `replica` as a healthy replica of `name`. A Sentinel learns
 * of replicas only from the primary's INFO: one killed before a fresh Sentinel (or one that saw
 * the replica's previous, dead incarnation on this port) has looked again leaves that Sentinel
 * nothing to promote.
 */
export async function untilSentinelsKnow(
  sentinels: RedisSentinelProcess[],
  replica: RedisServerProcess,
  name: string,
): Promise<void> {
  await Promise.all(
    sentinels.map(async ({ port }) => {
      const client = new Redis(port, '127.0.0.1');
      try {
        await until(async () => {
          const replicas = (await client.call('SENTINEL', 'REPLICAS', name)) as string[][];
          return replicas.some((fields) => {
            const field = (key: string) => fields[fields.indexOf(key) + 1];
            return (
              Number(field('port')) === replica.port &&
              field('flags') === 'slave' &&
              field('master-link-status') === 'ok'
            );
          });
        });
      } finally {
        client.disconnect();
      }
    }),
  );
}

/** Waits until a revocation through the durable store is acknowledged by the replica. */
export async function untilDurableWritesWork(sessions: SessionService): Promise<void> {
  const probe = { id: 'u-probe', username: 'probe', roles: [] };
  await until(async () => {
    try {
      const { token } = await sessions.create(probe);
      return await sessions.revoke(token);
    } catch {
      return false;
    }
  });
}

/** Waits for the failover test's setup: a topology that takes seconds to settle. */
export async function until(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the failover test setup');
    await sleep(100);
  }
}
