import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';

import { AuthEnv } from '../config/auth.env';
import { SecurityEvent } from './entities/security-event.entity';

const DAY_MS = 24 * 60 * 60 * 1000;

/** How often old events are deleted, besides at start-up. */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** Rows one DELETE removes: a long backlog never holds a lock (or SQLite's file) for long. */
export const PRUNE_BATCH = 500;

/**
 * Deletes activity events older than `ACTIVITY_RETENTION_DAYS`, at start-up and then hourly,
 * in batches. Several instances may prune at once: deleting a row twice deletes it once.
 */
@Injectable()
export class ActivityRetention implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('SecurityActivity');
  private timer?: NodeJS.Timeout;
  private pruning?: Promise<unknown>;
  private stopped = false;

  constructor(
    @InjectRepository(SecurityEvent) private readonly events: Repository<SecurityEvent>,
    private readonly env: AuthEnv,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule();
    this.timer = setInterval(() => this.schedule(), PRUNE_INTERVAL_MS);
    // A pending prune must not keep a stopping process alive.
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.pruning;
  }

  /** Events that happened before this time (epoch ms) are past retention. */
  cutoff(now = Date.now()): number {
    return now - this.env.ACTIVITY_RETENTION_DAYS * DAY_MS;
  }

  /** Deletes every event past retention at `now`; answers how many. */
  async prune(now = Date.now()): Promise<number> {
    const cutoff = this.cutoff(now);
    let deleted = 0;
    while (!this.stopped) {
      const batch = await this.events
        .createQueryBuilder('e')
        .select('e.id', 'id')
        .where('e.at < :cutoff', { cutoff })
        .orderBy('e.at', 'ASC')
        .limit(PRUNE_BATCH)
        .getRawMany<{ id: string | number }>();
      if (!batch.length) break;
      const result = await this.events
        .createQueryBuilder()
        .delete()
        .whereInIds(batch.map((row) => String(row.id)))
        .execute();
      deleted += result.affected ?? batch.length;
      if (batch.length < PRUNE_BATCH) break;
    }
    return deleted;
  }

  private schedule(): void {
    if (this.pruning || this.stopped) return;
    this.pruning = this.prune()
      .catch((error: unknown) => {
        this.logger.warn(
          `Could not prune security activity: ${(error as Error)?.message ?? error}`,
        );
      })
      .finally(() => {
        this.pruning = undefined;
      });
  }
}
