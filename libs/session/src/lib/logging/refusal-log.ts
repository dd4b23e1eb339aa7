import { Logger } from '@nestjs/common';

/** Keys a {@link RefusalLog} remembers at once: a flood of new keys grows no memory past it. */
export const REFUSAL_LOG_MAX_KEYS = 1000;

/** The least time between two lines of one key, and between two lines of the keys left out. */
export const REFUSAL_LOG_WINDOW_MS = 60_000;

interface Logged {
  at: number;
  /** Refusals of the key since its last line, not logged. */
  held: number;
}

/**
 * Warnings about refused callers, connections and frames, at most one line per key (a caller
 * and reason, an address) and window; the next line of a key says how many it held back. At
 * most {@link REFUSAL_LOG_MAX_KEYS} keys are remembered; keys whose window ended make room for
 * new ones, and while every place is taken by a key still in its window, the refusals of new
 * keys are counted and said in one line per window. So a flood of new keys (addresses of one
 * network, certificates of one CA) neither grows memory nor silences the log for good: a key
 * refused again once its window ended is logged again.
 */
export class RefusalLog {
  private readonly keys = new Map<string, Logged>();
  /** The refusals of keys that found no place, and of keys forgotten with lines held. */
  private readonly others: Logged = { at: -Infinity, held: 0 };

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = REFUSAL_LOG_WINDOW_MS,
    private readonly maxKeys = REFUSAL_LOG_MAX_KEYS,
    // Monotonic: a host clock set back would otherwise silence every key for as long.
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Logs `line` for `key` unless the key was logged within the window (then only counts it). */
  warn(key: string, line: string): void {
    const now = this.now();
    this.record(key, line, now);
    if (this.others.held && now - this.others.at >= this.windowMs) {
      this.logger.warn(`${this.others.held} more refusal(s) of other kinds or callers not logged`);
      this.others.at = now;
      this.others.held = 0;
    }
  }

  private record(key: string, line: string, now: number): void {
    const seen = this.keys.get(key);
    if (seen && now - seen.at < this.windowMs) {
      seen.held++;
      return;
    }
    if (!seen && this.keys.size >= this.maxKeys && !this.makeRoom(now)) {
      this.others.held++;
      return;
    }
    const held = seen?.held ? ` (${seen.held} more since the last line)` : '';
    this.logger.warn(`${line}${held}`);
    // Moved to the end: the map stays in the order of the last lines, oldest first.
    this.keys.delete(key);
    this.keys.set(key, { at: now, held: 0 });
  }

  /** Forgets the keys whose window ended, oldest line first; whether one place is free. */
  private makeRoom(now: number): boolean {
    for (const [key, logged] of this.keys) {
      if (now - logged.at < this.windowMs) {
        break;
      }
      this.others.held += logged.held;
      this.keys.delete(key);
    }
    return this.keys.size < this.maxKeys;
  }
}
