import { availableParallelism } from 'node:os';

import { validateEnv } from '@cloakroom/service-kit';
import { sessionOptionsFromEnv } from '@cloakroom/service-sessions';

import { AuthConfig } from './auth.config';
import { AuthEnv } from './auth.env';

function configFor(raw: Record<string, string>): AuthConfig {
  return new AuthConfig(validateEnv(AuthEnv, raw));
}

describe('AuthConfig', () => {
  it('applies the documented defaults', () => {
    const env = validateEnv(AuthEnv, {});
    const config = new AuthConfig(env);
    expect(config.get('AUTH_PORT')).toBe(3001);
    expect(config.get('AUTH_RPC_PORT')).toBe(4001);
    expect(config.get('AUTH_RPC_LISTEN_HOST')).toBe('127.0.0.1');
    expect(sessionOptionsFromEnv(env)).toMatchObject({
      redis: { url: 'redis://127.0.0.1:6379' },
      idleTimeout: 1800,
      absoluteTimeout: 43200,
      maxSessionsPerUser: 10,
      keyPrefix: 'cr:',
      cookie: { secure: false },
      allowedOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
    });
    expect(config.trustProxy).toBe('loopback');
    expect(config.loginThrottle).toEqual({
      maxPerUser: 5,
      maxPerNetwork: 50,
      userCeiling: 20,
      windowMs: 900_000,
      firstDelayMs: 1000,
      maxDelayMs: 60_000,
      knownNetworkMs: 2_592_000_000,
      checkWaitMs: 3000,
      keyPrefix: 'cr:auth:throttle:',
    });
    expect(config.passwordHashing).toEqual({ concurrency: availableParallelism(), queue: 16 });
  });

  it('uses SQLite under .data/ unless AUTH_DATABASE_URL says otherwise', () => {
    expect(configFor({}).get('AUTH_DATABASE_URL')).toBe('sqlite:.data/auth.sqlite');
    expect(configFor({ AUTH_DATABASE_URL: 'postgres://db/auth' }).get('AUTH_DATABASE_URL')).toBe(
      'postgres://db/auth',
    );
  });

  it('reads trust proxy settings', () => {
    expect(configFor({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(configFor({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
  });

  it('refuses malformed values, naming each', () => {
    expect(() => configFor({ AUTH_PORT: 'x', LOGIN_MAX_FAILURES_PER_IP: '0' })).toThrow(
      /AUTH_PORT.*LOGIN_MAX_FAILURES_PER_IP/,
    );
    expect(() => configFor({ NODE_ENV: 'staging' })).toThrow(/NODE_ENV/);
  });

  it('refuses a longest login delay shorter than the first', () => {
    expect(() => configFor({ LOGIN_DELAY_FIRST: '10', LOGIN_DELAY_MAX: '5' })).toThrow(
      /LOGIN_DELAY_MAX/,
    );
    expect(() => configFor({ PASSWORD_HASH_CONCURRENCY: '0' })).toThrow(
      /PASSWORD_HASH_CONCURRENCY/,
    );
    expect(configFor({ LOGIN_DELAY_FIRST: '0.5' }).loginThrottle.firstDelayMs).toBe(500);
  });
});
