import { StartupError, validateEnv } from '@cloakroom/service-kit';

import { GatewayEnv, publicUrlOf } from './gateway.env';

describe('GatewayEnv', () => {
  it.each(['development', 'test', 'production'])('accepts NODE_ENV=%s', (value) => {
    expect(validateEnv(GatewayEnv, { NODE_ENV: value }).NODE_ENV).toBe(value);
  });

  it.each(['Production', 'prod', '', ' production', 'staging'])(
    'refuses NODE_ENV=%j with one line naming it',
    (value) => {
      const refuse = () => validateEnv(GatewayEnv, { NODE_ENV: value });
      expect(refuse).toThrow(StartupError);
      expect(refuse).toThrow(
        /^invalid configuration: NODE_ENV must be one of the following values/,
      );
      expect(refuse).not.toThrow(/\n/);
    },
  );
});

describe('publicUrlOf', () => {
  it('is http://localhost:<PORT> unless PUBLIC_URL says otherwise', () => {
    expect(publicUrlOf(validateEnv(GatewayEnv, { PORT: '8080' })).href).toBe(
      'http://localhost:8080/',
    );
    const configured = validateEnv(GatewayEnv, { PUBLIC_URL: 'https://shop.example' });
    expect(publicUrlOf(configured).protocol).toBe('https:');
    expect(() => validateEnv(GatewayEnv, { PUBLIC_URL: 'shop.example' })).toThrow(/PUBLIC_URL/);
  });
});
