import { sessionEventRef } from '../lib/events/session-event.interface';
import type { SessionEventsItem } from '../lib/events/session-events.reader';
import { SessionEvents } from '../lib/session.constants';
import type { Session } from '../lib/session.types';

/**
 * A session of `userId` for unit tests, live for a minute unless `fields` say otherwise.
 *
 * @example
 * const held = aSession('a', 'u1', { attributes: { step: 1 } });
 */
export function aSession(id: string, userId = 'u1', fields: Partial<Session> = {}): Session {
  const expiresAt = fields.expiresAt ?? Date.now() + 60_000;
  return {
    id,
    userId,
    username: userId,
    roles: ['customer'],
    createdAt: 0,
    authenticatedAt: 0,
    lastSeenAt: 0,
    expiresAt,
    absoluteExpiresAt: expiresAt,
    persistent: false,
    attributes: {},
    ...fields,
  };
}

/** A `session.patched` entry of the redacted stream, as the events reader hands it out. */
export function patchedEvent(sessionId: string): SessionEventsItem {
  return {
    kind: 'event',
    event: {
      id: '1-0',
      at: Date.now(),
      type: SessionEvents.patched,
      actor: null,
      userId: null,
      sessionRef: sessionEventRef(sessionId),
    },
  };
}
