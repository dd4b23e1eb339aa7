import { StartupError, validateEnv } from '@cloakroom/service-kit';

import { OrdersEnv } from './orders.env';

describe('OrdersEnv', () => {
  it.each(['development', 'test', 'production'])('accepts NODE_ENV=%s', (value) => {
    expect(validateEnv(OrdersEnv, { NODE_ENV: value }).NODE_ENV).toBe(value);
  });

  it.each(['Production', 'prod', '', ' production', 'staging'])(
    'refuses NODE_ENV=%j with one line naming it',
    (value) => {
      const refuse = () => validateEnv(OrdersEnv, { NODE_ENV: value });
      expect(refuse).toThrow(StartupError);
      expect(refuse).toThrow(
        /^invalid configuration: NODE_ENV must be one of the following values/,
      );
      expect(refuse).not.toThrow(/\n/);
    },
  );
});
