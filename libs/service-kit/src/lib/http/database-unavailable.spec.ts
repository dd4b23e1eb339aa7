import { isDatabaseUnavailable } from './database-unavailable';

/** A driver error as TypeORM wraps it. */
function wrapped(code: string, message = 'query failed'): Error {
  return Object.assign(new Error(message), {
    driverError: Object.assign(new Error(message), { code }),
  });
}

describe('isDatabaseUnavailable', () => {
  it.each([
    'SQLITE_BUSY',
    'SQLITE_BUSY_SNAPSHOT',
    'SQLITE_BUSY_TIMEOUT',
    'SQLITE_LOCKED',
    'SQLITE_LOCKED_SHAREDCACHE',
  ])(
    'reads SQLite %s (a file locked by another connection) as the database unavailable',
    (code) => {
      expect(isDatabaseUnavailable(wrapped(code, 'database is locked'))).toBe(true);
    },
  );

  it.each([
    'SQLITE_CONSTRAINT_UNIQUE',
    'SQLITE_CONSTRAINT',
    'SQLITE_ERROR',
    'SQLITE_READONLY',
    'SQLITE_BUSYX',
  ])('reads SQLite %s as a refused query, not an outage', (code) => {
    expect(isDatabaseUnavailable(wrapped(code))).toBe(false);
  });

  it.each(['ECONNREFUSED', '08006', '57P01', '53300'])(
    'reads %s as the database unavailable',
    (code) => {
      expect(isDatabaseUnavailable(wrapped(code))).toBe(true);
    },
  );

  it('reads a unique violation (23505) as a refused query', () => {
    expect(isDatabaseUnavailable(wrapped('23505'))).toBe(false);
  });
});
