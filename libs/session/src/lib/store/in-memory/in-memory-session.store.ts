import type { SessionCommonOptions } from '../../config/session-options.interface';
import { resolveStoreSettings, SessionStoreSettings } from '../../config/session.config';
import { SessionAttributesTooLargeError } from '../../errors/session-attributes-too-large.error';
import { SessionLimitReachedError } from '../../errors/session-limit-reached.error';
import { SessionStoreUnavailableError } from '../../errors/session-store-unavailable.error';
import type { Session } from '../../session.types';
import { newUserTag, SessionRef, sessionRef } from '../../token/session.token';
import { growsPastLimits, isReadableAttribute } from '../attribute-names';
import {
  CreatedSession,
  NewSessionRecord,
  ROTATION_FORWARD_MS,
  SessionHop,
  SessionRotation,
  SessionStore,
} from '../session-store.interface';
import { noteChangesSeen, USER_CHANGES_KEPT } from '../user-changes';

/**
 * The limits of an in-memory store, in seconds, with the module's defaults.
 *
 * @example
 * new InMemorySessionStore({ idleTimeout: 60, maxSessionsPerUser: 2, capPolicy: 'refuse' })
 */
export type InMemorySessionStoreOptions = Pick<
  SessionCommonOptions,
  | 'idleTimeout'
  | 'absoluteTimeout'
  | 'touchInterval'
  | 'maxSessionsPerUser'
  | 'capPolicy'
  | 'remember'
>;

interface UserEntry {
  tag: string;
  /** Revocation generation: moved by role changes, revoke-all and password changes. */
  generation: number;
  /** Session ids, oldest first. */
  ids: string[];
  /** The ids of the last changes of the user's sessions as a whole, as Redis records them. */
  changes: string[];
}

/**
 * A `SessionStore` in the process's memory, with the same timeouts (remembered sessions'
 * too), touch interval, per-user cap and cap policy, and revocation rules as the Redis store
 * (it passes the same contract suite). Sessions live and die with the process and are not
 * shared between processes: use it for tests and single-process tools, not for a deployment
 * of several services.
 *
 * @example
 * const store = new InMemorySessionStore({ idleTimeout: 60 });
 * Test.createTestingModule({ imports: [SessionModule.forRoot({ store })] });
 */
export class InMemorySessionStore implements SessionStore {
  /** Set to make every call fail as a Redis outage would. */
  failing = false;
  private readonly sessions = new Map<string, Session>();
  /** Each session's own idle timeout (ms), as Redis keeps it in the hash. */
  private readonly idleTimeouts = new Map<string, number>();
  /** Old id of a rotated session → its new id, until `ROTATION_FORWARD_MS` has passed. */
  private readonly forwards = new Map<string, { to: string; until: number }>();
  private readonly users = new Map<string, UserEntry>();
  private readonly settings: SessionStoreSettings;
  private readonly watchers = new Set<(notBefore: number) => void>();
  private notBefore = 0;

  constructor(options: InMemorySessionStoreOptions = {}) {
    this.settings = resolveStoreSettings(options);
  }

  async create(record: NewSessionRecord): Promise<CreatedSession | null> {
    this.check();
    const user = this.userEntry(record.user.id, true);
    if (
      record.expectedGeneration !== undefined &&
      record.expectedGeneration !== String(user.generation)
    ) {
      return null;
    }
    const ref = sessionRef(user.tag, record.digest);
    this.prune(user);
    const evicted: string[] = [];
    const { maxSessionsPerUser: cap, capPolicy } = this.settings;
    if (cap > 0 && user.ids.length >= cap && capPolicy === 'refuse') {
      throw new SessionLimitReachedError(this.sessionsOf(user));
    }
    while (cap > 0 && user.ids.length >= cap) {
      const victim = capPolicy === 'evict-idlest' ? this.idlest(user) : user.ids[0];
      this.forget(this.sessions.get(victim) as Session);
      evicted.push(victim);
    }
    const idleTimeoutMs = record.persistent
      ? this.settings.rememberIdleTimeoutMs
      : this.settings.idleTimeoutMs;
    const absoluteTimeoutMs = record.persistent
      ? this.settings.rememberAbsoluteTimeoutMs
      : this.settings.absoluteTimeoutMs;
    // A session created in the millisecond after a global revocation is not outdated by it.
    const now = Math.max(Date.now(), this.notBefore);
    const session: Session = {
      id: ref.id,
      userId: record.user.id,
      username: record.user.username,
      roles: [...record.user.roles],
      createdAt: now,
      authenticatedAt: now,
      lastSeenAt: now,
      expiresAt: now + Math.min(idleTimeoutMs, absoluteTimeoutMs),
      absoluteExpiresAt: now + absoluteTimeoutMs,
      persistent: record.persistent === true,
      ...(record.ip ? { ip: record.ip } : {}),
      ...(record.userAgent && this.settings.keepUserAgent ? { userAgent: record.userAgent } : {}),
      ...(record.device ? { device: record.device } : {}),
      attributes: withoutUndefined(record.attributes),
    };
    this.sessions.set(ref.id, session);
    this.idleTimeouts.set(ref.id, idleTimeoutMs);
    user.ids.push(ref.id);
    return { tag: user.tag, session: structuredClone(session), evicted };
  }

  async generation(userId: string): Promise<string> {
    this.check();
    return String(this.userEntry(userId, true).generation);
  }

  async validate(ref: SessionRef): Promise<Session | null> {
    this.check();
    const session = this.live(ref.id);
    if (!session) {
      return null;
    }
    const now = Date.now();
    const idle = this.idleOf(session.id);
    // As validate.lua: a tenth of the session's own idle timeout at most, so that a remembered
    // session and a short one both slide before they die.
    if (
      now - session.lastSeenAt >=
      Math.min(this.settings.touchIntervalMs, Math.floor(idle / 10))
    ) {
      session.lastSeenAt = now;
      session.expiresAt = Math.min(now + idle, session.absoluteExpiresAt);
    }
    const copy = structuredClone(session);
    noteChangesSeen(copy, this.users.get(session.userId)?.changes.join(' ') ?? '');
    return copy;
  }

  async get(ref: SessionRef): Promise<Session | null> {
    this.check();
    const session = this.live(ref.id);
    return session ? structuredClone(session) : null;
  }

  async patch(ref: SessionRef, attributes: Record<string, unknown>): Promise<boolean> {
    this.check();
    const session = this.live(ref.id);
    if (!session) {
      return false;
    }
    const after = { ...session.attributes };
    for (const [name, value] of Object.entries(attributes)) {
      // As Redis reads them back: a reserved name never reaches the object, a value is what its
      // JSON says (a class's toJSON included), and weighs as much.
      if (!isReadableAttribute(name)) continue;
      if (value === undefined) delete after[name];
      else after[name] = JSON.parse(JSON.stringify(value));
    }
    // As the Redis store's script: the whole session's attributes, or nothing written.
    if (growsPastLimits(session.attributes, after)) {
      throw new SessionAttributesTooLargeError();
    }
    session.attributes = after;
    return true;
  }

  async revoke(ref: SessionRef, ownerId?: string): Promise<string | null> {
    this.check();
    let id: string | undefined = ref.id;
    // As in Redis: a session rotated moments ago is found under the id it moved to (three
    // rotations at most).
    for (let hop = 0; hop < 3 && id !== undefined && !this.live(id); hop++) {
      const forward = this.forwards.get(id);
      id = forward && forward.until > Date.now() ? forward.to : undefined;
    }
    const session = id === undefined ? null : this.live(id);
    if (!session || (ownerId && session.userId !== ownerId)) {
      return null;
    }
    this.forget(session);
    return session.id;
  }

  async ownsTag(userId: string, tag: string): Promise<boolean> {
    this.check();
    return this.users.get(userId)?.tag === tag;
  }

  async trace(ref: SessionRef): Promise<SessionHop[]> {
    this.check();
    const hops: SessionHop[] = [];
    let id: string | undefined = ref.id;
    // As `revoke`: three rotations at most, up to a live session.
    while (id !== undefined && hops.length < 4 && !hops.some((hop) => hop.id === id)) {
      const session = this.live(id);
      hops.push({ id, userId: session?.userId ?? null });
      const forward: { to: string; until: number } | undefined = session
        ? undefined
        : this.forwards.get(id);
      id = forward && forward.until > Date.now() ? forward.to : undefined;
    }
    return hops;
  }

  async list(userId: string): Promise<Session[]> {
    this.check();
    const user = this.userEntry(userId, false);
    if (!user) {
      return [];
    }
    this.prune(user);
    return this.sessionsOf(user);
  }

  async revokeAll(
    userId: string,
    except?: SessionRef,
    change = '',
  ): Promise<{ revoked: number; kept: string | null }> {
    this.bump(userId, change);
    // As in Redis: the session kept is kept under the ids it was rotated to moments ago too.
    const chain: string[] = [];
    for (let id = except?.id, hop = 0; id !== undefined && hop <= 4; hop++) {
      chain.push(id);
      const forward = this.forwards.get(id);
      id =
        forward && forward.until > Date.now() && !chain.includes(forward.to)
          ? forward.to
          : undefined;
    }
    let revoked = 0;
    const live = new Set<string>();
    for (const session of await this.list(userId)) {
      if (chain.includes(session.id)) {
        live.add(session.id);
      } else {
        this.forget(session);
        revoked++;
      }
    }
    // The furthest along the chain that is live, as revoke-all.lua answers it.
    const kept = chain.reverse().find((id) => live.has(id)) ?? null;
    return { revoked, kept };
  }

  async setRoles(userId: string, roles: string[], change = ''): Promise<number> {
    this.bump(userId, change);
    const live = await this.list(userId);
    for (const { id } of live) {
      (this.sessions.get(id) as Session).roles = [...roles];
    }
    return live.length;
  }

  async rotate(
    from: SessionRef,
    to: SessionRef,
    options: SessionRotation = {},
  ): Promise<Session | null> {
    this.check();
    const { revokeOthersOf, reauthenticated } = options;
    if (from.tag !== to.tag) {
      throw new Error('A session can only rotate within its user tag');
    }
    const old = this.live(from.id);
    if (old && revokeOthersOf && old.userId !== revokeOthersOf) {
      return null;
    }
    let session: Session | null = null;
    if (old) {
      const user = this.userEntry(old.userId, true);
      // The new id takes the old one's place: index order is creation order.
      const position = user.ids.indexOf(old.id);
      const idle = this.idleOf(old.id);
      this.forget(old);
      // As at creation: never before a stamp this store gave (a login just after a global
      // revocation is stamped with its watermark, a millisecond ahead).
      const now = Math.max(Date.now(), this.notBefore);
      session = {
        ...old,
        id: to.id,
        lastSeenAt: now,
        expiresAt: Math.min(now + idle, old.absoluteExpiresAt),
        ...(reauthenticated ? { authenticatedAt: now } : {}),
      };
      this.sessions.set(to.id, session);
      this.idleTimeouts.set(to.id, idle);
      for (const [from, forward] of this.forwards) {
        if (forward.until <= now) this.forwards.delete(from);
      }
      this.forwards.set(old.id, { to: to.id, until: now + ROTATION_FORWARD_MS });
      user.ids.splice(position < 0 ? user.ids.length : position, 0, to.id);
    }
    // As in Redis, where a user's sessions live under their tag: a user id whose sessions are
    // under another tag than the token's is left alone.
    if (revokeOthersOf && this.users.get(revokeOthersOf)?.tag === from.tag) {
      this.bump(revokeOthersOf, options.change);
      for (const other of await this.list(revokeOthersOf)) {
        if (other.id !== to.id) {
          this.forget(other);
        }
      }
    }
    return session && structuredClone(session);
  }

  async revokeEverything(
    keep?: SessionRef,
    options: { onWatermark?: (notBefore: number) => void } = {},
  ): Promise<{ notBefore: number; revoked: number; kept: string | null }> {
    this.check();
    // Past the last watermark too: a login in the millisecond after it was created at it.
    const notBefore = Math.max(Date.now(), this.notBefore) + 1;
    // As in Redis: the session kept is found under the id it was rotated to moments ago (four
    // hops at most); its holder has that session's token now.
    let kept = keep?.id;
    for (let hop = 0; hop < 4 && kept !== undefined && !this.live(kept); hop++) {
      const forward = this.forwards.get(kept);
      kept = forward && forward.until > Date.now() ? forward.to : undefined;
    }
    const spared = kept === undefined ? null : this.live(kept);
    let revoked = 0;
    for (const session of [...this.sessions.values()]) {
      if (session === spared) {
        session.createdAt = notBefore;
      } else if (session.createdAt < notBefore) {
        this.forget(session);
        revoked++;
      }
    }
    this.notBefore = notBefore;
    for (const listener of this.watchers) listener(notBefore);
    options.onWatermark?.(notBefore);
    return { notBefore, revoked, kept: spared?.id ?? null };
  }

  watchNotBefore(listener: (notBefore: number) => void): () => void {
    this.watchers.add(listener);
    listener(this.notBefore);
    return () => this.watchers.delete(listener);
  }

  async verify(): Promise<void> {
    this.check();
  }

  async ping(): Promise<void> {
    this.check();
  }

  /** The stored session if it is still live; a dead one is dropped on the way. */
  private live(id: string): Session | null {
    const session = this.sessions.get(id);
    if (!session) {
      return null;
    }
    // As Redis: a key lives through the millisecond its TTL ends in (it is expired once the
    // clock is past it), while validate.lua ends a session at its absolute deadline.
    const now = Date.now();
    if (now > session.expiresAt || now >= session.absoluteExpiresAt) {
      this.forget(session);
      return null;
    }
    return session;
  }

  private forget(session: Session): void {
    this.sessions.delete(session.id);
    this.idleTimeouts.delete(session.id);
    const user = this.users.get(session.userId);
    if (user) {
      user.ids = user.ids.filter((id) => id !== session.id);
    }
  }

  private idleOf(id: string): number {
    return this.idleTimeouts.get(id) ?? this.settings.idleTimeoutMs;
  }

  /** Copies of a user's sessions, oldest first. */
  private sessionsOf(user: UserEntry): Session[] {
    return user.ids.map((id) => structuredClone(this.sessions.get(id) as Session));
  }

  /** The least recently used of a user's live sessions; the older one on a tie. */
  private idlest(user: UserEntry): string {
    let idlest = user.ids[0];
    for (const id of user.ids) {
      const seen = (this.sessions.get(id) as Session).lastSeenAt;
      if (seen < (this.sessions.get(idlest) as Session).lastSeenAt) idlest = id;
    }
    return idlest;
  }

  private prune(user: UserEntry): void {
    for (const id of [...user.ids]) {
      this.live(id);
    }
    user.ids = user.ids.filter((id) => this.sessions.has(id));
  }

  private userEntry(userId: string, create: true): UserEntry;
  private userEntry(userId: string, create: false): UserEntry | undefined;
  private userEntry(userId: string, create: boolean): UserEntry | undefined {
    let user = this.users.get(userId);
    if (!user && create) {
      user = { tag: newUserTag(), generation: 0, ids: [], changes: [] };
      this.users.set(userId, user);
    }
    return user;
  }

  /** Moves the user's generation, and records `change` as user-changes.lua does. */
  private bump(userId: string, change = ''): void {
    const user = this.userEntry(userId, true);
    user.generation++;
    if (change) {
      user.changes = [...user.changes, change].slice(-USER_CHANGES_KEPT);
    }
  }

  private check(): void {
    if (this.failing) {
      throw new SessionStoreUnavailableError();
    }
  }
}

function withoutUndefined(attributes: Record<string, unknown>): Record<string, unknown> {
  return structuredClone(
    Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined)),
  );
}
