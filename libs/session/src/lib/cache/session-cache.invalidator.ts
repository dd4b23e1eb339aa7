import { Controller, Inject, Optional } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';

import { Public } from '../http/public.decorator';
import { SESSION_CACHE, SessionEvents } from '../session.constants';
import type { SessionCache } from './session.cache';

/**
 * Keeps the local session cache (`localCache` option) in step with the auth service: listens
 * to its session events on a Redis pub/sub microservice transport and forgets the sessions
 * they name. Without it a cached session outlives its revocation by up to `localCache.ttl`.
 *
 * @example
 * @Module({
 *   imports: [SessionModule.forRoot({ redis, localCache: { ttl: 2 } })],
 *   controllers: [SessionCacheInvalidator],
 * })
 * export class AppModule {}
 * // main.ts
 * app.connectMicroservice({ transport: Transport.REDIS, options: { host, port } });
 * await app.startAllMicroservices();
 */
@Public()
@Controller()
export class SessionCacheInvalidator {
  constructor(@Optional() @Inject(SESSION_CACHE) private readonly cache: SessionCache | null) {}

  @EventPattern(SessionEvents.revoked)
  revoked(@Payload() payload: { ids?: unknown }): void {
    const ids = Array.isArray(payload?.ids) ? payload.ids : [];
    this.cache?.evict(ids.filter((id): id is string => typeof id === 'string'));
  }

  @EventPattern(SessionEvents.userSessionsRevoked)
  userSessionsRevoked(@Payload() payload: { userId?: unknown; exceptId?: unknown }): void {
    if (typeof payload?.userId === 'string') {
      const exceptId = typeof payload.exceptId === 'string' ? payload.exceptId : undefined;
      this.cache?.evictUser(payload.userId, exceptId);
    }
  }

  // The new roles are in Redis already: forgetting the user's sessions makes the next
  // request read them there instead of trusting the event's copy.
  @EventPattern(SessionEvents.userRolesChanged)
  userRolesChanged(@Payload() payload: { userId?: unknown }): void {
    if (typeof payload?.userId === 'string') {
      this.cache?.evictUser(payload.userId);
    }
  }
}
