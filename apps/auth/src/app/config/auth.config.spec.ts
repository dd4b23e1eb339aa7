import { ConfigService } from '@nestjs/config';

import { AuthConfig } from './auth.config';
import { validateEnv } from './env.schema';

function configFor(raw: Record<string, string>): AuthConfig {
  return new AuthConfig(new ConfigService(validateEnv(raw)));
}

describe('AuthConfig', () => {
  it('applies the documented defaults', () => {
    const config = configFor({});
    expect(config.get('AUTH_PORT')).toBe(3001);
    expect(config.get('AUTH_RPC_PORT')).toBe(4001);
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(config.session).toMatchObject({
      idleTimeout: 1800,
      absoluteTimeout: 43200,
      maxSessionsPerUser: 10,
      keyPrefix: 'cr:',
      cookie: { secure: false },
      allowedOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://localhost:3001'],
    });
    expect(config.trustProxy).toBe('loopback');
  });

  it('uses SQLite under .data/ unless AUTH_DATABASE_URL says otherwise', () => {
    expect(configFor({}).get('AUTH_DATABASE_URL')).toBe('sqlite:.data/auth.sqlite');
    expect(configFor({ AUTH_DATABASE_URL: 'postgres://db/auth' }).get('AUTH_DATABASE_URL')).toBe(
      'postgres://db/auth',
    );
  });

  it('turns on secure cookies in production, and lets SESSION_COOKIE_SECURE decide', () => {
    expect(configFor({ NODE_ENV: 'production' }).session.cookie?.secure).toBe(true);
    expect(
      configFor({ NODE_ENV: 'production', SESSION_COOKIE_SECURE: 'false' }).session.cookie?.secure,
    ).toBe(false);
    expect(configFor({ SESSION_COOKIE_SECURE: 'true' }).session.cookie?.secure).toBe(true);
  });

  it('reads cluster nodes, allowed origins and trust proxy settings', () => {
    const config = configFor({
      REDIS_CLUSTER_NODES: 'r1:7000,r2:7001',
      SESSION_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
      TRUST_PROXY: '2',
    });
    expect(config.redis).toEqual({
      cluster: [
        { host: 'r1', port: 7000 },
        { host: 'r2', port: 7001 },
      ],
    });
    expect(config.redisPublisher).toEqual({ host: 'r1', port: 7000 });
    expect(config.session.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.trustProxy).toBe(2);
    expect(configFor({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
  });

  it('takes the publisher endpoint, credentials included, from REDIS_URL', () => {
    expect(configFor({ REDIS_URL: 'rediss://u:p%40ss@cache:6380/2' }).redisPublisher).toEqual({
      host: 'cache',
      port: 6380,
      username: 'u',
      password: 'p@ss',
      db: 2,
      tls: {},
    });
  });

  it('refuses malformed values', () => {
    expect(() => validateEnv({ REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
    expect(() => validateEnv({ SESSION_MAX_PER_USER: '-1' })).toThrow(/SESSION_MAX_PER_USER/);
    expect(() => validateEnv({ REDIS_CLUSTER_NODES: 'nohost' })).toThrow(/REDIS_CLUSTER_NODES/);
  });
});
