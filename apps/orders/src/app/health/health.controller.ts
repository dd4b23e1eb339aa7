import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';

import { Public, SessionStoreHealthIndicator } from '@cloakroom/session';

@Public()
@Controller('orders/health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly sessions: SessionStoreHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.sessions.isHealthy('redis'),
      () => this.database.pingCheck('database', { timeout: 1000 }),
    ]);
  }
}
