import { createHash } from 'node:crypto';

/** Where a page of the activity log ends: the `(at, id)` of its last (oldest) event. */
export interface ActivityCursor {
  at: number;
  id: number;
}

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const BODY = /^(0|[1-9]\d{0,15})\.([1-9]\d{0,15})\.[A-Za-z0-9_-]{8}$/;

/**
 * What binds a cursor to the log it was issued for: 48 bits of SHA-256 of the user id. Not a
 * secret (a cursor forged for one's own log pages nothing but one's own events); it only makes
 * a cursor of another user's log a 400, as any other cursor this service did not issue.
 */
function ownerTag(userId: string): string {
  return createHash('sha256')
    .update(`activity-cursor\0${userId}`)
    .digest()
    .subarray(0, 6)
    .toString('base64url');
}

/**
 * The opaque `cursor` of `/activity`: base64url of `<at>.<id>.<owner tag>`, at most 64
 * characters. Clients must not build one; anything that is not exactly what
 * {@link ActivityCursor.encode} produced for the same user's log is refused.
 *
 * @example
 * const next = ActivityCursor.encode({ at: last.at, id: last.id }, userId);
 * ActivityCursor.decode(next, userId); // { at, id }
 * ActivityCursor.decode(next, otherUserId); // null
 */
export const ActivityCursor = {
  encode(cursor: ActivityCursor, userId: string): string {
    return Buffer.from(`${cursor.at}.${cursor.id}.${ownerTag(userId)}`).toString('base64url');
  },

  /** The cursor a token holds, or null when it is not one this service issued for `userId`. */
  decode(token: string, userId: string): ActivityCursor | null {
    if (!TOKEN.test(token)) {
      return null;
    }
    const match = BODY.exec(Buffer.from(token, 'base64url').toString('latin1'));
    if (!match) {
      return null;
    }
    const cursor = { at: Number(match[1]), id: Number(match[2]) };
    // Node's base64url decoder skips what it cannot read: only the canonical form is accepted,
    // and only with the tag of this user's log.
    if (
      !Number.isSafeInteger(cursor.at) ||
      !Number.isSafeInteger(cursor.id) ||
      ActivityCursor.encode(cursor, userId) !== token
    ) {
      return null;
    }
    return cursor;
  },
};
