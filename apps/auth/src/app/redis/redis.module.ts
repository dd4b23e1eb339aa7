import { Global, Logger, Module } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';

import { RedisSessionStore, SessionStore } from '@cloakroom/session';

/** The ioredis client of the session store, shared by the login counters and health checks. */
export const SESSION_REDIS = Symbol('auth:session-redis');
export type SessionRedis = Redis | Cluster;

@Global()
@Module({
  providers: [
    {
      provide: SESSION_REDIS,
      inject: [SessionStore],
      useFactory: (store: SessionStore): SessionRedis => {
        // Auth owns the sessions and always runs the store in redis mode.
        if (!(store instanceof RedisSessionStore)) {
          throw new Error('auth needs SessionModule in redis mode');
        }
        return watchConnection(store.redis);
      },
    },
  ],
  exports: [SESSION_REDIS],
})
export class RedisModule {}

/**
 * Reports an outage once, and its end, instead of letting ioredis print every failed
 * reconnection attempt as an unhandled error event.
 */
function watchConnection(redis: SessionRedis): SessionRedis {
  const logger = new Logger('Redis');
  let down = false;
  redis.on('error', (error: Error) => {
    if (!down) {
      down = true;
      logger.warn(`Redis unreachable: ${error.message}; requests needing it answer 503`);
    }
  });
  redis.on('ready', () => {
    if (down) {
      down = false;
      logger.log('Redis reachable again');
    }
  });
  return redis;
}
