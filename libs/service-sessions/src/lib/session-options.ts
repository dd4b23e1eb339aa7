import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';

import { ServiceEnv } from '@cloakroom/service-kit';
import { SessionModuleOptions, SessionRedisConnection } from '@cloakroom/session';

import { readPemFiles } from './pem-files';
import { PrometheusSessionMetrics } from './prometheus-session.metrics';
import { SessionRedisEnv, SessionRemoteEnv } from './session.env';

/**
 * `SessionModule` options from the environment: Redis (REDIS_URL, REDIS_CLUSTER_NODES or
 * REDIS_SENTINELS; SESSION_DURABLE_REPLICAS for revocations that wait for replicas) for a
 * {@link SessionRedisEnv}, the auth service's RPC for a {@link SessionRemoteEnv} (its mutual TLS
 * files read here).
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
    allowedOrigins: listOf(env.SESSION_ALLOWED_ORIGINS ?? gatewayOriginsOf(env)),
    storeTimeout: env.SESSION_STORE_TIMEOUT,
    reauthWindow: env.SESSION_REAUTH_WINDOW,
    sockets: {
      checkInterval: env.SESSION_SOCKETS_CHECK_INTERVAL,
      maxPerUser: env.SESSION_SOCKETS_MAX_PER_USER,
      maxStreamsPerUser: env.SESSION_STREAMS_MAX_PER_USER,
    },
    metrics: new PrometheusSessionMetrics(),
  };
  if (isRemote(env)) {
    // Timeouts, the per-user cap and its policy, and key names are the auth service's business.
    // The re-authentication window is this service's own: it guards its own routes.
    const pem = readPemFiles({
      AUTH_RPC_CA: env.AUTH_RPC_CA,
      AUTH_RPC_CLIENT_CERT: env.AUTH_RPC_CLIENT_CERT,
      AUTH_RPC_CLIENT_KEY: env.AUTH_RPC_CLIENT_KEY,
    });
    const tls = {
      ca: pem.AUTH_RPC_CA,
      cert: pem.AUTH_RPC_CLIENT_CERT,
      key: pem.AUTH_RPC_CLIENT_KEY,
    };
    return { ...common, remote: { host: env.AUTH_RPC_HOST, port: env.AUTH_RPC_PORT, tls } };
  }
  return {
    ...common,
    redis: connection ?? redisConnectionFromEnv(env),
    idleTimeout: env.SESSION_IDLE_TIMEOUT,
    absoluteTimeout: env.SESSION_ABSOLUTE_TIMEOUT,
    remember: {
      idleTimeout: env.SESSION_REMEMBER_IDLE_TIMEOUT,
      absoluteTimeout: env.SESSION_REMEMBER_ABSOLUTE_TIMEOUT,
    },
    maxSessionsPerUser: env.SESSION_MAX_PER_USER,
    capPolicy: env.SESSION_CAP_POLICY,
    keyPrefix: env.SESSION_KEY_PREFIX,
    keepUserAgent: env.SESSION_KEEP_USER_AGENT,
    userTagKey: env.SESSION_USER_TAG_KEY,
    ...(env.SESSION_DURABLE_REPLICAS > 0 && {
      durability: { replicas: env.SESSION_DURABLE_REPLICAS, timeout: env.SESSION_DURABLE_TIMEOUT },
    }),
  };
}

/** The origins the gateway serves the page at, as its own settings (PUBLIC_URL, PORT) say. */
function gatewayOriginsOf(env: SessionRedisEnv | SessionRemoteEnv): string {
  if (env.PUBLIC_URL) return new URL(env.PUBLIC_URL).origin;
  return `http://localhost:${env.PORT},http://127.0.0.1:${env.PORT}`;
}

/**
 * Where Redis is, as the environment says, in the shapes `SessionModule` accepts.
 *
 * @example
 * // an app that owns its Redis client builds it from the same shapes, then hands it over
 * const connection: RedisConnectionFromEnv = redisConnectionFromEnv(env);
 * if ('url' in connection) client = new Redis(connection.url, { enableOfflineQueue: false });
 */
export type RedisConnectionFromEnv =
  | { url: string }
  | { cluster: ClusterNode[]; options?: ClusterOptions }
  | { sentinels: Array<{ host: string; port: number }>; name: string; options: RedisOptions };

/**
 * The Redis the environment names: a cluster when REDIS_CLUSTER_NODES is set (its nodes reached
 * with REDIS_URL's user, password and TLS), the primary the Sentinels name when REDIS_SENTINELS
 * is, else REDIS_URL.
 *
 * @example
 * redisConnectionFromEnv(env); // { cluster: [{ host: 'r1', port: 7000 }] } or { url }
 * // REDIS_SENTINELS=s1:26379,s2:26379 REDIS_SENTINEL_NAME=cloakroom
 * // → { sentinels: [{ host: 's1', port: 26379 }, ...], name: 'cloakroom', options: {} }
 */
export function redisConnectionFromEnv(env: SessionRedisEnv): RedisConnectionFromEnv {
  if (env.REDIS_CLUSTER_NODES) {
    const cluster = clusterNodesOf(env.REDIS_CLUSTER_NODES);
    const node = nodeOptionsOf(env.REDIS_URL);
    return Object.keys(node).length > 0
      ? { cluster, options: { redisOptions: node } }
      : { cluster };
  }
  if (env.REDIS_SENTINELS) {
    const options: RedisOptions = {};
    if (env.REDIS_SENTINEL_PASSWORD) options.sentinelPassword = env.REDIS_SENTINEL_PASSWORD;
    if (env.REDIS_PRIMARY_PASSWORD) options.password = env.REDIS_PRIMARY_PASSWORD;
    return {
      sentinels: clusterNodesOf(env.REDIS_SENTINELS),
      name: env.REDIS_SENTINEL_NAME,
      options,
    };
  }
  return { url: env.REDIS_URL };
}

/**
 * What a cluster's nodes take from REDIS_URL, which names no node then: its user and password
 * (each service's own ACL user, as on a single node) and TLS for `rediss://`.
 */
function nodeOptionsOf(url: string): RedisOptions {
  const { protocol, username, password } = new URL(url);
  return {
    ...(username && { username: decodeURIComponent(username) }),
    ...(password && { password: decodeURIComponent(password) }),
    ...(protocol === 'rediss:' && { tls: {} }),
  };
}

/**
 * `host:port,host:port` as ioredis cluster nodes (or Sentinel addresses).
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
  if (env.REDIS_SENTINELS) {
    return `primary "${env.REDIS_SENTINEL_NAME}" of sentinels ${env.REDIS_SENTINELS}`;
  }
  const url = new URL(env.REDIS_URL);
  url.username = '';
  url.password = '';
  return url.toString();
}

/**
 * Whether the environment is that of a service that asks the auth service for sessions.
 *
 * @example
 * if (isRemote(env)) logger.warn(`auth unreachable at ${env.AUTH_RPC_HOST}:${env.AUTH_RPC_PORT}`);
 */
export function isRemote(env: ServiceEnv): env is SessionRemoteEnv {
  return 'AUTH_RPC_HOST' in env;
}

function listOf(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
