import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';

import { SessionStore } from '@cloakroom/session';

/** Up when the session store answers a ping within the store timeout. */
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
