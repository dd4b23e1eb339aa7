const nxPreset = require('@nx/jest/preset').default;

module.exports = {
  ...nxPreset,
  transform: {
    '^.+\\.lua$': require.resolve('./tools/jest/text-transform.js'),
  },
  moduleFileExtensions: ['ts', 'js', 'lua'],
};
