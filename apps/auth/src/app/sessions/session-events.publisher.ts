import { Inject, Injectable, Logger } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';

import { SessionEvents } from '@cloakroom/session';

export const SESSION_EVENTS_CLIENT = Symbol('auth:session-events-client');

/**
 * Tells other services (over Redis pub/sub) that sessions were revoked or roles changed, so
 * caches can drop them at once. Redis already holds the truth: an event that cannot be sent
 * is logged, and never fails the request that caused it.
 */
@Injectable()
export class SessionEventsPublisher {
  private readonly logger = new Logger(SessionEventsPublisher.name);

  constructor(@Inject(SESSION_EVENTS_CLIENT) private readonly client: ClientProxy) {}

  sessionsRevoked(ids: string[]): void {
    if (ids.length) {
      this.emit(SessionEvents.revoked, { ids });
    }
  }

  userSessionsRevoked(userId: string, exceptId?: string): void {
    this.emit(SessionEvents.userSessionsRevoked, exceptId ? { userId, exceptId } : { userId });
  }

  userRolesChanged(userId: string, roles: string[]): void {
    this.emit(SessionEvents.userRolesChanged, { userId, roles });
  }

  private emit(pattern: string, payload: object): void {
    firstValueFrom(this.client.emit(pattern, payload).pipe(timeout(2000)), {
      defaultValue: undefined,
    }).catch((error: unknown) => {
      this.logger.warn(`Could not publish ${pattern}: ${(error as Error)?.message ?? error}`);
    });
  }
}
