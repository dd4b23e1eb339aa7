import { StartupError, validateEnv } from '@cloakroom/service-kit';

import { CatalogEnv } from './catalog.env';

describe('CatalogEnv', () => {
  it.each(['development', 'test', 'production'])('accepts NODE_ENV=%s', (value) => {
    expect(validateEnv(CatalogEnv, { NODE_ENV: value }).NODE_ENV).toBe(value);
  });

  it.each(['Production', 'prod', '', ' production', 'staging'])(
    'refuses NODE_ENV=%j with one line naming it',
    (value) => {
      const refuse = () => validateEnv(CatalogEnv, { NODE_ENV: value });
      expect(refuse).toThrow(StartupError);
      expect(refuse).toThrow(
        /^invalid configuration: NODE_ENV must be one of the following values/,
      );
      expect(refuse).not.toThrow(/\n/);
    },
  );
});
