import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';

/** The user a session belongs to, as the auth service knows them. */
export interface SessionUser {
  id: string;
  username: string;
  roles: string[];
}

/** Facts about the client recorded when a session is created. */
export interface SessionMeta {
  ip?: string;
  userAgent?: string;
  /** Initial app attributes, JSON-serialisable. */
  attributes?: Record<string, unknown>;
}

/** A live session, as validated or listed. Times are epoch milliseconds (Redis clock). */
export interface Session {
  /** Public identifier: safe to show and to log, useless as a credential. */
  id: string;
  userId: string;
  username: string;
  roles: string[];
  createdAt: number;
  lastSeenAt: number;
  /** When the session dies unless used again: the sooner of the idle and absolute limits. */
  expiresAt: number;
  /** When the session dies whatever happens. */
  absoluteExpiresAt: number;
  ip?: string;
  userAgent?: string;
  attributes: Record<string, unknown>;
}

/** A session just issued, with the only copy of its token. */
export interface IssuedSession {
  token: string;
  session: Session;
  /** Sessions of the same user revoked because the per-user cap was reached. */
  evicted: string[];
}

/** Where the Redis session data lives. */
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
  /** Default: on when `NODE_ENV` is `production`. */
  secure?: boolean;
  /** Default `lax`. */
  sameSite?: 'lax' | 'strict';
}

/** Options of `SessionModule.forRoot()`; durations are in seconds. */
export interface SessionModuleOptions {
  /** `redis` (default) reads sessions straight from Redis; `remote` asks the auth service. */
  mode?: 'redis' | 'remote';
  /** Required in `redis` mode. */
  redis?: SessionRedisConnection;
  /** Required in `remote` mode. */
  remote?: SessionRemoteConnection;
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

/** A cached session may be served up to `ttl` seconds after a revocation it missed. */
export interface SessionLocalCacheOptions {
  /** Seconds an entry is served without asking the store. */
  ttl: number;
  /** Most entries kept; the oldest goes first. Default 10000. */
  max?: number;
}

/** The options with every default applied and durations in milliseconds. */
export interface SessionConfig {
  mode: 'redis' | 'remote';
  redis?: SessionRedisConnection;
  remote?: SessionRemoteConnection;
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
  touchIntervalMs: number;
  maxSessionsPerUser: number;
  cookie: Required<SessionCookieOptions>;
  allowedOrigins: ReadonlySet<string>;
  keyPrefix: string;
  storeTimeoutMs: number;
  autoPipelining: boolean;
}
