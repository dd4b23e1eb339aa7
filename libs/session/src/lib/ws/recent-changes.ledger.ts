import { sessionEventRef } from '../events/session-event.interface';

/**
 * What the lifecycle stream said changed lately, and when (this process's monotonic clock):
 * sessions that ended (by ref, as the redacted stream names them), and users' new roles. A handshake or a subscription whose validation
 * was in flight when the event arrived checks it here before it registers, since the event
 * found nothing of it to act on.
 *
 * It forgets what is older than `keepMs` by itself, as changes are recorded (at most once per
 * `keepMs`): the stream is followed, and every change of every service recorded, for as long as
 * the process lives, also while no socket is open and nothing else prunes it.
 */
export class RecentChangesLedger {
  private readonly sessions = new Map<string, number>();
  private readonly users = new Map<string, { at: number; kept?: string }>();
  private readonly roles = new Map<string, { at: number; roles: readonly string[] }>();
  private everyone?: { at: number; kept?: string };
  private prunedAt = -Infinity;

  constructor(private readonly keepMs: number) {}

  /** How many changes it holds (for tests and metrics). */
  get size(): number {
    return this.sessions.size + this.users.size + this.roles.size + (this.everyone ? 1 : 0);
  }

  /** A session ended: `ref` is its `sessionEventRef`. */
  session(ref: string, at = performance.now()): void {
    this.sessions.set(ref, at);
    this.pruneIfDue(at);
  }

  /** Every session of a user (of everyone: null) ended but the one whose ref is `kept`. */
  user(userId: string | null, kept: string | undefined, at = performance.now()): void {
    if (userId === null) {
      this.everyone = { at, kept };
    } else {
      this.users.set(userId, { at, kept });
    }
    this.pruneIfDue(at);
  }

  rolesChanged(userId: string, roles: readonly string[], at = performance.now()): void {
    this.roles.set(userId, { at, roles });
    this.pruneIfDue(at);
  }

  /** True when the session ended at or after `since`. */
  endedSince(since: number, session: { id: string; userId: string }): boolean {
    const ref = sessionEventRef(session.id);
    const mark = (entry: { at: number; kept?: string } | undefined) =>
      entry !== undefined && entry.at >= since && entry.kept !== ref;
    return (
      (this.sessions.get(ref) ?? -Infinity) >= since ||
      mark(this.users.get(session.userId)) ||
      mark(this.everyone)
    );
  }

  /** The user's roles as last changed at or after `since`; undefined when they were not. */
  rolesSince(since: number, userId: string): readonly string[] | undefined {
    const entry = this.roles.get(userId);
    return entry !== undefined && entry.at >= since ? entry.roles : undefined;
  }

  /** Forgets what nothing in flight can need any more. */
  prune(now = performance.now()): void {
    this.prunedAt = now;
    const oldest = now - this.keepMs;
    for (const [id, at] of this.sessions) if (at < oldest) this.sessions.delete(id);
    for (const [id, entry] of this.users) if (entry.at < oldest) this.users.delete(id);
    for (const [id, entry] of this.roles) if (entry.at < oldest) this.roles.delete(id);
    if (this.everyone && this.everyone.at < oldest) this.everyone = undefined;
  }

  /** Prunes when the last pruning is `keepMs` old: each change costs O(1) on average. */
  private pruneIfDue(now: number): void {
    if (now - this.prunedAt >= this.keepMs) {
      this.prune(now);
    }
  }
}
