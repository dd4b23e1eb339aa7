import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';

import type { SessionStore } from '../store/session-store.interface';

/** Where the Redis session data lives. A client passed in is never closed by the library. */
export type SessionRedisConnection =
  | { url: string; options?: RedisOptions }
  | { client: Redis | Cluster }
  | { sentinels: Array<{ host: string; port: number }>; name: string; options?: RedisOptions }
  | { cluster: ClusterNode[]; options?: ClusterOptions };

/** Where the remote store reaches the auth service's TCP microservice. */
export interface SessionRemoteConnection {
  host: string;
  port: number;
}

export interface SessionCookieOptions {
  /** Cookie name; `__Host-` is prepended when `secure` is on. Default `cr_session`. */
  name?: string;
  /** Send the cookie over HTTPS only. Default false: an app turns it on for production. */
  secure?: boolean;
  /** Default `lax`. */
  sameSite?: 'lax' | 'strict';
}

/** A cached session may be served up to `ttl` seconds after a revocation it missed. */
export interface SessionLocalCacheOptions {
  /** Seconds an entry is served without asking the store. */
  ttl: number;
  /** Most entries kept; the oldest goes first. Default 10000. */
  max?: number;
}

/**
 * Options every backend shares; durations are in seconds. The timeouts, the cap and the key
 * prefix shape the Redis store the module creates from `redis`; a `remote` store follows the
 * auth service's settings, a `store` instance its own.
 */
export interface SessionCommonOptions {
  /** Idle timeout: a session unused this long dies. Default 1800. */
  idleTimeout?: number;
  /** Absolute timeout: a session dies this long after login, used or not. Default 43200. */
  absoluteTimeout?: number;
  /** Least time between two slides of the idle timeout. Default `idleTimeout / 10`. */
  touchInterval?: number;
  /** Most live sessions per user, 0 for no cap; the oldest is revoked. Default 10. */
  maxSessionsPerUser?: number;
  cookie?: SessionCookieOptions;
  /** Origins allowed to send cookie-authenticated unsafe requests. Default: none. */
  allowedOrigins?: string[];
  /** Prefix of every Redis key. Default `cr:`. */
  keyPrefix?: string;
  /** A store call slower than this fails and the request answers 503. Default 1 (second). */
  storeTimeout?: number;
  /** ioredis auto-pipelining on clients the module creates. Default true. */
  autoPipelining?: boolean;
  /**
   * In-process cache of validated sessions; off by default. Pair it with
   * `SessionCacheInvalidator` so revocations reach it before `ttl` runs out.
   */
  localCache?: SessionLocalCacheOptions;
}

/**
 * Options of `SessionModule.forRoot()`: the common options and exactly one backend —
 * `redis` (read sessions straight from Redis), `remote` (ask the auth service) or `store`
 * (a `SessionStore` instance, e.g. `new InMemorySessionStore()` in tests).
 *
 * @example
 * SessionModule.forRoot({ redis: { url: 'redis://127.0.0.1:6379' }, idleTimeout: 900 })
 * SessionModule.forRoot({ remote: { host: 'auth', port: 4001 } })
 * SessionModule.forRoot({ store: new InMemorySessionStore() })
 */
export type SessionModuleOptions = SessionCommonOptions &
  (
    | { redis: SessionRedisConnection; remote?: never; store?: never }
    | { remote: SessionRemoteConnection; redis?: never; store?: never }
    | { store: SessionStore; redis?: never; remote?: never }
  );
