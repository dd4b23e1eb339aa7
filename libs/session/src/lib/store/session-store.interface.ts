import type { Session, SessionUser } from '../session.types';
import type { SessionRef } from '../token/session.token';

/**
 * What the store needs to create a session; times are set by the store's clock.
 *
 * @example
 * class HeldStore extends InMemorySessionStore {
 *   override async create(record: NewSessionRecord): Promise<CreatedSession | null> {
 *     await released; // a test holds a login mid-write to race it
 *     return super.create(record);
 *   }
 * }
 */
export interface NewSessionRecord {
  /** Digest of the new token's secret; the store adds the user's tag to make the id. */
  digest: string;
  user: SessionUser;
  ip?: string;
  userAgent?: string;
  /** The client's short label, at most 64 bytes of UTF-8. */
  device?: string;
  /** A remembered session: the store's `remember` timeouts instead of the usual ones. */
  persistent?: boolean;
  attributes: Record<string, unknown>;
  /**
   * The user's revocation generation as read before the user's roles were read: the store
   * refuses to create the session (null) when it has moved since. Absent: no check.
   */
  expectedGeneration?: string;
}

/**
 * How `SessionStore.rotate` treats the session and its user's others.
 *
 * @example
 * override rotate(from: SessionRef, to: SessionRef, options?: SessionRotation) {
 *   rotations.push(options); // a test checks that a password change revokes the others
 *   return super.rotate(from, to, options);
 * }
 */
export interface SessionRotation {
  /** The owner's user id: revoke every other session of that user in the same step. */
  revokeOthersOf?: string;
  /** The user just proved who they are again: `authenticatedAt` becomes now. */
  reauthenticated?: boolean;
  /** With `revokeOthersOf`: the change's id, as `SessionStore.revokeAll` takes it. */
  change?: string;
}

/**
 * A session the store created, under the user's hash-slot tag (created if the user had none).
 *
 * @example
 * override async create(record: NewSessionRecord): Promise<CreatedSession | null> {
 *   const created = await super.create(record);
 *   evicted.push(...(created?.evicted ?? []));
 *   return created;
 * }
 */
export interface CreatedSession {
  tag: string;
  session: Session;
  /** Ids of the user's sessions revoked because the per-user cap was reached. */
  evicted: string[];
}

/**
 * Where sessions live. `RedisSessionStore` reads and writes Redis; `RemoteSessionStore` asks
 * the auth service to validate and patch by token, and refuses the rest (a validator);
 * `InMemorySessionStore` keeps them in the process.
 * Sessions are named by parsed ids (`SessionRef`; one parsed from a token also carries it, for
 * `RemoteSessionStore` to send and never for a store to keep); users by their id, the
 * store finding their tag itself, so every operation is one call. A store whose backend fails
 * or times out rejects with `SessionStoreUnavailableError`.
 *
 * @example
 * SessionModule.forRoot({ store: new InMemorySessionStore() })
 * // or, to use the store the module built:
 * constructor(@Inject(SessionStore) private readonly store: SessionStore) {}
 */
export interface SessionStore {
  /**
   * Null when `expectedGeneration` is given and the user's generation has moved. At the
   * per-user cap, applies the store's cap policy: evicts (ids in `evicted`) or, with `refuse`,
   * writes nothing and rejects with `SessionLimitReachedError` carrying the live sessions.
   */
  create(record: NewSessionRecord): Promise<CreatedSession | null>;
  /**
   * The user's revocation generation: moved by every role change, revoke-all and password
   * change. Read it before reading a user's roles, pass it to `create` as it is (it is opaque):
   * a session is never created with roles an administrator changed meanwhile.
   */
  generation(userId: string): Promise<string>;
  /** Reads a session and slides its idle timeout: one round trip. */
  validate(ref: SessionRef): Promise<Session | null>;
  /** Reads a session without touching it. */
  get(ref: SessionRef): Promise<Session | null>;
  /** Sets (value not undefined) or removes (undefined) attributes one field at a time. */
  patch(ref: SessionRef, attributes: Record<string, unknown>): Promise<boolean>;
  /**
   * Deletes a session; with `ownerId`, only when that user owns it. Answers the id of the
   * session deleted — `ref`'s, or the one `ref` was rotated to moments ago (a revocation that
   * raced the rotation must still end it) — or null when there was none.
   */
  revoke(ref: SessionRef, ownerId?: string): Promise<string | null>;
  /**
   * Optional: whether `tag` is one of `userId`'s tags, under which every session is theirs (a
   * user's sessions live under their own tags only). Answered without a round trip where the
   * store can: what a revocation whose answer was lost announces at once rests on it (see
   * `SessionService.revoke`). Rejects when the store cannot tell.
   */
  ownsTag?(userId: string, tag: string): Promise<boolean>;
  /**
   * Optional, read only: the ids `revoke(ref)` follows — `ref`'s, then each one its rotation
   * forwards lead to, up to a live session — each with its live session's owner (null for
   * none). What a revocation whose answer was lost may have ended, found after the fact: the
   * forwards outlive the sessions they lead to.
   *
   * @example
   * const [{ userId }, ...rotatedTo] = await store.trace(ref);
   */
  trace?(ref: SessionRef): Promise<SessionHop[]>;
  /** A user's live sessions, oldest first. */
  list(userId: string): Promise<Session[]>;
  /**
   * Deletes all of a user's sessions but `except`, kept under the id it was rotated to moments
   * ago too (its holder has that token now), as `revoke` finds it. Answers how many were live,
   * and the id of the session kept — `except`'s or the one it moved to, which is the one to
   * announce as kept — or null when no live session of the user was kept. `change`
   * (`newUserChangeId`, optional) names the change: a store that reads a session with the ids
   * of its user's changes that have landed (the Redis store) records it with the change, in the
   * same atomic step, and its event names it, so that a local cache can tell whether a session
   * it reads is from before the change or after, should the change land after its event.
   */
  revokeAll(
    userId: string,
    except?: SessionRef,
    change?: string,
  ): Promise<{ revoked: number; kept: string | null }>;
  /**
   * Writes new roles into every live session of a user; answers how many. `change` (as in
   * `revokeAll`) names the change for the local caches.
   */
  setRoles(userId: string, roles: string[], change?: string): Promise<number>;
  /**
   * Moves a live session to a new id (same tag); the old id dies. Creation time, idle timeout
   * and absolute deadline are kept: a rotation never lengthens a session. With
   * `reauthenticated`, `authenticatedAt` becomes the store's now. With `revokeOthersOf` (the
   * owner's user id), every other session of that user is revoked and their generation moves
   * in the same atomic step — even when the session to rotate is gone (then null); a store
   * that keeps a user's sessions in several places (the Redis store's tags, one slot each)
   * revokes those elsewhere first, unless the session to rotate is someone else's. A rotation
   * that rejects with `SessionStoreUnavailableError` leaves the session under `from` once the
   * backend answers again: a store whose write may land after it gave up undoes it (all but
   * the revocation of the others).
   */
  rotate(from: SessionRef, to: SessionRef, options?: SessionRotation): Promise<Session | null>;
  /**
   * Revokes every session of every user at once, but `keep` (the caller's own): sets a
   * watermark — sessions created before it are dead — and deletes what it outdates before it
   * answers. The kept session's creation time moves to the watermark; a `keep` rotated moments
   * ago is kept under the id it moved to (its holder has that token now), as `revoke` finds it.
   * `kept` is the id of the session kept (the one to announce as kept), or null when there was
   * no live session to keep. `onWatermark` is called once the watermark is set (and, with
   * `durability`, held by the replicas), before the deletion: from then on every session it
   * outdates is refused, and the revocation can no longer be called off.
   */
  revokeEverything(
    keep?: SessionRef,
    options?: { onWatermark?: (notBefore: number) => void },
  ): Promise<{ notBefore: number; revoked: number; kept: string | null }>;
  /**
   * Calls `listener` with the global-revocation watermark (epoch ms, 0 for none) now and
   * whenever it moves, without a store call per request; returns a function that stops.
   */
  watchNotBefore(listener: (notBefore: number) => void): () => void;
  /**
   * Checks, at start-up, that the backend answers and can keep the store's promises; throws
   * `SessionStoreUnavailableError` or `SessionStoreMisconfiguredError` (which says what to fix).
   */
  verify(): Promise<void>;
  /**
   * Optional: calls `listener` once for every expired session the store finds (e.g. when it
   * prunes a user's index), so the expiry can be reported; returns a function that stops.
   */
  watchExpiries?(listener: SessionExpiryListener): () => void;
  /**
   * Optional: calls `listener` once for every session the store ended at a user's cap without
   * a `create` answering it (the undo of a login whose answer was lost keeps what that login
   * evicted gone when its place was taken), so the eviction can be reported; returns a function
   * that stops.
   */
  watchEvictions?(listener: SessionEvictionListener): () => void;
  /** Throws when the backend cannot be reached. */
  ping(): Promise<void>;
  /**
   * Optional: the store's clock, epoch ms, as well as this process can tell — the clock that
   * stamps `createdAt`, `lastSeenAt`, `authenticatedAt` and the expiries. A process whose own
   * clock is off compares those stamps with this instead of `Date.now()`. Absent: the local
   * clock is the store's (the in-memory store).
   */
  now?(): number;
}

/** One id on the way `SessionStore.revoke` follows, and the owner of the live session there. */
export interface SessionHop {
  id: string;
  /** Null when no live session is there (gone, never there, or a key of another type). */
  userId: string | null;
}

/** Hears of a session the store found expired. */
export type SessionExpiryListener = (expired: { id: string; userId: string }) => void;

/** Hears of a session the store ended at its user's cap outside a `create`'s answer. */
export type SessionEvictionListener = (evicted: { id: string; userId: string }) => void;

/**
 * How long a rotated session's old id still leads `revoke` to it: a logout, or an
 * administrator's revocation of an id read from a listing, that lands just after a
 * re-authentication or password change rotated the session must still end it.
 */
export const ROTATION_FORWARD_MS = 60_000;

/** Injection token of the `SessionStore`; it lives beside the interface it shares a name with. */
export const SessionStore = Symbol('cloakroom:session-store');
