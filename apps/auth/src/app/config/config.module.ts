import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';

import { AuthConfig } from './auth.config';
import { validateEnv } from './env.schema';

/**
 * Validated configuration for the whole app. `overrides` win over the environment: tests
 * start several apps in one process, each with its own settings.
 */
@Global()
@Module({})
export class AuthConfigModule {
  static forRoot(overrides: Record<string, string> = {}): DynamicModule {
    return {
      module: AuthConfigModule,
      imports: [
        ConfigModule.forRoot({
          skipProcessEnv: true,
          validate: (raw) => validateEnv({ ...raw, ...overrides }),
        }),
      ],
      providers: [AuthConfig],
      // ConfigService too: shared modules such as the database read their settings through it.
      exports: [AuthConfig, ConfigModule],
    };
  }
}
