export default {
  displayName: 'gateway-e2e',
  preset: '../../jest.preset.js',
  testEnvironment: 'node',
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  // The suites start whole stacks of processes: one at a time.
  maxWorkers: 1,
  testTimeout: 60000,
  coverageDirectory: '../../coverage/apps/gateway-e2e',
};
