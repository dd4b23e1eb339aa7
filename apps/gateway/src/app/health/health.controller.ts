import { Controller, Get } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';

import { Env, Upstream, upstreamsOf } from '../config/env.schema';
import { UpstreamHealthIndicator } from './upstream.health';

@Controller('gateway/health')
export class HealthController {
  private readonly upstreams: Upstream[];

  constructor(
    private readonly health: HealthCheckService,
    private readonly upstream: UpstreamHealthIndicator,
    config: ConfigService<Env, true>,
  ) {
    this.upstreams = upstreamsOf(config);
  }

  /** 200 when every service behind the gateway reports itself healthy. */
  @Get()
  @HealthCheck()
  check() {
    return this.health.check(this.upstreams.map((each) => () => this.upstream.isHealthy(each)));
  }
}
