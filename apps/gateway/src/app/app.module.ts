import { DynamicModule, Module } from '@nestjs/common';

import { ServiceConfigModule } from '@cloakroom/service-kit';

import { GatewayEnv } from './config/gateway.env';
import { HealthModule } from './health/health.module';

@Module({})
export class AppModule {
  /**
   * @param env settings that win over the environment (tests start the app in-process).
   */
  static forRoot(env: Record<string, string> = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [ServiceConfigModule.forRoot(GatewayEnv, env), HealthModule],
    };
  }
}
