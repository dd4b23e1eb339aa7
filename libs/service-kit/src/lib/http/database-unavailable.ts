/** System error codes of a server that cannot be reached, or that went away. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL's SQLSTATEs for a server that is not there for us: class 08 (connection
 * exception), shutting down or starting (57P01–57P03), too many connections (53300), a
 * connection it ended for idling (57P05 `idle_session_timeout`, 25P03
 * `idle_in_transaction_session_timeout`), a lock not free within `lock_timeout` (55P03: busy,
 * nothing was refused).
 */
const SQLSTATE_UNAVAILABLE = /^(08...|57P0[1235]|53300|25P03|55P03)$/;

/**
 * SQLite's codes for a file another connection holds locked past the busy timeout (a second
 * process on the same file, a backup, an operator's shell): nothing was refused, it was busy.
 * Extended codes (`SQLITE_BUSY_SNAPSHOT`, `SQLITE_LOCKED_SHAREDCACHE`…) too.
 */
const SQLITE_BUSY = /^SQLITE_(BUSY|LOCKED)(_[A-Z]+)?$/;

/** What pg says when a connection failed, or a query was not answered in time. */
const PG_CONNECTION_FAILURE =
  /^(Query read timeout|Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * Whether `error` says the database could not be reached or did not answer in time (rather
 * than refusing a query): the service answers 503, as for its session store, not 500. TypeORM
 * wraps a driver's error in `driverError`.
 *
 * @example
 * // a login whose database failed says nothing of the password: not counted toward a lockout
 * if (isDatabaseUnavailable(error)) await attempt.abandon();
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; cause && depth < 3; depth++) {
    const { code, message, driverError } = cause as {
      code?: unknown;
      message?: unknown;
      driverError?: unknown;
    };
    if (
      typeof code === 'string' &&
      (UNREACHABLE.has(code) || SQLSTATE_UNAVAILABLE.test(code) || SQLITE_BUSY.test(code))
    ) {
      return true;
    }
    if (typeof message === 'string' && PG_CONNECTION_FAILURE.test(message)) {
      return true;
    }
    cause = driverError;
  }
  return false;
}
