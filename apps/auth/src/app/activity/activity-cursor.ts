import { createHmac, timingSafeEqual } from 'node:crypto';

/** Where a page of the activity log ends: the `(at, id)` of its last (oldest) event. */
export interface ActivityCursor {
  at: number;
  id: number;
}

const TOKEN = /^[A-Za-z0-9_-]{1,80}$/;
const BODY = /^(0|[1-9]\d{0,15})\.([1-9]\d{0,15})\.[A-Za-z0-9_-]{22}$/;

/**
 * The opaque `cursor` of `/activity`: base64url of `<at>.<id>.<tag>`, at most 80 characters,
 * the tag 128 bits of HMAC-SHA256 over the position and the user id whose log it pages. Clients
 * must not build one: anything that is not exactly what {@link ActivityCursorCodec.encode}
 * produced for the same user's log is refused, a cursor whose position was changed as much as
 * one of another user's log. The key is derived from the server's secret (`LOGIN_DEVICE_SECRET`),
 * so every instance reads the cursors of the others, and nothing else signed with that secret
 * (a device token) reads as a cursor.
 *
 * @example
 * const cursors = new ActivityCursorCodec(secret);
 * const next = cursors.encode({ at: last.at, id: last.id }, userId);
 * cursors.decode(next, userId); // { at, id }
 * cursors.decode(next, otherUserId); // null
 */
export class ActivityCursorCodec {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHmac('sha256', secret).update('activity-cursor').digest();
  }

  encode(cursor: ActivityCursor, userId: string): string {
    const position = `${cursor.at}.${cursor.id}`;
    return Buffer.from(`${position}.${this.tag(position, userId)}`).toString('base64url');
  }

  /** The cursor a token holds, or null when it is not one this service issued for `userId`. */
  decode(token: string, userId: string): ActivityCursor | null {
    if (typeof token !== 'string' || !TOKEN.test(token)) {
      return null;
    }
    const match = BODY.exec(Buffer.from(token, 'base64url').toString('latin1'));
    if (!match) {
      return null;
    }
    const cursor = { at: Number(match[1]), id: Number(match[2]) };
    if (!Number.isSafeInteger(cursor.at) || !Number.isSafeInteger(cursor.id)) {
      return null;
    }
    // Node's base64url decoder skips what it cannot read: only the canonical form is accepted,
    // with the tag of this position in this user's log, compared in constant time.
    const expected = Buffer.from(this.encode(cursor, userId));
    const presented = Buffer.from(token);
    return expected.length === presented.length && timingSafeEqual(expected, presented)
      ? cursor
      : null;
  }

  private tag(position: string, userId: string): string {
    return createHmac('sha256', this.key)
      .update(`${userId}\0${position}`)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }
}
