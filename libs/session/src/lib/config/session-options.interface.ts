import type { KeyObject } from 'node:crypto';
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';

import type { SessionMetrics } from '../metrics/session-metrics.interface';
import type { SessionStore } from '../store/session-store.interface';

/**
 * Where the Redis session data lives: exactly one of these shapes (`redis: {}`, a `url` left
 * undefined or ioredis' `{ host, port }` are refused at start-up, not taken for localhost). A
 * client passed in is never closed by the library.
 *
 * No ioredis `keyPrefix` (in `options`, a Cluster's `redisOptions`, the URL or a given client):
 * ioredis would prefix only the keys a script is given, while the scripts build the other key
 * names themselves, and revoke-all, role changes and the per-user cap would miss every session.
 * Set `keyPrefix` on `SessionModule` instead; a client with one is refused at start-up.
 *
 * @example
 * redis: { url: 'rediss://orders:secret@redis.internal:6380' }
 * redis: { client: appRedis }
 * redis: { sentinels: [{ host: 'sentinel-1', port: 26379 }], name: 'cloakroom' }
 * redis: { cluster: [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7000 }] }
 */
export type SessionRedisConnection =
  | { url: string; options?: RedisOptions }
  | { client: Redis | Cluster }
  | { sentinels: Array<{ host: string; port: number }>; name: string; options?: RedisOptions }
  | { cluster: ClusterNode[]; options?: ClusterOptions };

/**
 * Where the remote store reaches the auth service's session RPC, and the mutual TLS it speaks:
 * the service's own certificate (its common name is the identity auth's capability table
 * knows) and the CA that signed auth's certificate. There is no plaintext mode: tokens cross
 * this connection.
 *
 * @example
 * SessionModule.forRoot({ remote: { host: env.AUTH_RPC_HOST, port: env.AUTH_RPC_PORT, tls } })
 */
export interface SessionRemoteConnection {
  host: string;
  port: number;
  tls: SessionRemoteTls;
  /**
   * Send the validations asked within one turn of the event loop as one message (at most 16
   * tokens, each once). Default true; false sends one message per validation.
   */
  batchValidations?: boolean;
}

/**
 * PEM contents (not paths), as `node:tls` takes them.
 *
 * @example
 * const tls: SessionRemoteTls = {
 *   ca: readFileSync('.data/certs/ca.crt'),
 *   cert: readFileSync('.data/certs/catalog.crt'),
 *   key: readFileSync('.data/certs/catalog.key'),
 * };
 */
export interface SessionRemoteTls {
  /** The CA that signed auth's server certificate. */
  ca: string | Buffer;
  /** This service's client certificate and its key. */
  cert: string | Buffer;
  key: string | Buffer;
  /** The name auth's certificate must carry, when it is not `host`. */
  servername?: string;
}

/**
 * The session cookie's name and attributes; it is always `HttpOnly` and `Path=/`.
 *
 * @example
 * SessionModule.forRoot({ redis, cookie: { secure: env.NODE_ENV === 'production' } })
 */
export interface SessionCookieOptions {
  /**
   * Cookie name, an HTTP token (letters, digits and ``!#$%&'*+-.^_`|~``); `__Host-` is
   * prepended when `secure` is on. Default `cr_session`.
   */
  name?: string;
  /** Send the cookie over HTTPS only: a boolean. Default false: apps turn it on in production. */
  secure?: boolean;
  /** `lax` or `strict` (`none` is refused). Default `lax`. */
  sameSite?: 'lax' | 'strict';
}

/**
 * Revocations that a Redis failover cannot undo: after every write that removes or reduces
 * access, the store sends `WAIT replicas timeout` to the node that ran it, and answers
 * `SessionStoreUnavailableError` (503) when fewer replicas acknowledge in time.
 *
 * @example
 * SessionModule.forRoot({ redis, durability: { replicas: 1, timeout: 0.25 } })
 */
export interface SessionDurabilityOptions {
  /** Replicas that must hold a revocation before it answers success; at least 1. */
  replicas: number;
  /** Seconds to wait for them; must be shorter than `storeTimeout`. Default 0.5. */
  timeout?: number;
}

/**
 * A cached session is forgotten as soon as the lifecycle event of its revocation arrives (the
 * library follows the event stream itself); `ttl` bounds how long it may be served when that
 * event cannot arrive.
 *
 * @example
 * SessionModule.forRoot({ redis, localCache: { ttl: 5, max: 50_000 } })
 */
export interface SessionLocalCacheOptions {
  /** Seconds an entry is served without asking the store; at most 60 (a larger value is capped). */
  ttl: number;
  /** Most entries kept; the oldest goes first. Default 10000. */
  max?: number;
}

/**
 * The session lifecycle event stream.
 *
 * @example
 * // a consumer stopped for longer still finds its last event in the stream
 * SessionModule.forRoot({ redis, events: { maxLength: 100_000 } })
 */
export interface SessionEventsOptions {
  /** Entries the stream keeps, roughly (`XADD MAXLEN ~`). Default 10000. */
  maxLength?: number;
}

/**
 * Lifetimes of sessions created with `persistent: true` ("remember me"), in seconds. Each
 * session keeps the timeouts it was created with, whichever service validates it.
 *
 * @example
 * SessionModule.forRoot({ redis, remember: { idleTimeout: 14 * 86_400 } })
 * await sessions.create(user, meta, { persistent: body.rememberMe });
 */
export interface SessionRememberOptions {
  /** Idle timeout of a remembered session. Default 604800 (7 days). */
  idleTimeout?: number;
  /** Absolute timeout of a remembered session. Default 2592000 (30 days). */
  absoluteTimeout?: number;
}

/**
 * What creating a session does when its user already holds `maxSessionsPerUser` live ones:
 * `evict-oldest` revokes the oldest, `evict-idlest` the least recently used, `refuse` writes
 * nothing and `SessionService.create` throws `SessionLimitReachedError` listing them.
 *
 * @example
 * SessionModule.forRoot({ redis, maxSessionsPerUser: 3, capPolicy: 'refuse' })
 */
export type SessionCapPolicy = 'evict-oldest' | 'evict-idlest' | 'refuse';

/**
 * Options every backend shares; durations are in seconds. The timeouts, the cap and the key
 * prefix shape the Redis store the module creates from `redis`; a `remote` store follows the
 * auth service's settings, a `store` instance its own. With `remote` or `store`, these
 * store-shaping options are refused at start-up rather than ignored: `idleTimeout`,
 * `absoluteTimeout`, `maxSessionsPerUser`, `capPolicy`, `remember`, `keepUserAgent`,
 * `userTagKey`, `autoPipelining`, `coalesceWrites`, `durability`, `touchInterval` (unless
 * `localCache`, which reads it, is on) and `keyPrefix` (unless the store is a
 * `RedisSessionStore`, whose events the module publishes and follows under it).
 *
 * @example
 * SessionModule.forRoot({
 *   redis,
 *   idleTimeout: 900,
 *   absoluteTimeout: 8 * 3600,
 *   allowedOrigins: ['https://shop.example'],
 * })
 */
export interface SessionCommonOptions {
  /** Idle timeout: a session unused this long dies. Default 1800. */
  idleTimeout?: number;
  /** Absolute timeout: a session dies this long after login, used or not. Default 43200. */
  absoluteTimeout?: number;
  /**
   * Least time between two slides of the idle timeout. Default `idleTimeout / 10`, which is
   * also its ceiling: a larger value acts as a tenth of each session's own idle timeout (a
   * remembered session's is longer), so that a session in use slides well before it dies.
   */
  touchInterval?: number;
  /**
   * Most live sessions per user, an integer, 0 for no cap; over it, `capPolicy` applies.
   * Default 10.
   */
  maxSessionsPerUser?: number;
  /** What a login over `maxSessionsPerUser` does. Default `evict-oldest`. */
  capPolicy?: SessionCapPolicy;
  /** Timeouts of sessions created with `persistent: true`. */
  remember?: SessionRememberOptions;
  /**
   * Seconds a login (or a rotation with `reauthenticated`) counts as recent for
   * `@RequireRecentAuth()` routes without a window of their own; more than 0. Default 600.
   */
  reauthWindow?: number;
  cookie?: SessionCookieOptions;
  /**
   * Origins allowed to send cookie-authenticated unsafe requests, each exactly as browsers send
   * `Origin`: `https://shop.example`, no path, no trailing slash, no default port. Default: none.
   */
  allowedOrigins?: string[];
  /** Prefix of every Redis key. Default `cr:`. */
  keyPrefix?: string;
  /**
   * Keep the client's raw `User-Agent` string with each session (`SessionMeta.userAgent`).
   * Default false: only the short `device` label the app computed is kept. A desktop browser's
   * user agent is over 100 bytes and would be the biggest part of a session in Redis.
   */
  keepUserAgent?: boolean;
  /**
   * The key users' hash-slot tags derive from (32 random bytes, base64url: 43 characters), for
   * the services that create sessions. Without it the first store makes one and keeps it in
   * Redis (`<prefix>user-tag-key`), and a store writes back the key it read if Redis loses it;
   * but were Redis to lose it while no process that read it runs (every one restarting), a new
   * key would be made and revoke-all and role changes would miss the sessions made before.
   * Configured, the key is known from the start: written to Redis when missing, whatever
   * restarted. Give the key Redis holds (`GET <prefix>user-tag-key`) on a running deployment;
   * a different one is logged as an error and protects nothing.
   */
  userTagKey?: string;
  /**
   * A store call slower than this fails and the request answers 503; more than 0. Default 1
   * (second).
   */
  storeTimeout?: number;
  /**
   * ioredis auto-pipelining on clients the module creates. Default false: in the bench, a
   * guarded request cost less CPU without it, at saturation and at a fixed rate, on both
   * adapters (see apps/bench/README.md).
   */
  autoPipelining?: boolean;
  /**
   * Redis store: the validations of requests handled in the same event-loop turn leave in one
   * socket write per connection (`WriteCoalescer`) instead of one each. Default true; off with
   * `autoPipelining` (which batches on its own).
   */
  coalesceWrites?: boolean;
  /**
   * Redis store only: wait for replicas after revocations, role changes and rotations, and
   * answer 503 when they do not confirm. Off by default (a revocation is then acknowledged by
   * the primary alone, and a failover can lose it).
   */
  durability?: SessionDurabilityOptions;
  /**
   * In-process cache of validated sessions; off by default. With a Redis backend the module
   * follows the session event stream and forgets revoked sessions within milliseconds.
   */
  localCache?: SessionLocalCacheOptions;
  /**
   * Session lifecycle events appended to the Redis stream `<keyPrefix>events` (Redis backend;
   * on by default); `false` turns publishing off (a local cache still follows the stream).
   */
  events?: SessionEventsOptions | false;
  /** WebSocket connections that `SessionSockets` authenticated. */
  sockets?: SessionSocketsOptions;
  /** Signing and accepting session assertions in microservice messages; off by default. */
  assertions?: SessionAssertionOptions;
  /**
   * Where guard outcomes, store call latencies and cache hits and invalidations are reported
   * (store calls are also OpenTelemetry spans); none by default.
   */
  metrics?: SessionMetrics;
}

/**
 * A public key a service accepts session assertions under, bound to the one service that
 * holds its private key.
 *
 * @example
 * { kid: 'orders-2026-12', issuer: 'orders', publicKey: readFileSync('orders.pub.pem') }
 */
export interface SessionAssertionKey {
  /** The key's id, as the signer names it (`signingKey.kid`). */
  kid: string;
  /** The service that signs with it: an assertion under this key from anyone else is refused. */
  issuer: string;
  /** Ed25519 public key: PEM, DER `Buffer` or `KeyObject`. */
  publicKey: string | Buffer | KeyObject;
}

/**
 * Session assertions (`SessionAssertions`): how a service tells another, in a microservice
 * message, which live session it acts for — signed, short-lived, for one audience, never the
 * user's token. Keys are Ed25519, one pair per signing service. To rotate: add the new public
 * key to every receiver's `trustedKeys`, then sign with it, then remove the old one once `ttl`
 * has passed.
 *
 * @example
 * SessionModule.forRoot({
 *   redis,
 *   assertions: { service: 'orders', signingKey: { kid: 'orders-1', privateKey: pem } },
 * })
 */
export interface SessionAssertionOptions {
  /** This service's name: the issuer of what it signs and the only audience it accepts. */
  service: string;
  /** What it signs with: an Ed25519 private key (PEM, DER `Buffer` or `KeyObject`) and its id. */
  signingKey?: { kid: string; privateKey: string | Buffer | KeyObject };
  /** The keys whose assertions it accepts; none: it accepts no message on a user's behalf. */
  trustedKeys?: readonly SessionAssertionKey[];
  /** Seconds an assertion it signs lives; default 30, at most 60 (receivers refuse longer). */
  ttl?: number;
  /** Seconds of clock difference between services that receivers tolerate; default 5. */
  clockSkew?: number;
  /**
   * Whether a message must come over a connection that names its sender (a verified client
   * certificate: mutual TLS, as `sessionRpcTransport` serves). Whatever this says, a message
   * whose connection names its sender is accepted only from its assertion's issuer: a service
   * that captured another's assertion cannot send it as its own. True also refuses messages
   * whose transport names no sender (plain TCP), which could come from anyone; default false.
   */
  requirePeer?: boolean;
}

/**
 * Options of the WebSocket support (`SessionSockets`).
 *
 * @example
 * SessionModule.forRoot({ redis, sockets: { checkInterval: 15 } })
 */
export interface SessionSocketsOptions {
  /**
   * Seconds between two checks of every open socket's session against the store: the bound
   * when a revocation's event cannot arrive (a gap in the stream, the `remote` backend, a
   * store changed behind `SessionService`). Default 30.
   */
  checkInterval?: number;
  /**
   * WebSockets one user may hold open at once in this service (tabs and devices, with room to
   * spare); an authenticated handshake past it is closed with 1008
   * (`SessionSocketClose.tooMany`). Whatever a service pushes to a user goes to each of their
   * sockets: without a bound, one account opening thousands of them multiplies it in the
   * service's memory. Held event streams (`@Sse()`) do not count. Default 32.
   */
  maxPerUser?: number;
  /**
   * Server-sent event streams (`@Sse()` routes) one user may hold open at once in this
   * service; a request past it is answered 429 before the route runs. Each is a connection, a
   * held response and whatever the route's observable keeps: without a bound, one account could
   * open them by the thousand. Default 32.
   */
  maxStreamsPerUser?: number;
}

/**
 * Options of `SessionModule.forRoot()`: the common options and exactly one backend —
 * `redis` (read sessions straight from Redis), `remote` (ask the auth service) or `store`
 * (a `SessionStore` instance, e.g. `new InMemorySessionStore()` in tests).
 *
 * @example
 * SessionModule.forRoot({ redis: { url: 'redis://127.0.0.1:6379' }, idleTimeout: 900 })
 * // ca, cert, key: PEM contents, e.g. readFileSync('certs/ca.crt')
 * SessionModule.forRoot({ remote: { host: 'auth', port: 4001, tls: { ca, cert, key } } })
 * SessionModule.forRoot({ store: new InMemorySessionStore() })
 */
export type SessionModuleOptions = SessionCommonOptions &
  (
    | { redis: SessionRedisConnection; remote?: never; store?: never }
    | { remote: SessionRemoteConnection; redis?: never; store?: never }
    | { store: SessionStore; redis?: never; remote?: never }
  );
