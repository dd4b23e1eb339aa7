import type { SessionRef } from '../../token/session.token';

/**
 * The names of every Redis key the store uses: the one place that spells them.
 *
 * - `<prefix>{<tag>}:s:<digest>` a session hash
 * - `<prefix>{<tag>}:u:<userId>` a user's index: sorted set of digests scored by creation
 * - `<prefix>{<tag>}:g:<userId>` a user's revocation generation: a counter that every role
 *   change, revoke-all and password change moves (no TTL)
 * - `<prefix>{<tag>}:c:<userId>` a user's record of changes: the ids of the last role changes,
 *   revoke-alls and password changes (string, ids separated by spaces), for an hour after the
 *   last; validate.lua reads it with each session (see scripts/user-changes.lua)
 * - `<prefix>{<tag>}:m:<digest>` the digest a session was rotated to, for a minute (string):
 *   a revocation of the old id follows it; a rotation undone leaves instead one from the new
 *   digest back to the old one
 * - `<prefix>{<tag>}:e:<digest>` a session a login evicted at the user's cap, for a minute
 *   (hash), and `<prefix>{<tag>}:e:undo:<digest>` what that login evicted (list):
 *   what the login's undo puts back if its caller gave up waiting for it;
 *   `<prefix>{<tag>}:e:undone:<digest>` what that undo dropped for good, for a minute (list),
 *   for a repeat of the undo to announce when the first one's answer came too late
 * - `<prefix>{<tag>}:m:mark:<digest>`, `<prefix>{<tag>}:e:mark:<digest>` never kept: set and
 *   deleted by an undo under `durability`, so that the WAIT after it has a write to count
 * - `<prefix>{<tag>}:f`          never written: the fence the scripts that build key names
 *   themselves declare, so that Redis Cluster refuses them while the tag's slot migrates
 * - `<prefix>not-before`         the watermark of the last global revocation (epoch ms;
 *   also the pub/sub channel that announces it)
 * - `<prefix>user-tag-key`       the secret key users' tags are derived from (HMAC of the user
 *   id); one key for all users, no TTL
 * - `<prefix>ut:<userId>`        a user's random tag, as releases before the derived tags kept
 *   one per user: still honoured for the users who have one; no longer written
 *
 * The `{tag}` braces make Redis Cluster hash only the tag, so all of a user's sessions and
 * their index share one slot (see scripts/README.md).
 */
export class RedisKeys {
  constructor(private readonly prefix: string) {}

  /** A user's tag as earlier releases kept it (read only, for the users who have one). */
  legacyUserTag(userId: string): string {
    return `${this.prefix}ut:${userId}`;
  }

  /** The secret key every user's tag is derived from. */
  userTagKey(): string {
    return `${this.prefix}user-tag-key`;
  }

  /** The watermark of the last global revocation, and the channel announcing a new one. */
  notBefore(): string {
    return `${this.prefix}not-before`;
  }

  /** A SCAN pattern matching every session hash under the prefix. */
  allSessions(): string {
    return `${escapeGlob(this.prefix)}{*}:s:*`;
  }

  /** The tag and digest of a session hash's key, or null for another key. */
  parseSession(key: string): { tag: string; digest: string } | null {
    if (!key.startsWith(this.prefix)) {
      return null;
    }
    const match = /^\{([A-Za-z0-9_-]{8})\}:s:([A-Za-z0-9_-]{22})$/.exec(
      key.slice(this.prefix.length),
    );
    return match ? { tag: match[1], digest: match[2] } : null;
  }

  session(ref: SessionRef): string {
    return this.sessionPrefix(ref.tag) + ref.digest;
  }

  index(tag: string, userId: string): string {
    return this.indexPrefix(tag) + userId;
  }

  generation(tag: string, userId: string): string {
    return this.generationPrefix(tag) + userId;
  }

  /** A user's record of changes (see scripts/user-changes.lua). */
  changes(tag: string, userId: string): string {
    return this.changesPrefix(tag) + userId;
  }

  /** What scripts prepend to a user id to name that user's record of changes. */
  changesPrefix(tag: string): string {
    return `${this.prefix}{${tag}}:c:`;
  }

  /**
   * A key that never exists, declared by every script that reaches keys it builds itself (a
   * user's sessions from the index, the index from a session): while the tag's slot migrates
   * those keys may be split between the two nodes, where a script would take a session still
   * on the other node for gone. A missing declared key makes Redis Cluster answer TRYAGAIN
   * instead (from either node) until the slot has moved; outside a migration it costs nothing.
   */
  fence(tag: string): string {
    return `${this.prefix}{${tag}}:f`;
  }

  /** What scripts prepend to a user id to name that user's revocation generation. */
  generationPrefix(tag: string): string {
    return `${this.prefix}{${tag}}:g:`;
  }

  /** What scripts prepend to an index member (a digest) to name its session hash. */
  sessionPrefix(tag: string): string {
    return `${this.prefix}{${tag}}:s:`;
  }

  /** What scripts prepend to a rotated session's old digest to name its forward. */
  forwardPrefix(tag: string): string {
    return `${this.prefix}{${tag}}:m:`;
  }

  /**
   * What scripts prepend to a digest to name a session a login evicted moments ago (kept for
   * that login's undo), and to `undo:<digest>` to name what that login's undo puts back.
   */
  evictedPrefix(tag: string): string {
    return `${this.prefix}{${tag}}:e:`;
  }

  /** What scripts prepend to a session's user id to name that user's index. */
  indexPrefix(tag: string): string {
    return `${this.prefix}{${tag}}:u:`;
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
