import { DynamicModule, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSourceOptions } from 'typeorm';

import { openDataSource } from './data-source.factory';
import { DatabaseSchema, databaseOptions } from './database.options';

/**
 * Which setting holds a service's database URL, and what lives in that database.
 *
 * @example
 * ServiceDatabaseModule.forRoot({ urlSetting: 'CATALOG_DATABASE_URL', entities, migrations })
 */
export interface ServiceDatabaseOptions extends DatabaseSchema {
  /**
   * The `ConfigService` key of a `postgres://` URL or a SQLite file path (see
   * {@link databaseOptions}); also named in the start-up failure line, as the thing to check.
   */
  urlSetting: string;
}

/**
 * The service's TypeORM connection: PostgreSQL or an embedded SQLite file, migrated at
 * start-up, failing start-up with one clear `StartupError` when it cannot be opened.
 * Needs a global `ConfigService`.
 *
 * @example
 * ServiceDatabaseModule.forRoot({
 *   urlSetting: 'ORDERS_DATABASE_URL',
 *   entities: [Order],
 *   migrations: [CreateOrders1764000000000],
 * });
 */
@Module({})
export class ServiceDatabaseModule {
  static forRoot(options: ServiceDatabaseOptions): DynamicModule {
    const { urlSetting, ...schema } = options;
    return {
      module: ServiceDatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService) =>
            databaseOptions(config.getOrThrow<string>(urlSetting), schema),
          dataSourceFactory: (dataSource) =>
            openDataSource(dataSource as DataSourceOptions, `check ${urlSetting}`),
        }),
      ],
    };
  }
}
