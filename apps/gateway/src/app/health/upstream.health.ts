import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';

import { Upstream } from '../config/gateway.env';

/** Milliseconds a service's health, once known, stands for every check of the gateway's. */
export const UPSTREAM_HEALTH_REUSE_MS = 1_000;

/** A service's health check: in flight, or settled at `settledAt` (`performance.now()`). */
interface Probe {
  result: Promise<HealthIndicatorResult>;
  settledAt?: number;
}

/**
 * Up when the service's own health check answers 200 within a second. The gateway's health is
 * open to anyone (any `Host`, see `refuseUnknownHosts`), and each of its checks would cost every
 * service a request of its own: checks of one service that come while one is in flight share
 * it, and its result stands for {@link UPSTREAM_HEALTH_REUSE_MS} after it settled, so that a
 * flood of calls reaches each service at most once in flight and about once a second.
 */
@Injectable()
export class UpstreamHealthIndicator {
  private readonly probes = new Map<string, Probe>();

  constructor(private readonly indicators: HealthIndicatorService) {}

  isHealthy(upstream: Upstream): Promise<HealthIndicatorResult> {
    const last = this.probes.get(upstream.name);
    if (
      last &&
      (last.settledAt === undefined ||
        performance.now() - last.settledAt < UPSTREAM_HEALTH_REUSE_MS)
    ) {
      return last.result;
    }
    const probe: Probe = { result: this.probe(upstream) };
    void probe.result.then(() => (probe.settledAt = performance.now()));
    this.probes.set(upstream.name, probe);
    return probe.result;
  }

  private async probe(upstream: Upstream): Promise<HealthIndicatorResult> {
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
