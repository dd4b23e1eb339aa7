import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { TypeOrmModuleOptions } from '@nestjs/typeorm';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { DataSource, DataSourceOptions } from 'typeorm';

import { Order } from '../orders/entities/order.entity';
import { CreateOrders1764000000000 } from '../orders/migrations/1764000000000-create-orders';
import { StartupError } from '../startup';

/**
 * `postgres://` (or `postgresql://`) URLs use PostgreSQL; anything else is the path of an
 * embedded SQLite file, optionally written `sqlite:<path>`. The drivers are passed in, not
 * left to TypeORM's dynamic require, so the build lists them in the generated package.json.
 */
export function databaseOptions(url: string): TypeOrmModuleOptions {
  const common = {
    entities: [Order],
    migrations: [CreateOrders1764000000000],
    migrationsRun: true,
    migrationsTableName: 'orders_migrations',
    // openDataSource reports a failure at once; retrying would only delay that line.
    retryAttempts: 0,
  };
  if (/^postgres(ql)?:\/\//.test(url)) {
    return { type: 'postgres', url, driver: pg, ...common };
  }
  const file = url.replace(/^sqlite:/, '');
  mkdirSync(dirname(file), { recursive: true });
  return { type: 'better-sqlite3', database: file, driver: BetterSqlite3, ...common };
}

/**
 * Opens the data source once, without the module's retries: a database that cannot be
 * reached fails start-up at once, with one line saying where it was looked for.
 */
export async function openDataSource(options: DataSourceOptions): Promise<DataSource> {
  try {
    return await new DataSource(options).initialize();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new StartupError(`cannot open the database at ${location(options)}: ${reason}`);
  }
}

function location(options: DataSourceOptions): string {
  if (options.type !== 'postgres') {
    return `SQLite file ${String(options.database)}`;
  }
  const url = new URL(options.url ?? '');
  url.password = '';
  return url.toString();
}
