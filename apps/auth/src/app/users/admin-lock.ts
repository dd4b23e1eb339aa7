import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryRunner, QueryRunnerAlreadyReleasedError } from 'typeorm';

import { isDatabaseUnavailable } from '@cloakroom/service-kit';

import { AuthEnv } from '../config/auth.env';
import { endServerProcess, PgConnection, retryUntilReachable } from './server-process';

/**
 * The PostgreSQL advisory lock every change of who is an enabled administrator takes ("admn"
 * in ASCII). Row locks would not do: two admins demoting each other lock two different rows,
 * and each still counts the other as an admin.
 */
const ADMIN_CHANGE_LOCK = 0x61646d6e;

/**
 * Milliseconds a holder waits for the lock (`lock_timeout` on its connection) before giving up
 * with a 503. Shorter than a query's own timeout (5 s), so that the server stops the wait: a
 * wait the client gave up on instead would still take the lock, for nobody.
 */
export const ADMIN_LOCK_WAIT_MS = 4_000;

/** The lock as its holder has it. */
export interface AdminLockHold {
  /** Queries on the connection that holds the lock now. */
  readonly manager: EntityManager;
  /**
   * Whether `error`, from a query on `manager`, means that its connection is gone (and the
   * lock with it): the query may or may not have run.
   */
  lost(error: unknown): boolean;
  /**
   * After a loss: ends the lost connection's server process (its lock is free at once, and
   * nothing sent on it can still run), then takes the lock again on a new connection, which
   * `manager` uses from then on. Keeps trying while the database cannot be reached, then
   * rejects with `OutcomeUnknownError`.
   */
  regain(): Promise<void>;
}

/** A connection that holds, or held, the lock. */
interface Held {
  runner: QueryRunner;
  connection: PgConnection;
  /** What the connection reported when it was lost, kept for the holder's answer. */
  onError: (error: Error) => void;
}

/**
 * The one lock under which access (roles, `disabled`) is changed and applied to the sessions,
 * by this process and every other auth instance: changes reach the database and the sessions
 * in the same order.
 */
@Injectable()
export class AdminLock {
  private readonly logger = new Logger(AdminLock.name);
  /** Serialises the holders within this process (SQLite has no lock across processes). */
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * How long the server keeps a holder's connection, and so the lock, once it stopped hearing
   * from it (`idle_session_timeout`, `idle_in_transaction_session_timeout`). A holder whose
   * network was cut, or whose host died, says nothing: with TCP keepalives (two hours by
   * default) the lock would outlive it that long, and every access change wait for it. A live
   * holder is quiet only while it waits for the session store: a session update is up to five
   * calls of at most `SESSION_STORE_TIMEOUT` (the user's tags, and the key they derive from when
   * it is not cached yet, the script, its event), the replicas' acknowledgement when
   * `SESSION_DURABLE_REPLICAS` asks for one (`SESSION_DURABLE_TIMEOUT`), then 2 s to spare: 7 s
   * by default. Should a holder be ended all the same, its next query fails and it takes the
   * lock again (`regain`) before it goes on.
   */
  private readonly idleLimitMs: number;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    env: AuthEnv,
  ) {
    const durableMs = env.SESSION_DURABLE_REPLICAS > 0 ? env.SESSION_DURABLE_TIMEOUT * 1000 : 0;
    this.idleLimitMs = Math.ceil(2000 + 5 * env.SESSION_STORE_TIMEOUT * 1000 + durableMs);
  }

  /**
   * Runs `work` after every holder this process started before it has settled, holding the
   * PostgreSQL advisory lock on its own connection (released when done, or by the server if
   * the connection dies or goes quiet); on SQLite, on its one connection as is. A
   * session-level lock, not a transaction-scoped one: it must outlast a write's commit,
   * through the sessions' update. A connection lost while held answers what the loss was (a
   * 503), not the failure of the unlock after it.
   */
  run<T>(work: (manager: EntityManager, hold: AdminLockHold) => Promise<T>): Promise<T> {
    const held = () => this.underDatabaseLock(work);
    const result = this.queue.then(held, held);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async underDatabaseLock<T>(
    work: (manager: EntityManager, hold: AdminLockHold) => Promise<T>,
  ): Promise<T> {
    if (this.dataSource.options.type !== 'postgres') {
      const manager = this.dataSource.manager;
      return work(manager, {
        manager,
        lost: () => false,
        regain: () => Promise.reject(new Error('SQLite has no connection to lose')),
      });
    }
    let lostWith: Error | undefined;
    const record = (error: Error) => (lostWith ??= error);
    let held = await this.take(record);
    const hold: AdminLockHold = {
      get manager() {
        return held.runner.manager;
      },
      // TypeORM lets go of a connection that reported an error; a timed-out query reports
      // its own error first, and its connection is dropped just after (DeadlineClient).
      lost: (error) => held.runner.isReleased || isDatabaseUnavailable(error),
      regain: async () => {
        const lost = held;
        this.drop(lost);
        held = await retryUntilReachable(async () => {
          await endServerProcess(this.dataSource, lost.connection.processID);
          return this.take(record);
        });
      },
    };
    try {
      return await work(held.runner.manager, hold);
    } catch (error) {
      // Queries after a loss are refused by TypeORM; what the holder hears is the loss.
      throw error instanceof QueryRunnerAlreadyReleasedError && lostWith ? lostWith : error;
    } finally {
      await this.letGo(held, true);
    }
  }

  /** A connection of its own, its limits set (see `idleLimitMs`), then the lock taken on it. */
  private async take(onError: (error: Error) => void): Promise<Held> {
    const runner = this.dataSource.createQueryRunner();
    const connection = (await runner.connect()) as PgConnection;
    const held = { runner, connection, onError };
    connection.on('error', onError);
    try {
      await runner.query(
        `SELECT set_config('idle_session_timeout', $1, false),
                set_config('idle_in_transaction_session_timeout', $1, false),
                set_config('lock_timeout', $2, false)`,
        [String(this.idleLimitMs), String(ADMIN_LOCK_WAIT_MS)],
      );
    } catch (error) {
      this.drop(held);
      throw error;
    }
    try {
      await runner.query('SELECT pg_advisory_lock($1)', [ADMIN_CHANGE_LOCK]);
    } catch (error) {
      await this.letGo(held, false);
      throw error;
    }
    return held;
  }

  /**
   * Unlocks, and puts the connection back in the pool as it was. When that fails the
   * connection is gone, and the lock with it: the server drops it with the connection (at
   * once, or after `idleLimitMs` for one that only went quiet). Whatever the holder ran into
   * is what it answers, not this.
   */
  private async letGo(held: Held, locked: boolean): Promise<void> {
    if (held.runner.isReleased) {
      // Lost, and already told by whatever ran into the loss.
      this.drop(held);
      return;
    }
    try {
      await held.runner.query(
        `${locked ? `SELECT pg_advisory_unlock(${ADMIN_CHANGE_LOCK}); ` : ''}` +
          'RESET idle_session_timeout; RESET idle_in_transaction_session_timeout; RESET lock_timeout',
      );
    } catch (error) {
      this.logger.warn(
        `The admin lock's connection was lost; the server lets go of the lock: ${error}`,
      );
      this.drop(held);
      return;
    }
    held.connection.removeListener('error', held.onError);
    await held.runner.release();
  }

  /** Lets a lost connection go, never to the pool again. */
  private drop(held: Held): void {
    held.connection.removeListener('error', held.onError);
    // The pool does not take an ended connection back.
    held.connection.end().catch(() => undefined);
    void held.runner.release();
  }
}
