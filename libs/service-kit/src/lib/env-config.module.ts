import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigModuleOptions } from '@nestjs/config';

/**
 * Global configuration read from the process environment only (no `.env` file), validated at
 * start-up against a Joi schema that reports every problem at once.
 *
 * @example
 * EnvConfigModule.forRoot(envSchema); // then inject ConfigService<Env, true>
 */
@Module({})
export class EnvConfigModule {
  static forRoot(schema: ConfigModuleOptions['validationSchema']): DynamicModule {
    return {
      module: EnvConfigModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          validationSchema: schema,
          validationOptions: { abortEarly: false },
        }),
      ],
    };
  }
}
