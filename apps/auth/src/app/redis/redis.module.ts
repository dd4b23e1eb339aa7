import { Global, Module } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';

import { RedisSessionStore, SessionStore } from '@cloakroom/session';

/** The ioredis client of the session store, shared with the failed-login counters. */
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
        return store.redis;
      },
    },
  ],
  exports: [SESSION_REDIS],
})
export class RedisModule {}
