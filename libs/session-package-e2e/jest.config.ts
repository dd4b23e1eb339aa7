export default {
  displayName: 'session-package-e2e',
  preset: '../../jest.preset.js',
  testEnvironment: 'node',
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  // The sample app under fixtures/ is compiled by its own tsc run, outside the workspace.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/fixtures/'],
  testTimeout: 30000,
  coverageDirectory: '../../coverage/libs/session-package-e2e',
};
