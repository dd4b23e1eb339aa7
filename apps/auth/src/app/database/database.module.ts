import { Module } from '@nestjs/common';

import { ServiceDatabaseModule } from '@cloakroom/database';

import { ActivityCheckpoint } from '../activity/entities/activity-checkpoint.entity';
import { SecurityEvent } from '../activity/entities/security-event.entity';
import { User } from '../users/entities/user.entity';
import { CreateUsers1764000000000 } from './migrations/1764000000000-create-users';
import { AddUserDisabled1765000000000 } from './migrations/1765000000000-add-user-disabled';
import { CreateSecurityEvents1766000000000 } from './migrations/1766000000000-create-security-events';
import { AddUserAccessPending1767000000000 } from './migrations/1767000000000-add-user-access-pending';
import { AddUserSessionsRevokeKeep1768000000000 } from './migrations/1768000000000-add-user-sessions-revoke-keep';
import { AddUserSessionsRevokeBefore1769000000000 } from './migrations/1769000000000-add-user-sessions-revoke-before';
import { AddUserAccessVersion1770000000000 } from './migrations/1770000000000-add-user-access-version';

/**
 * The user database: PostgreSQL or an embedded SQLite file. The schema comes from migrations,
 * run at start-up; `synchronize` stays off so a model change never silently alters tables.
 */
@Module({
  imports: [
    ServiceDatabaseModule.forRoot({
      urlSetting: 'AUTH_DATABASE_URL',
      entities: [User, SecurityEvent, ActivityCheckpoint],
      migrations: [
        CreateUsers1764000000000,
        AddUserDisabled1765000000000,
        CreateSecurityEvents1766000000000,
        AddUserAccessPending1767000000000,
        AddUserSessionsRevokeKeep1768000000000,
        AddUserSessionsRevokeBefore1769000000000,
        AddUserAccessVersion1770000000000,
      ],
    }),
  ],
})
export class DatabaseModule {}
