import { randomBytes } from 'node:crypto';

import type { Session } from '../session.types';

/** How many change ids a user's record keeps (as user-changes.lua does). */
export const USER_CHANGES_KEPT = 8;

/**
 * A new id for a change of a user's sessions as a whole (a revoke-all, a role change, a
 * password change's revocation of the others): the store records it with the change, and its
 * event names it, so that a local cache can tell a session read before the change landed from
 * one read after (see `SessionCache.expectChange`).
 */
export function newUserChangeId(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * The ids of the changes that had landed on a session's user when the session was read, as
 * the Redis store's validation answers them with it; absent for a session read with none, or
 * read otherwise (a remote store, an earlier release's script): to a cache waiting for a
 * change, all the same.
 */
const changesSeen = new WeakMap<Session, readonly string[]>();

/**
 * Notes the user's changes read with `session` (a space-separated record, as Redis keeps it).
 * An empty record, what almost every validation reads, notes nothing: a WeakMap entry per
 * validated session would cost the young-generation GC an ephemeron per request.
 */
export function noteChangesSeen(session: Session, record: string): void {
  if (record) {
    changesSeen.set(session, record.split(' '));
  }
}

/** The changes read with `session`, or undefined when it was read with none (or without them). */
export function changesSeenWith(session: Session): readonly string[] | undefined {
  return changesSeen.get(session);
}
