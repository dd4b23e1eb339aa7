import type { Session, SessionUser } from './session.types';

/** What the store needs to create a session; times are set by the store's clock. */
export interface NewSessionRecord {
  id: string;
  user: SessionUser;
  ip?: string;
  userAgent?: string;
  attributes: Record<string, unknown>;
}

/** A user's place in the store: their id and the hash-slot tag of their sessions. */
export interface UserRef {
  userId: string;
  tag: string;
}

/**
 * Where sessions live. `RedisSessionStore` is the default; `RemoteSessionStore` forwards
 * every call to the auth service. Ids are session ids (`<tag>.<digest>`), never tokens.
 * A store whose backend fails or times out rejects with `SessionStoreUnavailableError`.
 */
export interface SessionStore {
  create(record: NewSessionRecord): Promise<{ session: Session; evicted: string[] }>;
  /** Reads a session and slides its idle timeout: one round trip. */
  validate(id: string): Promise<Session | null>;
  /** Reads a session without touching it. */
  get(id: string): Promise<Session | null>;
  /** Sets (value not undefined) or removes (undefined) attributes one field at a time. */
  patch(id: string, attributes: Record<string, unknown>): Promise<boolean>;
  /** Deletes a session; with `ownerId`, only when that user owns it. */
  destroy(id: string, ownerId?: string): Promise<boolean>;
  list(user: UserRef): Promise<Session[]>;
  destroyAll(user: UserRef, exceptId?: string): Promise<number>;
  setRoles(user: UserRef, roles: string[]): Promise<number>;
  /** Moves a session to a new id with fresh timestamps; the old id dies. */
  rotate(oldId: string, newId: string): Promise<Session | null>;
  /** The user's hash-slot tag; `create` makes one for a user who has none yet. */
  userTag(userId: string, create: boolean): Promise<string | null>;
  /** Throws when the backend cannot be reached. */
  ping(): Promise<void>;
}

/** Injection token of the `SessionStore`. */
export const SessionStore = Symbol('cloakroom:session-store');
