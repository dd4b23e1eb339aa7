import {
  resolveAssertionSettings,
  SessionAssertionSettings,
} from '../assertion/session-assertion.settings';
import { DEFAULT_COOKIE_NAME } from '../session.constants';
import type { SessionStore } from '../store/session-store.interface';
import { isUserTagKey } from '../token/session.token';
import { refuseUnknownOptions } from './option-names';
import { checkRedisConnection } from './redis-connection';
import type {
  SessionCapPolicy,
  SessionCommonOptions,
  SessionCookieOptions,
  SessionModuleOptions,
  SessionRedisConnection,
  SessionRemoteConnection,
  SessionSocketsOptions,
} from './session-options.interface';
import { refuseUnusedStoreOptions } from './store-shaping-options';

/** Where sessions live, as chosen by the options: exactly one backend. */
export type SessionBackend =
  | { kind: 'redis'; connection: SessionRedisConnection }
  | { kind: 'remote'; connection: SessionRemoteConnection }
  | { kind: 'store'; store: SessionStore };

/** What a store the library builds needs from the options; durations in milliseconds. */
export interface SessionStoreSettings {
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
  touchIntervalMs: number;
  /** Timeouts of sessions created with `persistent: true`. */
  rememberIdleTimeoutMs: number;
  rememberAbsoluteTimeoutMs: number;
  maxSessionsPerUser: number;
  capPolicy: SessionCapPolicy;
  keyPrefix: string;
  /** Whether a new session keeps the raw user agent, or only its `device` label. */
  keepUserAgent: boolean;
  /** The configured user-tag key; null: the one Redis holds, made by the first store. */
  userTagKey: string | null;
  storeTimeoutMs: number;
  autoPipelining: boolean;
  coalesceWrites: boolean;
  /** Null when revocations do not wait for replicas. */
  durability: { replicas: number; timeoutMs: number } | null;
}

/** The options with every default applied; durations in milliseconds. */
export interface SessionConfig extends SessionStoreSettings {
  backend: SessionBackend;
  cookie: { name: string; secure: boolean; sameSite: 'lax' | 'strict' };
  allowedOrigins: ReadonlySet<string>;
  /** Default window of `@RequireRecentAuth()`. */
  reauthWindowMs: number;
  /** Null when the local cache is off. */
  localCache: { ttlMs: number; max: number } | null;
  /** Null when publishing lifecycle events is off. */
  events: { maxLength: number } | null;
  /** `SessionSockets`: how often every open socket's session is checked again. */
  sockets: { checkIntervalMs: number; maxPerUser: number; maxStreamsPerUser: number };
  /** `SessionAssertions`: its keys parsed; `service` null when assertions are off. */
  assertions: SessionAssertionSettings;
}

const DEFAULT_IDLE_TIMEOUT = 1800;
const DEFAULT_ABSOLUTE_TIMEOUT = 43200;
const DEFAULT_REMEMBER_IDLE_TIMEOUT = 604800;
const DEFAULT_REMEMBER_ABSOLUTE_TIMEOUT = 2592000;
const DEFAULT_REAUTH_WINDOW = 600;
const DEFAULT_SOCKET_CHECK_INTERVAL = 30;
const DEFAULT_SOCKETS_PER_USER = 32;
const CAP_POLICIES: readonly SessionCapPolicy[] = ['evict-oldest', 'evict-idlest', 'refuse'];
const SAME_SITE: readonly unknown[] = ['lax', 'strict'];
/** RFC 6265's cookie-name: an HTTP token. `cookie.serialize` throws on anything else. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Applies defaults and checks the options once, at start-up, never per request. Options are
 * in seconds; the result is in milliseconds.
 */
export function resolveSessionConfig(options: SessionModuleOptions): SessionConfig {
  refuseUnknownOptions(options);
  const backend = backendOf(options);
  refuseUnusedStoreOptions(options, backend);
  return {
    backend,
    ...resolveStoreSettings(options),
    cookie: cookieOf(options.cookie),
    allowedOrigins: allowedOriginsOf(options.allowedOrigins),
    // A window of 0 would answer 401 on every @RequireRecentAuth() route, as the decorator's
    // own 0 would, which it refuses.
    reauthWindowMs: positiveMilliseconds(
      'reauthWindow',
      options.reauthWindow ?? DEFAULT_REAUTH_WINDOW,
    ),
    localCache: localCacheOf(options),
    events: eventsOf(options),
    sockets: socketsOf(options.sockets),
    assertions: resolveAssertionSettings(options.assertions),
  };
}

/** The store settings alone, for stores built outside the module (`InMemorySessionStore`). */
export function resolveStoreSettings(options: SessionCommonOptions): SessionStoreSettings {
  const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
  const idleTimeoutMs = milliseconds('idleTimeout', idleTimeout);
  const absoluteTimeoutMs = milliseconds(
    'absoluteTimeout',
    options.absoluteTimeout ?? DEFAULT_ABSOLUTE_TIMEOUT,
  );
  const rememberIdleTimeoutMs = milliseconds(
    'remember.idleTimeout',
    options.remember?.idleTimeout ?? DEFAULT_REMEMBER_IDLE_TIMEOUT,
  );
  const rememberAbsoluteTimeoutMs = milliseconds(
    'remember.absoluteTimeout',
    options.remember?.absoluteTimeout ?? DEFAULT_REMEMBER_ABSOLUTE_TIMEOUT,
  );
  if (
    idleTimeoutMs === 0 ||
    absoluteTimeoutMs === 0 ||
    rememberIdleTimeoutMs === 0 ||
    rememberAbsoluteTimeoutMs === 0
  ) {
    throw new Error('SessionModule: idle and absolute timeouts must be positive');
  }
  const capPolicy = options.capPolicy ?? 'evict-oldest';
  if (!CAP_POLICIES.includes(capPolicy)) {
    throw new Error(`SessionModule: capPolicy must be one of ${CAP_POLICIES.join(', ')}`);
  }
  const maxSessionsPerUser = options.maxSessionsPerUser ?? 10;
  // NaN (a number read from an unset variable) would fail every login in the script; a
  // negative one would mean no cap, which is 0's meaning.
  if (!Number.isInteger(maxSessionsPerUser) || maxSessionsPerUser < 0) {
    throw new Error('SessionModule: maxSessionsPerUser must be a non-negative integer (0: no cap)');
  }
  // ioredis takes a commandTimeout of 0 as a 0 ms timer: every call would time out.
  const storeTimeoutMs = positiveMilliseconds('storeTimeout', options.storeTimeout ?? 1);
  return {
    idleTimeoutMs,
    absoluteTimeoutMs,
    touchIntervalMs: milliseconds('touchInterval', options.touchInterval ?? idleTimeout / 10),
    rememberIdleTimeoutMs,
    rememberAbsoluteTimeoutMs,
    maxSessionsPerUser,
    capPolicy,
    keyPrefix: keyPrefixOf(options),
    keepUserAgent: options.keepUserAgent ?? false,
    userTagKey: userTagKeyOf(options),
    storeTimeoutMs,
    autoPipelining: options.autoPipelining ?? false,
    coalesceWrites: options.coalesceWrites ?? true,
    durability: durabilityOf(options, storeTimeoutMs),
  };
}

/**
 * Redis Cluster hashes the first `{…}` of a key name: a brace in the prefix would take that
 * place from the user's `{tag}`, putting a user's session and index in different slots (every
 * script refused with CROSSSLOT) or every user in one slot.
 */
function keyPrefixOf(options: SessionCommonOptions): string {
  const keyPrefix: unknown = options.keyPrefix ?? 'cr:';
  if (typeof keyPrefix !== 'string' || /[{}]/.test(keyPrefix)) {
    throw new Error(
      "SessionModule: keyPrefix must not hold { or }: a user's {tag} names the hash slot of their keys",
    );
  }
  return keyPrefix;
}

function userTagKeyOf(options: SessionCommonOptions): string | null {
  if (options.userTagKey === undefined) {
    return null;
  }
  if (!isUserTagKey(options.userTagKey)) {
    // The value is a secret: not repeated here.
    throw new Error(
      'SessionModule: userTagKey must be 32 random bytes in base64url (43 characters of A-Z, a-z, 0-9, - and _)',
    );
  }
  return options.userTagKey;
}

function milliseconds(name: string, seconds: number): number {
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`SessionModule: ${name} must be a non-negative number of seconds`);
  }
  return Math.round(seconds * 1000);
}

/** The same, for a duration that must last at least a millisecond once rounded. */
function positiveMilliseconds(name: string, seconds: number): number {
  const ms = Number.isFinite(seconds) ? Math.round(seconds * 1000) : Number.NaN;
  if (!(ms > 0)) {
    throw new Error(`SessionModule: ${name} must be a positive number of seconds`);
  }
  return ms;
}

/**
 * The cookie settings, checked here: the cookie library would throw on a bad name or SameSite
 * only when a cookie is written (a 500 on every login), and any non-empty string, 'false'
 * included, would turn `Secure` on.
 */
function cookieOf(cookie: SessionCookieOptions = {}): SessionConfig['cookie'] {
  const { name = DEFAULT_COOKIE_NAME, secure = false, sameSite = 'lax' } = cookie;
  if (typeof secure !== 'boolean') {
    throw new Error(`SessionModule: cookie.secure must be a boolean, not a ${typeof secure}`);
  }
  // 'none' is not offered: it would send the cookie on cross-site requests.
  if (!SAME_SITE.includes(sameSite)) {
    throw new Error(
      `SessionModule: cookie.sameSite must be 'lax' or 'strict', not ${JSON.stringify(sameSite)}`,
    );
  }
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw new Error(
      `SessionModule: cookie.name must be a cookie token (letters, digits and !#$%&'*+-.^_\`|~), not ${JSON.stringify(name)}`,
    );
  }
  // Browsers drop a cookie of such a name without `Secure`, without a word (and match the
  // prefixes in any case): every login would answer a cookie that is never sent back.
  if (!secure && /^__(host|secure)-/i.test(name)) {
    throw new Error(
      `SessionModule: cookie.name ${JSON.stringify(name)} has a prefix browsers accept only on a Secure cookie: set cookie.secure, or drop the prefix`,
    );
  }
  return {
    // The __Host- prefix pins the cookie to this exact origin, but browsers accept it only on
    // Secure cookies.
    name: secure && !name.startsWith('__Host-') ? `__Host-${name}` : name,
    secure,
    sameSite,
  };
}

/**
 * Allowed origins, each exactly as a browser sends `Origin` (`scheme://host[:port]`, no path,
 * no default port): anything else would never match, and a string would be taken as the set
 * of its characters.
 */
function allowedOriginsOf(origins: unknown = []): ReadonlySet<string> {
  if (!Array.isArray(origins)) {
    throw new Error(
      'SessionModule: allowedOrigins must be an array of origins' +
        (typeof origins === 'string' ? ` (did you mean ${JSON.stringify([origins])}?)` : ''),
    );
  }
  for (const origin of origins) {
    const exact = originOf(origin);
    if (exact !== origin) {
      throw new Error(
        `SessionModule: allowedOrigins entry ${JSON.stringify(origin)} is not an origin ` +
          (exact ? `(did you mean ${JSON.stringify(exact)}?)` : '(scheme://host[:port])'),
      );
    }
  }
  return new Set(origins as string[]);
}

function originOf(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    const { origin } = new URL(value);
    return origin === 'null' ? null : origin;
  } catch {
    return null;
  }
}

function durabilityOf(
  options: SessionCommonOptions,
  storeTimeoutMs: number,
): SessionStoreSettings['durability'] {
  if (!options.durability) {
    return null;
  }
  const { replicas, timeout = 0.5 } = options.durability;
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new Error('SessionModule: durability.replicas must be a positive integer');
  }
  const timeoutMs = milliseconds('durability.timeout', timeout);
  // WAIT 0 would block forever; a WAIT longer than the store timeout would be cut by it.
  if (timeoutMs === 0 || timeoutMs >= storeTimeoutMs) {
    throw new Error(
      'SessionModule: durability.timeout must be positive and shorter than storeTimeout',
    );
  }
  return { replicas, timeoutMs };
}

function backendOf(options: SessionModuleOptions): SessionBackend {
  // The options type allows exactly one; plain JavaScript and forRootAsync factories can
  // still pass none or several.
  const given = [options.redis, options.remote, options.store].filter(Boolean).length;
  if (given !== 1) {
    throw new Error('SessionModule: give exactly one of `redis`, `remote` or `store`');
  }
  if (options.redis) return { kind: 'redis', connection: checkRedisConnection(options.redis) };
  if (options.remote) return { kind: 'remote', connection: options.remote };
  return { kind: 'store', store: options.store as SessionStore };
}

function localCacheOf(options: SessionCommonOptions): SessionConfig['localCache'] {
  if (!options.localCache) {
    return null;
  }
  const { ttl, max = 10_000 } = options.localCache;
  if (!Number.isFinite(ttl) || ttl <= 0) {
    throw new Error('SessionModule: localCache.ttl must be a positive number of seconds');
  }
  if (!Number.isInteger(max) || max < 1) {
    throw new Error('SessionModule: localCache.max must be a positive integer');
  }
  return { ttlMs: Math.round(ttl * 1000), max };
}

function eventsOf(options: SessionCommonOptions): SessionConfig['events'] {
  if (options.events === false) {
    return null;
  }
  const maxLength = options.events?.maxLength ?? 10_000;
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw new Error('SessionModule: events.maxLength must be a positive integer');
  }
  return { maxLength };
}

function socketsOf(options: SessionSocketsOptions = {}): SessionConfig['sockets'] {
  const checkIntervalMs = milliseconds(
    'sockets.checkInterval',
    options.checkInterval ?? DEFAULT_SOCKET_CHECK_INTERVAL,
  );
  if (checkIntervalMs < 100) {
    throw new Error('SessionModule: sockets.checkInterval must be at least 0.1 s');
  }
  const maxPerUser = options.maxPerUser ?? DEFAULT_SOCKETS_PER_USER;
  if (!Number.isInteger(maxPerUser) || maxPerUser < 1) {
    throw new Error('SessionModule: sockets.maxPerUser must be a positive integer');
  }
  const maxStreamsPerUser = options.maxStreamsPerUser ?? DEFAULT_SOCKETS_PER_USER;
  if (!Number.isInteger(maxStreamsPerUser) || maxStreamsPerUser < 1) {
    throw new Error('SessionModule: sockets.maxStreamsPerUser must be a positive integer');
  }
  return { checkIntervalMs, maxPerUser, maxStreamsPerUser };
}
