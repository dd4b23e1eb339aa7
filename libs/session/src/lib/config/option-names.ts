import type {
  SessionAssertionOptions,
  SessionCommonOptions,
  SessionCookieOptions,
  SessionDurabilityOptions,
  SessionEventsOptions,
  SessionLocalCacheOptions,
  SessionRedisConnection,
  SessionRememberOptions,
  SessionRemoteConnection,
  SessionRemoteTls,
  SessionSocketsOptions,
} from './session-options.interface';

/** Every option name of `T`, listed: the compiler keeps each list equal to its interface. */
type Names<T> = Record<keyof Required<T>, true>;
/** The same for a union: every name any of its members takes. */
type UnionNames<T> = Record<T extends unknown ? keyof T : never, true>;

const COMMON = {
  idleTimeout: true,
  absoluteTimeout: true,
  touchInterval: true,
  maxSessionsPerUser: true,
  capPolicy: true,
  remember: true,
  reauthWindow: true,
  cookie: true,
  allowedOrigins: true,
  keyPrefix: true,
  keepUserAgent: true,
  userTagKey: true,
  storeTimeout: true,
  autoPipelining: true,
  coalesceWrites: true,
  durability: true,
  localCache: true,
  events: true,
  sockets: true,
  assertions: true,
  metrics: true,
} satisfies Names<SessionCommonOptions>;

const BACKENDS: Record<string, true> = { redis: true, remote: true, store: true };

/** The options whose values are objects of the library's own options, by name. */
const NESTED: Record<string, Record<string, true>> = {
  remember: { idleTimeout: true, absoluteTimeout: true } satisfies Names<SessionRememberOptions>,
  cookie: { name: true, secure: true, sameSite: true } satisfies Names<SessionCookieOptions>,
  durability: { replicas: true, timeout: true } satisfies Names<SessionDurabilityOptions>,
  localCache: { ttl: true, max: true } satisfies Names<SessionLocalCacheOptions>,
  events: { maxLength: true } satisfies Names<SessionEventsOptions>,
  sockets: {
    checkInterval: true,
    maxPerUser: true,
    maxStreamsPerUser: true,
  } satisfies Names<SessionSocketsOptions>,
  assertions: {
    service: true,
    signingKey: true,
    trustedKeys: true,
    ttl: true,
    clockSkew: true,
    requirePeer: true,
  } satisfies Names<SessionAssertionOptions>,
  remote: {
    host: true,
    port: true,
    tls: true,
    batchValidations: true,
  } satisfies Names<SessionRemoteConnection>,
  redis: {
    url: true,
    options: true,
    client: true,
    sentinels: true,
    name: true,
    cluster: true,
  } satisfies UnionNames<SessionRedisConnection>,
};

/** Said of a name in `redis` near none of its own: ioredis' style is the likely mistake. */
const REDIS_HINT =
  '`redis` takes `url`, `client`, `sentinels` with `name`, or `cluster`; ioredis options go in `redis.options`';

const REMOTE_TLS = {
  ca: true,
  cert: true,
  key: true,
  servername: true,
} satisfies Names<SessionRemoteTls>;

/**
 * Refuses an option name the library does not know, at start-up: a misspelt option (`idleTimout`,
 * a `forRootAsync` factory's object, which the compiler does not check for extra names) would
 * otherwise leave its default in force without a word — a 30-minute idle timeout where 5 was
 * meant. Checks the top level and the library's own nested objects, `redis` included (a
 * `redis: { uri }` would otherwise connect to localhost); what goes to ioredis (`redis.options`)
 * is ioredis' to judge.
 */
export function refuseUnknownOptions(options: object): void {
  refuseUnknown('', options, { ...COMMON, ...BACKENDS });
  for (const [name, known] of Object.entries(NESTED)) {
    const value = (options as Record<string, unknown>)[name];
    if (isPlainObject(value)) {
      refuseUnknown(`${name}.`, value, known, name === 'redis' ? REDIS_HINT : undefined);
    }
  }
  const tls = (options as { remote?: { tls?: unknown } }).remote?.tls;
  if (isPlainObject(tls)) refuseUnknown('remote.tls.', tls, REMOTE_TLS);
}

function refuseUnknown(
  path: string,
  value: object,
  known: Record<string, true>,
  hint?: string,
): void {
  for (const name of Object.keys(value)) {
    if (Object.hasOwn(known, name)) continue;
    const near = Object.keys(known).find((candidate) => isNear(name, candidate));
    const help = near ? `did you mean \`${path}${near}\`?` : hint;
    throw new Error(
      `SessionModule: unknown option \`${path}${name}\`` + (help ? ` (${help})` : ''),
    );
  }
}

function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The same name but for case, or at most two edits (insert, delete, replace) apart. */
function isNear(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (Math.abs(x.length - y.length) > 2) return false;
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[y.length] <= 2;
}
