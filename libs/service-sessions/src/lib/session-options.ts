import type { ClusterNode } from 'ioredis';

import { ServiceEnv } from '@cloakroom/service-kit';
import { SessionModuleOptions, SessionRedisConnection } from '@cloakroom/session';

import { SessionRedisEnv, SessionRemoteEnv } from './session.env';

/**
 * `SessionModule` options from the environment: Redis (REDIS_URL, or REDIS_CLUSTER_NODES)
 * for a {@link SessionRedisEnv}, the auth service's RPC for a {@link SessionRemoteEnv}.
 *
 * @param connection the Redis connection to use instead of one made from the environment,
 *   for an app that owns its client (`{ client }`).
 * @example
 * SessionModule.forRootAsync({ inject: [OrdersEnv], useFactory: sessionOptionsFromEnv });
 */
export function sessionOptionsFromEnv(
  env: SessionRedisEnv | SessionRemoteEnv,
  connection?: SessionRedisConnection,
): SessionModuleOptions {
  const common = {
    cookie: { secure: env.SESSION_COOKIE_SECURE ?? env.NODE_ENV === 'production' },
    allowedOrigins: listOf(env.SESSION_ALLOWED_ORIGINS),
    storeTimeout: env.SESSION_STORE_TIMEOUT,
  };
  if (isRemote(env)) {
    // Timeouts, the per-user cap and key names are the auth service's business.
    return { ...common, remote: { host: env.AUTH_RPC_HOST, port: env.AUTH_RPC_PORT } };
  }
  return {
    ...common,
    redis: connection ?? redisConnectionFromEnv(env),
    idleTimeout: env.SESSION_IDLE_TIMEOUT,
    absoluteTimeout: env.SESSION_ABSOLUTE_TIMEOUT,
    maxSessionsPerUser: env.SESSION_MAX_PER_USER,
    keyPrefix: env.SESSION_KEY_PREFIX,
  };
}

/**
 * The Redis the environment names: a cluster when REDIS_CLUSTER_NODES is set, else REDIS_URL.
 *
 * @example
 * redisConnectionFromEnv(env); // { cluster: [{ host: 'r1', port: 7000 }] } or { url }
 */
export function redisConnectionFromEnv(
  env: SessionRedisEnv,
): { url: string } | { cluster: ClusterNode[] } {
  if (env.REDIS_CLUSTER_NODES) {
    return { cluster: clusterNodesOf(env.REDIS_CLUSTER_NODES) };
  }
  return { url: env.REDIS_URL };
}

/**
 * `host:port,host:port` as ioredis cluster nodes.
 *
 * @example
 * clusterNodesOf('r1:7000,r2:7001'); // [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }]
 */
export function clusterNodesOf(value: string): Array<{ host: string; port: number }> {
  return listOf(value).map((node) => {
    const separator = node.lastIndexOf(':');
    return { host: node.slice(0, separator), port: Number(node.slice(separator + 1)) };
  });
}

/**
 * Where Redis is expected, for people reading a log or a failure line: never a password.
 *
 * @example
 * redisLocation(env); // 'redis://cache:6380/2' for REDIS_URL=redis://u:secret@cache:6380/2
 */
export function redisLocation(env: SessionRedisEnv): string {
  if (env.REDIS_CLUSTER_NODES) {
    return `cluster ${env.REDIS_CLUSTER_NODES}`;
  }
  const url = new URL(env.REDIS_URL);
  url.username = '';
  url.password = '';
  return url.toString();
}

/** Whether the environment is that of a service that asks the auth service for sessions. */
export function isRemote(env: ServiceEnv): env is SessionRemoteEnv {
  return 'AUTH_RPC_HOST' in env;
}

function listOf(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
