import { Module } from '@nestjs/common';

import { ServiceDatabaseModule } from '@cloakroom/database';

import { AuthConfig } from '../config/auth.config';
import { User } from '../users/entities/user.entity';
import { CreateUsers1764000000000 } from './migrations/1764000000000-create-users';

/**
 * The user database: PostgreSQL or an embedded SQLite file. The schema comes from migrations,
 * run at start-up; `synchronize` stays off so a model change never silently alters tables.
 */
@Module({
  imports: [
    ServiceDatabaseModule.forRoot({
      inject: [AuthConfig],
      url: (config: AuthConfig) => config.databaseUrl,
      entities: [User],
      migrations: [CreateUsers1764000000000],
      hint: 'check AUTH_DATABASE_URL; without it auth uses SQLite',
    }),
  ],
})
export class DatabaseModule {}
