import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';

import { SessionStoreHealthIndicator } from '@cloakroom/session';

import { HealthController } from './health.controller';
import { StartupCheck } from './startup-check';

@Module({
  imports: [TerminusModule],
  controllers: [HealthController],
  providers: [SessionStoreHealthIndicator, StartupCheck],
})
export class HealthModule {}
