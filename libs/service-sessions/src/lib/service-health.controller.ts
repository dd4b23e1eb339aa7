import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';

import { Public } from '@cloakroom/session';
import { SessionStoreHealthIndicator } from '@cloakroom/session/health';

/**
 * The key of the session store (Redis, or the auth service) in every service's health.
 *
 * @example
 * expect(body.details[SESSIONS_HEALTH_KEY].status).toBe('down');
 */
export const SESSIONS_HEALTH_KEY = 'sessions';

/** `GET /api/<service>/health`: 200 when the session store and the database answer. */
@ApiTags('health')
@Public()
@Controller('health')
export class ServiceHealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly sessions: SessionStoreHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  @ApiOkResponse({ description: 'The session store and the database answer' })
  @ApiServiceUnavailableResponse({ description: 'One of them does not; `details` says which' })
  check() {
    return this.health.check([
      () => this.sessions.isHealthy(SESSIONS_HEALTH_KEY),
      () => this.database.pingCheck('database', { timeout: 1000 }),
    ]);
  }
}
