import type { SessionRedisConnection } from './session-options.interface';

/** What names the connection in each documented shape of `redis`. */
const SHAPES = ['url', 'client', 'sentinels', 'cluster'] as const;

const URL_REQUIRED = 'SessionModule: `redis.url` must be a non-empty string (redis://host:port)';

const NO_CLIENT_KEY_PREFIX =
  'set keyPrefix on SessionModule, not on the ioredis client: the scripts build key names themselves';

/**
 * `redis` as one of its documented shapes, checked at start-up. ioredis takes almost anything
 * and falls back to localhost:6379, so `redis: {}`, `{ url: undefined }` (an unset environment
 * variable) or ioredis' own `{ host, port }` would connect to a Redis nobody meant; unknown
 * names are refused before this (`refuseUnknownOptions`).
 */
export function checkRedisConnection(redis: SessionRedisConnection): SessionRedisConnection {
  const fields = redis as Partial<Record<(typeof SHAPES)[number] | 'options' | 'name', unknown>>;
  // An undefined value counts as absent: what a factory gives for a setting left unset.
  const given = SHAPES.filter((name) => fields[name] !== undefined);
  if (given.length === 0 && Object.hasOwn(redis, 'url')) {
    throw new Error(URL_REQUIRED);
  }
  if (given.length !== 1) {
    throw new Error(
      given.length === 0
        ? 'SessionModule: `redis` needs one of `url`, `client`, `sentinels` (with `name`) or `cluster`'
        : `SessionModule: \`redis\` takes one of \`url\`, \`client\`, \`sentinels\` or \`cluster\`, not ${given.map((name) => `\`${name}\``).join(' and ')}`,
    );
  }
  const shape = given[0];
  const { options, name } = fields;
  if (name !== undefined && shape !== 'sentinels') {
    throw new Error('SessionModule: `redis.name` goes with `redis.sentinels` only');
  }
  if (options !== undefined && shape === 'client') {
    throw new Error(
      'SessionModule: `redis.options` does not apply to a given `redis.client`: configure the client',
    );
  }
  if (options !== undefined && !isObject(options)) {
    throw new Error('SessionModule: `redis.options` must be an object of ioredis options');
  }
  switch (shape) {
    case 'url': {
      const { url } = fields;
      if (typeof url !== 'string' || url.trim() === '') {
        throw new Error(URL_REQUIRED);
      }
      refuseKeyPrefix('redis.options', options);
      refuseKeyPrefix('redis.url', urlQueryOf(url));
      break;
    }
    case 'client': {
      const { client } = fields;
      const clientOptions = isObject(client)
        ? (client as { options?: unknown }).options
        : undefined;
      if (
        !isObject(clientOptions) ||
        typeof (client as { sendCommand?: unknown }).sendCommand !== 'function'
      ) {
        throw new Error('SessionModule: `redis.client` must be an ioredis Redis or Cluster');
      }
      refuseKeyPrefix('redis.client', clientOptions);
      // A Cluster's node connections take the prefix of its `redisOptions`.
      refuseKeyPrefix('redis.client', (clientOptions as { redisOptions?: unknown }).redisOptions);
      break;
    }
    case 'sentinels': {
      const { sentinels } = fields;
      if (!Array.isArray(sentinels) || sentinels.length === 0) {
        throw new Error('SessionModule: `redis.sentinels` must list at least one { host, port }');
      }
      if (typeof name !== 'string' || name === '') {
        throw new Error(
          'SessionModule: `redis.sentinels` needs `redis.name`, the primary they monitor',
        );
      }
      refuseKeyPrefix('redis.options', options);
      break;
    }
    case 'cluster': {
      const { cluster } = fields;
      if (!Array.isArray(cluster) || cluster.length === 0) {
        throw new Error('SessionModule: `redis.cluster` must list at least one node');
      }
      refuseKeyPrefix('redis.options', options);
      refuseKeyPrefix(
        'redis.options.redisOptions',
        isObject(options) ? (options as { redisOptions?: unknown }).redisOptions : undefined,
      );
      break;
    }
  }
  return redis;
}

/**
 * ioredis prefixes the keys a script is given (KEYS), but the session scripts make most of
 * theirs from arguments and the store scans by pattern: under a client prefix, revoke-all,
 * role changes and the per-user cap would look for keys that were never written.
 */
function refuseKeyPrefix(where: string, options: unknown): void {
  const keyPrefix = isObject(options) ? (options as { keyPrefix?: unknown }).keyPrefix : undefined;
  if (keyPrefix !== undefined && keyPrefix !== '') {
    throw new Error(
      `SessionModule: \`${where}\` carries an ioredis keyPrefix: ${NO_CLIENT_KEY_PREFIX}`,
    );
  }
}

/** The options ioredis reads from a URL's query (`redis://host?keyPrefix=app:`). */
function urlQueryOf(url: string): Record<string, string> {
  const query = url.indexOf('?');
  return query === -1 ? {} : Object.fromEntries(new URLSearchParams(url.slice(query + 1)));
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
