import { StartupError, validateEnv } from '@cloakroom/service-kit';

import { AuthEnv, DEVELOPMENT_DEVICE_SECRET } from './auth.env';

/** A device-token secret of the deployment's own, as production requires. */
const DEVICE_SECRET = 'a-deployment-secret-of-at-least-32-characters';

describe('AuthEnv', () => {
  it.each(['development', 'test', 'production'])('accepts NODE_ENV=%s', (value) => {
    const env = validateEnv(AuthEnv, { NODE_ENV: value, LOGIN_DEVICE_SECRET: DEVICE_SECRET });
    expect(env.NODE_ENV).toBe(value);
  });

  it('signs device tokens with the development secret unless given one, and never in production', () => {
    expect(validateEnv(AuthEnv, {}).LOGIN_DEVICE_SECRET).toBe(DEVELOPMENT_DEVICE_SECRET);
    for (const settings of [
      { NODE_ENV: 'production' },
      { NODE_ENV: 'production', LOGIN_DEVICE_SECRET: DEVELOPMENT_DEVICE_SECRET },
    ]) {
      const refuse = () => validateEnv(AuthEnv, settings);
      expect(refuse).toThrow(StartupError);
      expect(refuse).toThrow(
        /^invalid configuration: LOGIN_DEVICE_SECRET must be set to a secret of your own when NODE_ENV is production/,
      );
      expect(refuse).not.toThrow(/\n/);
    }
    expect(() => validateEnv(AuthEnv, { LOGIN_DEVICE_SECRET: 'too short' })).toThrow(
      /LOGIN_DEVICE_SECRET must be longer than or equal to 32 characters/,
    );
  });

  it.each(['Production', 'prod', '', 'staging'])('refuses NODE_ENV=%j in one line', (value) => {
    const refuse = () => validateEnv(AuthEnv, { NODE_ENV: value });
    expect(refuse).toThrow(StartupError);
    expect(refuse).toThrow(/^invalid configuration: NODE_ENV must be one of the following values/);
    expect(refuse).not.toThrow(/\n/);
  });

  it('keeps activity at most a century, in one line', () => {
    expect(validateEnv(AuthEnv, { ACTIVITY_RETENTION_DAYS: '36500' }).ACTIVITY_RETENTION_DAYS).toBe(
      36_500,
    );
    const refuse = () => validateEnv(AuthEnv, { ACTIVITY_RETENTION_DAYS: '1000000000000000' });
    expect(refuse).toThrow(StartupError);
    expect(refuse).toThrow(/ACTIVITY_RETENTION_DAYS must not be greater than 36500/);
    expect(refuse).not.toThrow(/\n/);
  });

  it('seeds demo users only when asked', () => {
    expect(validateEnv(AuthEnv, {}).SEED_DEMO_USERS).toBe(false);
    expect(validateEnv(AuthEnv, { SEED_DEMO_USERS: 'true' }).SEED_DEMO_USERS).toBe(true);
    expect(() => validateEnv(AuthEnv, { SEED_DEMO_USERS: 'yes' })).toThrow(/SEED_DEMO_USERS/);
  });

  it('refuses to seed demo users in production, in one line', () => {
    const refuse = () =>
      validateEnv(AuthEnv, {
        NODE_ENV: 'production',
        SEED_DEMO_USERS: 'true',
        LOGIN_DEVICE_SECRET: DEVICE_SECRET,
      });
    expect(refuse).toThrow(StartupError);
    expect(refuse).toThrow(
      /^invalid configuration: SEED_DEMO_USERS cannot be true when NODE_ENV is production/,
    );
    expect(refuse).not.toThrow(/\n/);
    const off = validateEnv(AuthEnv, {
      NODE_ENV: 'production',
      SEED_DEMO_USERS: 'false',
      LOGIN_DEVICE_SECRET: DEVICE_SECRET,
    });
    expect(off.SEED_DEMO_USERS).toBe(false);
  });

  it('leaves AUTH_API_DOCS unset unless given (the app then decides from NODE_ENV)', () => {
    expect(validateEnv(AuthEnv, {}).AUTH_API_DOCS).toBeUndefined();
    expect(validateEnv(AuthEnv, { AUTH_API_DOCS: 'true' }).AUTH_API_DOCS).toBe(true);
    expect(() => validateEnv(AuthEnv, { AUTH_API_DOCS: 'on' })).toThrow(/AUTH_API_DOCS/);
  });
});
