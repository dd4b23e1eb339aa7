import { Inject, Injectable, Optional } from '@nestjs/common';

import { SESSION_CACHE, SessionCache } from './session-cache';
import { SessionStore } from './session-store.interface';
import { newToken, parseSessionId, parseToken } from './session-token';
import { IssuedSession, Session, SessionMeta, SessionUser } from './session.types';

/**
 * Issues, validates and revokes sessions. Tokens are only ever seen here: the store works
 * with session ids derived from SHA-256 of the token's secret.
 *
 * @example
 * const { token, session } = await sessions.create(user, { ip, userAgent });
 * const current = await sessions.validate(token); // null when expired, revoked or malformed
 */
@Injectable()
export class SessionService {
  constructor(
    @Inject(SessionStore) private readonly store: SessionStore,
    @Optional() @Inject(SESSION_CACHE) private readonly cache: SessionCache | null = null,
  ) {}

  /** Starts a session for a user; the token in the result is its only copy. */
  async create(user: SessionUser, meta: SessionMeta = {}): Promise<IssuedSession> {
    const tag = (await this.store.userTag(user.id, true)) as string;
    const { token, ref } = newToken(tag);
    const { session, evicted } = await this.store.create({
      id: ref.id,
      user: { id: user.id, username: user.username, roles: [...user.roles] },
      ip: meta.ip,
      userAgent: meta.userAgent?.slice(0, 512),
      attributes: meta.attributes ?? {},
    });
    return { token, session, evicted };
  }

  /** The live session a token names, its idle timeout slid; null for anything else. */
  async validate(token: unknown): Promise<Session | null> {
    const ref = parseToken(token);
    if (!ref) {
      return null;
    }
    return this.cache
      ? this.cache.through(ref.id, (id) => this.store.validate(id))
      : this.store.validate(ref.id);
  }

  /** The id of the session a token names (whether or not it is live), without any store call. */
  idOf(token: unknown): string | null {
    return parseToken(token)?.id ?? null;
  }

  /** A session by id, without sliding its idle timeout. */
  async get(id: string): Promise<Session | null> {
    return parseSessionId(id) ? this.store.get(id) : null;
  }

  /**
   * Sets app attributes field by field (an `undefined` value removes one); parallel
   * patches of different attributes never overwrite each other. False if the session is gone.
   */
  async patch(id: string, attributes: Record<string, unknown>): Promise<boolean> {
    return parseSessionId(id) ? this.store.patch(id, attributes) : false;
  }

  /** Revokes a session by token or id; with `ownerId`, only if that user owns it. */
  async destroy(tokenOrId: string, ownerId?: string): Promise<boolean> {
    const id = parseToken(tokenOrId)?.id ?? parseSessionId(tokenOrId)?.id;
    if (!id) {
      return false;
    }
    const destroyed = await this.store.destroy(id, ownerId);
    this.cache?.evict([id]);
    return destroyed;
  }

  /** A user's live sessions, oldest first. */
  async listForUser(userId: string): Promise<Session[]> {
    const tag = await this.store.userTag(userId, false);
    return tag ? this.store.list({ userId, tag }) : [];
  }

  /** Revokes all of a user's sessions, or all but `except` (a session id). */
  async destroyAllForUser(userId: string, options: { except?: string } = {}): Promise<number> {
    const tag = await this.store.userTag(userId, false);
    const count = tag ? await this.store.destroyAll({ userId, tag }, options.except) : 0;
    this.cache?.evictUser(userId, options.except);
    return count;
  }

  /** Gives every live session of a user new roles, effective on their next request. */
  async setRolesForUser(userId: string, roles: string[]): Promise<number> {
    const tag = await this.store.userTag(userId, false);
    const count = tag ? await this.store.setRoles({ userId, tag }, roles) : 0;
    this.cache?.evictUser(userId);
    return count;
  }

  /**
   * Replaces a session's token: same user and attributes, fresh timestamps, new token;
   * the old token dies at once. Null when the token is not a live session.
   */
  async rotate(token: string): Promise<IssuedSession | null> {
    const from = parseToken(token);
    if (!from) {
      return null;
    }
    const next = newToken(from.tag);
    const session = await this.store.rotate(from.id, next.ref.id);
    this.cache?.evict([from.id]);
    return session ? { token: next.token, session, evicted: [] } : null;
  }
}
