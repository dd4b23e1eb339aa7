import { randomBytes } from 'node:crypto';

import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import { SessionCommonOptions, SessionService } from '../src';
import { freePort, RedisServerProcess, startTcpRelay, TcpRelay } from '../src/testing';
import { RedisSentinelProcess, startRedisSentinels } from '../src/testing/redis-sentinel';
import { ReplicationLink, startReplicationLink } from './replication-link';
import { sessionService, sleep } from './store-contract';

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

/** Three Sentinels monitoring a primary, and two services of one store that reach it through them. */
export interface SentinelServices {
  sentinels: RedisSentinelProcess[];
  /** With `durability: { replicas: 1, timeout: 0.3 }`: a write no replica acknowledges is a 503. */
  durable: SessionService;
  /** Without durability: what the store holds, as any service reads it. */
  plain: SessionService;
  /** Closes both services, then stops the Sentinels. */
  close(): Promise<void>;
}

/**
 * Starts three Sentinels monitoring `primary` as `name`, and a durable and a plain service
 * with `options` that find the primary through them. Given `durableVia` (a relay in front of
 * `primary`), the durable service reaches `primary` through it; a promoted replica, directly.
 *
 * @example
 * const services = await startSentinelServices(primary, NAME, { keyPrefix, storeTimeout: 1 });
 * await forceFailover(services.sentinels[0], replica, NAME);
 */
export async function startSentinelServices(
  primary: RedisServerProcess,
  name: string,
  options: SessionCommonOptions,
  durableVia?: { port: number },
): Promise<SentinelServices> {
  const sentinels = await startRedisSentinels({ name, port: primary.port });
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closeService of closers) await closeService().catch(() => undefined);
    await Promise.all(sentinels.map((sentinel) => sentinel.dispose().catch(() => undefined)));
  };
  try {
    const redis = { sentinels: sentinels.map(({ port }) => ({ host: '127.0.0.1', port })), name };
    const natMap = durableVia && {
      [`127.0.0.1:${primary.port}`]: { host: '127.0.0.1', port: durableVia.port },
    };
    const durable = await sessionService({
      ...options,
      redis: natMap ? { ...redis, options: { natMap } } : redis,
      durability: { replicas: 1, timeout: 0.3 },
    });
    closers.push(durable.close);
    const plain = await sessionService({ ...options, redis });
    closers.push(plain.close);
    return { sentinels, durable: durable.sessions, plain: plain.sessions, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** What a describe block of {@link linkedFailover} works with, once its hooks have run. */
export interface LinkedFailover extends SentinelServices {
  /** The Sentinels' name for the primary: this block's own (see {@link linkedFailover}). */
  name: string;
  primary: RedisServerProcess;
  /** A replica of `primary` that replicates through `link`. */
  replica: RedisServerProcess;
  link: ReplicationLink;
  /** The relay the durable service reaches `primary` through: with `durableThroughRelay` only. */
  relay: TcpRelay;
  /** A connection straight to `primary`, past the relays and the Sentinels. */
  onPrimary: Redis;
  /** A connection straight to `replica`, past the link and the Sentinels. */
  onReplica: Redis;
}

/**
 * Registers the hooks of a describe block that fails a primary over to a replica replicating
 * through a {@link ReplicationLink} (one the test can deafen and cut): the primary, the
 * replica, and the Sentinels and services of {@link startSentinelServices} with `options`,
 * ready once the durable service's writes are acknowledged and every Sentinel knows the
 * replica. With `durableThroughRelay`, the durable service reaches the primary through a relay.
 * The Sentinels monitor a name of the block's own, so that a Sentinel left running by an
 * earlier, killed run can never join (and sway) this one's quorum. The lag the tests provoke
 * is warned of; the warnings are not what they look at, and are kept out of the output.
 *
 * @example
 * const failover = linkedFailover({ keyPrefix, storeTimeout: 1, events: false });
 * it('...', async () => {
 *   failover.link.cutFrom((bytes) => bytes.includes('RENAME'));
 *   await forceFailover(failover.sentinels[0], failover.replica, failover.name);
 * });
 */
export function linkedFailover(
  options: SessionCommonOptions,
  { durableThroughRelay = false } = {},
): LinkedFailover {
  const current = { name: `cloakroom-${randomBytes(4).toString('hex')}` } as LinkedFailover;
  let warn: jest.SpyInstance | undefined;

  beforeAll(async () => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    current.primary = await startNode();
    current.link = await startReplicationLink(current.primary.port);
    current.replica = await startReplica(current.link.port);
    if (durableThroughRelay) current.relay = await startTcpRelay(current.primary.port);
    Object.assign(
      current,
      await startSentinelServices(current.primary, current.name, options, current.relay),
    );
    current.onPrimary = directConnection(current.primary);
    current.onReplica = directConnection(current.replica);
    await untilDurableWritesWork(current.durable);
    await untilSentinelsKnow(current.sentinels, current.replica, current.name);
  });

  afterAll(async () => {
    await current.close?.();
    current.onPrimary?.disconnect();
    current.onReplica?.disconnect();
    await current.relay?.sever().catch(() => undefined);
    await current.link?.close().catch(() => undefined);
    await Promise.all(
      [current.primary, current.replica].map((node) => node?.dispose().catch(() => undefined)),
    );
    warn?.mockRestore();
  });

  return current;
}

/** A connection straight to `node` that fails at once, and quietly, once the node is gone. */
function directConnection(node: RedisServerProcess): Redis {
  const client = new Redis(node.port, '127.0.0.1', { maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  return client;
}

/** Waits for the failover test's setup: a topology that takes seconds to settle. */
export async function until(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the failover test setup');
    await sleep(100);
  }
}
