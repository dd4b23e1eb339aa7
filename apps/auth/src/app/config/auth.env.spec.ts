import { StartupError, validateEnv } from '@cloakroom/service-kit';

import { AuthEnv } from './auth.env';

describe('AuthEnv', () => {
  it.each(['development', 'test', 'production'])('accepts NODE_ENV=%s', (value) => {
    expect(validateEnv(AuthEnv, { NODE_ENV: value }).NODE_ENV).toBe(value);
  });

  it.each(['Production', 'prod', '', 'staging'])('refuses NODE_ENV=%j in one line', (value) => {
    const refuse = () => validateEnv(AuthEnv, { NODE_ENV: value });
    expect(refuse).toThrow(StartupError);
    expect(refuse).toThrow(/^invalid configuration: NODE_ENV must be one of the following values/);
    expect(refuse).not.toThrow(/\n/);
  });

  it('seeds demo users only when asked', () => {
    expect(validateEnv(AuthEnv, {}).SEED_DEMO_USERS).toBe(false);
    expect(validateEnv(AuthEnv, { SEED_DEMO_USERS: 'true' }).SEED_DEMO_USERS).toBe(true);
    expect(() => validateEnv(AuthEnv, { SEED_DEMO_USERS: 'yes' })).toThrow(/SEED_DEMO_USERS/);
  });

  it('refuses to seed demo users in production, in one line', () => {
    const refuse = () => validateEnv(AuthEnv, { NODE_ENV: 'production', SEED_DEMO_USERS: 'true' });
    expect(refuse).toThrow(StartupError);
    expect(refuse).toThrow(
      /^invalid configuration: SEED_DEMO_USERS cannot be true when NODE_ENV is production/,
    );
    expect(refuse).not.toThrow(/\n/);
    const off = validateEnv(AuthEnv, { NODE_ENV: 'production', SEED_DEMO_USERS: 'false' });
    expect(off.SEED_DEMO_USERS).toBe(false);
  });

  it('leaves AUTH_API_DOCS unset unless given (the app then decides from NODE_ENV)', () => {
    expect(validateEnv(AuthEnv, {}).AUTH_API_DOCS).toBeUndefined();
    expect(validateEnv(AuthEnv, { AUTH_API_DOCS: 'true' }).AUTH_API_DOCS).toBe(true);
    expect(() => validateEnv(AuthEnv, { AUTH_API_DOCS: 'on' })).toThrow(/AUTH_API_DOCS/);
  });
});
