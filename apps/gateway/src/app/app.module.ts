import { Module } from '@nestjs/common';

import { EnvConfigModule } from '@cloakroom/service-kit';

import { envSchema } from './config/env.schema';
import { HealthModule } from './health/health.module';

@Module({
  imports: [EnvConfigModule.forRoot(envSchema), HealthModule],
})
export class AppModule {}
