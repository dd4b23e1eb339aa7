import { Inject, Injectable, Optional } from '@nestjs/common';

import type { SessionCache } from './cache/session.cache';
import { SessionUserChangedError } from './errors/session-user-changed.error';
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

  /**
   * Starts a session for a user; the token in the result is its only copy. With
   * `options.generation` (read by `generationOf` before the user's roles were read), the
   * session is refused with `SessionUserChangedError` when a role change, revoke-all or
   * password change happened meanwhile: a session never carries roles already taken away.
   */
  async create(
    user: SessionUser,
    meta: SessionMeta = {},
    options: { generation?: string } = {},
  ): Promise<IssuedSession> {
    const { secret, digest } = newSecret();
    const created = await this.store.create({
      digest,
      user: { id: user.id, username: user.username, roles: [...user.roles] },
      ip: meta.ip,
      userAgent: meta.userAgent?.slice(0, 512),
      attributes: meta.attributes ?? {},
      expectedGeneration: options.generation,
    });
    if (!created) {
      throw new SessionUserChangedError();
    }
    return {
      token: formatToken(created.tag, secret),
      session: created.session,
      evicted: created.evicted,
    };
  }

  /**
   * The user's revocation generation, moved by every role change, revoke-all and password
   * change. Read it BEFORE reading the user's roles for a login, and pass it to `create`.
   *
   * @example
   * const generation = await sessions.generationOf(user.id);
   * const fresh = await users.findById(user.id); // roles read after the generation
   * await sessions.create(fresh, meta, { generation });
   */
  generationOf(userId: string): Promise<string> {
    return this.store.generation(userId);
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
   * Replaces a session's token: same user, attributes, creation time and deadlines (a rotation
   * never lengthens a session), new token; the old token dies at once. Null when the token is
   * not a live session. With `revokeOthersOf` (the owner's user id), every other session of
   * that user is revoked in the same atomic step, even when the token's session is already
   * gone (then null): what a password change needs.
   *
   * @example
   * const rotated = await sessions.rotate(token, { revokeOthersOf: session.userId });
   */
  async rotate(
    token: string,
    options: { revokeOthersOf?: string } = {},
  ): Promise<IssuedSession | null> {
    const from = parseToken(token);
    if (!from) {
      return null;
    }
    const { secret, digest } = newSecret();
    const to = sessionRef(from.tag, digest);
    const session = await this.store.rotate(from, to, options.revokeOthersOf);
    this.cache?.evict([from.id]);
    if (options.revokeOthersOf) {
      this.cache?.evictUser(options.revokeOthersOf, session ? to.id : undefined);
    }
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
