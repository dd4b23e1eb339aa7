import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';

import { SessionStore } from '@cloakroom/session';

@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly indicator: HealthIndicatorService,
    @Inject(SessionStore) private readonly store: SessionStore,
  ) {}

  /** Up when the session store answers PING within its store timeout. */
  async isHealthy(key: string) {
    const check = this.indicator.check(key);
    try {
      await this.store.ping();
      return check.up();
    } catch {
      return check.down({ message: 'Redis unreachable' });
    }
  }
}
