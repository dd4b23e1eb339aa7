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
  // Two files at a time: most suites wait on Redis, PostgreSQL, relays and timers rather than
  // compute, and each keeps to keys of its own process (`testKeyPrefix`) and starts its own
  // Redis for anything server-wide (CONFIG, ACL, PAUSE, kills). Two workers halve the wait.
  maxWorkers: 2,
  coverageDirectory: '../../coverage/apps/auth',
};
