import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';

import { SessionGuard, SessionModule } from '@cloakroom/session';

import { AuthModule } from './auth/auth.module';
import { AuthErrorFilter } from './common/auth-error.filter';
import { AppValidationPipe } from './common/validation';
import { AuthConfig } from './config/auth.config';
import { AuthConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
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
        SessionModule.forRootAsync({
          inject: [AuthConfig],
          useFactory: (config: AuthConfig) => config.session,
        }),
        RedisModule,
        DatabaseModule,
        AuthModule,
        UsersModule,
        SessionsModule,
        HealthModule,
      ],
      providers: [
        // Default deny: every route needs a session unless it is marked @Public().
        { provide: APP_GUARD, useClass: SessionGuard },
        { provide: APP_PIPE, useClass: AppValidationPipe },
        { provide: APP_FILTER, useClass: AuthErrorFilter },
      ],
    };
  }
}
