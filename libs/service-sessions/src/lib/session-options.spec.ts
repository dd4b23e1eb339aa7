import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Test } from '@nestjs/testing';

import { StartupError, validateEnv } from '@cloakroom/service-kit';
import {
  InMemorySessionStore,
  SessionCookieService,
  SessionModule,
  SessionStore,
} from '@cloakroom/session';

import { PrometheusSessionMetrics } from './prometheus-session.metrics';
import {
  clusterNodesOf,
  redisConnectionFromEnv,
  redisLocation,
  sessionOptionsFromEnv,
} from './session-options';
import { SessionRedisEnv, SessionRemoteEnv } from './session.env';

// Stand-ins for the mutual TLS files of remote mode: only read, never parsed, here.
const certs = mkdtempSync(join(tmpdir(), 'session-options-'));
const CERT_FILES = {
  AUTH_RPC_CA: join(certs, 'ca.crt'),
  AUTH_RPC_CLIENT_CERT: join(certs, 'catalog.crt'),
  AUTH_RPC_CLIENT_KEY: join(certs, 'catalog.key'),
};
for (const [name, file] of Object.entries(CERT_FILES)) writeFileSync(file, `PEM of ${name}`);
afterAll(() => rmSync(certs, { recursive: true, force: true }));

const redisEnv = (raw: Record<string, string> = {}) => validateEnv(SessionRedisEnv, raw);
const remoteEnv = (raw: Record<string, string> = {}) =>
  validateEnv(SessionRemoteEnv, { ...CERT_FILES, ...raw });

describe('sessionOptionsFromEnv', () => {
  it('reads sessions from Redis with the documented defaults', () => {
    expect(sessionOptionsFromEnv(redisEnv())).toEqual({
      redis: { url: 'redis://127.0.0.1:6379' },
      idleTimeout: 1800,
      absoluteTimeout: 43200,
      remember: { idleTimeout: 604800, absoluteTimeout: 2592000 },
      maxSessionsPerUser: 10,
      capPolicy: 'evict-oldest',
      keyPrefix: 'cr:',
      keepUserAgent: false,
      storeTimeout: 1,
      reauthWindow: 600,
      sockets: { checkInterval: 30, maxPerUser: 32, maxStreamsPerUser: 32 },
      metrics: expect.any(PrometheusSessionMetrics),
      cookie: { secure: false },
      allowedOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
    });
  });

  it('asks the auth service in remote mode, and sets nothing that is its business', () => {
    expect(
      sessionOptionsFromEnv(remoteEnv({ AUTH_RPC_HOST: 'auth', AUTH_RPC_PORT: '4100' })),
    ).toEqual({
      remote: {
        host: 'auth',
        port: 4100,
        tls: {
          ca: 'PEM of AUTH_RPC_CA',
          cert: 'PEM of AUTH_RPC_CLIENT_CERT',
          key: 'PEM of AUTH_RPC_CLIENT_KEY',
        },
      },
      storeTimeout: 1,
      reauthWindow: 600,
      sockets: { checkInterval: 30, maxPerUser: 32, maxStreamsPerUser: 32 },
      metrics: expect.any(PrometheusSessionMetrics),
      cookie: { secure: false },
      allowedOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
    });
  });

  it('maps the re-authentication window, remember-me timeouts, cap policy and user agent keeping', () => {
    const env = redisEnv({
      SESSION_REAUTH_WINDOW: '30',
      SESSION_REMEMBER_IDLE_TIMEOUT: '3600',
      SESSION_REMEMBER_ABSOLUTE_TIMEOUT: '86400',
      SESSION_CAP_POLICY: 'refuse',
      SESSION_KEEP_USER_AGENT: 'true',
    });
    expect(sessionOptionsFromEnv(env)).toMatchObject({
      reauthWindow: 30,
      remember: { idleTimeout: 3600, absoluteTimeout: 86400 },
      capPolicy: 'refuse',
      keepUserAgent: true,
    });
    expect(sessionOptionsFromEnv(redisEnv({ SESSION_CAP_POLICY: 'evict-idlest' }))).toMatchObject({
      capPolicy: 'evict-idlest',
    });
    expect(
      sessionOptionsFromEnv(
        redisEnv({
          SESSION_SOCKETS_CHECK_INTERVAL: '5',
          SESSION_SOCKETS_MAX_PER_USER: '3',
          SESSION_STREAMS_MAX_PER_USER: '4',
        }),
      ).sockets,
    ).toEqual({ checkInterval: 5, maxPerUser: 3, maxStreamsPerUser: 4 });
    // A remote service guards its own routes with its own window.
    expect(sessionOptionsFromEnv(remoteEnv({ SESSION_REAUTH_WINDOW: '5' })).reauthWindow).toBe(5);
  });

  it('stops the service with one line naming the setting when a TLS file is missing', () => {
    const env = remoteEnv({ AUTH_RPC_CLIENT_KEY: join(certs, 'missing.key') });
    const failure = (() => {
      try {
        return sessionOptionsFromEnv(env);
      } catch (error) {
        return error;
      }
    })();
    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as Error).message).toBe(
      `AUTH_RPC_CLIENT_KEY: cannot read ${join(certs, 'missing.key')} (ENOENT); for ` +
        'development, tools/dev-ca/make-dev-certs.sh makes a CA and certificates in .data/certs',
    );
  });

  it('passes SESSION_USER_TAG_KEY on, and refuses a malformed one without repeating it', () => {
    const key = 'k'.repeat(43);
    expect(sessionOptionsFromEnv(redisEnv({ SESSION_USER_TAG_KEY: key })).userTagKey).toBe(key);
    expect(sessionOptionsFromEnv(redisEnv()).userTagKey).toBeUndefined();
    const secret = 'short-secret-value';
    expect(() => redisEnv({ SESSION_USER_TAG_KEY: secret })).toThrow(
      'SESSION_USER_TAG_KEY must be 43 base64url characters',
    );
    expect(() => redisEnv({ SESSION_USER_TAG_KEY: secret })).not.toThrow(secret);
  });

  it('uses a connection the app owns instead of REDIS_URL', () => {
    const client = { fake: 'client' } as never;
    expect(sessionOptionsFromEnv(redisEnv(), { client })).toMatchObject({ redis: { client } });
  });

  it('turns on secure cookies in production, and lets SESSION_COOKIE_SECURE decide', () => {
    const secure = (raw: Record<string, string>) =>
      sessionOptionsFromEnv(remoteEnv(raw)).cookie?.secure;
    expect(secure({ NODE_ENV: 'production' })).toBe(true);
    expect(secure({ NODE_ENV: 'production', SESSION_COOKIE_SECURE: 'false' })).toBe(false);
    expect(secure({ SESSION_COOKIE_SECURE: 'true' })).toBe(true);
    expect(secure({ NODE_ENV: 'test' })).toBe(false);
  });

  it('waits for replicas after revocations only when SESSION_DURABLE_REPLICAS asks', () => {
    expect(sessionOptionsFromEnv(redisEnv()).durability).toBeUndefined();
    expect(sessionOptionsFromEnv(redisEnv({ SESSION_DURABLE_REPLICAS: '1' })).durability).toEqual({
      replicas: 1,
      timeout: 0.5,
    });
    const env = redisEnv({ SESSION_DURABLE_REPLICAS: '2', SESSION_DURABLE_TIMEOUT: '0.25' });
    expect(sessionOptionsFromEnv(env).durability).toEqual({ replicas: 2, timeout: 0.25 });
    expect(() => redisEnv({ SESSION_DURABLE_REPLICAS: '-1' })).toThrow(/SESSION_DURABLE_REPLICAS/);
    expect(() => redisEnv({ SESSION_DURABLE_TIMEOUT: '0' })).toThrow(/SESSION_DURABLE_TIMEOUT/);
  });

  it('builds options that SessionModule accepts at start-up, in every mode', async () => {
    for (const env of [
      redisEnv(),
      redisEnv({ REDIS_CLUSTER_NODES: 'r1:7000,r2:7001' }),
      redisEnv({ REDIS_SENTINELS: 's1:26379', REDIS_PRIMARY_PASSWORD: 'x' }),
      redisEnv({ SESSION_DURABLE_REPLICAS: '1', SESSION_MAX_PER_USER: '0' }),
      remoteEnv({ NODE_ENV: 'production' }),
    ]) {
      // The module's own checks only: no store, so no connection to anything.
      const moduleRef = await Test.createTestingModule({
        imports: [SessionModule.forRoot(sessionOptionsFromEnv(env))],
      })
        .overrideProvider(SessionStore)
        .useValue(new InMemorySessionStore())
        .compile();
      expect(moduleRef.get(SessionCookieService).name).toMatch(/^(__Host-)?cr_session$/);
      await moduleRef.close();
    }
  });

  it("allows the gateway's origin by default, wherever PORT or PUBLIC_URL put it", () => {
    // `PORT=8080 npm start`: the page is on :8080, and so are its cookie writes and sockets.
    expect(sessionOptionsFromEnv(redisEnv({ PORT: '8080' })).allowedOrigins).toEqual([
      'http://localhost:8080',
      'http://127.0.0.1:8080',
    ]);
    expect(sessionOptionsFromEnv(remoteEnv({ PORT: '8080' })).allowedOrigins).toEqual([
      'http://localhost:8080',
      'http://127.0.0.1:8080',
    ]);
    const published = redisEnv({ PORT: '8080', PUBLIC_URL: 'https://shop.example/' });
    expect(sessionOptionsFromEnv(published).allowedOrigins).toEqual(['https://shop.example']);
    const listed = redisEnv({ PORT: '8080', SESSION_ALLOWED_ORIGINS: 'https://a.example' });
    expect(sessionOptionsFromEnv(listed).allowedOrigins).toEqual(['https://a.example']);
  });

  it('reads a comma list of allowed origins', () => {
    const env = redisEnv({ SESSION_ALLOWED_ORIGINS: 'https://a.example, https://b.example,' });
    expect(sessionOptionsFromEnv(env).allowedOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });
});

describe('the Redis settings', () => {
  it('switch to a cluster when REDIS_CLUSTER_NODES is set', () => {
    const env = redisEnv({ REDIS_CLUSTER_NODES: 'r1:7000,r2:7001' });
    expect(redisConnectionFromEnv(env)).toEqual({
      cluster: [
        { host: 'r1', port: 7000 },
        { host: 'r2', port: 7001 },
      ],
    });
    expect(redisLocation(env)).toBe('cluster r1:7000,r2:7001');
  });

  it("reach a cluster's nodes with REDIS_URL's user, password and TLS: each service's own ACL user", () => {
    const env = redisEnv({
      REDIS_CLUSTER_NODES: 'r1:7000',
      REDIS_URL: 'rediss://orders:p%40ss%3Aword@ignored:6379',
    });
    expect(redisConnectionFromEnv(env)).toEqual({
      cluster: [{ host: 'r1', port: 7000 }],
      options: { redisOptions: { username: 'orders', password: 'p@ss:word', tls: {} } },
    });
    expect(redisLocation(env)).toBe('cluster r1:7000');
  });

  it('name where Redis is without its credentials', () => {
    const env = redisEnv({ REDIS_URL: 'rediss://user:hunter2@cache:6380/2' });
    expect(redisLocation(env)).toBe('rediss://cache:6380/2');
    expect(redisConnectionFromEnv(env)).toEqual({ url: 'rediss://user:hunter2@cache:6380/2' });
  });

  it('find the primary through Sentinel when REDIS_SENTINELS is set', () => {
    const env = redisEnv({
      REDIS_SENTINELS: 's1:26379,s2:26380',
      REDIS_SENTINEL_NAME: 'sessions',
      REDIS_URL: 'redis://ignored:6379',
    });
    const expected = {
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
      ],
      name: 'sessions',
      options: {},
    };
    expect(redisConnectionFromEnv(env)).toEqual(expected);
    expect(sessionOptionsFromEnv(env).redis).toEqual(expected);
    expect(redisLocation(env)).toBe('primary "sessions" of sentinels s1:26379,s2:26380');
  });

  it('pass the Sentinel and primary passwords to ioredis, and never print them', () => {
    const env = redisEnv({
      REDIS_SENTINELS: 's1:26379',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_PRIMARY_PASSWORD: 'primary-secret',
    });
    expect(redisConnectionFromEnv(env)).toEqual({
      sentinels: [{ host: 's1', port: 26379 }],
      name: 'cloakroom',
      options: { sentinelPassword: 'sentinel-secret', password: 'primary-secret' },
    });
    expect(redisLocation(env)).not.toMatch(/secret/);
  });

  it('parse cluster nodes, IPv6 addresses included', () => {
    expect(clusterNodesOf('::1:7000, r2:7001')).toEqual([
      { host: '::1', port: 7000 },
      { host: 'r2', port: 7001 },
    ]);
  });

  it('refuse malformed values', () => {
    expect(() => redisEnv({ REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
    expect(() => redisEnv({ SESSION_MAX_PER_USER: '-1' })).toThrow(/SESSION_MAX_PER_USER/);
    expect(() => redisEnv({ SESSION_IDLE_TIMEOUT: '0' })).toThrow(/SESSION_IDLE_TIMEOUT/);
    expect(() => redisEnv({ SESSION_CAP_POLICY: 'evict-random' })).toThrow(
      /SESSION_CAP_POLICY must be one of evict-oldest, evict-idlest, refuse/,
    );
    expect(() => redisEnv({ SESSION_REAUTH_WINDOW: '-5' })).toThrow(/SESSION_REAUTH_WINDOW/);
    expect(() => redisEnv({ SESSION_REMEMBER_IDLE_TIMEOUT: 'soon' })).toThrow(
      /SESSION_REMEMBER_IDLE_TIMEOUT/,
    );
    expect(() => remoteEnv({ SESSION_REAUTH_WINDOW: '0' })).toThrow(/SESSION_REAUTH_WINDOW/);
    expect(() => redisEnv({ REDIS_CLUSTER_NODES: 'nohost' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(() => redisEnv({ REDIS_SENTINELS: 's1' })).toThrow(/REDIS_SENTINELS/);
    expect(() => redisEnv({ REDIS_SENTINELS: 's1:1', REDIS_CLUSTER_NODES: 'r1:2' })).toThrow(
      /cannot both be set/,
    );
    expect(() => redisEnv({ REDIS_SENTINELS: 's1:1', REDIS_SENTINEL_NAME: 'a b' })).toThrow(
      /REDIS_SENTINEL_NAME/,
    );
    expect(() => remoteEnv({ AUTH_RPC_PORT: '70000' })).toThrow(/AUTH_RPC_PORT/);
  });
});
