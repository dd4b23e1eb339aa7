const nxPreset = require('@nx/jest/preset').default;

module.exports = {
  ...nxPreset,
  // Unit specs, integration specs (real Redis/PostgreSQL) and in-process e2e specs.
  testMatch: ['**/?(*.)+(spec|int-spec|e2e-spec).[jt]s'],
  transform: {
    '^.+\\.lua$': require.resolve('./tools/jest/text-transform.js'),
  },
  moduleFileExtensions: ['ts', 'js', 'lua'],
  // Keys tests wrote under `test:<pid>:` (testKeyPrefix) go once their process has ended.
  globalTeardown: require.resolve('./tools/jest/delete-test-keys.js'),
  // The tools here are plain CommonJS for Node, not sources to compile.
  transformIgnorePatterns: ['/node_modules/', '/tools/jest/'],
};
