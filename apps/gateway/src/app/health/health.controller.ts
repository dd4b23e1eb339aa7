import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';

import { GatewayEnv, Upstream, upstreamsOf } from '../config/gateway.env';
import { UpstreamHealthIndicator } from './upstream.health';

@Controller('health')
export class HealthController {
  private readonly upstreams: Upstream[];

  constructor(
    private readonly health: HealthCheckService,
    private readonly upstream: UpstreamHealthIndicator,
    env: GatewayEnv,
  ) {
    this.upstreams = upstreamsOf(env);
  }

  /** 200 when every service behind the gateway reports itself healthy. */
  @Get()
  @HealthCheck()
  check() {
    return this.health.check(this.upstreams.map((each) => () => this.upstream.isHealthy(each)));
  }
}
