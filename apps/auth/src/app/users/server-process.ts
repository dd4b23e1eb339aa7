import { DataSource, EntityManager } from 'typeorm';

import { isDatabaseUnavailable } from '@cloakroom/service-kit';

/**
 * How long a write whose answer was lost keeps trying to learn whether it ran, before its
 * outcome is declared unknown.
 */
export const FIND_OUT_WITHIN_MS = 5_000;

/** The pause between two tries to reach the database again. */
const RETRY_MS = 200;

/** The part of pg's client this uses: its server process id, and its connection's errors. */
export interface PgConnection {
  processID: number;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
  end(): Promise<void>;
}

/** A write whose answer was lost could not be found out about in time: it may have run. */
export class OutcomeUnknownError extends Error {
  constructor(cause: unknown) {
    super(`Could not find out whether a write ran: ${(cause as Error)?.message ?? cause}`, {
      cause,
    });
  }
}

/**
 * Ends, on the server, the PostgreSQL process `pid` of a connection this service lost, and
 * waits (1 s at most, else rejects) until it is gone. A connection that went quiet without
 * closing (a partition, a host that died: the server hears nothing) keeps its process, idle,
 * with its locks; a query sent on it and held up on the way may still reach it and run. Once
 * the process is gone neither can happen, so what the database holds then is final.
 *
 * A pid names a process, not a connection: one reused for another of this role's connections
 * would end that one (a 503 for its request). Linux hands pids out in turn up to `pid_max`
 * (4 million with systemd), so not within the seconds this runs after a loss.
 */
export async function endServerProcess(dataSource: DataSource, pid: number): Promise<void> {
  const [still] = await dataSource.query(
    'SELECT pg_terminate_backend(pid, 1000) AS ended FROM pg_stat_activity WHERE pid = $1',
    [pid],
  );
  if (still && !still.ended) {
    throw new Error(`PostgreSQL process ${pid} did not end`);
  }
}

/**
 * Tries `attempt` until it succeeds, for `FIND_OUT_WITHIN_MS` from `since` while the database
 * cannot be reached; then rejects with {@link OutcomeUnknownError}.
 */
export async function retryUntilReachable<T>(
  attempt: () => Promise<T>,
  since = performance.now(),
): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (performance.now() - since >= FIND_OUT_WITHIN_MS) {
        throw new OutcomeUnknownError(error);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}

/**
 * Runs one write on a connection of its own and answers its result. Should the connection be
 * lost before the answer came (the write may have run, or may still be on its way to the
 * server), the connection's server process is ended and `landed` then reads, on another
 * connection, whether it ran: if so, the write's result is `true`; if not, the loss is
 * rethrown (nothing changed: a 503). When the database cannot be asked in time, rejects with
 * {@link OutcomeUnknownError}. On SQLite (no connection to lose) the write just runs.
 */
export async function writeFindingOut(
  dataSource: DataSource,
  write: (manager: EntityManager) => Promise<boolean>,
  landed: (manager: EntityManager) => Promise<boolean>,
): Promise<boolean> {
  if (dataSource.options.type !== 'postgres') {
    return write(dataSource.manager);
  }
  const runner = dataSource.createQueryRunner();
  let pid: number | undefined;
  try {
    pid = ((await runner.connect()) as PgConnection).processID;
    return await write(runner.manager);
  } catch (error) {
    // Not connected: nothing was sent. A refused query: nothing ran.
    if (pid === undefined || (!runner.isReleased && !isDatabaseUnavailable(error))) {
      throw error;
    }
    const lost = pid;
    const ran = await retryUntilReachable(async () => {
      await endServerProcess(dataSource, lost);
      return landed(dataSource.manager);
    });
    if (!ran) {
      throw error;
    }
    return true;
  } finally {
    await runner.release();
  }
}
