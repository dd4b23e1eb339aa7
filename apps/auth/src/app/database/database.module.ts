import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { DataSource, DataSourceOptions } from 'typeorm';

import { StartupError } from '../common/startup.error';
import { AuthConfig } from '../config/auth.config';
import { User } from '../users/entities/user.entity';
import { CreateUsers1764000000000 } from './migrations/1764000000000-create-users';

/**
 * The user database: PostgreSQL or an embedded SQLite file. The schema comes from migrations,
 * run at start-up; `synchronize` stays off so a model change never silently alters tables.
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AuthConfig],
      useFactory: (config: AuthConfig) => ({
        ...config.database,
        // Passed in rather than loaded by name, so the production build lists the drivers as
        // dependencies and the image installs them.
        driver: config.database.type === 'postgres' ? pg : BetterSqlite3,
        entities: [User],
        migrations: [CreateUsers1764000000000],
        migrationsRun: true,
        synchronize: false,
        // Fail fast, without retries or retry logs: main.ts prints the one line instead.
        toRetry: () => false,
        ...(config.database.type === 'postgres' && { connectTimeoutMS: 3000 }),
      }),
      dataSourceFactory: async (options) => {
        try {
          return await new DataSource(options as DataSourceOptions).initialize();
        } catch (error) {
          throw new StartupError(describe(options as DataSourceOptions), error);
        }
      },
    }),
  ],
})
export class DatabaseModule {}

function describe(options: DataSourceOptions): string {
  if (options.type === 'postgres') {
    const url = new URL(options.url ?? '');
    url.password = '';
    return `auth: cannot reach PostgreSQL at ${url.toString()} (check AUTH_DATABASE_URL, or unset it to use SQLite)`;
  }
  return `auth: cannot open the SQLite database ${String(options.database)} (check AUTH_DATABASE_URL)`;
}
