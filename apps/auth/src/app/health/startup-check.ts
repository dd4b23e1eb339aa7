import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';

import { StartupError } from '@cloakroom/service-kit';
import { SessionStore } from '@cloakroom/session';

import { AuthConfig } from '../config/auth.config';

/**
 * Auth cannot do anything useful without Redis, so a Redis that is down at start-up stops
 * the process with one line saying where it looked. (The database is checked when TypeORM
 * connects, earlier.) Later outages are survived: requests answer 503 until Redis is back.
 */
@Injectable()
export class StartupCheck implements OnApplicationBootstrap {
  constructor(
    @Inject(SessionStore) private readonly store: SessionStore,
    private readonly config: AuthConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.store.ping();
    } catch (error) {
      throw new StartupError(
        `cannot reach Redis at ${this.config.redisLocation} ` +
          '(start one with `redis-server` or `docker run -p 6379:6379 redis:7`, or set REDIS_URL)',
        error,
      );
    }
  }
}
