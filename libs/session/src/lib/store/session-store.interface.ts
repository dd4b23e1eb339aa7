import type { Session, SessionUser } from '../session.types';
import type { SessionRef } from '../token/session.token';

/** What the store needs to create a session; times are set by the store's clock. */
export interface NewSessionRecord {
  /** Digest of the new token's secret; the store adds the user's tag to make the id. */
  digest: string;
  user: SessionUser;
  ip?: string;
  userAgent?: string;
  attributes: Record<string, unknown>;
  /**
   * The user's revocation generation as read before the user's roles were read: the store
   * refuses to create the session (null) when it has moved since. Absent: no check.
   */
  expectedGeneration?: string;
}

/** A session the store created, under the user's hash-slot tag (created if the user had none). */
export interface CreatedSession {
  tag: string;
  session: Session;
  /** Ids of the user's sessions revoked because the per-user cap was reached. */
  evicted: string[];
}

/**
 * Where sessions live. `RedisSessionStore` reads and writes Redis; `RemoteSessionStore`
 * forwards every call to the auth service; `InMemorySessionStore` keeps them in the process.
 * Sessions are named by parsed ids (`SessionRef`), never by tokens; users by their id, the
 * store finding their tag itself, so every operation is one call. A store whose backend fails
 * or times out rejects with `SessionStoreUnavailableError`.
 *
 * @example
 * SessionModule.forRoot({ store: new InMemorySessionStore() })
 * // or, to use the store the module built:
 * constructor(@Inject(SessionStore) private readonly store: SessionStore) {}
 */
export interface SessionStore {
  /** Null when `expectedGeneration` is given and the user's generation has moved. */
  create(record: NewSessionRecord): Promise<CreatedSession | null>;
  /**
   * The user's revocation generation: moved by every role change, revoke-all and password
   * change. Read it before reading a user's roles, pass it to `create`: a session is never
   * created with roles an administrator changed meanwhile.
   */
  generation(userId: string): Promise<string>;
  /** Reads a session and slides its idle timeout: one round trip. */
  validate(ref: SessionRef): Promise<Session | null>;
  /** Reads a session without touching it. */
  get(ref: SessionRef): Promise<Session | null>;
  /** Sets (value not undefined) or removes (undefined) attributes one field at a time. */
  patch(ref: SessionRef, attributes: Record<string, unknown>): Promise<boolean>;
  /** Deletes a session; with `ownerId`, only when that user owns it. */
  revoke(ref: SessionRef, ownerId?: string): Promise<boolean>;
  /** A user's live sessions, oldest first. */
  list(userId: string): Promise<Session[]>;
  /** Deletes all of a user's sessions but `except`; answers how many were live. */
  revokeAll(userId: string, except?: SessionRef): Promise<number>;
  /** Writes new roles into every live session of a user; answers how many. */
  setRoles(userId: string, roles: string[]): Promise<number>;
  /**
   * Moves a live session to a new id (same tag); the old id dies. Creation time, idle timeout
   * and absolute deadline are kept: a rotation never lengthens a session. With
   * `revokeOthersOf` (the owner's user id), every other session of that user is revoked and
   * their generation moves in the same atomic step — even when the session to rotate is gone
   * (then null).
   */
  rotate(from: SessionRef, to: SessionRef, revokeOthersOf?: string): Promise<Session | null>;
  /** Throws when the backend cannot be reached. */
  ping(): Promise<void>;
}

/** Injection token of the `SessionStore`; it lives beside the interface it shares a name with. */
export const SessionStore = Symbol('cloakroom:session-store');
