import { Logger } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';

import type { SessionStoreSettings } from '../../config/session.config';
import { SessionStoreUnavailableError } from '../../errors/session-store-unavailable.error';

/** Where a write ran: the node owning a key's slot, or every master (a global revocation). */
export type WrittenAt = { key: string } | 'every-master';

/**
 * The `durability` option at work: after a write that removes or reduces access, `WAIT` on
 * the connection that sent it (WAIT counts the writes of its own connection only), and a
 * `SessionStoreUnavailableError` when fewer replicas than asked acknowledge in time — a
 * success that a failover could undo is never answered.
 *
 * The writes and their WAIT go through a connection of their own, so a WAIT that blocks while
 * replicas lag never holds up the session checks queued on the main connection. On Redis
 * Cluster the WAIT travels in a pipeline with an `EXISTS` of the written key, which routes it
 * to the master owning the key's slot: the connection that ran the script.
 */
export class ReplicaAcknowledgement {
  private readonly logger = new Logger('RedisSessionStore');
  private lagging = false;

  constructor(
    private readonly writer: Redis | Cluster,
    private readonly durability: NonNullable<SessionStoreSettings['durability']>,
  ) {}

  /** Resolves once enough replicas hold every write this connection sent to `where`. */
  async confirm(where: WrittenAt): Promise<void> {
    let acknowledged: number;
    try {
      acknowledged = await this.replicasHolding(where);
    } catch (error) {
      // The connection is away: the store's outage warning already says so.
      throw new SessionStoreUnavailableError(error);
    }
    if (!this.enough(acknowledged)) {
      const { replicas, timeoutMs } = this.durability;
      throw new SessionStoreUnavailableError(
        new Error(`${acknowledged} of ${replicas} replicas acknowledged within ${timeoutMs} ms`),
      );
    }
  }

  /**
   * Whether enough replicas hold every write this connection sent to `where`: false when too
   * few acknowledged in time; rejected when the WAIT itself failed (its connection broke, and
   * the next one has written nothing for a WAIT to count).
   */
  async holds(where: WrittenAt): Promise<boolean> {
    return this.enough(await this.replicasHolding(where));
  }

  /** Whether `acknowledged` replicas are enough; says once when they start to lag, and catch up. */
  private enough(acknowledged: number): boolean {
    const { replicas, timeoutMs } = this.durability;
    if (acknowledged >= replicas) {
      if (this.lagging) {
        this.lagging = false;
        this.logger.log('Redis replicas acknowledge revocations again');
      }
      return true;
    }
    if (!this.lagging) {
      this.lagging = true;
      this.logger.warn(
        `Redis replicas lag: ${acknowledged} of ${replicas} acknowledged a revocation within ` +
          `${timeoutMs} ms; revocations answer 503 until they catch up`,
      );
    }
    return false;
  }

  /** The fewest replicas that acknowledged, over the nodes written to. */
  private async replicasHolding(where: WrittenAt): Promise<number> {
    const { replicas, timeoutMs } = this.durability;
    const writer = this.writer;
    if (!(writer instanceof Cluster)) {
      return writer.wait(replicas, timeoutMs);
    }
    if (where === 'every-master') {
      const counts = await Promise.all(
        writer.nodes('master').map((node) => node.wait(replicas, timeoutMs)),
      );
      return Math.min(...counts);
    }
    // ioredis sends a keyed pipeline to the master of the key's slot, commands without keys
    // (WAIT) included, over the same connection the cluster client used for the write.
    const results = await writer.pipeline().exists(where.key).wait(replicas, timeoutMs).exec();
    const failed = results?.find(([error]) => error)?.[0];
    if (!results || failed) {
      throw failed ?? new Error('WAIT pipeline was not run');
    }
    return Number(results[1][1]);
  }
}
