import { validateEnv } from '@cloakroom/service-kit';

import {
  clusterNodesOf,
  redisConnectionFromEnv,
  redisLocation,
  sessionOptionsFromEnv,
} from './session-options';
import { SessionRedisEnv, SessionRemoteEnv } from './session.env';

const redisEnv = (raw: Record<string, string> = {}) => validateEnv(SessionRedisEnv, raw);
const remoteEnv = (raw: Record<string, string> = {}) => validateEnv(SessionRemoteEnv, raw);

describe('sessionOptionsFromEnv', () => {
  it('reads sessions from Redis with the documented defaults', () => {
    expect(sessionOptionsFromEnv(redisEnv())).toEqual({
      redis: { url: 'redis://127.0.0.1:6379' },
      idleTimeout: 1800,
      absoluteTimeout: 43200,
      maxSessionsPerUser: 10,
      keyPrefix: 'cr:',
      storeTimeout: 1,
      cookie: { secure: false },
      allowedOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
    });
  });

  it('asks the auth service in remote mode, and sets nothing that is its business', () => {
    expect(
      sessionOptionsFromEnv(remoteEnv({ AUTH_RPC_HOST: 'auth', AUTH_RPC_PORT: '4100' })),
    ).toEqual({
      remote: { host: 'auth', port: 4100 },
      storeTimeout: 1,
      cookie: { secure: false },
      allowedOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
    });
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

  it('name where Redis is without its credentials', () => {
    const env = redisEnv({ REDIS_URL: 'rediss://user:hunter2@cache:6380/2' });
    expect(redisLocation(env)).toBe('rediss://cache:6380/2');
    expect(redisConnectionFromEnv(env)).toEqual({ url: 'rediss://user:hunter2@cache:6380/2' });
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
    expect(() => redisEnv({ REDIS_CLUSTER_NODES: 'nohost' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(() => remoteEnv({ AUTH_RPC_PORT: '70000' })).toThrow(/AUTH_RPC_PORT/);
  });
});
