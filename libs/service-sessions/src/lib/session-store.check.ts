import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';

import { ServiceEnv, StartupError } from '@cloakroom/service-kit';
import { SessionStore, SessionStoreMisconfiguredError } from '@cloakroom/session';

import { isRemote, redisLocation } from './session-options';
import { SessionRedisEnv } from './session.env';

/**
 * The session store at start-up. A service that reads sessions from Redis cannot do anything
 * useful without it: start-up stops with one line saying where Redis was expected and how to
 * start one. A service that asks the auth service only warns: its public routes work without
 * sessions, and auth may simply start after it. Later outages are survived either way:
 * guarded requests answer 503 until the store is back.
 *
 * @example
 * providers: [SessionStoreCheck], // in an app that does without ServiceHealthModule
 */
@Injectable()
export class SessionStoreCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(SessionStoreCheck.name);

  constructor(
    @Inject(SessionStore) private readonly store: SessionStore,
    private readonly env: ServiceEnv,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.store.verify();
    } catch (error) {
      if (error instanceof SessionStoreMisconfiguredError) {
        throw new StartupError(error.message, error);
      }
      if (isRemote(this.env)) {
        this.logger.warn(
          `cannot reach the auth service's session RPC at tcp://${this.env.AUTH_RPC_HOST}:` +
            `${this.env.AUTH_RPC_PORT}; guarded routes answer 503 until it answers ` +
            '(start the auth service, or set AUTH_RPC_HOST and AUTH_RPC_PORT)',
        );
        return;
      }
      throw new StartupError(
        `cannot reach Redis at ${redisLocation(this.env as SessionRedisEnv)}; start one with ` +
          '`redis-server --daemonize yes`, or set REDIS_URL (REDIS_CLUSTER_NODES for a cluster)',
        error,
      );
    }
  }
}
