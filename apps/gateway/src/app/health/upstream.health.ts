import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';

import { Upstream } from '../config/gateway.env';

/** Up when the service's own health check answers 200 within a second. */
@Injectable()
export class UpstreamHealthIndicator {
  constructor(private readonly indicators: HealthIndicatorService) {}

  async isHealthy(upstream: Upstream) {
    const indicator = this.indicators.check(upstream.name);
    try {
      const response = await fetch(`${upstream.url}/api/${upstream.name}/health`, {
        signal: AbortSignal.timeout(1000),
      });
      return response.ok ? indicator.up() : indicator.down({ httpStatus: response.status });
    } catch {
      return indicator.down({ message: 'unreachable' });
    }
  }
}
