export default {
  displayName: 'auth',
  preset: '../../jest.preset.js',
  testEnvironment: 'node',
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  moduleFileExtensions: ['ts', 'js', 'html', 'lua'],
  // The e2e specs boot the whole app against real Redis and PostgreSQL.
  testTimeout: 15000,
  coverageDirectory: '../../coverage/apps/auth',
};
