const nxPreset = require('@nx/jest/preset').default;

module.exports = {
  ...nxPreset,
  // Unit specs, integration specs (real Redis/PostgreSQL) and in-process e2e specs.
  testMatch: ['**/?(*.)+(spec|int-spec|e2e-spec).[jt]s'],
  transform: {
    '^.+\\.lua$': require.resolve('./tools/jest/text-transform.js'),
  },
  moduleFileExtensions: ['ts', 'js', 'lua'],
};
