export default {
  displayName: 'auth-e2e',
  preset: '../../jest.preset.js',
  testEnvironment: 'node',
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  testTimeout: 30000,
  coverageDirectory: '../../coverage/apps/auth-e2e',
};
