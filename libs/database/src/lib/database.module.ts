import { DynamicModule, InjectionToken, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSourceOptions } from 'typeorm';

import { openDataSource } from './data-source.factory';
import { DatabaseSchema, databaseOptions } from './database.options';

/** Where a service's database is, what lives in it, and what to say when it is unreachable. */
export interface ServiceDatabaseOptions extends DatabaseSchema {
  /** The providers `url` is given, as in `TypeOrmModule.forRootAsync`. */
  inject?: InjectionToken[];
  /** A `postgres://` URL or the path of a SQLite file; see {@link databaseOptions}. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- whatever `inject` lists
  url: (...injected: any[]) => string;
  /** Appended to the start-up failure line, e.g. which setting to check. */
  hint?: string;
}

/**
 * The service's TypeORM connection: PostgreSQL or an embedded SQLite file, migrated at
 * start-up, failing start-up with one clear {@link StartupError} when it cannot be opened.
 *
 * @example
 * ServiceDatabaseModule.forRoot({
 *   inject: [ConfigService],
 *   url: (config: ConfigService<Env, true>) => config.get('ORDERS_DATABASE_URL'),
 *   entities: [Order],
 *   migrations: [CreateOrders1764000000000],
 * });
 */
@Module({})
export class ServiceDatabaseModule {
  static forRoot(options: ServiceDatabaseOptions): DynamicModule {
    const { inject = [], url, hint, ...schema } = options;
    return {
      module: ServiceDatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject,
          useFactory: (...injected: unknown[]) => databaseOptions(url(...injected), schema),
          dataSourceFactory: (dataSource) => openDataSource(dataSource as DataSourceOptions, hint),
        }),
      ],
    };
  }
}
