import type { Socket } from 'node:net';
import pg from 'pg';

/**
 * Milliseconds a PostgreSQL query may wait for its answer before it fails (pg's
 * `query_timeout`) and its connection is dropped (`DeadlineClient`). A login makes a few small
 * queries; a migration that needs longer belongs in a deployment step of its own.
 *
 * @example
 * // shorter, so that the server ends a lock wait rather than the client giving up on it
 * const ADMIN_LOCK_WAIT_MS = DATABASE_QUERY_TIMEOUT_MS - 1_000;
 */
export const DATABASE_QUERY_TIMEOUT_MS = 5_000;

/** What pg rejects a query with once its `query_timeout` has passed. */
const READ_TIMEOUT = 'Query read timeout';

/**
 * pg's client, which also drops its connection when a query's answer did not come within
 * `query_timeout`. pg fails the query then but keeps the connection, the query still active on
 * it: every later query on that client waits behind it and times out in turn, and the pool
 * hands the client out again. A PostgreSQL whose host died, or that a partition cut off,
 * closes nothing, so a service's pool filled with such clients until the kernel gave their
 * connections up (up to ~15 minutes). Destroyed, the client leaves the pool, and the next
 * query opens a new connection (to whichever server answers at the address now).
 *
 * @example
 * extra: { Client: DeadlineClient, query_timeout: DATABASE_QUERY_TIMEOUT_MS }
 */
export class DeadlineClient extends pg.Client {
  constructor(config?: unknown) {
    super(config);
    // pg ships no types here: the two members this uses.
    const client = this as unknown as PgClient;
    const query = client.query.bind(this);
    // The promise form is what TypeORM uses; a query with a callback is left as pg has it.
    client.query = (...args: unknown[]) => {
      const result = query(...args);
      if (result instanceof Promise) {
        result.catch((error: unknown) => dropAfterTimeout(client, error));
      }
      return result;
    };
  }
}

interface PgClient {
  query(...args: unknown[]): unknown;
  connection: { stream: Socket };
}

function dropAfterTimeout(client: PgClient, error: unknown): void {
  if (error instanceof Error && error.message === READ_TIMEOUT) {
    client.connection.stream.destroy();
  }
}
