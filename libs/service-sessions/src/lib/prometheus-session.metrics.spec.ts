import perfHooks from 'node:perf_hooks';

import { EVENT_LOOP_SAMPLE_MS, PrometheusSessionMetrics } from './prometheus-session.metrics';

describe('PrometheusSessionMetrics', () => {
  it('exposes what the library reports in the Prometheus text format', async () => {
    const metrics = new PrometheusSessionMetrics();
    metrics.guardOutcome('ok', 'http');
    metrics.guardOutcome('ok', 'http');
    metrics.guardOutcome('403', 'rpc');
    metrics.storeCall('validate', 0.0004, false);
    metrics.storeCall('validate', 2, true);
    metrics.cacheLookup(true);
    metrics.cacheLookup(false);
    metrics.cacheLookup(true);
    metrics.cacheInvalidation(3);
    const text = await metrics.registry.metrics();
    expect(text).toContain('cloakroom_session_guard_total{outcome="ok",context="http"} 2');
    expect(text).toContain('cloakroom_session_guard_total{outcome="403",context="rpc"} 1');
    expect(text).toContain(
      'cloakroom_session_store_seconds_bucket{le="0.0005",operation="validate",failed="false"} 1',
    );
    expect(text).toContain(
      'cloakroom_session_store_seconds_count{operation="validate",failed="true"} 1',
    );
    expect(text).toContain('cloakroom_session_cache_lookups_total{result="hit"} 2');
    expect(text).toContain('cloakroom_session_cache_lookups_total{result="miss"} 1');
    expect(text).toContain('cloakroom_session_cache_invalidation_lag_seconds_bucket{le="0.005"} 1');
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('keeps each instance in a registry of its own: two apps in one process do not clash', async () => {
    const first = new PrometheusSessionMetrics();
    const second = new PrometheusSessionMetrics();
    first.guardOutcome('ok', 'http');
    expect(await second.registry.metrics()).not.toContain('outcome="ok"');
  });

  describe("Node's default metrics", () => {
    afterEach(() => jest.restoreAllMocks());

    function sampling(): jest.SpyInstance {
      return jest.spyOn(perfHooks, 'monitorEventLoopDelay');
    }

    it('samples the event-loop delay every 100 ms, not every 10: an idle service stays asleep', async () => {
      const monitor = sampling();
      const metrics = new PrometheusSessionMetrics();
      expect(monitor).toHaveBeenCalledWith({ resolution: EVENT_LOOP_SAMPLE_MS });
      expect(EVENT_LOOP_SAMPLE_MS).toBe(100);
      expect(await metrics.registry.metrics()).toContain('nodejs_eventloop_lag_p99_seconds');
    });

    it('leaves them out when the app collects them itself', async () => {
      const monitor = sampling();
      const metrics = new PrometheusSessionMetrics({ defaultMetrics: false });
      metrics.guardOutcome('ok', 'http');
      const text = await metrics.registry.metrics();
      expect(monitor).not.toHaveBeenCalled();
      expect(text).not.toContain('process_cpu_user_seconds_total');
      expect(text).toContain('cloakroom_session_guard_total{outcome="ok",context="http"} 1');
    });

    it("takes prom-client's settings for them", async () => {
      const monitor = sampling();
      const metrics = new PrometheusSessionMetrics({
        defaultMetrics: { prefix: 'orders_', eventLoopMonitoringPrecision: 20 },
      });
      expect(monitor).toHaveBeenCalledWith({ resolution: 20 });
      expect(await metrics.registry.metrics()).toContain('orders_process_cpu_user_seconds_total');
    });
  });
});
