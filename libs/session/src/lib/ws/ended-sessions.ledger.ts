/**
 * What the lifecycle stream said ended lately, and when (this process's monotonic clock): a
 * handshake whose validation was in flight when the event arrived checks it here before it
 * registers its socket, since the event found no socket to close.
 */
export class EndedSessionsLedger {
  private readonly sessions = new Map<string, number>();
  private readonly users = new Map<string, { at: number; kept?: string }>();
  private everyone?: { at: number; kept?: string };

  constructor(private readonly keepMs: number) {}

  session(id: string, at = performance.now()): void {
    this.sessions.set(id, at);
  }

  user(userId: string | null, kept: string | undefined, at = performance.now()): void {
    if (userId === null) {
      this.everyone = { at, kept };
    } else {
      this.users.set(userId, { at, kept });
    }
  }

  /** True when the session ended at or after `since`. */
  endedSince(since: number, session: { id: string; userId: string }): boolean {
    const mark = (entry: { at: number; kept?: string } | undefined) =>
      entry !== undefined && entry.at >= since && entry.kept !== session.id;
    return (
      (this.sessions.get(session.id) ?? -Infinity) >= since ||
      mark(this.users.get(session.userId)) ||
      mark(this.everyone)
    );
  }

  /** Forgets what no handshake in flight can need any more. */
  prune(now = performance.now()): void {
    const oldest = now - this.keepMs;
    for (const [id, at] of this.sessions) if (at < oldest) this.sessions.delete(id);
    for (const [id, entry] of this.users) if (entry.at < oldest) this.users.delete(id);
    if (this.everyone && this.everyone.at < oldest) this.everyone = undefined;
  }
}
