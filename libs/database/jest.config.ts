// This library's tests run in a zone with daylight saving, and their PostgreSQL sessions start
// in one unless told otherwise (the workers inherit both): what the library stores must depend
// on neither zone (see test/utc-timestamps.int-spec.ts).
process.env['TZ'] = 'Europe/Paris';
process.env['PGOPTIONS'] = '-c TimeZone=America/New_York';

export default {
  displayName: 'database',
  preset: '../../jest.preset.js',
  testEnvironment: 'node',
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  coverageDirectory: '../../coverage/libs/database',
};
