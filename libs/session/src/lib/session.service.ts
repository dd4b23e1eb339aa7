import { Inject, Injectable, Optional } from '@nestjs/common';

import type { SessionCache } from './cache/session.cache';
import { SESSION_CACHE } from './session.constants';
import type { IssuedSession, Session, SessionMeta, SessionUser } from './session.types';
import { SessionStore } from './store/session-store.interface';
import {
  formatToken,
  newSecret,
  parseSessionId,
  parseToken,
  SessionRef,
  sessionRef,
} from './token/session.token';

/**
 * Issues, validates and revokes sessions. Tokens are only ever seen here: tokens and ids are
 * parsed once, and the store works with the parsed ids (derived from SHA-256 of the token's
 * secret), never with tokens.
 *
 * @example
 * const { token, session } = await sessions.create(user, { ip, userAgent });
 * const current = await sessions.validate(token); // null when expired, revoked or malformed
 * await sessions.revoke(token);
 */
@Injectable()
export class SessionService {
  constructor(
    @Inject(SessionStore) private readonly store: SessionStore,
    @Optional() @Inject(SESSION_CACHE) private readonly cache: SessionCache | null = null,
  ) {}

  /** Starts a session for a user; the token in the result is its only copy. */
  async create(user: SessionUser, meta: SessionMeta = {}): Promise<IssuedSession> {
    const { secret, digest } = newSecret();
    const { tag, session, evicted } = await this.store.create({
      digest,
      user: { id: user.id, username: user.username, roles: [...user.roles] },
      ip: meta.ip,
      userAgent: meta.userAgent?.slice(0, 512),
      attributes: meta.attributes ?? {},
    });
    return { token: formatToken(tag, secret), session, evicted };
  }

  /** The live session a token names, its idle timeout slid; null for anything else. */
  async validate(token: unknown): Promise<Session | null> {
    const ref = parseToken(token);
    if (!ref) {
      return null;
    }
    return this.cache
      ? this.cache.through(ref.id, () => this.store.validate(ref))
      : this.store.validate(ref);
  }

  /** The id of the session a token names (whether or not it is live), without any store call. */
  idOf(token: unknown): string | null {
    return parseToken(token)?.id ?? null;
  }

  /** A session by id, without sliding its idle timeout. */
  async get(id: string): Promise<Session | null> {
    const ref = parseSessionId(id);
    return ref ? this.store.get(ref) : null;
  }

  /**
   * Sets app attributes field by field (an `undefined` value removes one); parallel
   * patches of different attributes never overwrite each other. False if the session is gone.
   */
  async patch(id: string, attributes: Record<string, unknown>): Promise<boolean> {
    const ref = parseSessionId(id);
    return ref ? this.store.patch(ref, attributes) : false;
  }

  /** Revokes a session by token or id; with `ownerId`, only if that user owns it. */
  async revoke(tokenOrId: string, ownerId?: string): Promise<boolean> {
    const ref = parseToken(tokenOrId) ?? parseSessionId(tokenOrId);
    if (!ref) {
      return false;
    }
    const revoked = await this.store.revoke(ref, ownerId);
    this.cache?.evict([ref.id]);
    return revoked;
  }

  /** A user's live sessions, oldest first. */
  listForUser(userId: string): Promise<Session[]> {
    return this.store.list(userId);
  }

  /** Revokes all of a user's sessions, or all but `except` (a session id). */
  async revokeAllForUser(userId: string, options: { except?: string } = {}): Promise<number> {
    const count = await this.store.revokeAll(userId, exceptRef(options.except));
    this.cache?.evictUser(userId, options.except);
    return count;
  }

  /** Gives every live session of a user new roles, effective on their next request. */
  async setRolesForUser(userId: string, roles: string[]): Promise<number> {
    const count = await this.store.setRoles(userId, roles);
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
    const { secret, digest } = newSecret();
    const session = await this.store.rotate(from, sessionRef(from.tag, digest));
    this.cache?.evict([from.id]);
    return session ? { token: formatToken(from.tag, secret), session, evicted: [] } : null;
  }
}

function exceptRef(id: string | undefined): SessionRef | undefined {
  if (!id) {
    return undefined;
  }
  const ref = parseSessionId(id);
  if (!ref) {
    // Revoking everything instead would also end the session the caller meant to keep.
    throw new TypeError('Malformed session id');
  }
  return ref;
}
