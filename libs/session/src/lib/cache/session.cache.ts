import type { SessionConfig } from '../config/session.config';
import { sessionEventRef } from '../events/session-event.interface';
import type { SessionMetrics } from '../metrics/session-metrics.interface';
import type { Session } from '../session.types';
import { changesSeenWith } from '../store/user-changes';

interface Entry {
  session: Session;
  /** The session's name in the redacted event stream. */
  ref: string;
  /**
   * When the entry is no longer served, by both clocks: the monotonic one (`elapsed`), which a
   * host clock stepped back does not hold back, and the store's (`now`), which goes on while
   * the host sleeps (the monotonic clock stops in a suspend). Whichever comes first ends it.
   */
  until: { elapsed: number; now: number };
}

/** The longest a cached session is served without asking the store, whatever `ttl` says. */
export const LOCAL_CACHE_MAX_TTL_MS = 60_000;

/**
 * An in-process cache of validated sessions, off unless `localCache` is set. A hit serves a
 * session without a Redis round trip, so a revocation made elsewhere is seen when its event
 * arrives from the lifecycle stream (`SessionCacheInvalidator`), or at the latest after `ttl`
 * seconds, capped at 60. Entries never outlive the session's own `expiresAt`, nor the moment
 * its idle timeout is due to slide (`servedUntil`), so a cached session in use never expires
 * under its user. When full, the oldest entry goes first. While paused (its event feed is down
 * or not started yet) it caches nothing and every validation reads the store.
 */
export class SessionCache {
  private readonly entries = new Map<string, Entry>();
  /** Each entry's id by its ref, for the events, which name sessions by ref. */
  private readonly idsByRef = new Map<string, string>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly touchIntervalMs: number;
  /**
   * Bumped by every invalidation: a validation that started before one must not cache what
   * it read, since the session may have been revoked while the read was in flight.
   */
  private generation = 0;
  private paused = false;
  /**
   * Sessions announced revoked, by ref: not cached again until the monotonic time each holds,
   * `ttl` after the announcement. On Redis Cluster the announcement goes to the stream's node,
   * and a revocation whose answer timed out may still be on its way to the session's: a session
   * read alive in between, and cached, would be served from here for up to `ttl` after that late
   * write ended it. Read through instead, it is refused as soon as the write lands. A session
   * truly ended reads null, which is never cached: this costs only the sessions announced
   * revoked whose write did not land (a logout answered 503, a rotation undone).
   */
  private readonly endedRefs = new Map<string, number>();
  /**
   * Changes of a user's sessions as a whole (revoke-all, role change, a password change's
   * revocation of the others) announced less than `ttl` ago, by user id, each id with the
   * monotonic time until which it is expected. As with `endedRefs`, such a change answered 503
   * on Redis Cluster may land after its event: a session of that user read in between, and
   * cached, would be served as it was (alive, its old roles) for up to `ttl` after the change
   * landed. The store answers each session with the ids of its user's changes that have
   * landed (`changesSeenWith`): a session read without every id expected for its user is
   * served, but not cached. Once the change has landed (at once, for one that did not time
   * out), the user's sessions are cached again, a login's after it included; only a change that
   * never lands costs its user's sessions a read each for `ttl`.
   */
  private readonly expectedChanges = new Map<string, Map<string, number>>();

  /**
   * Takes the resolved `localCache` settings (see `resolveSessionConfig`), the touch interval
   * this service's validations slide sessions by (`touchInterval`, ms), where to count
   * `get`'s hits and misses, and the store's clock (`SessionStore.now`): sessions are stamped
   * by it, so their expiries are compared with it, not with a host clock that may be off. How
   * long an entry is served is also measured on `elapsed`, a monotonic clock (ms): by the store's
   * clock alone, which follows the host's, a host clock stepped back (NTP, an operator) would
   * serve entries longer by the step until the store's clock is measured again.
   */
  constructor(
    { ttlMs, max }: NonNullable<SessionConfig['localCache']>,
    touchIntervalMs: number,
    private readonly metrics: SessionMetrics | null = null,
    private readonly now: () => number = () => Date.now(),
    private readonly elapsed: () => number = () => performance.now(),
  ) {
    this.ttlMs = Math.min(ttlMs, LOCAL_CACHE_MAX_TTL_MS);
    this.max = max;
    this.touchIntervalMs = touchIntervalMs;
  }

  /** The ttl in force: the option's, capped. */
  get ttl(): number {
    return this.ttlMs;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The cached session for an id (a copy the caller may change), or undefined: a Map lookup
   * and a deadline compare, no promise. `SessionService` asks it before `through`.
   */
  get(id: string): Session | undefined {
    const session = this.lookup(id);
    this.metrics?.cacheLookup(session !== undefined);
    return session;
  }

  /**
   * Like `get`, but counts only a hit: a miss is counted by the `get` of the validation that
   * follows it (the guard peeks before it validates).
   */
  peek(id: string): Session | undefined {
    const session = this.lookup(id);
    if (session !== undefined) {
      this.metrics?.cacheLookup(true);
    }
    return session;
  }

  private lookup(id: string): Session | undefined {
    const hit = this.paused ? undefined : this.entries.get(id);
    if (hit === undefined) {
      return undefined;
    }
    if (hit.until.elapsed > this.elapsed() && hit.until.now > this.now()) {
      return copy(hit.session);
    }
    this.remove(id);
    return undefined;
  }

  /** The cached session for an id, or else the one `load` reads (cached when live). */
  async through(
    id: string,
    load: (id: string) => Promise<Session | null>,
  ): Promise<Session | null> {
    if (this.paused) {
      return load(id);
    }
    // Not counted: `SessionService` counted its `get` before reading through.
    const hit = this.lookup(id);
    if (hit) {
      return hit;
    }
    const generation = this.generation;
    const session = await load(id);
    if (session && generation === this.generation) {
      const ref = sessionEventRef(session.id);
      if (!this.announcedRevoked(ref) && this.changesLanded(session)) {
        const now = this.now();
        const servedFor = this.servedFor(session, now);
        this.put(session, ref, { elapsed: this.elapsed() + servedFor, now: now + servedFor });
      }
    }
    return session;
  }

  /** Forgets sessions by id. */
  evict(ids: Iterable<string>): void {
    this.generation++;
    for (const id of ids) {
      this.remove(id);
    }
  }

  /** Forgets sessions by their refs (`sessionEventRef`), as the redacted events name them. */
  evictRefs(refs: Iterable<string>): void {
    this.generation++;
    for (const ref of refs) {
      const id = this.idsByRef.get(ref);
      if (id !== undefined) this.remove(id);
    }
  }

  /**
   * Forgets sessions announced revoked, by ref, and caches none of them again for `ttl`: the
   * revocation may land after its announcement (see `endedRefs`).
   */
  evictRevoked(refs: readonly string[]): void {
    this.evictRefs(refs);
    const until = this.elapsed() + this.ttlMs;
    for (const ref of refs) {
      this.endedRefs.delete(ref);
      this.endedRefs.set(ref, until);
      // Oldest first: past `max`, the oldest goes (its session is then cached as before).
      if (this.endedRefs.size > this.max) {
        const oldest = this.endedRefs.keys().next();
        if (!oldest.done) this.endedRefs.delete(oldest.value);
      }
    }
  }

  /**
   * Forgets every session of a user, but the one `except` names (by id, or by ref), after a
   * change of them all whose id is `change`: until a read of one of them shows the change
   * landed, or for `ttl`, none is cached again (see `expectedChanges`).
   */
  evictUserChange(userId: string, change: string, except?: string): void {
    const until = this.elapsed() + this.ttlMs;
    const expected = this.expectedChanges.get(userId) ?? new Map<string, number>();
    expected.set(change, until);
    // Most recent last: past `max` users, the one announced longest ago is cached as before.
    this.expectedChanges.delete(userId);
    this.expectedChanges.set(userId, expected);
    if (this.expectedChanges.size > this.max) {
      const oldest = this.expectedChanges.keys().next();
      if (!oldest.done) this.expectedChanges.delete(oldest.value);
    }
    this.evictUser(userId, except);
  }

  /** Forgets every session of a user, but the one `except` names (by id, or by ref). */
  evictUser(userId: string, except?: string): void {
    this.generation++;
    for (const [id, entry] of this.entries) {
      if (entry.session.userId === userId && id !== except && entry.ref !== except) {
        this.remove(id);
      }
    }
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.idsByRef.clear();
  }

  /** Forgets everything and caches nothing until `resume()`: its events may not arrive. */
  pause(): void {
    this.paused = true;
    this.clear();
  }

  /** Forgets everything, then caches again. */
  resume(): void {
    this.clear();
    this.paused = false;
  }

  /**
   * How long a session just read may be served, ms: its ttl, never past the session's expiry,
   * and never past the moment a store validation would slide its idle timeout — after
   * min(touch interval, a tenth of the session's own idle timeout) since its last touch, as
   * validate.lua decides. Served longer, a session in use would reach its idle timeout in the
   * store while its requests were answered here: it would end under an active user (a ttl at
   * or above the idle timeout ended every cached session so). A session whose idle timeout
   * reaches past its absolute deadline slides no more and is served until it ends. The
   * session's stamps are the store's clock: they are compared with it here, and what is left
   * is counted down on both clocks (see `Entry.until`).
   */
  private servedFor(session: Session, now: number): number {
    const { lastSeenAt, expiresAt, absoluteExpiresAt } = session;
    let until = expiresAt;
    if (expiresAt < absoluteExpiresAt) {
      const idleTimeoutMs = expiresAt - lastSeenAt;
      until = Math.min(
        until,
        lastSeenAt + Math.min(this.touchIntervalMs, Math.floor(idleTimeoutMs / 10)),
      );
    }
    return Math.min(this.ttlMs, until - now);
  }

  /**
   * Whether the session was read with every change of its user announced less than `ttl` ago
   * (see `expectedChanges`); a change expected that long is forgotten. An entry is kept until
   * then even once seen: a read that started before the change landed may end after one that
   * started later and saw it.
   */
  private changesLanded(session: Session): boolean {
    const expected = this.expectedChanges.get(session.userId);
    if (expected === undefined) {
      return true;
    }
    const now = this.elapsed();
    const seen = changesSeenWith(session);
    let landed = true;
    for (const [change, until] of expected) {
      if (until <= now) {
        expected.delete(change);
      } else if (!seen?.includes(change)) {
        landed = false;
      }
    }
    if (expected.size === 0) {
      this.expectedChanges.delete(session.userId);
    }
    return landed;
  }

  /** Whether the session was announced revoked less than `ttl` ago (see `endedRefs`). */
  private announcedRevoked(ref: string): boolean {
    const until = this.endedRefs.get(ref);
    if (until === undefined) {
      return false;
    }
    if (until > this.elapsed()) {
      return true;
    }
    this.endedRefs.delete(ref);
    return false;
  }

  private put(session: Session, ref: string, until: Entry['until']): void {
    this.remove(session.id);
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) {
        this.remove(oldest.value);
      }
    }
    this.entries.set(session.id, { session: copy(session), ref, until });
    this.idsByRef.set(ref, session.id);
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id);
      this.idsByRef.delete(entry.ref);
    }
  }
}

// Callers may change the session they get (a guard attaches it to the request): the cached
// copy must stay as Redis returned it.
function copy(session: Session): Session {
  return { ...session, roles: session.roles.slice(), attributes: { ...session.attributes } };
}
