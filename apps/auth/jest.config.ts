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
  // Two files at a time, as the session library: each suite keeps to keys of its own process
  // and a PostgreSQL database of its own (`freshSchema`: the admin lock is an advisory lock, one
  // per database, which a suite may hold for seconds on purpose).
  maxWorkers: 2,
  coverageDirectory: '../../coverage/apps/auth',
};
