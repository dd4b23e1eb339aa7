import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';

import { SessionStore } from '../store/session-store.interface';

/**
 * A `@nestjs/terminus` indicator: up when the session store (Redis, or the auth service in
 * remote mode) answers a ping within `storeTimeout`. Provide it next to `TerminusModule`.
 *
 * @example
 * @Module({ imports: [TerminusModule], providers: [SessionStoreHealthIndicator] })
 * // in a @HealthCheck() handler:
 * this.health.check([() => this.sessions.isHealthy('redis')]);
 */
@Injectable()
export class SessionStoreHealthIndicator {
  constructor(
    @Inject(SessionStore) private readonly store: SessionStore,
    private readonly indicators: HealthIndicatorService,
  ) {}

  async isHealthy(key: string) {
    const indicator = this.indicators.check(key);
    try {
      await this.store.ping();
      return indicator.up();
    } catch {
      return indicator.down({ message: 'unreachable' });
    }
  }
}
