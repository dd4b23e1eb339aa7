import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';

import { SessionStoreHealthIndicator } from '@cloakroom/session/health';

import { ServiceHealthController } from './service-health.controller';
import { ServiceMetricsController } from './service-metrics.controller';
import { SessionStoreCheck } from './session-store.check';

/**
 * Whether a service that uses sessions and a database can work: the session store checked
 * at start-up ({@link SessionStoreCheck}), and both reported by `GET health` while it runs;
 * `GET metrics` serves the session metrics when the app gave a {@link PrometheusSessionMetrics}.
 * Needs `SessionModule`, TypeORM and `ServiceConfigModule` in the app. Import it before a
 * feature module with a `:id` route at its root, so that `health` is not taken for an id.
 *
 * @example
 * imports: [ServiceConfigModule.forRoot(OrdersEnv), SessionModule.forRootAsync(...),
 *   ServiceDatabaseModule.forRoot(...), ServiceHealthModule, OrdersModule]
 */
@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [ServiceHealthController, ServiceMetricsController],
  providers: [SessionStoreHealthIndicator, SessionStoreCheck],
})
export class ServiceHealthModule {}
