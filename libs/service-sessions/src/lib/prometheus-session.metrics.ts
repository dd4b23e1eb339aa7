import {
  collectDefaultMetrics,
  DefaultMetricsCollectorConfiguration,
  Histogram,
  PrometheusContentType,
  Registry,
} from 'prom-client';

import type { SessionGuardOutcome, SessionMetrics } from '@cloakroom/session';

import { HotPathCounter, HotPathHistogram } from './hot-path-metrics';

/**
 * Event-loop delay sampling (ms) of the default metrics, unless set: prom-client's own 10 ms
 * wakes even an idle process 100 times a second (about 4 ms of CPU a second on the project's
 * machine; 100 ms: 10 times, 1.5 ms), a cost every request carries at a steady rate.
 *
 * @example
 * // an app that collects the default metrics itself (`defaultMetrics: false`), at the same cost
 * collectDefaultMetrics({ register, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * How `PrometheusSessionMetrics` collects Node's default process metrics.
 *
 * @example
 * new PrometheusSessionMetrics({ defaultMetrics: { prefix: 'orders_' } })
 */
export interface PrometheusSessionMetricsOptions {
  /**
   * Node's default process metrics (CPU, memory, GC, event-loop delay) in the same registry:
   * on by default, with the event-loop delay sampled every `EVENT_LOOP_SAMPLE_MS`; false when
   * the app collects them itself; or prom-client's settings for them.
   */
  defaultMetrics?:
    | boolean
    | Omit<DefaultMetricsCollectorConfiguration<PrometheusContentType>, 'register'>;
}

/**
 * The library's measurements as Prometheus metrics, in a registry of their own (several apps
 * share a test process), with Node's default process metrics:
 * - `cloakroom_session_guard_total{outcome, context}`: guard decisions (ok, 401, 403, 503);
 * - `cloakroom_session_store_seconds{operation, failed}`: store call latency;
 * - `cloakroom_session_cache_lookups_total{result}`: local cache hits and misses;
 * - `cloakroom_session_cache_invalidation_lag_seconds`: from an event's publication to the
 *   cache forgetting its sessions.
 * The per-request ones (guard, store, cache) are `HotPathCounter` / `HotPathHistogram`: a
 * request costs a map lookup and a few additions, where prom-client's own types build and hash
 * a label object on every call; the text exposed is the same.
 *
 * @example
 * SessionModule.forRoot({ redis, metrics: new PrometheusSessionMetrics() });
 * response.end(await metrics.registry.metrics());
 */
export class PrometheusSessionMetrics implements SessionMetrics {
  readonly registry = new Registry();
  private readonly guard = new HotPathCounter(
    'cloakroom_session_guard_total',
    'Session guard decisions, by outcome and context type',
    ['outcome', 'context'] as const,
    this.registry,
  );
  private readonly store = new HotPathHistogram(
    'cloakroom_session_store_seconds',
    'Session store call latency, by operation and whether it failed',
    ['operation', 'failed'] as const,
    [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    this.registry,
  );
  private readonly cache = new HotPathCounter(
    'cloakroom_session_cache_lookups_total',
    'Local session cache lookups, by result',
    ['result'] as const,
    this.registry,
  );
  private readonly invalidation = new Histogram({
    name: 'cloakroom_session_cache_invalidation_lag_seconds',
    help: 'From a session event to the local cache forgetting the sessions it names',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  private readonly guardChildren = new Map<string, Map<string, { inc(): void }>>();
  private readonly storeChildren = new Map<string, { observe(value: number): void }>();
  private readonly cacheHit = this.cache.child({ result: 'hit' });
  private readonly cacheMiss = this.cache.child({ result: 'miss' });

  constructor({ defaultMetrics = true }: PrometheusSessionMetricsOptions = {}) {
    if (defaultMetrics) {
      collectDefaultMetrics({
        eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
        ...(defaultMetrics === true ? {} : defaultMetrics),
        register: this.registry,
      });
    }
  }

  guardOutcome(outcome: SessionGuardOutcome, context: string): void {
    let byOutcome = this.guardChildren.get(context);
    if (!byOutcome) {
      byOutcome = new Map();
      this.guardChildren.set(context, byOutcome);
    }
    let child = byOutcome.get(outcome);
    if (!child) {
      child = this.guard.child({ outcome, context });
      byOutcome.set(outcome, child);
    }
    child.inc();
  }

  storeCall(operation: string, seconds: number, failed: boolean): void {
    const key = failed ? `${operation}!` : operation;
    let child = this.storeChildren.get(key);
    if (!child) {
      child = this.store.child({ operation, failed: String(failed) });
      this.storeChildren.set(key, child);
    }
    child.observe(seconds);
  }

  cacheLookup(hit: boolean): void {
    (hit ? this.cacheHit : this.cacheMiss).inc();
  }

  cacheInvalidation(lagMs: number): void {
    this.invalidation.observe(lagMs / 1000);
  }
}
