/** How often the offset is measured again: clocks drift, and get stepped. */
export const STORE_CLOCK_REFRESH_MS = 60_000;

/**
 * What the local clock may drift from the store's between two readings (a minute apart), and
 * millisecond rounding: a quartz clock 50 ppm off drifts 3 ms a minute, NTP keeps hosts closer.
 * A clock stepped (set) between two readings is beyond it until the next reading.
 */
export const CLOCK_DRIFT_ALLOWANCE_MS = 10;

/**
 * A reading whose round trip took longer than this says little about when the other side read
 * its clock: it is dropped and the last offset kept.
 */
const MAX_ROUND_TRIP_MS = 100;

/**
 * The clock that stamps sessions (Redis's `TIME`, or the auth service's through the session
 * RPC) as seen from this process: the offset between it and the local clock, measured from the
 * middle of a reading's round trip, every minute and whenever the owner asks (at each
 * connection). A process comparing session stamps with its own clock — the local cache's
 * expiries, `@RequireRecentAuth()` — uses `now()`, so that a host clock minutes off neither
 * serves a session past its end nor refuses every re-authentication. Accurate to half a round
 * trip.
 */
export class StoreClock {
  private offsetMs = 0;
  /** Half the round trip of the reading the offset comes from; null until one is taken. */
  private halfRoundTripMs: number | null = null;
  private readonly timer: NodeJS.Timeout;

  /**
   * `read` answers the other clock in epoch ms, or null when it has none to give (a peer of an
   * older release); it may reject. `ready` says whether reading is worth trying now.
   */
  constructor(
    private readonly read: () => Promise<number | null>,
    ready: () => boolean = () => true,
  ) {
    this.timer = setInterval(() => {
      if (ready()) {
        void this.measure();
      }
    }, STORE_CLOCK_REFRESH_MS);
    this.timer.unref();
  }

  /** The store's now, epoch ms, from the local clock and the last offset measured. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** The store's clock minus the local one, ms (0 until first measured). */
  get offset(): number {
    return this.offsetMs;
  }

  /**
   * How far `now()` may be from the store's clock, ms: half the round trip of the reading the
   * offset comes from, plus `CLOCK_DRIFT_ALLOWANCE_MS` for the local clock's drift since; null
   * until a reading was taken (then `now()` is the local clock, which may be off by anything).
   */
  get uncertainty(): number | null {
    return this.halfRoundTripMs === null ? null : this.halfRoundTripMs + CLOCK_DRIFT_ALLOWANCE_MS;
  }

  /** Measures the offset once; a failed, empty or slow reading keeps the previous one. */
  async measure(): Promise<void> {
    const sentAt = Date.now();
    let theirs: number | null;
    try {
      theirs = await this.read();
    } catch {
      return;
    }
    const answeredAt = Date.now();
    if (theirs === null || answeredAt - sentAt > MAX_ROUND_TRIP_MS) {
      return;
    }
    this.offsetMs = Math.round(theirs - (sentAt + answeredAt) / 2);
    this.halfRoundTripMs = Math.ceil((answeredAt - sentAt) / 2);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
