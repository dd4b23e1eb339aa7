import { Logger, OnModuleDestroy } from '@nestjs/common';

import type { SessionConfig } from '../config/session.config';
import { SessionEvents } from '../session.constants';
import type { Session } from '../session.types';
import { RedisSessionStore } from '../store/redis/redis-session.store';
import type { SessionStore } from '../store/session-store.interface';
import {
  encodeRedactedSessionEvent,
  encodeSessionEvent,
  SESSION_EVENT_FIELD,
  NewSessionEvent,
  SessionEventActor,
  SessionRevocationReason,
} from './session-event.interface';

/** The Redis stream the events go to: one key, so one slot on Redis Cluster. */
export function sessionEventsKey(keyPrefix: string): string {
  return `${keyPrefix}events`;
}

/**
 * The redacted copy of the stream (`encodeRedactedSessionEvent`), the one a validator's Redis
 * user may read: the full stream names every session's key.
 */
export function redactedSessionEventsKey(keyPrefix: string): string {
  return `${keyPrefix}events:redacted`;
}

/**
 * The most revocations that found no session a publisher announces a second (see
 * `SessionEventsPublisher.revokedUnfound`), and in a burst.
 */
export const UNFOUND_REVOCATIONS_PER_SECOND = 50;

/**
 * The publisher the module gives `SessionService`: on the Redis store's own client, or null
 * when events are off or the store has no Redis.
 */
export function createSessionEventsPublisher(
  config: SessionConfig,
  store: SessionStore,
): SessionEventsPublisher | null {
  if (!config.events || !(store instanceof RedisSessionStore)) {
    return null;
  }
  const publisher = new SessionEventsPublisher(store, {
    keyPrefix: config.keyPrefix,
    maxLength: config.events.maxLength,
  });
  // Not awaited: an expiry found by a login, a listing or a role change is reported off its
  // path, and so is an eviction an undone login leaves.
  const stopExpiries = store.watchExpiries(({ id, userId }) => {
    void publisher.expired(id, userId);
  });
  const stopEvictions = store.watchEvictions(({ id, userId }) => {
    void publisher.evicted(userId, [id]);
  });
  publisher.stopWatching = () => {
    stopExpiries();
    stopEvictions();
  };
  return publisher;
}

/**
 * Appends `SessionService`'s lifecycle events to a length-bounded Redis stream
 * (`XADD <prefix>events MAXLEN ~ n`, by a script that Redis runs even when it is out of memory),
 * right after the store call that made the change, on the same connection; and each event,
 * redacted, to a second stream (`<prefix>events:redacted`) that the local caches and
 * `SessionSockets` follow, the one validators may read. A patch of app attributes
 * (`session.patched`) goes to that second stream only: it is not a security event. The store
 * write is the truth; an event is lost only when the process dies between that write and the
 * append, or when Redis refuses it otherwise (then one warning per outage, no stack): consumers
 * that must not miss one (the local cache) treat a gap as "anything may have changed". A write
 * whose outcome is unknown (the store answered unavailable) is announced all the same
 * (`SessionService`). Publishing never fails the caller.
 *
 * Events of one process reach the stream in the order of its store calls; two processes'
 * events interleave in the order their XADDs arrive.
 */
export class SessionEventsPublisher implements OnModuleDestroy {
  private readonly logger = new Logger('SessionEvents');
  private failing = false;
  /** What is left of this second's announcements of unfound revocations, and when it was. */
  private unfoundBudget = UNFOUND_REVOCATIONS_PER_SECOND;
  private unfoundAt = performance.now();
  private unfoundThrottled = false;
  /** Set by the module: stops reporting the store's expiries. */
  stopWatching?: () => void;

  constructor(
    private readonly store: Pick<RedisSessionStore, 'appendEvents'>,
    private readonly options: { keyPrefix: string; maxLength: number },
  ) {}

  onModuleDestroy(): void {
    this.stopWatching?.();
  }

  /** A new session (a login): the actor defaults to the user. */
  created(session: Session, actor?: SessionEventActor | null): Promise<void> {
    return this.publish({
      type: SessionEvents.created,
      actor: actor === undefined ? ownerOf(session) : actor,
      userId: session.userId,
      sessionId: session.id,
      ...clientOf(session),
    });
  }

  /** Sessions of one user the per-user cap ended to make room for a new one. */
  evicted(userId: string, ids: string[]): Promise<void> {
    return this.publish(
      ...ids.map((sessionId) => ({
        type: SessionEvents.evicted,
        actor: null,
        userId,
        sessionId,
        reason: 'cap',
      })),
    );
  }

  /** Sessions of one user ended by a single call. */
  revoked(
    userId: string | null,
    ids: string[],
    reason: SessionRevocationReason,
    actor: SessionEventActor | null,
  ): Promise<void> {
    return this.publish(
      ...ids.map((sessionId) => ({
        type: SessionEvents.revoked,
        actor,
        userId,
        sessionId,
        reason,
      })),
    );
  }

  /**
   * A revocation that found no session: the store may have lost it (evicted under memory
   * pressure, a failover to a replica it had not reached) while other services' local caches
   * and sockets still hold it, and a logout must end it there too. As `session.revoked`, to
   * the redacted stream only, naming no user: nothing changed in the store, so it is no
   * security event for the activity log. Anyone holding a token of the right form can ask for
   * a logout: at most `UNFOUND_REVOCATIONS_PER_SECOND` are announced a second, so that they
   * cannot fill the stream (past that, the caches' `ttl` is the bound; one warning per burst).
   */
  revokedUnfound(sessionId: string, reason: SessionRevocationReason): Promise<void> {
    if (!this.takeUnfound()) {
      return Promise.resolve();
    }
    const event = { type: SessionEvents.revoked, actor: null, userId: null, sessionId, reason };
    return this.settle([
      this.append(redactedSessionEventsKey, encodeRedactedSessionEvent, [event]),
    ]);
  }

  /**
   * Every session of a user (or of every user: `userId` null) but `keptSessionId`; `change`,
   * the id the store recorded a user's revoke-all under (`SessionStore.revokeAll`).
   */
  revokedAll(
    userId: string | null,
    keptSessionId: string | undefined,
    reason: SessionRevocationReason,
    actor: SessionEventActor | null,
    change?: string,
  ): Promise<void> {
    return this.publish({
      type: SessionEvents.revokedAll,
      actor,
      userId,
      reason,
      ...(keptSessionId ? { keptSessionId } : {}),
      ...(change ? { change } : {}),
    });
  }

  /**
   * `roles` null: a change whose write failed, so whether it was made is unknown. `change`, the
   * id the store recorded it under (`SessionStore.setRoles`).
   */
  rolesChanged(
    userId: string,
    roles: string[] | null,
    actor: SessionEventActor | null,
    change?: string,
  ): Promise<void> {
    return this.publish({
      type: SessionEvents.rolesChanged,
      actor,
      userId,
      ...(roles && { roles: [...roles] }),
      ...(change ? { change } : {}),
    });
  }

  /** A token moved to a new session id; the actor defaults to the user. */
  rotated(
    previousSessionId: string,
    session: Session,
    reason: SessionRevocationReason | undefined,
    actor?: SessionEventActor | null,
  ): Promise<void> {
    return this.publish({
      type: SessionEvents.rotated,
      actor: actor === undefined ? ownerOf(session) : actor,
      userId: session.userId,
      sessionId: session.id,
      previousSessionId,
      ...(reason ? { reason } : {}),
    });
  }

  /** A session found past its deadline (and deleted) by a validation. */
  expired(sessionId: string, userId: string): Promise<void> {
    return this.publish({ type: SessionEvents.expired, actor: null, userId, sessionId });
  }

  /**
   * A session's app attributes changed, or perhaps did (the write's outcome is unknown): to the
   * redacted stream only, one append. It is for the caches that follow that stream, not a
   * security event: the full stream, which the activity log persists, never carries it.
   */
  patched(sessionId: string): Promise<void> {
    const event = { type: SessionEvents.patched, actor: null, userId: null, sessionId };
    return this.settle([
      this.append(redactedSessionEventsKey, encodeRedactedSessionEvent, [event]),
    ]);
  }

  /**
   * Appends events in order; resolves once Redis has answered, and never rejects. The append
   * is sent before this returns, so calls made one after another reach the stream in order.
   */
  async publish(...events: NewSessionEvent[]): Promise<void> {
    if (!events.length) {
      return;
    }
    // Two keys, perhaps two slots of a cluster: two appends, both sent before this awaits.
    return this.settle([
      this.append(sessionEventsKey, encodeSessionEvent, events),
      this.append(redactedSessionEventsKey, encodeRedactedSessionEvent, events),
    ]);
  }

  /** Takes one announcement of an unfound revocation from the budget, refilled as time passes. */
  private takeUnfound(): boolean {
    const now = performance.now();
    this.unfoundBudget = Math.min(
      UNFOUND_REVOCATIONS_PER_SECOND,
      this.unfoundBudget + ((now - this.unfoundAt) * UNFOUND_REVOCATIONS_PER_SECOND) / 1000,
    );
    this.unfoundAt = now;
    if (this.unfoundBudget < 1) {
      if (!this.unfoundThrottled) {
        this.unfoundThrottled = true;
        this.logger.warn(
          `More than ${UNFOUND_REVOCATIONS_PER_SECOND} revocations a second found no session: ` +
            `those past it are not announced`,
        );
      }
      return false;
    }
    this.unfoundThrottled = false;
    this.unfoundBudget -= 1;
    return true;
  }

  /** Sends the append of `events` to one stream at once; the promise is Redis's answer. */
  private append(
    keyOf: (keyPrefix: string) => string,
    encode: (event: NewSessionEvent) => string,
    events: NewSessionEvent[],
  ): Promise<unknown> {
    const { keyPrefix, maxLength } = this.options;
    return this.store.appendEvents(
      keyOf(keyPrefix),
      maxLength,
      SESSION_EVENT_FIELD,
      events.map(encode),
    );
  }

  /** Waits for appends already sent; a failure is a warning (one per outage), never a rejection. */
  private async settle(sent: Promise<unknown>[]): Promise<void> {
    try {
      await Promise.all(sent);
      this.failing = false;
    } catch (error) {
      if (!this.failing) {
        this.failing = true;
        this.logger.warn(
          `Could not append session events to Redis: ${(error as Error)?.message ?? error}`,
        );
      }
    }
  }
}

function ownerOf(session: Session): SessionEventActor {
  return { id: session.userId, username: session.username };
}

function clientOf(session: Session): Pick<NewSessionEvent, 'ip' | 'device'> {
  return {
    ...(session.ip ? { ip: session.ip } : {}),
    ...(session.device ? { device: session.device } : {}),
  };
}
