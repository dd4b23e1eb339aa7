import { SessionStoreUnavailableError } from '../lib/session-store-unavailable.error';
import { NewSessionRecord, SessionStore, UserRef } from '../lib/session-store.interface';
import { newUserTag } from '../lib/session-token';
import { Session } from '../lib/session.types';

/**
 * A `SessionStore` in a Map, for unit tests of guards and controllers only: it keeps the
 * contract's timeouts but none of Redis's guarantees across processes.
 *
 * @example
 * Test.createTestingModule({ ... }).overrideProvider(SessionStore).useValue(new InMemorySessionStore())
 */
export class InMemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly tags = new Map<string, string>();
  /** Set to make every call fail as a Redis outage would. */
  failing = false;

  constructor(
    private readonly idleTimeoutMs = 1_800_000,
    private readonly absoluteTimeoutMs = 43_200_000,
  ) {}

  async create(record: NewSessionRecord) {
    this.check();
    const now = Date.now();
    const session: Session = {
      id: record.id,
      userId: record.user.id,
      username: record.user.username,
      roles: [...record.user.roles],
      createdAt: now,
      lastSeenAt: now,
      expiresAt: Math.min(now + this.idleTimeoutMs, now + this.absoluteTimeoutMs),
      absoluteExpiresAt: now + this.absoluteTimeoutMs,
      ip: record.ip,
      userAgent: record.userAgent,
      attributes: { ...record.attributes },
    };
    this.sessions.set(record.id, session);
    return { session: structuredClone(session), evicted: [] };
  }

  async validate(id: string) {
    const session = await this.get(id);
    if (!session) return null;
    const stored = this.sessions.get(id) as Session;
    stored.lastSeenAt = Date.now();
    stored.expiresAt = Math.min(stored.lastSeenAt + this.idleTimeoutMs, stored.absoluteExpiresAt);
    return structuredClone(stored);
  }

  async get(id: string) {
    this.check();
    const session = this.sessions.get(id);
    if (!session || session.expiresAt <= Date.now()) {
      this.sessions.delete(id);
      return null;
    }
    return structuredClone(session);
  }

  async patch(id: string, attributes: Record<string, unknown>) {
    this.check();
    const session = this.sessions.get(id);
    if (!session) return false;
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined) delete session.attributes[name];
      else session.attributes[name] = structuredClone(value);
    }
    return true;
  }

  async destroy(id: string, ownerId?: string) {
    this.check();
    const session = this.sessions.get(id);
    if (!session || (ownerId !== undefined && session.userId !== ownerId)) return false;
    return this.sessions.delete(id);
  }

  async list(user: UserRef) {
    this.check();
    return [...this.sessions.values()]
      .filter((session) => session.userId === user.userId && session.expiresAt > Date.now())
      .map((session) => structuredClone(session));
  }

  async destroyAll(user: UserRef, exceptId?: string) {
    let count = 0;
    for (const session of await this.list(user)) {
      if (session.id !== exceptId && this.sessions.delete(session.id)) count++;
    }
    return count;
  }

  async setRoles(user: UserRef, roles: string[]) {
    const live = await this.list(user);
    for (const session of live) (this.sessions.get(session.id) as Session).roles = [...roles];
    return live.length;
  }

  async rotate(oldId: string, newId: string) {
    const old = await this.get(oldId);
    if (!old) return null;
    this.sessions.delete(oldId);
    const { session } = await this.create({
      id: newId,
      user: { id: old.userId, username: old.username, roles: old.roles },
      ip: old.ip,
      userAgent: old.userAgent,
      attributes: old.attributes,
    });
    return session;
  }

  async userTag(userId: string, create: boolean) {
    this.check();
    let tag = this.tags.get(userId);
    if (!tag && create) {
      tag = newUserTag();
      this.tags.set(userId, tag);
    }
    return tag ?? null;
  }

  async ping() {
    this.check();
  }

  private check(): void {
    if (this.failing) {
      throw new SessionStoreUnavailableError();
    }
  }
}
