import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';

import { SessionStoreHealthIndicator } from '@cloakroom/session';

import { HealthController } from './health.controller';

@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [SessionStoreHealthIndicator],
})
export class HealthModule {}
