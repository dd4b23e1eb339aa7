import { RedisSessionStore } from '../store/redis/redis-session.store';
import type { SessionBackend } from './session.config';
import type { SessionCommonOptions, SessionModuleOptions } from './session-options.interface';

/**
 * The options that shape the store the module builds from `redis`. A `store` instance was
 * shaped when it was constructed, and a `remote` store serves what the auth service's own
 * settings decide: given with either, they would be ignored without a word.
 */
const STORE_SHAPING = [
  'idleTimeout',
  'absoluteTimeout',
  'touchInterval',
  'maxSessionsPerUser',
  'capPolicy',
  'remember',
  'keyPrefix',
  'keepUserAgent',
  'userTagKey',
  'autoPipelining',
  'coalesceWrites',
  'durability',
] as const satisfies ReadonlyArray<keyof SessionCommonOptions>;

/** Refuses a store-shaping option that the backend would ignore. */
export function refuseUnusedStoreOptions(
  options: SessionModuleOptions,
  backend: SessionBackend,
): void {
  if (backend.kind === 'redis') {
    return;
  }
  for (const name of STORE_SHAPING) {
    if (options[name] === undefined || isUsed(name, options, backend)) continue;
    throw new Error(
      backend.kind === 'store'
        ? `SessionModule: \`${name}\` does not apply with \`store\`: pass it to the store you construct`
        : `SessionModule: \`${name}\` does not apply with \`remote\`: the auth service's settings do`,
    );
  }
}

/** The exceptions: options the module itself still reads with this backend. */
function isUsed(
  name: (typeof STORE_SHAPING)[number],
  options: SessionModuleOptions,
  backend: SessionBackend,
): boolean {
  switch (name) {
    case 'touchInterval':
      // The local cache serves a session no longer than the store's touch interval.
      return Boolean(options.localCache);
    case 'keyPrefix':
      // The event stream the module publishes to and follows is named with it.
      return backend.kind === 'store' && backend.store instanceof RedisSessionStore;
    default:
      return false;
  }
}
