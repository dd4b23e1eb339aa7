/**
 * How `SessionGuard` ended a request, message or socket message.
 *
 * @example
 * guardOutcome(outcome: SessionGuardOutcome, context: string): void {
 *   this.decisions.inc({ outcome, context });
 * }
 */
export type SessionGuardOutcome = 'ok' | '401' | '403' | '503' | 'error';

/**
 * Where the library reports what it measures: give an instance as the `metrics` option (a
 * Prometheus one, an OpenTelemetry meter, a test's recorder). Calls are synchronous and on
 * the hot path: keep them to a counter increment or a histogram observation.
 *
 * @example
 * SessionModule.forRoot({ redis, metrics: new PrometheusSessionMetrics() })
 */
export interface SessionMetrics {
  /** One guard decision, by outcome and context type (`http`, `graphql`, `ws`, `rpc`). */
  guardOutcome(outcome: SessionGuardOutcome, context: string): void;
  /** One store call: its operation (`validate`, `create`, ...), seconds, and whether it failed. */
  storeCall(operation: string, seconds: number, failed: boolean): void;
  /** One lookup of the local cache (`localCache`). */
  cacheLookup(hit: boolean): void;
  /**
   * One lifecycle event applied to the local cache: milliseconds from its publication (the
   * stream entry's time) to the cache forgetting the sessions it names.
   */
  cacheInvalidation(lagMs: number): void;
}
