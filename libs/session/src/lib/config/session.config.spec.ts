import { Cluster, Redis } from 'ioredis';

import { InMemorySessionStore } from '../store/in-memory/in-memory-session.store';
import { RedisSessionStore } from '../store/redis/redis-session.store';
import { resolveSessionConfig } from './session.config';
import type { SessionModuleOptions } from './session-options.interface';

const redis = { url: 'redis://127.0.0.1:6379' };
const remote = { host: 'auth', port: 4001, tls: { ca: 'ca', cert: 'cert', key: 'key' } };

/** What a `forRootAsync` factory or plain JavaScript can return, past the compiler. */
const untyped = (options: object) => options as unknown as SessionModuleOptions;

describe('resolveSessionConfig', () => {
  it('refuses a misspelt option instead of leaving its default in force, naming the near one', () => {
    // What a forRootAsync factory can return: the compiler does not check its names.
    const typo = { redis, idleTimout: 300 } as unknown as SessionModuleOptions;
    expect(() => resolveSessionConfig(typo)).toThrow(
      'SessionModule: unknown option `idleTimout` (did you mean `idleTimeout`?)',
    );
    const cased = { redis, localcache: { ttl: 5 } } as unknown as SessionModuleOptions;
    expect(() => resolveSessionConfig(cased)).toThrow('(did you mean `localCache`?)');
    const far = { redis, sessionLifetime: 300 } as unknown as SessionModuleOptions;
    expect(() => resolveSessionConfig(far)).toThrow(
      /^SessionModule: unknown option `sessionLifetime`$/,
    );
  });

  it('takes a user-tag key of 32 base64url bytes, and refuses another without repeating it', () => {
    const key = 'A'.repeat(43);
    expect(resolveSessionConfig({ redis, userTagKey: key }).userTagKey).toBe(key);
    expect(resolveSessionConfig({ redis }).userTagKey).toBeNull();
    for (const bad of ['A'.repeat(42), 'A'.repeat(44), `${'A'.repeat(42)}+`, '']) {
      expect(() => resolveSessionConfig({ redis, userTagKey: bad })).toThrow(
        /^SessionModule: userTagKey must be 32 random bytes in base64url/,
      );
    }
  });

  it("refuses a misspelt name inside the library's nested options, with its path", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ cookie: { samesite: 'strict' } }, '`cookie.samesite` (did you mean `cookie.sameSite`?)'],
      [{ remember: { idleTimeOut: 60 } }, '`remember.idleTimeOut`'],
      [{ localCache: { ttl: 5, maxSize: 10 } }, '`localCache.maxSize`'],
      [{ events: { maxLen: 10 } }, '`events.maxLen`'],
      [{ sockets: { interval: 10 } }, '`sockets.interval`'],
      [{ durability: { replica: 1 } }, '`durability.replica`'],
      [{ assertions: { service: 'orders', clockskew: 5 } }, '`assertions.clockskew`'],
    ];
    for (const [options, message] of cases) {
      const given = { redis, ...options } as unknown as SessionModuleOptions;
      expect(() => resolveSessionConfig(given)).toThrow(`unknown option ${message}`);
    }
    const remote = {
      remote: { host: 'auth', port: 4001, tls: { ca: 'x', cert: 'x', key: 'x', serverName: 'a' } },
    } as unknown as SessionModuleOptions;
    expect(() => resolveSessionConfig(remote)).toThrow('`remote.tls.serverName`');
  });

  it('accepts every option it documents, and leaves what goes to ioredis to ioredis', () => {
    expect(() =>
      resolveSessionConfig({
        redis: { url: redis.url, options: { connectionName: 'x', enableOfflineQueue: false } },
        idleTimeout: 60,
        absoluteTimeout: 600,
        touchInterval: 6,
        maxSessionsPerUser: 3,
        capPolicy: 'refuse',
        remember: { idleTimeout: 120, absoluteTimeout: 1200 },
        reauthWindow: 30,
        cookie: { name: 'sid', secure: true, sameSite: 'strict' },
        allowedOrigins: ['https://shop.example'],
        keyPrefix: 'x:',
        keepUserAgent: true,
        userTagKey: 'A'.repeat(43),
        storeTimeout: 2,
        autoPipelining: false,
        coalesceWrites: true,
        durability: { replicas: 1, timeout: 0.5 },
        localCache: { ttl: 5, max: 100 },
        events: { maxLength: 100 },
        sockets: { checkInterval: 10 },
        assertions: {
          service: 'orders',
          trustedKeys: [],
          ttl: 30,
          clockSkew: 5,
          requirePeer: true,
        },
      }),
    ).not.toThrow();
    expect(() => resolveSessionConfig({ redis, events: false })).not.toThrow();
  });

  it('turns seconds into milliseconds and applies the defaults', () => {
    expect(resolveSessionConfig({ redis })).toMatchObject({
      idleTimeoutMs: 1_800_000,
      absoluteTimeoutMs: 43_200_000,
      touchIntervalMs: 180_000,
      maxSessionsPerUser: 10,
      capPolicy: 'evict-oldest',
      rememberIdleTimeoutMs: 604_800_000,
      rememberAbsoluteTimeoutMs: 2_592_000_000,
      reauthWindowMs: 600_000,
      keyPrefix: 'cr:',
      storeTimeoutMs: 1000,
      autoPipelining: false,
      coalesceWrites: true,
      localCache: null,
      durability: null,
      cookie: { name: 'cr_session', secure: false, sameSite: 'lax' },
    });
  });

  it('reads the remember-me timeouts, the cap policy and the re-authentication window', () => {
    expect(
      resolveSessionConfig({
        redis,
        remember: { idleTimeout: 1.5, absoluteTimeout: 3 },
        capPolicy: 'refuse',
        reauthWindow: 0.5,
      }),
    ).toMatchObject({
      rememberIdleTimeoutMs: 1500,
      rememberAbsoluteTimeoutMs: 3000,
      capPolicy: 'refuse',
      reauthWindowMs: 500,
    });
  });

  it('refuses an unknown cap policy and non-positive remember-me timeouts', () => {
    expect(() => resolveSessionConfig({ redis, capPolicy: 'evict-random' as 'refuse' })).toThrow(
      /capPolicy must be one of evict-oldest, evict-idlest, refuse/,
    );
    expect(() => resolveSessionConfig({ redis, remember: { idleTimeout: 0 } })).toThrow(
      /must be positive/,
    );
    expect(() => resolveSessionConfig({ redis, remember: { absoluteTimeout: -1 } })).toThrow(
      /remember.absoluteTimeout/,
    );
    expect(() => resolveSessionConfig({ redis, reauthWindow: Number.NaN })).toThrow(/reauthWindow/);
  });

  it('derives the touch interval from the idle timeout: a tenth of it', () => {
    expect(resolveSessionConfig({ redis, idleTimeout: 1.2 }).touchIntervalMs).toBe(120);
    expect(resolveSessionConfig({ redis, idleTimeout: 60, touchInterval: 0 }).touchIntervalMs).toBe(
      0,
    );
  });

  it('keeps the cookie plain unless told it is secure, then prefixes it with __Host-', () => {
    const secure = resolveSessionConfig({ redis, cookie: { secure: true } }).cookie;
    expect(secure).toEqual({ name: '__Host-cr_session', secure: true, sameSite: 'lax' });
  });

  it('names the backend the options give', () => {
    const store = new InMemorySessionStore();
    expect(resolveSessionConfig({ redis }).backend).toEqual({ kind: 'redis', connection: redis });
    const remote = { host: 'auth', port: 4001, tls: { ca: 'ca', cert: 'cert', key: 'key' } };
    expect(resolveSessionConfig({ remote }).backend).toEqual({
      kind: 'remote',
      connection: remote,
    });
    expect(resolveSessionConfig({ store }).backend).toEqual({ kind: 'store', store });
  });

  it.each([
    ['no backend', {}],
    ['two backends', { redis, store: new InMemorySessionStore() }],
  ])('refuses %s', (_label, options) => {
    expect(() => resolveSessionConfig(options as SessionModuleOptions)).toThrow(
      /exactly one of `redis`, `remote` or `store`/,
    );
  });

  it('resolves the local cache in seconds to milliseconds, and refuses a bad one', () => {
    expect(resolveSessionConfig({ redis, localCache: { ttl: 2 } }).localCache).toEqual({
      ttlMs: 2000,
      max: 10_000,
    });
    expect(() => resolveSessionConfig({ redis, localCache: { ttl: 0 } })).toThrow(/ttl/);
    expect(() => resolveSessionConfig({ redis, localCache: { ttl: 1, max: 0 } })).toThrow(/max/);
  });

  it('resolves durability in seconds to milliseconds, and refuses one it cannot honour', () => {
    expect(resolveSessionConfig({ redis, durability: { replicas: 1 } }).durability).toEqual({
      replicas: 1,
      timeoutMs: 500,
    });
    expect(
      resolveSessionConfig({ redis, storeTimeout: 2, durability: { replicas: 2, timeout: 1.5 } })
        .durability,
    ).toEqual({ replicas: 2, timeoutMs: 1500 });
    expect(() => resolveSessionConfig({ redis, durability: { replicas: 0 } })).toThrow(/replicas/);
    expect(() => resolveSessionConfig({ redis, durability: { replicas: 1.5 } })).toThrow(
      /replicas/,
    );
    expect(() => resolveSessionConfig({ redis, durability: { replicas: 1, timeout: 0 } })).toThrow(
      /durability.timeout/,
    );
    expect(() => resolveSessionConfig({ redis, durability: { replicas: 1, timeout: 1 } })).toThrow(
      /shorter than storeTimeout/,
    );
  });

  it('checks sockets every 30 s by default, and refuses an interval under 0.1 s', () => {
    expect(resolveSessionConfig({ redis }).sockets).toEqual({
      checkIntervalMs: 30_000,
      maxPerUser: 32,
      maxStreamsPerUser: 32,
    });
    expect(
      resolveSessionConfig({ redis, sockets: { checkInterval: 0.5, maxPerUser: 3 } }).sockets,
    ).toEqual({ checkIntervalMs: 500, maxPerUser: 3, maxStreamsPerUser: 32 });
    for (const checkInterval of [0, 0.05, -1, Number.NaN]) {
      expect(() => resolveSessionConfig({ redis, sockets: { checkInterval } })).toThrow(
        /sockets.checkInterval/,
      );
    }
  });

  it('refuses a sockets.maxPerUser or maxStreamsPerUser that is not a positive integer', () => {
    for (const maxPerUser of [0, -1, 1.5, Number.NaN, Infinity]) {
      expect(() => resolveSessionConfig({ redis, sockets: { maxPerUser } })).toThrow(
        'sockets.maxPerUser must be a positive integer',
      );
      expect(() =>
        resolveSessionConfig({ redis, sockets: { maxStreamsPerUser: maxPerUser } }),
      ).toThrow('sockets.maxStreamsPerUser must be a positive integer');
    }
  });

  it('refuses negative or zero timeouts', () => {
    expect(() => resolveSessionConfig({ redis, idleTimeout: -1 })).toThrow(/idleTimeout/);
    expect(() => resolveSessionConfig({ redis, absoluteTimeout: 0 })).toThrow(/positive/);
  });

  it('refuses a cap that is not a whole number of sessions, rather than fail every login', () => {
    // NaN: Number() of an unset variable; -1 used to mean no cap, which is 0's meaning.
    for (const maxSessionsPerUser of [Number.NaN, -1, 2.5, Infinity]) {
      expect(() => resolveSessionConfig({ redis, maxSessionsPerUser })).toThrow(
        /^SessionModule: maxSessionsPerUser must be a non-negative integer \(0: no cap\)$/,
      );
    }
    expect(() => resolveSessionConfig(untyped({ redis, maxSessionsPerUser: '3' }))).toThrow(
      /maxSessionsPerUser/,
    );
    expect(resolveSessionConfig({ redis, maxSessionsPerUser: 0 }).maxSessionsPerUser).toBe(0);
    expect(resolveSessionConfig({ redis, maxSessionsPerUser: 3 }).maxSessionsPerUser).toBe(3);
  });

  it("refuses a key prefix holding a brace, which would move a user's keys out of one slot", () => {
    // Redis Cluster hashes the first {…} of a key: 'app{}:' leaves a user's session and index
    // in different slots (every script refused), 'app{x}:' puts every user in one.
    for (const keyPrefix of ['app{}:', 'app{x}:', 'a}b{:', '{']) {
      expect(() => resolveSessionConfig({ redis, keyPrefix })).toThrow(
        /^SessionModule: keyPrefix must not hold \{ or \}/,
      );
    }
    expect(() => resolveSessionConfig(untyped({ redis, keyPrefix: 1 }))).toThrow(/keyPrefix/);
    expect(resolveSessionConfig({ redis, keyPrefix: 'app:' }).keyPrefix).toBe('app:');
    expect(resolveSessionConfig({ redis, keyPrefix: '' }).keyPrefix).toBe('');
  });

  it('refuses a store timeout that would time every call out, and a zero re-auth window', () => {
    for (const storeTimeout of [0, 0.0001, -1, Number.NaN]) {
      expect(() => resolveSessionConfig({ redis, storeTimeout })).toThrow(
        /^SessionModule: storeTimeout must be a positive number of seconds$/,
      );
    }
    for (const reauthWindow of [0, 0.0001]) {
      expect(() => resolveSessionConfig({ redis, reauthWindow })).toThrow(
        /^SessionModule: reauthWindow must be a positive number of seconds$/,
      );
    }
    expect(resolveSessionConfig({ redis, storeTimeout: 0.05 }).storeTimeoutMs).toBe(50);
  });
});

describe('resolveSessionConfig: redis', () => {
  const prefixed = 'set keyPrefix on SessionModule, not on the ioredis client';
  // Never connected: lazyConnect, and nothing sends a command.
  const clients: Array<Redis | Cluster> = [];
  const lazy = <T extends Redis | Cluster>(client: T): T => (clients.push(client), client);
  afterAll(() => clients.forEach((client) => client.disconnect()));

  it('refuses an ioredis keyPrefix, however the client comes in', () => {
    const node = [{ host: '127.0.0.1', port: 7000 }];
    const cases: Array<[object, string]> = [
      [{ url: redis.url, options: { keyPrefix: 'app:' } }, '`redis.options`'],
      [{ url: `${redis.url}/0?keyPrefix=app%3A` }, '`redis.url`'],
      [{ sentinels: node, name: 'cr', options: { keyPrefix: 'app:' } }, '`redis.options`'],
      [{ cluster: node, options: { keyPrefix: 'app:' } }, '`redis.options`'],
      [{ cluster: node, options: { redisOptions: { keyPrefix: 'app:' } } }, 'redisOptions'],
      [{ client: lazy(new Redis({ lazyConnect: true, keyPrefix: 'app:' })) }, '`redis.client`'],
      [{ client: lazy(new Redis(`${redis.url}?keyPrefix=app:`, { lazyConnect: true })) }, 'client'],
      [
        { client: lazy(new Cluster(node, { lazyConnect: true, keyPrefix: 'app:' })) },
        '`redis.client`',
      ],
      [
        {
          client: lazy(
            new Cluster(node, { lazyConnect: true, redisOptions: { keyPrefix: 'app:' } }),
          ),
        },
        '`redis.client`',
      ],
    ];
    for (const [connection, where] of cases) {
      const options = untyped({ redis: connection, keyPrefix: 'cr:' });
      expect(() => resolveSessionConfig(options)).toThrow(prefixed);
      expect(() => resolveSessionConfig(options)).toThrow(where);
    }
    const plain = lazy(new Redis({ lazyConnect: true }));
    expect(resolveSessionConfig({ redis: { client: plain }, keyPrefix: 'app:' })).toMatchObject({
      backend: { kind: 'redis', connection: { client: plain } },
      keyPrefix: 'app:',
    });
  });

  it('refuses a connection that names no Redis, instead of falling back to localhost', () => {
    const cases: Array<[object, RegExp]> = [
      [{}, /^SessionModule: `redis` needs one of `url`, `client`, `sentinels` \(with `name`\)/],
      // An unset environment variable.
      [{ url: undefined }, /^SessionModule: `redis.url` must be a non-empty string/],
      [{ url: '' }, /`redis.url` must be a non-empty string/],
      [{ url: 6379 }, /`redis.url` must be a non-empty string/],
      [
        { url: redis.url, client: lazy(new Redis({ lazyConnect: true })) },
        /not `url` and `client`/,
      ],
      [{ sentinels: [{ host: 's1', port: 26379 }] }, /`redis.sentinels` needs `redis.name`/],
      [{ sentinels: [], name: 'cr' }, /`redis.sentinels` must list at least one/],
      [{ cluster: [] }, /`redis.cluster` must list at least one node/],
      [{ url: redis.url, name: 'cr' }, /`redis.name` goes with `redis.sentinels` only/],
      [{ client: { options: {} } }, /`redis.client` must be an ioredis Redis or Cluster/],
      [
        { client: lazy(new Redis({ lazyConnect: true })), options: { db: 1 } },
        /`redis.options` does not apply to a given `redis.client`/,
      ],
    ];
    for (const [connection, message] of cases) {
      expect(() => resolveSessionConfig(untyped({ redis: connection }))).toThrow(message);
    }
  });

  it('refuses an unknown name in redis, with the near one or the shapes it takes', () => {
    expect(() => resolveSessionConfig(untyped({ redis: { uri: redis.url } }))).toThrow(
      /^SessionModule: unknown option `redis.uri` \(did you mean `redis.url`\?\)$/,
    );
    expect(() => resolveSessionConfig(untyped({ redis: { url: redis.url, option: {} } }))).toThrow(
      '(did you mean `redis.options`?)',
    );
    // ioredis' own shape: a documented one is meant.
    expect(() =>
      resolveSessionConfig(untyped({ redis: { host: '127.0.0.1', port: 6379 } })),
    ).toThrow(
      'SessionModule: unknown option `redis.host` (`redis` takes `url`, `client`, `sentinels` with `name`, or `cluster`; ioredis options go in `redis.options`)',
    );
  });

  it('takes each documented shape, and a name left undefined as absent', () => {
    const node = [{ host: '127.0.0.1', port: 7000 }];
    const client = lazy(new Cluster(node, { lazyConnect: true }));
    for (const connection of [
      { url: redis.url, options: { connectionName: 'x' } },
      { client },
      { sentinels: node, name: 'cr', options: { sentinelPassword: 'x' } },
      { cluster: node, options: { slotsRefreshInterval: 1000 } },
      // What a factory gives with the other settings unset.
      { url: redis.url, cluster: undefined, options: undefined },
    ]) {
      expect(resolveSessionConfig(untyped({ redis: connection })).backend).toEqual({
        kind: 'redis',
        connection,
      });
    }
  });
});

describe('resolveSessionConfig: cookie and origins', () => {
  it('refuses a cookie the cookie library would throw on at the first login', () => {
    const cases: Array<[object, RegExp]> = [
      [
        { sameSite: 'bogus' },
        /^SessionModule: cookie.sameSite must be 'lax' or 'strict', not "bogus"$/,
      ],
      // Documented: lax or strict. None would send the cookie along cross-site requests.
      [{ sameSite: 'none' }, /cookie.sameSite must be 'lax' or 'strict', not "none"/],
      [
        { name: 'my session' },
        /^SessionModule: cookie.name must be a cookie token .*, not "my session"$/,
      ],
      [{ name: '' }, /cookie.name must be a cookie token/],
      [{ name: 'sid;Domain=evil.example' }, /cookie.name must be a cookie token/],
      // Browsers drop these without Secure: no login would ever stick.
      [
        { name: '__Host-sid' },
        /cookie.name "__Host-sid" has a prefix browsers accept only on a Secure cookie/,
      ],
      [{ name: '__secure-sid', secure: false }, /cookie.name "__secure-sid" has a prefix/],
      // Any non-empty string would turn Secure on, 'false' included.
      [{ secure: 'false' }, /^SessionModule: cookie.secure must be a boolean, not a string$/],
    ];
    for (const [cookie, message] of cases) {
      expect(() => resolveSessionConfig(untyped({ redis, cookie }))).toThrow(message);
    }
    expect(
      resolveSessionConfig({ redis, cookie: { name: 'sid.v2', sameSite: 'strict' } }).cookie,
    ).toEqual({ name: 'sid.v2', secure: false, sameSite: 'strict' });
  });

  it('refuses allowed origins a browser never sends, naming the origin meant', () => {
    const cases: Array<[unknown, string]> = [
      // A string would be taken as the set of its characters: `Origin: h` allowed.
      [
        'http://localhost:3000',
        'SessionModule: allowedOrigins must be an array of origins (did you mean ["http://localhost:3000"]?)',
      ],
      [
        ['http://localhost:3000/'],
        'SessionModule: allowedOrigins entry "http://localhost:3000/" is not an origin (did you mean "http://localhost:3000"?)',
      ],
      [['https://shop.example/app'], '(did you mean "https://shop.example"?)'],
      // Browsers leave the default port out, and send the host in lower case.
      [['https://shop.example:443'], '(did you mean "https://shop.example"?)'],
      [['https://Shop.Example'], '(did you mean "https://shop.example"?)'],
      [['shop.example'], '"shop.example" is not an origin (scheme://host[:port])'],
      [['null'], '"null" is not an origin'],
      [[42], '42 is not an origin'],
    ];
    for (const [allowedOrigins, message] of cases) {
      expect(() => resolveSessionConfig(untyped({ redis, allowedOrigins }))).toThrow(message);
    }
    const origins = ['http://localhost:3000', 'https://shop.example:8443'];
    expect(resolveSessionConfig({ redis, allowedOrigins: origins }).allowedOrigins).toEqual(
      new Set(origins),
    );
  });
});

describe('resolveSessionConfig: options a store or the auth service decides', () => {
  const shaping: Array<[string, unknown]> = [
    ['idleTimeout', 60],
    ['absoluteTimeout', 600],
    ['touchInterval', 6],
    ['maxSessionsPerUser', 3],
    ['capPolicy', 'refuse'],
    ['remember', { idleTimeout: 60 }],
    ['keyPrefix', 'app:'],
    ['keepUserAgent', true],
    ['userTagKey', 'A'.repeat(43)],
    ['autoPipelining', true],
    ['coalesceWrites', false],
    ['durability', { replicas: 1 }],
  ];

  it.each(shaping)('refuses %s with `store`, where the store would ignore it', (name, value) => {
    const options = untyped({ store: new InMemorySessionStore(), [name]: value });
    expect(() => resolveSessionConfig(options)).toThrow(
      `SessionModule: \`${name}\` does not apply with \`store\`: pass it to the store you construct`,
    );
  });

  it.each(shaping)('refuses %s with `remote`, where auth decides it', (name, value) => {
    expect(() => resolveSessionConfig(untyped({ remote, [name]: value }))).toThrow(
      `SessionModule: \`${name}\` does not apply with \`remote\`: the auth service's settings do`,
    );
  });

  it('keeps what the module itself reads: the local cache its touch interval, events their prefix', () => {
    expect(
      resolveSessionConfig({ remote, touchInterval: 6, localCache: { ttl: 5 } }).touchIntervalMs,
    ).toBe(6000);
    expect(
      resolveSessionConfig({
        store: new InMemorySessionStore(),
        touchInterval: 6,
        localCache: { ttl: 5 },
      }).touchIntervalMs,
    ).toBe(6000);
    // A Redis store given as an instance: the module publishes its events under keyPrefix.
    const redisStore = Object.create(RedisSessionStore.prototype) as RedisSessionStore;
    expect(resolveSessionConfig({ store: redisStore, keyPrefix: 'app:' }).keyPrefix).toBe('app:');
  });

  it('takes with `remote` every option a remote service passes (sessionOptionsFromEnv)', () => {
    expect(() =>
      resolveSessionConfig({
        remote,
        cookie: { secure: true },
        allowedOrigins: ['https://shop.example'],
        storeTimeout: 1,
        reauthWindow: 600,
        sockets: { checkInterval: 30 },
        localCache: { ttl: 5 },
        assertions: { service: 'catalog', trustedKeys: [] },
        // An unset setting is not a setting.
        idleTimeout: undefined,
      }),
    ).not.toThrow();
  });
});
