import { createHash } from 'node:crypto';

import { SessionEvents } from '../session.constants';

/**
 * The `type` of a lifecycle event: one of the values of `SessionEvents`.
 *
 * @example
 * const ends: SessionEventType[] = [SessionEvents.revoked, SessionEvents.evicted];
 * if (ends.includes(event.type)) forget(event.sessionId);
 */
export type SessionEventType = (typeof SessionEvents)[keyof typeof SessionEvents];

/**
 * Why sessions were revoked: `logout`; `self` (the user ended one of their own sessions, or
 * all their others); `admin`; `password-change`; `cap` (the per-user cap evicted a session, in
 * a `session.evicted` event); `disable` (account disabled); `revoke-all` (a revoke-all, of one
 * user or of everyone); `login` (a token the client still held when it logged in again). Apps
 * may pass others.
 *
 * @example
 * await sessions.revokeAllForUser(user.id, { reason: 'disable', actor });
 * await sessions.revoke(id, { reason: 'fraud-review', actor }); // an app's own reason
 */
export type SessionRevocationReason =
  | 'logout'
  | 'self'
  | 'admin'
  | 'password-change'
  | 'cap'
  | 'disable'
  | 'revoke-all'
  | 'login'
  | (string & {});

/**
 * Who did it: the user, an administrator; null for the system (expiry, cap).
 *
 * @example
 * const actor: SessionEventActor = { id: current.userId, username: current.username };
 * await sessions.revoke(id, { ownerId: current.userId, reason: 'self', actor });
 */
export interface SessionEventActor {
  id: string;
  username: string;
}

/**
 * Why and by whom a `SessionService` call changes sessions; every field is optional and each
 * method documents its defaults.
 *
 * @example
 * await sessions.revoke(id, { ownerId: user.id, reason: 'admin', actor: admin });
 */
export interface SessionEventCause {
  reason?: SessionRevocationReason;
  actor?: SessionEventActor | null;
}

/**
 * One lifecycle event as a `SessionEventsReader` hands it out. Session ids are public ids,
 * never tokens. Read from the redacted stream (`redacted: true`), an event names sessions by
 * their refs instead (`sessionRef`, `previousSessionRef`, `keptSessionRef`: see
 * {@link sessionEventRef}) and carries no actor, address or device.
 *
 * @example
 * function isLogout(event: SessionEvent): boolean {
 *   return event.type === SessionEvents.revoked && event.reason === 'logout';
 * }
 */
export interface SessionEvent {
  /** The stream entry id (`<ms>-<seq>`): events are ordered by it. */
  id: string;
  type: SessionEventType;
  /** Epoch milliseconds, Redis clock (the stream id's time part). */
  at: number;
  actor: SessionEventActor | null;
  /**
   * The user whose sessions changed; null for a revocation of every user's sessions, and in
   * `session.patched` (a patch does not read whose session it is).
   */
  userId: string | null;
  sessionId?: string;
  ip?: string;
  device?: string;
  reason?: SessionRevocationReason;
  /** `session.rotated`: the id the session had before (dead now). */
  previousSessionId?: string;
  /** `sessions.revoked-all`: the session that was spared, if any. */
  keptSessionId?: string;
  /** The redacted stream's `sessionId`, `previousSessionId` and `keptSessionId`. */
  sessionRef?: string;
  previousSessionRef?: string;
  keptSessionRef?: string;
  /**
   * `roles.changed`: the new roles. Absent when the change's write failed (the caller was
   * answered 503): whether it was made is unknown, and its roles must not be taken on trust;
   * read them from the store.
   */
  roles?: string[];
  /**
   * `sessions.revoked-all` and `roles.changed` of one user, in the redacted stream: the id the
   * store recorded the change under. A local cache reads each session with the ids of its user's
   * changes that have landed, and caches none of the user's sessions read without this one
   * (the change may land after its event) for its `ttl`.
   */
  change?: string;
}

/** An event before the stream gives it its id and time. */
export type NewSessionEvent = Omit<SessionEvent, 'id' | 'at'>;

/** The stream's single field name: the rest of the event, as JSON. */
export const SESSION_EVENT_FIELD = 'event';

const TYPES: ReadonlySet<string> = new Set(Object.values(SessionEvents));

/**
 * What an event's stream entry holds under `SESSION_EVENT_FIELD`: all but the change's id,
 * which is for the local caches (the redacted stream), not for the activity log.
 */
export function encodeSessionEvent(event: NewSessionEvent): string {
  return JSON.stringify({ ...event, change: undefined });
}

/**
 * A session's name in the redacted event stream: the first 128 bits of SHA-256 of its id,
 * base64url. A session id names the session's Redis key, and a validator's Redis user may read
 * (and change the idle life of) any session whose key it can name; the stream it reads must
 * therefore name sessions by something that leads to no key. A service matches the refs of
 * the sessions it holds against the events'.
 *
 * @example
 * if (event.sessionRef === sessionEventRef(session.id)) socket.close();
 */
export function sessionEventRef(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest().subarray(0, 16).toString('base64url');
}

/** What an event's entry holds in the redacted stream: no session id, actor, address or device. */
export function encodeRedactedSessionEvent(event: NewSessionEvent): string {
  const { type, userId, reason, roles, sessionId, previousSessionId, keptSessionId, change } =
    event;
  return JSON.stringify({
    type,
    actor: null,
    userId,
    ...(sessionId !== undefined && { sessionRef: sessionEventRef(sessionId) }),
    ...(previousSessionId !== undefined && {
      previousSessionRef: sessionEventRef(previousSessionId),
    }),
    ...(keptSessionId !== undefined && { keptSessionRef: sessionEventRef(keptSessionId) }),
    ...(reason !== undefined && { reason }),
    ...(roles !== undefined && { roles }),
    ...(change !== undefined && { change }),
  });
}

/** The event a stream entry holds, or null when it holds none this library wrote. */
export function decodeSessionEvent(id: string, fields: string[]): SessionEvent | null {
  const at = Number(id.split('-')[0]);
  const index = fields.indexOf(SESSION_EVENT_FIELD);
  if (index < 0 || index % 2 !== 0 || !Number.isSafeInteger(at)) {
    return null;
  }
  let body: unknown;
  try {
    body = JSON.parse(fields[index + 1] ?? '');
  } catch {
    return null;
  }
  if (typeof body !== 'object' || body === null) {
    return null;
  }
  const event = body as Partial<SessionEvent>;
  if (
    typeof event.type !== 'string' ||
    !TYPES.has(event.type) ||
    (event.userId !== null && typeof event.userId !== 'string') ||
    [
      event.sessionId,
      event.previousSessionId,
      event.keptSessionId,
      event.sessionRef,
      event.previousSessionRef,
      event.keptSessionRef,
      event.change,
    ].some((name) => name !== undefined && typeof name !== 'string')
  ) {
    return null;
  }
  return { ...(event as NewSessionEvent), actor: event.actor ?? null, id, at };
}
