import type { IncomingMessage } from 'node:http';
import { Controller, Get, Req, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';

import { GatewayEnv, Upstream, upstreamsOf } from '../config/gateway.env';
import { namesUnknownHost } from '../security/allowed-hosts';
import { UpstreamHealthIndicator } from './upstream.health';

/**
 * Where the gateway answers its health, the one path it serves whatever the request's `Host`
 * names (see `refuseUnknownHosts`).
 */
export const GATEWAY_HEALTH_PATH = '/api/gateway/health';

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

  /**
   * 200 when every service behind the gateway reports itself healthy, each one's state in
   * `details`. A request naming a host the gateway does not serve (a probe by address; a
   * rebinding page) gets the status alone: `{ status: 'ok' }`, or a bare 503.
   */
  @Get()
  @HealthCheck()
  async check(@Req() request: IncomingMessage) {
    const checks = this.upstreams.map((each) => () => this.upstream.isHealthy(each));
    if (!namesUnknownHost(request)) {
      return this.health.check(checks);
    }
    try {
      await this.health.check(checks);
    } catch (error) {
      throw error instanceof ServiceUnavailableException
        ? new ServiceUnavailableException()
        : error;
    }
    return { status: 'ok' };
  }
}
