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
  // One file at a time (Jest's default on two cores), unlike the session library: tried with
  // two, a race suite's user creation was answered 503 while another file ran beside it. Its
  // suites hash passwords with argon2, whose pool and queue are sized to the machine's cores.
  coverageDirectory: '../../coverage/apps/auth',
};
