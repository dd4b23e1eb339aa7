import { DynamicModule, Global, Module } from '@nestjs/common';

import { ServiceConfigModule } from '@cloakroom/service-kit';

import { AuthConfig } from './auth.config';
import { AuthEnv } from './auth.env';

/**
 * Validated configuration for the whole app (`AuthEnv`, `AuthConfig`, `ConfigService`).
 * `overrides` win over the environment: tests start several apps in one process, each with
 * its own settings.
 */
@Global()
@Module({})
export class AuthConfigModule {
  static forRoot(overrides: Record<string, string> = {}): DynamicModule {
    return {
      module: AuthConfigModule,
      imports: [ServiceConfigModule.forRoot(AuthEnv, overrides)],
      providers: [AuthConfig],
      exports: [AuthConfig],
    };
  }
}
