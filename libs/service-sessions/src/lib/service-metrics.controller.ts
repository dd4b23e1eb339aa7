import { Controller, Get, Header, Inject, NotFoundException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

import { Public, SESSION_METRICS, SessionMetrics } from '@cloakroom/session';

import { PrometheusSessionMetrics } from './prometheus-session.metrics';

/**
 * `GET /api/<service>/metrics`: the Prometheus text format, for a scraper on the service
 * network. The gateway does not proxy it: the numbers are operators' business.
 */
@ApiExcludeController()
@Public()
@Controller('metrics')
export class ServiceMetricsController {
  constructor(@Inject(SESSION_METRICS) private readonly metrics: SessionMetrics | null) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    if (!(this.metrics instanceof PrometheusSessionMetrics)) {
      throw new NotFoundException('No metrics here');
    }
    return this.metrics.registry.metrics();
  }
}
