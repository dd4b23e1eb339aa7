import { Inject, Injectable, Optional } from '@nestjs/common';

import type { SessionCache } from './cache/session.cache';
import { SessionStoreUnavailableError } from './errors/session-store-unavailable.error';
import { SessionUserChangedError } from './errors/session-user-changed.error';
import type {
  SessionEventActor,
  SessionEventCause,
  SessionRevocationReason,
} from './events/session-event.interface';
import type { SessionEventsPublisher } from './events/session-events.publisher';
import { NotBeforeWatermark } from './revocation/not-before.watermark';
import type { SessionConfig } from './config/session.config';
import { SESSION_CACHE, SESSION_CONFIG, SESSION_EVENTS } from './session.constants';
import type { IssuedSession, Session, SessionMeta, SessionUser } from './session.types';
import { assertAttributeNames, assertAttributesFit } from './store/attribute-names';
import { SessionStore } from './store/session-store.interface';
import { newUserChangeId } from './store/user-changes';
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
    @Optional()
    @Inject(NotBeforeWatermark)
    private readonly watermark: NotBeforeWatermark | null = null,
    @Optional()
    @Inject(SESSION_EVENTS)
    private readonly events: SessionEventsPublisher | null = null,
    @Optional()
    @Inject(SESSION_CONFIG)
    private readonly config: Pick<SessionConfig, 'reauthWindowMs'> | null = null,
  ) {}

  /**
   * The store's clock, epoch ms, as well as this process can tell (`SessionStore.now`; the
   * local clock for a store without one): what a session's stamps (`authenticatedAt`,
   * `expiresAt`...) are to be compared with.
   */
  now(): number {
    return this.store.now ? this.store.now() : Date.now();
  }

  /**
   * Whether the session's last authentication (login or re-authentication) is within
   * `windowMs` — by default the module's `reauthWindow` — by the store's clock that stamped
   * `authenticatedAt`, so that a host clock that is off does not move the window. The rule of
   * `@RequireRecentAuth()`, for a handler that needs it only for some of its arguments. A
   * session without `authenticatedAt` (a remote answer that left it out) never is.
   *
   * @example
   * if (id !== current.id && !sessions.isRecentlyAuthenticated(current)) {
   *   throw new ReauthenticationRequiredException();
   * }
   */
  isRecentlyAuthenticated(session: Session, windowMs = this.config?.reauthWindowMs ?? 0): boolean {
    const at = session.authenticatedAt;
    return typeof at === 'number' && this.now() - at <= windowMs;
  }

  /**
   * Starts a session for a user; the token in the result is its only copy. With
   * `options.generation` (read by `generationOf` before the user's roles were read), the
   * session is refused with `SessionUserChangedError` when a role change, revoke-all or
   * password change happened meanwhile: a session never carries roles already taken away.
   * With `persistent` ("remember me") the session gets the `remember` timeouts and is marked
   * so. At the per-user cap, `capPolicy` applies: evicted sessions are listed in `evicted`;
   * `refuse` writes nothing and throws `SessionLimitReachedError` with the live sessions. This
   * service's local cache forgets the evicted sessions at once.
   * Publishes `session.created` (actor: `options.actor`, default the user) and a
   * `session.evicted` (actor null, reason `cap`) for each session the cap ended.
   *
   * @example
   * const { token, session } = await sessions.create(user, { ip, userAgent, device }, {
   *   generation,
   *   persistent: body.rememberMe,
   * });
   */
  async create(
    user: SessionUser,
    meta: SessionMeta = {},
    options: {
      generation?: string;
      actor?: SessionEventActor | null;
      persistent?: boolean;
    } = {},
  ): Promise<IssuedSession> {
    assertSessionUser(user);
    assertAttributeNames(Object.keys(meta.attributes ?? {}));
    assertAttributesFit(meta.attributes ?? {});
    const { secret, digest } = newSecret();
    const created = await this.store.create({
      digest,
      user: { id: user.id, username: user.username, roles: [...user.roles] },
      ip: meta.ip,
      userAgent: meta.userAgent?.slice(0, 512),
      device: meta.device ? truncateUtf8(meta.device, MAX_DEVICE_BYTES) : undefined,
      persistent: options.persistent === true,
      attributes: meta.attributes ?? {},
      expectedGeneration: options.generation,
    });
    if (!created) {
      throw new SessionUserChangedError();
    }
    // What the cap ended is dead as this answers: this service's cache must not wait for the
    // event (nor hold it for `ttl` when events are off).
    if (created.evicted.length) {
      this.cache?.evict(created.evicted);
    }
    await this.events?.created(created.session, options.actor);
    await this.events?.evicted(user.id, created.evicted);
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
  validate(token: unknown): Promise<Session | null> {
    const ref = parseToken(token);
    if (!ref) {
      return Promise.resolve(null);
    }
    if (!this.cache) {
      // The hot path has no async frame of its own: the store's promise, checked once.
      try {
        const pending = this.store.validate(ref);
        return this.watermark ? pending.then(this.notOutdated) : pending;
      } catch (error) {
        // A store that throws instead of rejecting still answers with a rejection.
        return Promise.reject(error);
      }
    }
    return this.validateThrough(this.cache, ref);
  }

  /** Whether validations may be answered from a local cache (`localCache` is set). */
  get caching(): boolean {
    return this.cache !== null;
  }

  /**
   * The live session the local cache holds for a token, at once: no store call, no promise
   * (what lets the guard answer a request synchronously). Undefined when there is no cache,
   * the cache does not hold the session (then `validate` reads the store), the token is
   * malformed, or a global revocation outdates it; `validate` decides those.
   */
  cached(token: unknown): Session | undefined {
    if (!this.cache) {
      return undefined;
    }
    const ref = parseToken(token);
    const session = ref ? this.cache.peek(ref.id) : undefined;
    return session && this.notOutdated(session) ? session : undefined;
  }

  /** A global revocation ends sessions before its sweep has reached them all. */
  private readonly notOutdated = (session: Session | null): Session | null =>
    session && this.watermark?.outdates(session) ? null : session;

  /**
   * A cache hit answers without a store call or a closure; a miss reads through. So does a hit
   * a global revocation outdates: the session the revoker kept has a creation time past the
   * watermark in the store only, and those swept or still to be swept are refused there too.
   */
  private async validateThrough(cache: SessionCache, ref: SessionRef): Promise<Session | null> {
    const hit = cache.get(ref.id);
    if (hit && !this.watermark?.outdates(hit)) {
      return hit;
    }
    if (hit) {
      cache.evict([ref.id]);
    }
    return this.notOutdated(await cache.through(ref.id, () => this.store.validate(ref)));
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
   * Takes a token or an id; in `remote` mode only the token (the caller proves it holds it).
   * Throws `SessionAttributeNameError` for a name no store keeps (`__proto__`, `constructor`,
   * `prototype`), before anything is written, and `SessionAttributesTooLargeError` when the
   * session would hold more than `SESSION_ATTRIBUTE_LIMITS` (then nothing is written either).
   * This service's local cache forgets the session at once; after the write it publishes
   * `session.patched` (to the redacted stream only: it is no security event, and the activity
   * log never sees it), which every other service's local cache follows, so their next
   * validation reads the new attributes too. A write that fails as unavailable (it may still
   * land) is announced as well, and the caller still gets the error; a patch that found no
   * session publishes nothing.
   *
   * @example
   * await sessions.patch(token, { cartId: cart.id, step: undefined }); // sets one, removes one
   */
  async patch(tokenOrId: string, attributes: Record<string, unknown>): Promise<boolean> {
    assertAttributeNames(Object.keys(attributes));
    assertAttributesFit(attributes);
    const ref = parseToken(tokenOrId) ?? parseSessionId(tokenOrId);
    if (!ref) {
      return false;
    }
    return this.announced(this.store.patch(ref, attributes), async (patched) => {
      // Whatever the outcome (one that timed out may still land): this service's next
      // validation reads the attributes as patched, not a cached copy; others' at the event.
      this.cache?.evict([ref.id]);
      if (patched !== false) {
        await this.events?.patched(ref.id);
      }
    });
  }

  /**
   * Revokes a session by token or id; with `ownerId` (or a string second argument), only if
   * that user owns it. A session rotated moments ago (a re-authentication, a password change)
   * is revoked under its new id: the revocation raced the rotation, and must win. Publishes
   * `session.revoked` with `reason` (default `self` with an owner, else `logout`) and `actor`
   * (default null). When there was no such session (Redis may have lost it while other services
   * still cache it), a `session.revoked` naming no user goes to the redacted stream only, for
   * the caches and sockets to drop it (`SessionEventsPublisher.revokedUnfound`, rate-limited);
   * with `ownerId`, only once the store confirms it holds no session under that id. With
   * `ownerId` and an unknown outcome (503), only what is known to be the owner's is announced
   * as theirs, the session a rotation moved it to included (see `announceUnsettled`); without,
   * the session a rotation moved it to is announced as well (see `announceUnsettledLogout`).
   *
   * @example
   * await sessions.revoke(session.id, { ownerId: user.id, reason: 'logout', actor: user });
   */
  async revoke(
    tokenOrId: string,
    options: string | (SessionEventCause & { ownerId?: string }) = {},
  ): Promise<boolean> {
    const {
      ownerId,
      reason,
      actor = null,
    } = typeof options === 'string' ? { ownerId: options } : options;
    const ref = parseToken(tokenOrId) ?? parseSessionId(tokenOrId);
    if (!ref) {
      return false;
    }
    // The event names the owner: read it first when the caller did not say (not a hot path).
    const userId = ownerId ?? (this.events ? await this.ownerOf(ref) : null);
    const revoked = await this.announced(this.store.revoke(ref, ownerId), async (ended) => {
      const why = reason ?? (ownerId ? 'self' : 'logout');
      if (ended === undefined) {
        this.cache?.evict([ref.id]);
        if (!this.events) {
          return;
        }
        return ownerId
          ? this.announceUnsettled(this.events, ref, ownerId, why, actor)
          : this.announceUnsettledLogout(this.events, ref, userId, why, actor);
      }
      // `ended` is the session's id, or the one it was rotated to moments ago.
      const ids = ended && ended !== ref.id ? [ref.id, ended] : [ref.id];
      this.cache?.evict(ids);
      if (ended !== null) {
        await this.events?.revoked(userId, [ended], why, actor);
      } else if (ownerId === undefined || (await this.absent(ref))) {
        // Found nothing, perhaps because Redis lost the session while other services still
        // cache it. With an owner, nothing may also be another user's live session: announced
        // only once the store says there is none, since sockets close on the event.
        await this.events?.revokedUnfound(ref.id, why);
      }
    });
    return revoked !== null;
  }

  /**
   * A revocation with an owner whose outcome is unknown (its answer lost: it may land, or have
   * landed, or never). The script ends the session only if it is the owner's, and follows a
   * rotation's forward to the session it moved to: only what is known to be the owner's is
   * announced as theirs — `ref` when its tag is the owner's (at once: the store tells without
   * a round trip, where it can, and the write may be held for long), and the sessions it was
   * rotated to, read after. Anything else may be another user's live session, which the script
   * refused to end (sockets close on the event): as a revocation that found nothing, announced
   * only where the store holds no session.
   */
  private async announceUnsettled(
    events: SessionEventsPublisher,
    ref: SessionRef,
    ownerId: string,
    why: SessionRevocationReason,
    actor: SessionEventActor | null,
  ): Promise<void> {
    const owned = await this.ownsTag(ownerId, ref.tag);
    if (owned) {
      await events.revoked(ownerId, [ref.id], why, actor);
    }
    const hops = await this.store.trace?.(ref).catch(() => null);
    if (!hops) {
      return;
    }
    // Under the owner's tag every session is theirs; elsewhere, one live and theirs proves the
    // tag is (the ownership check could not tell).
    const theirs = owned || hops.some(({ userId }) => userId === ownerId);
    const ended = hops.filter(({ userId }) => userId === null || userId === ownerId);
    const ids = ended.map(({ id }) => id).filter((id) => !(owned && id === ref.id));
    this.cache?.evict(ids);
    if (theirs) {
      await events.revoked(ownerId, ids, why, actor);
    } else {
      // None is live: confirmed, each is announced as a revocation that found nothing.
      await Promise.all(ids.map((id) => events.revokedUnfound(id, why)));
    }
  }

  /**
   * A revocation without an owner whose outcome is unknown. The script ends the session at the
   * end of `ref`'s rotation forwards, whoever owns it: `ref` is announced at once (the write may
   * be held for long), then the forwards are traced read-only and the sessions they lead to are
   * announced too — as the owner's, the one found live at the end of the chain (the revocation
   * has not landed yet) or else `userId`, read before it. With no owner either way, nothing
   * live was there to end: each is announced as a revocation that found nothing.
   */
  private async announceUnsettledLogout(
    events: SessionEventsPublisher,
    ref: SessionRef,
    userId: string | null,
    why: SessionRevocationReason,
    actor: SessionEventActor | null,
  ): Promise<void> {
    await events.revoked(userId, [ref.id], why, actor);
    const hops = await this.store.trace?.(ref).catch(() => null);
    const ids = (hops ?? []).map(({ id }) => id).filter((id) => id !== ref.id);
    if (!ids.length) {
      return;
    }
    this.cache?.evict(ids);
    const owner = hops?.at(-1)?.userId ?? userId;
    if (owner !== null) {
      await events.revoked(owner, ids, why, actor);
    } else {
      await Promise.all(ids.map((id) => events.revokedUnfound(id, why)));
    }
  }

  /**
   * The owner of the session a revocation of `ref` would end, or null: where the store traces,
   * the one live at the end of the rotation forwards, as revoke.lua follows them (a token
   * rotated moments ago names its session's owner).
   */
  private async ownerOf(ref: SessionRef): Promise<string | null> {
    if (this.store.trace) {
      return (await this.store.trace(ref)).at(-1)?.userId ?? null;
    }
    return (await this.store.get(ref))?.userId ?? null;
  }

  /** Whether `tag` is one of the user's (false when the store cannot tell). */
  private async ownsTag(userId: string, tag: string): Promise<boolean> {
    try {
      return (await this.store.ownsTag?.(userId, tag)) === true;
    } catch {
      return false;
    }
  }

  /** Whether the store holds no session under `ref` (false when it cannot say). */
  private async absent(ref: SessionRef): Promise<boolean> {
    if (!this.events) {
      return false;
    }
    try {
      return (await this.store.get(ref)) === null;
    } catch {
      return false;
    }
  }

  /**
   * Revokes every session of every user at once, but the one `except` names (the caller's
   * own): every service stops accepting them as soon as it learns the watermark (at once
   * here, as soon as the announcement arrives elsewhere), and they are deleted from the store before this answers.
   * Answers how many were deleted. A kept session rotated moments ago (a re-authentication, a
   * password change) is kept, and announced as kept, under its new id: its holder's sockets
   * stay open. `onWatermark` is called as soon as the watermark is set, before the deletion:
   * the revocation has then taken effect and can no longer be called off (a lock that must
   * cover the decision need not be held through the sweep).
   *
   * @example
   * await sessions.revokeEverything({ except: current.id });
   */
  async revokeEverything(
    options: {
      except?: string;
      actor?: SessionEventActor | null;
      onWatermark?: () => void;
    } = {},
  ): Promise<number> {
    const done = this.store.revokeEverything(exceptRef(options.except), {
      onWatermark: (notBefore) => {
        this.watermark?.raise(notBefore);
        options.onWatermark?.();
      },
    });
    const { revoked } = await this.announced(done, async (result) => {
      if (result) {
        this.watermark?.raise(result.notBefore);
      }
      this.cache?.clear();
      const kept = keptOf(result, options.except);
      await this.events?.revokedAll(null, kept, 'revoke-all', options.actor ?? null);
    });
    return revoked;
  }

  /** A user's live sessions, oldest first. */
  listForUser(userId: string): Promise<Session[]> {
    return this.store.list(userId);
  }

  /**
   * Revokes all of a user's sessions, or all but `except` (a session id). Publishes
   * `sessions.revoked-all` with `reason` (default `revoke-all`) and `actor` (default null),
   * naming the session kept under its id now: `except` rotated moments ago is kept, and
   * announced, under the id it moved to. Answers how many were deleted.
   */
  async revokeAllForUser(
    userId: string,
    options: SessionEventCause & { except?: string } = {},
  ): Promise<number> {
    const { except, reason = 'revoke-all', actor = null } = options;
    const change = newUserChangeId();
    const done = this.store.revokeAll(userId, exceptRef(except), change);
    const { revoked } = await this.announced(done, async (result) => {
      const kept = keptOf(result, except);
      this.cache?.evictUserChange(userId, change, kept);
      await this.events?.revokedAll(userId, kept, reason, actor, change);
    });
    return revoked;
  }

  /**
   * Gives every live session of a user new roles, effective on their next request. Publishes
   * `roles.changed` with `actor` (default null); when the write fails
   * (`SessionStoreUnavailableError`) the event goes out without the roles, which were perhaps
   * not given (and, with a Redis store, will not be later: see the README's Revocation).
   */
  async setRolesForUser(
    userId: string,
    roles: string[],
    options: { actor?: SessionEventActor | null } = {},
  ): Promise<number> {
    const change = newUserChangeId();
    return this.announced(this.store.setRoles(userId, roles, change), async (updated) => {
      this.cache?.evictUserChange(userId, change);
      const made = updated === undefined ? null : roles;
      await this.events?.rolesChanged(userId, made, options.actor ?? null, change);
    });
  }

  /**
   * Replaces a session's token: same user, attributes, creation time and deadlines (a rotation
   * never lengthens a session), new token; the old token dies at once. With
   * `reauthenticated` (the user just gave their password again), `authenticatedAt` becomes the
   * store's now, which satisfies `@RequireRecentAuth()` routes. Null when the token is
   * not a live session. With `revokeOthersOf` (the owner's user id), every other session of
   * that user is revoked in the same atomic step, even when the token's session is already
   * gone (then null): what a password change needs. Publishes `session.rotated` (`reason`
   * and `actor` as given; actor default the user) and, with `revokeOthersOf`,
   * `sessions.revoked-all` (reason default `password-change`). A token that names no session
   * is announced as `revoke` announces one that found none.
   *
   * A rotation that fails with `SessionStoreUnavailableError` (a 503: nothing changed) is
   * undone by the store if it ran, or runs later: the session is back under the old token, as
   * the caller left it, and the new token (never handed out) is dead. Only what `revokeOthersOf`
   * revoked stays revoked, and `authenticatedAt` stays refreshed (the password was given).
   *
   * @example
   * const rotated = await sessions.rotate(token, { revokeOthersOf: session.userId });
   * // after checking the password again:
   * const stepUp = await sessions.rotate(token, { reauthenticated: true, reason: 'reauth' });
   */
  async rotate(
    token: string,
    options: SessionEventCause & { revokeOthersOf?: string; reauthenticated?: boolean } = {},
  ): Promise<IssuedSession | null> {
    const from = parseToken(token);
    if (!from) {
      return null;
    }
    const { secret, digest } = newSecret();
    const to = sessionRef(from.tag, digest);
    const change = options.revokeOthersOf ? newUserChangeId() : undefined;
    const rotation = this.store.rotate(from, to, {
      revokeOthersOf: options.revokeOthersOf,
      reauthenticated: options.reauthenticated === true,
      change,
    });
    // Unknown outcome: the new session may exist, so the others are announced keeping it. The
    // old id is announced as revoked although the store's undo may bring it back: those who
    // hear of it only forget it (caches drop it, sockets close and reconnect) and read it
    // again, alive, on its next request; nothing holds it as dead for good.
    const session = await this.announced(rotation, async (rotated) => {
      this.cache?.evict([from.id]);
      if (options.revokeOthersOf && change) {
        const kept = rotated === null ? undefined : to.id;
        this.cache?.evictUserChange(options.revokeOthersOf, change, kept);
      }
      if (rotated) {
        await this.events?.rotated(from.id, rotated, options.reason, options.actor);
      } else if (rotated === undefined) {
        await this.events?.revoked(null, [from.id], options.reason ?? 'rotation', null);
      } else if (!options.revokeOthersOf) {
        // No session under the token (whose holder this caller is): perhaps lost by Redis
        // while other services still cache it. With `revokeOthersOf`, the revoke-all says it.
        await this.events?.revokedUnfound(from.id, options.reason ?? 'rotation');
      }
      if (options.revokeOthersOf) {
        const { reason = 'password-change', actor = null } = options;
        const kept = rotated === null ? undefined : to.id;
        await this.events?.revokedAll(options.revokeOthersOf, kept, reason, actor, change);
      }
    });
    return session ? { token: formatToken(from.tag, secret), session, evicted: [] } : null;
  }

  /**
   * Waits for a store write that ends or changes sessions (or their attributes), then runs
   * `announce` with its result: the local cache and the events other services act on. A write
   * that failed as unavailable (timed out, a replica short, the connection lost) may still have
   * landed — a command that timed out is not withdrawn — so it is announced all the same, with
   * `undefined`, before the failure is rethrown: a service that drops a session still alive
   * only reads it again, one that keeps a dead session (or stale attributes) would go on
   * serving it. That announcement is not awaited: the events go out behind the failed write on
   * the same connection, and the caller's 503 waits for nothing more.
   */
  private async announced<T>(
    write: Promise<T>,
    announce: (result: T | undefined) => Promise<void>,
  ): Promise<T> {
    let result: T;
    try {
      result = await write;
    } catch (error) {
      if (error instanceof SessionStoreUnavailableError) {
        announce(undefined).catch(() => undefined);
      }
      throw error;
    }
    await announce(result);
    return result;
  }
}

/**
 * The longest device label kept: a longer hash value would take the session out of Redis's
 * compact listpack encoding (64 bytes by default).
 */
const MAX_DEVICE_BYTES = 64;

/** `text` cut to at most `bytes` bytes of UTF-8, never in the middle of a character. */
function truncateUtf8(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) {
    return text;
  }
  let cut = '';
  for (const character of text) {
    if (Buffer.byteLength(cut + character) > bytes) break;
    cut += character;
  }
  return cut;
}

/**
 * The id a revoke-all announces as kept: the one the store kept, which a rotation may have
 * moved from the id the caller read (the kept session's sockets and cached copy are spared under
 * it); none when the store kept none. The id the caller read when the outcome is unknown.
 */
function keptOf(
  result: { kept: string | null } | undefined,
  except: string | undefined,
): string | undefined {
  return result === undefined ? except : (result.kept ?? undefined);
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

/**
 * A session is refused to anyone without an id, and roles that are strings: a store reads such
 * a session back as damaged (no session), so it must never be written.
 */
function assertSessionUser(user: SessionUser): void {
  const { id, roles } = user as { id: unknown; roles: unknown };
  if (
    typeof id !== 'string' ||
    !id ||
    !Array.isArray(roles) ||
    !roles.every((role) => typeof role === 'string')
  ) {
    throw new TypeError('A session needs a user id, and roles that are strings');
  }
}
