import { Cluster, Redis } from 'ioredis';

/** How often the offset is measured again while connected: clocks drift, and get stepped. */
export const REDIS_CLOCK_REFRESH_MS = 60_000;

/**
 * A TIME whose round trip took longer than this says little about when Redis read its clock:
 * the measure is dropped and the last one kept.
 */
const MAX_ROUND_TRIP_MS = 100;

/**
 * Redis's clock as seen from this process: the offset between them, measured by a TIME at
 * every (re)connection and every minute, from the middle of its round trip. The scripts stamp
 * sessions with Redis's clock (so that services agree); a process comparing those stamps with
 * its own clock — the local cache's expiries, `@RequireRecentAuth()` — uses `now()`, so that
 * a host clock minutes off neither serves a session past its end nor refuses every
 * re-authentication. Accurate to half a round trip (well under a millisecond on a LAN).
 */
export class RedisClock {
  private offsetMs = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly client: Redis | Cluster) {
    client.on('ready', () => void this.measure());
    if (client.status === 'ready') {
      void this.measure();
    }
    this.timer = setInterval(() => {
      if (client.status === 'ready') {
        void this.measure();
      }
    }, REDIS_CLOCK_REFRESH_MS);
    this.timer.unref();
  }

  /** Redis's now, epoch ms, from the local clock and the last offset measured. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Redis's clock minus the local one, ms (0 until first measured). */
  get offset(): number {
    return this.offsetMs;
  }

  /** Measures the offset once; a failed or slow TIME keeps the previous one. */
  async measure(): Promise<void> {
    const sentAt = Date.now();
    let reply: Array<number | string>;
    try {
      reply = await this.client.time();
    } catch {
      return;
    }
    const answeredAt = Date.now();
    if (answeredAt - sentAt > MAX_ROUND_TRIP_MS) {
      return;
    }
    this.offsetMs = Math.round(millisecondsOf(reply) - (sentAt + answeredAt) / 2);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** A TIME reply (seconds and microseconds, as strings whatever the typings say) in epoch ms. */
export function millisecondsOf([seconds, micros]: ReadonlyArray<number | string>): number {
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}
