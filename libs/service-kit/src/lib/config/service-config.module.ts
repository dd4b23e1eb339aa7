import { DynamicModule, Module, Type } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';

import { ServiceEnv } from './service.env';
import { validateEnv } from './validate-env';

/**
 * A service's validated configuration, global: inject the environment class itself
 * (typed, defaults applied), or `ConfigService` for modules that look settings up by name.
 * Read from the process environment (no `.env` file) merged with `overrides`, and never
 * written back to it, so tests can start several apps with their own settings in one process.
 * Validation runs when the app is created: a bad value fails start-up with one line. Shared
 * modules inject the same object as `ServiceEnv` and read the fragments they know.
 *
 * @example
 * ServiceConfigModule.forRoot(OrdersEnv, { ORDERS_PORT: '0' });
 * // then: constructor(private readonly env: OrdersEnv) {}
 */
@Module({})
export class ServiceConfigModule {
  static forRoot<T extends ServiceEnv>(
    schema: Type<T>,
    overrides: Record<string, string> = {},
  ): DynamicModule {
    let env: T | undefined;
    const load = (): T => (env ??= validateEnv(schema, { ...process.env, ...overrides }));
    return {
      module: ServiceConfigModule,
      global: true,
      imports: [
        // Through `load` rather than `validate`: `validate` copies its result into process.env.
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          validatePredefined: false,
          skipProcessEnv: true,
          load: [load],
        }),
      ],
      providers: [
        { provide: schema, useFactory: load },
        // Shared modules (health, start-up checks) read the fragments they know through it.
        { provide: ServiceEnv, useExisting: schema },
      ],
      exports: [schema, ServiceEnv, ConfigModule],
    };
  }
}
