import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Cluster, Redis, RedisOptions } from 'ioredis';

import { redisConnectionFromEnv } from '@cloakroom/service-sessions';

import { AuthEnv } from '../config/auth.env';

/**
 * Auth's one Redis connection (a single node, a cluster or the primary Sentinel names, from
 * REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS): the session store and the failed-login counters share it. Created
 * with the options the session library gives its own clients, closed after everything else
 * on shutdown.
 */
@Injectable()
export class AuthRedis implements OnModuleInit, OnApplicationShutdown {
  readonly client: Redis | Cluster;
  private readonly logger = new Logger('Redis');
  private readonly connectTimeoutMs: number;

  constructor(env: AuthEnv) {
    const storeTimeoutMs = env.SESSION_STORE_TIMEOUT * 1000;
    this.connectTimeoutMs = Math.max(storeTimeoutMs, 2000);
    // No offline queue: when Redis is down a call fails at once (503) instead of piling up.
    const options: RedisOptions = {
      enableOfflineQueue: false,
      commandTimeout: storeTimeoutMs,
      connectTimeout: this.connectTimeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: backOff,
      enableAutoPipelining: true,
    };
    const connection = redisConnectionFromEnv(env);
    this.client =
      'cluster' in connection
        ? new Cluster(connection.cluster, {
            enableOfflineQueue: false,
            enableAutoPipelining: true,
            clusterRetryStrategy: backOff,
            // A node connection that breaks reconnects, failing what it had sent (503) rather
            // than the cluster sending it again: Redis may have run it, and a session script
            // run twice answers as if it found nothing (a rotation "gone": a 401, the session
            // left under a token nobody holds).
            clusterNodeRetryStrategy: backOff,
            redisOptions: { ...options, ...connection.options?.redisOptions },
          })
        : 'sentinels' in connection
          ? new Redis({
              ...options,
              ...connection.options,
              sentinels: connection.sentinels,
              name: connection.name,
            })
          : new Redis(connection.url, options);
    this.reportOutages();
  }

  /** Gives the connection a moment, so that the start-up check and first requests find it. */
  async onModuleInit(): Promise<void> {
    if (this.client.status === 'ready') {
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.connectTimeoutMs);
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  onApplicationShutdown(): void {
    this.client.disconnect();
  }

  /**
   * Without an `error` listener ioredis prints every failed reconnect, stack included; one
   * warning per outage is enough (requests already answer 503 meanwhile).
   */
  private reportOutages(): void {
    let down = false;
    this.client.on('error', (error: Error) => {
      if (!down) {
        down = true;
        this.logger.warn(`Redis connection lost: ${error.message}`);
      }
    });
    this.client.on('ready', () => {
      down = false;
    });
  }
}

/** Reconnect quickly at first, then once a second at most. */
function backOff(attempt: number): number {
  return Math.min(attempt * 100, 1000);
}
