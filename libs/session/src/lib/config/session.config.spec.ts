import { InMemorySessionStore } from '../store/in-memory/in-memory-session.store';
import { resolveSessionConfig } from './session.config';
import type { SessionModuleOptions } from './session-options.interface';

const redis = { url: 'redis://127.0.0.1:6379' };

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
        assertions: { service: 'orders', trustedKeys: [], ttl: 30, clockSkew: 5 },
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
    expect(resolveSessionConfig({ redis }).sockets).toEqual({ checkIntervalMs: 30_000 });
    expect(resolveSessionConfig({ redis, sockets: { checkInterval: 0.5 } }).sockets).toEqual({
      checkIntervalMs: 500,
    });
    for (const checkInterval of [0, 0.05, -1, Number.NaN]) {
      expect(() => resolveSessionConfig({ redis, sockets: { checkInterval } })).toThrow(
        /sockets.checkInterval/,
      );
    }
  });

  it('refuses negative or zero timeouts', () => {
    expect(() => resolveSessionConfig({ redis, idleTimeout: -1 })).toThrow(/idleTimeout/);
    expect(() => resolveSessionConfig({ redis, absoluteTimeout: 0 })).toThrow(/positive/);
  });
});
