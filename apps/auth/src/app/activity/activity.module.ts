import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { AuthConfig } from '../config/auth.config';
import { User } from '../users/entities/user.entity';
import { ActivityCursorCodec } from './activity-cursor';
import { ActivityRetention } from './activity-retention.service';
import { ActivityController } from './activity.controller';
import { ActivityCheckpoint } from './entities/activity-checkpoint.entity';
import { SecurityEvent } from './entities/security-event.entity';
import { SecurityActivityService } from './security-activity.service';
import { SessionEventsConsumer } from './session-events.consumer';

/**
 * The security activity log: stores the session library's lifecycle events and the events
 * the app records itself, prunes them after `ACTIVITY_RETENTION_DAYS`, and lists them.
 * It reads users through their table, not `UsersModule`, so that users code can import this
 * module to record events.
 */
@Module({
  imports: [TypeOrmModule.forFeature([SecurityEvent, ActivityCheckpoint, User])],
  controllers: [ActivityController],
  providers: [
    SecurityActivityService,
    SessionEventsConsumer,
    ActivityRetention,
    {
      provide: ActivityCursorCodec,
      inject: [AuthConfig],
      useFactory: (config: AuthConfig) => new ActivityCursorCodec(config.activityCursorSecret),
    },
  ],
  exports: [SecurityActivityService],
})
export class ActivityModule {}
