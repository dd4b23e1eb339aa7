import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';

import type { Session } from '../session.types';
import { SessionStore } from '../store/session-store.interface';

/**
 * The watermark of the last global revocation, as this process knows it: a session created
 * before it is dead, whatever the store still holds while its sweep runs. The store announces
 * a new watermark (Redis: pub/sub, read again on every reconnection), so checking it costs no store
 * call per request.
 *
 * @example
 * if (watermark.outdates(session)) return null;
 */
@Injectable()
export class NotBeforeWatermark implements OnModuleInit, OnModuleDestroy {
  private notBefore = 0;
  private stop?: () => void;

  constructor(@Inject(SessionStore) private readonly store: SessionStore) {}

  onModuleInit(): void {
    this.stop = this.store.watchNotBefore((notBefore) => this.raise(notBefore));
  }

  onModuleDestroy(): void {
    this.stop?.();
  }

  /** The watermark only ever moves forward. */
  raise(notBefore: number): void {
    if (notBefore > this.notBefore) {
      this.notBefore = notBefore;
    }
  }

  /** True when a global revocation ended this session. */
  outdates(session: Pick<Session, 'createdAt'>): boolean {
    return session.createdAt < this.notBefore;
  }
}
