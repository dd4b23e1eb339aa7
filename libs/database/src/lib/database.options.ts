import { resolve } from 'node:path';
import { TypeOrmModuleOptions } from '@nestjs/typeorm';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { DataSourceOptions } from 'typeorm';

import { DATABASE_QUERY_TIMEOUT_MS, DeadlineClient } from './deadline-client';
import { UTC_TIMESTAMP_TYPES, writeDatesAsUtc } from './utc-timestamps';

/**
 * What lives in a service's database: its entities and the migrations that create them.
 *
 * @example
 * databaseOptions(url, {
 *   entities: [Product],
 *   migrations: [CreateProducts1764000000000],
 *   migrationsTableName: 'catalog_migrations',
 * });
 */
export interface DatabaseSchema {
  entities: NonNullable<DataSourceOptions['entities']>;
  migrations: NonNullable<DataSourceOptions['migrations']>;
  /** Defaults to TypeORM's `migrations`. */
  migrationsTableName?: string;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//;

/**
 * TypeORM options for a database URL. `postgres://` (or `postgresql://`) URLs use
 * PostgreSQL; anything else is the path of an embedded SQLite file, optionally written
 * `sqlite:<path>`. The drivers are passed in, not left to TypeORM's dynamic require, so the
 * build lists them in the generated package.json. Migrations run at start-up, `synchronize`
 * stays off so that a model change never silently alters tables, and nothing is retried:
 * {@link openDataSource} reports a failure at once. On PostgreSQL a connection must open within
 * 3 s and a query be answered within `DATABASE_QUERY_TIMEOUT_MS` (5 s), and timestamps are UTC
 * whatever the time zone of the service or the server (see `UTC_TIMESTAMP_TYPES`).
 *
 * @example
 * databaseOptions('sqlite:.data/orders.sqlite', { entities: [Order], migrations: [CreateOrders] });
 */
export function databaseOptions(url: string, schema: DatabaseSchema): TypeOrmModuleOptions {
  const common = { ...schema, migrationsRun: true, synchronize: false, retryAttempts: 0 };
  if (POSTGRES_URL.test(url)) {
    writeDatesAsUtc();
    return {
      type: 'postgres',
      url,
      driver: pg,
      connectTimeoutMS: 3000,
      extra: {
        // A query unanswered for 5 s fails (503) and its connection is dropped: see DeadlineClient.
        Client: DeadlineClient,
        query_timeout: DATABASE_QUERY_TIMEOUT_MS,
        // Dates are UTC in every direction: written, read, and `now()` in a column default.
        types: UTC_TIMESTAMP_TYPES,
        options: '-c TimeZone=UTC',
      },
      ...common,
    };
  }
  const file = url.replace(/^sqlite:(\/\/)?/, '');
  return {
    type: 'better-sqlite3',
    database: file === ':memory:' ? file : resolve(file),
    driver: BetterSqlite3,
    ...common,
  };
}
