import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';

import { Public, SessionStoreHealthIndicator } from '@cloakroom/session';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly redis: SessionStoreHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  @ApiOkResponse({ description: 'Redis and the database answer' })
  @ApiServiceUnavailableResponse({ description: 'One of them does not; `details` says which' })
  check() {
    return this.health.check([
      () => this.redis.isHealthy('redis'),
      () => this.database.pingCheck('database', { timeout: 1000 }),
    ]);
  }
}
