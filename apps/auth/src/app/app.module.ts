import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';

import { ServiceHealthModule, sessionOptionsFromEnv } from '@cloakroom/service-sessions';
import { SessionGuard, SessionModule } from '@cloakroom/session';

import { ActivityModule } from './activity/activity.module';
import { AuthModule } from './auth/auth.module';
import { AuthEnv } from './config/auth.env';
import { AuthConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { DemoModule } from './demo/demo.module';
import { AuthRedis } from './redis/auth-redis';
import { RedisModule } from './redis/redis.module';
import { SessionsModule } from './sessions/sessions.module';
import { UsersModule } from './users/users.module';

@Module({})
export class AppModule {
  /**
   * @param env settings that win over the environment (tests run several apps per process).
   */
  static forRoot(env: Record<string, string> = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AuthConfigModule.forRoot(env),
        RedisModule,
        SessionModule.forRootAsync({
          inject: [AuthEnv, AuthRedis],
          useFactory: (config: AuthEnv, redis: AuthRedis) =>
            sessionOptionsFromEnv(config, { client: redis.client }),
        }),
        DatabaseModule,
        ActivityModule,
        AuthModule,
        UsersModule,
        DemoModule,
        SessionsModule,
        ServiceHealthModule,
      ],
      // Default deny: every route needs a session unless it is marked @Public().
      providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
    };
  }
}
