import { Module } from '@nestjs/common';

import { SessionAssertions } from './assertion/session-assertions.service';
import { SessionCacheInvalidator } from './cache/session-cache.invalidator';
import { SessionCache } from './cache/session.cache';
import type { SessionModuleOptions } from './config/session-options.interface';
import { resolveSessionConfig, SessionConfig } from './config/session.config';
import { createSessionEventsPublisher } from './events/session-events.publisher';
import { OriginPolicy } from './http/origin.policy';
import { measuredSessionStore } from './metrics/measured-session.store';
import type { SessionMetrics } from './metrics/session-metrics.interface';
import { NotBeforeWatermark } from './revocation/not-before.watermark';
import { SessionCookieService } from './http/session-cookie.service';
import { SessionGuard } from './http/session.guard';
import {
  SESSION_CACHE,
  SESSION_CONFIG,
  SESSION_EVENTS,
  SESSION_METRICS,
  SESSION_MODULE_OPTIONS,
} from './session.constants';
import { ConfigurableModuleClass } from './session.module-definition';
import { SessionService } from './session.service';
import { createSessionStore } from './store/session-store.factory';
import { SessionStore } from './store/session-store.interface';
import { SessionSockets } from './ws/session-sockets.service';

/**
 * Server-side sessions for a Nest app: import once (global by default) and bind
 * `SessionGuard` as `APP_GUARD`. Give exactly one backend: `redis`, `remote` or `store`.
 *
 * @example
 * @Module({
 *   imports: [SessionModule.forRoot({ redis: { url: 'redis://127.0.0.1:6379' } })],
 *   providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
 * })
 * export class AppModule {}
 */
@Module({
  providers: [
    {
      provide: SESSION_CONFIG,
      inject: [SESSION_MODULE_OPTIONS],
      useFactory: (options: SessionModuleOptions) => resolveSessionConfig(options),
    },
    {
      provide: SESSION_METRICS,
      inject: [SESSION_MODULE_OPTIONS],
      useFactory: (options: SessionModuleOptions) => options.metrics ?? null,
    },
    {
      provide: SessionStore,
      inject: [SESSION_CONFIG, SESSION_METRICS],
      useFactory: (config: SessionConfig, metrics: SessionMetrics | null) => {
        const store = createSessionStore(config);
        return metrics ? measuredSessionStore(store, metrics) : store;
      },
    },
    {
      provide: SESSION_CACHE,
      inject: [SESSION_CONFIG, SESSION_METRICS, SessionStore],
      useFactory: (config: SessionConfig, metrics: SessionMetrics | null, store: SessionStore) =>
        config.localCache
          ? new SessionCache(config.localCache, config.touchIntervalMs, metrics, clockOf(store))
          : null,
    },
    {
      provide: SESSION_EVENTS,
      inject: [SESSION_CONFIG, SessionStore],
      useFactory: createSessionEventsPublisher,
    },
    SessionCacheInvalidator,
    NotBeforeWatermark,
    SessionService,
    SessionCookieService,
    OriginPolicy,
    SessionSockets,
    SessionAssertions,
    SessionGuard,
  ],
  exports: [
    SESSION_METRICS,
    SESSION_CACHE,
    SESSION_CONFIG,
    SessionStore,
    NotBeforeWatermark,
    SessionService,
    SessionCookieService,
    OriginPolicy,
    SessionSockets,
    SessionAssertions,
    SessionGuard,
  ],
})
export class SessionModule extends ConfigurableModuleClass {}

/** The clock a store stamps sessions with (`SessionStore.now`), or the local one. */
function clockOf(store: SessionStore): () => number {
  return store.now ? store.now.bind(store) : () => Date.now();
}
