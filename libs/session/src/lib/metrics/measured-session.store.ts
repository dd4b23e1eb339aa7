import { SpanStatusCode, trace, Tracer } from '@opentelemetry/api';

import type { SessionStore } from '../store/session-store.interface';
import type { SessionMetrics } from './session-metrics.interface';

/** The store calls that are measured: every operation of `SessionStore` that reaches a backend. */
const MEASURED: ReadonlySet<string> = new Set<keyof SessionStore>([
  'create',
  'generation',
  'validate',
  'get',
  'patch',
  'revoke',
  'list',
  'revokeAll',
  'setRoles',
  'rotate',
  'revokeEverything',
  'ping',
]);

/**
 * `store`, with each call timed into `metrics` and wrapped in an OpenTelemetry span
 * (`session.store.<operation>`; a no-op unless an SDK is registered). A `Proxy`, so that the
 * store is still what it is (`instanceof RedisSessionStore` holds: the events publisher and the
 * cache invalidator look for it) and its lifecycle hooks still run.
 */
export function measuredSessionStore<S extends SessionStore>(
  store: S,
  metrics: SessionMetrics,
  tracer: Tracer = trace.getTracer('@cloakroom/session'),
): S {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') {
        return value;
      }
      let method = wrapped.get(property);
      if (!method) {
        method = MEASURED.has(property as string)
          ? measure(target, value as Measured, property as string, metrics, tracer)
          : value.bind(target);
        wrapped.set(property, method);
      }
      return method;
    },
  });
}

type Measured = (...args: unknown[]) => Promise<unknown>;

function measure(
  target: object,
  call: Measured,
  operation: string,
  metrics: SessionMetrics,
  tracer: Tracer,
): Measured {
  const spanName = `session.store.${operation}`;
  // Not an async function: the store's own promise, with one `then` that records it, is one
  // promise fewer per call than an async frame awaiting it.
  return (...args) => {
    const span = tracer.startSpan(spanName);
    // A double (ms, sub-microsecond resolution), not a BigInt allocated per call.
    const started = performance.now();
    let pending: Promise<unknown>;
    try {
      // The same promise when the store returns a native one, as stores do.
      pending = Promise.resolve(call.apply(target, args));
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (result) => {
        metrics.storeCall(operation, (performance.now() - started) / 1000, false);
        span.end();
        return result;
      },
      (error: unknown) => {
        metrics.storeCall(operation, (performance.now() - started) / 1000, true);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
        span.end();
        throw error;
      },
    );
  };
}
