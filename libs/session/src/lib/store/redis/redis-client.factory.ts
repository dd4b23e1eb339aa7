import { Cluster, Redis, RedisOptions } from 'ioredis';

import { checkRedisConnection } from '../../config/redis-connection';
import type { SessionRedisConnection } from '../../config/session-options.interface';
import type { SessionStoreSettings } from '../../config/session.config';

/** How often a cluster client the store creates reads the cluster's slots and masters again. */
const CLUSTER_SLOTS_REFRESH_MS = 5_000;

/** How a broken connection to a node is tried again: at once, then backing off to 1 s. */
const reconnectBackOff = (attempt: number) => Math.min(attempt * 100, 1000);

/** A client for the connection options, and whether the store created it (and so closes it). */
export function createRedisClient(
  connection: SessionRedisConnection,
  settings: Pick<SessionStoreSettings, 'storeTimeoutMs' | 'autoPipelining'>,
): { client: Redis | Cluster; owned: boolean } {
  // The module checked it already; a `RedisSessionStore` constructed by hand was not (an
  // ioredis keyPrefix there would break revoke-all as it would through the module).
  checkRedisConnection(connection);
  if ('client' in connection) {
    return { client: connection.client, owned: false };
  }
  // No offline queue: when Redis is down a call fails at once (503) instead of piling up.
  const ours: RedisOptions = {
    enableOfflineQueue: false,
    commandTimeout: settings.storeTimeoutMs,
    connectTimeout: Math.max(settings.storeTimeoutMs, 2000),
    maxRetriesPerRequest: 0,
    // `disconnect()` ends the connection and arms a timer (2 s by default) to destroy it unless
    // Redis closes its side before; only that close clears it. A connection that broke already
    // (Redis gone, the client waiting to reconnect) sees no close to come: the timer would run
    // its course and hold the process open that long after shutdown. Waiting no longer than a
    // command's timeout loses no answer that could still come in time.
    disconnectTimeout: settings.storeTimeoutMs,
    retryStrategy: reconnectBackOff,
    enableAutoPipelining: settings.autoPipelining,
  };
  if ('cluster' in connection) {
    const client = new Cluster(connection.cluster, {
      // A replica promoted to master while this service sends nothing to its slots is noticed
      // within this, rather than never: the store loads the scripts there (see its 'refresh'
      // listener), for services whose Redis user may not.
      slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS,
      ...connection.options,
      enableOfflineQueue: false,
      // A node connection that breaks reconnects by itself, failing the commands it had sent
      // (maxRetriesPerRequest 0) as on a single node. Without a strategy it ends instead, and
      // the cluster sends those commands again elsewhere: Redis may have run one already, its
      // answer lost with the connection, and a script run twice answers as if it had found
      // nothing (a revocation "not found": no event; a rotation of a session "gone": both
      // tokens dead). Failed, they answer 503 and the store undoes what they may have done.
      clusterNodeRetryStrategy: reconnectBackOff,
      enableAutoPipelining: settings.autoPipelining,
      clusterRetryStrategy: reconnectBackOff,
      redisOptions: { ...ours, ...connection.options?.redisOptions },
    });
    return { client, owned: true };
  }
  if ('sentinels' in connection) {
    const client = new Redis({
      ...ours,
      ...connection.options,
      sentinels: connection.sentinels,
      name: connection.name,
    });
    return { client, owned: true };
  }
  return { client: new Redis(connection.url, { ...ours, ...connection.options }), owned: true };
}

/**
 * Whether `client` sends a command again after the connection it went out on broke. Redis may
 * have run it, its answer lost with the connection, and a session script run twice answers as
 * if it had found nothing: a revocation "not found" (no event for other services), a rotation
 * of a session "gone" (both tokens dead). A `Redis` resends unless `maxRetriesPerRequest` is 0
 * (its sent commands then fail on the break) or `autoResendUnfulfilledCommands` is off; a
 * `Cluster` also when it has no `clusterNodeRetryStrategy` (a broken node connection ends, and
 * the cluster sends its commands elsewhere).
 */
export function resendsAfterBrokenConnection(client: Redis | Cluster): boolean {
  if (client instanceof Cluster) {
    const { clusterNodeRetryStrategy, redisOptions = {} } = client.options;
    return typeof clusterNodeRetryStrategy !== 'function' || resends(redisOptions);
  }
  return resends(client.options);
}

function resends(options: RedisOptions): boolean {
  return options.maxRetriesPerRequest !== 0 && options.autoResendUnfulfilledCommands !== false;
}

/**
 * A new client to the same Redis as `client`, with its options, that never sends a command
 * again after a broken connection (see `resendsAfterBrokenConnection`): what the store's
 * `durability` writer, which runs every revocation, is made of even when the app's client
 * resends.
 */
export function duplicateWithoutResending(client: Redis | Cluster): Redis | Cluster {
  if (client instanceof Cluster) {
    const { clusterNodeRetryStrategy, redisOptions } = client.options;
    return client.duplicate([], {
      clusterNodeRetryStrategy: clusterNodeRetryStrategy ?? reconnectBackOff,
      redisOptions: { ...redisOptions, maxRetriesPerRequest: 0 },
    });
  }
  return client.duplicate({ maxRetriesPerRequest: 0 });
}
