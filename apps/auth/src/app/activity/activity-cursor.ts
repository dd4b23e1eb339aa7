/** Where a page of the activity log ends: the `(at, id)` of its last (oldest) event. */
export interface ActivityCursor {
  at: number;
  id: number;
}

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const BODY = /^(0|[1-9]\d{0,15})\.([1-9]\d{0,15})$/;

/**
 * The opaque `cursor` of `/activity`: base64url of `<at>.<id>`. Clients must not build one;
 * anything that is not exactly what {@link ActivityCursor.encode} produced is refused.
 */
export const ActivityCursor = {
  encode(cursor: ActivityCursor): string {
    return Buffer.from(`${cursor.at}.${cursor.id}`).toString('base64url');
  },

  /** The cursor a token holds, or null when it is not one this service issued. */
  decode(token: string): ActivityCursor | null {
    if (!TOKEN.test(token)) {
      return null;
    }
    const match = BODY.exec(Buffer.from(token, 'base64url').toString('latin1'));
    if (!match) {
      return null;
    }
    const cursor = { at: Number(match[1]), id: Number(match[2]) };
    // Node's base64url decoder skips what it cannot read: only the canonical form is accepted.
    if (
      !Number.isSafeInteger(cursor.at) ||
      !Number.isSafeInteger(cursor.id) ||
      ActivityCursor.encode(cursor) !== token
    ) {
      return null;
    }
    return cursor;
  },
};
