import { Cluster, Redis } from 'ioredis';

/** What ioredis rejects a command with once its `commandTimeout` has passed. */
const COMMAND_TIMED_OUT = 'Command timed out';

/**
 * Ends a Redis connection that has gone silent, so that ioredis connects again. A Redis whose
 * host died, or that a network partition cut off, closes nothing: no FIN, no reset reaches the
 * client, whose commands time out one after another (503) while the kernel retransmits into
 * the void for up to about 15 minutes before it gives up on the connection — and a Sentinel
 * client goes on writing to the old primary all that time, however soon a replica was promoted.
 *
 * The store reports each failed call (`failed`); a command that timed out on a connection that
 * has received nothing for `silentMs` (twice the store timeout, at least 1 s: longer than a
 * command that is merely slow) destroys the connection's socket, and ioredis reconnects as it
 * does after any lost connection (to the primary the sentinels name now). Commands sent on
 * the old connection fail as on any lost connection; an abandoned create's undo is sent
 * again (`RedisSessionStore.abandon`).
 *
 * A Cluster client is not watched: its slots are read again every few seconds, and a promoted
 * replica's connection takes over the dead master's commands.
 */
export class SilentConnectionWatch {
  private heardAt = Date.now();
  private readonly heard = (): void => {
    this.heardAt = Date.now();
  };

  private constructor(
    private readonly client: Redis,
    private readonly silentMs: number,
    private readonly report: (silentMs: number) => void,
  ) {
    client.on('connect', () => this.listen());
    if (client.stream) {
      this.listen();
    }
  }

  /** A watch on `client`, or null for a Cluster client (see above). */
  static of(
    client: Redis | Cluster,
    storeTimeoutMs: number,
    report: (silentMs: number) => void,
  ): SilentConnectionWatch | null {
    if (client instanceof Cluster) {
      return null;
    }
    return new SilentConnectionWatch(client, Math.max(2 * storeTimeoutMs, 1000), report);
  }

  /** A store call on this client failed with `error`. */
  failed(error: unknown): void {
    if (!(error instanceof Error) || error.message !== COMMAND_TIMED_OUT) {
      return;
    }
    const silentMs = Date.now() - this.heardAt;
    const stream = this.client.stream;
    if (silentMs < this.silentMs || this.client.status !== 'ready' || !stream) {
      return;
    }
    this.report(silentMs);
    // Not `disconnect()`, which ends the connection politely (a FIN a host that is gone never
    // answers) and destroys it only after `disconnectTimeout` (2 s by default): destroyed, the
    // socket closes at once and ioredis reconnects after its back-off.
    stream.destroy();
  }

  private listen(): void {
    this.heardAt = Date.now();
    this.client.stream.on('data', this.heard);
  }
}
