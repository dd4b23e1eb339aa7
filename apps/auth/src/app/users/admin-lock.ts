import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';

/**
 * The PostgreSQL advisory lock every change of who is an enabled administrator takes ("admn"
 * in ASCII). Row locks would not do: two admins demoting each other lock two different rows,
 * and each still counts the other as an admin.
 */
const ADMIN_CHANGE_LOCK = 0x61646d6e;

/**
 * The one lock under which access (roles, `disabled`) is changed and applied to the sessions,
 * by this process and every other auth instance: changes reach the database and the sessions
 * in the same order.
 */
@Injectable()
export class AdminLock {
  /** Serialises the holders within this process (SQLite has no lock across processes). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Runs `work` after every holder this process started before it has settled, holding the
   * PostgreSQL advisory lock on its own connection (released when done, or by the server if
   * the connection dies); on SQLite, on its one connection as is. A session-level lock, not a
   * transaction-scoped one: it must outlast a write's commit, through the sessions' update.
   */
  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const held = () => this.underDatabaseLock(work);
    const result = this.queue.then(held, held);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async underDatabaseLock<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.dataSource.options.type !== 'postgres') {
      return work(this.dataSource.manager);
    }
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.query('SELECT pg_advisory_lock($1)', [ADMIN_CHANGE_LOCK]);
      try {
        return await work(runner.manager);
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [ADMIN_CHANGE_LOCK]);
      }
    } finally {
      await runner.release();
    }
  }
}
