import { uptime } from 'node:os';

/** How often the offset is measured again: clocks drift, and get stepped. */
export const STORE_CLOCK_REFRESH_MS = 60_000;

/**
 * What the local clock may drift from the store's between two readings (a minute apart), and
 * millisecond rounding: a quartz clock 50 ppm off drifts 3 ms a minute, NTP keeps hosts closer.
 * A clock stepped (set) between two readings is beyond it until the next reading.
 */
export const CLOCK_DRIFT_ALLOWANCE_MS = 10;

/**
 * How far the local wall clock may move away from the monotonic one between two readings before
 * `now()` takes it for a step (or a suspend): both are slewed alike by NTP, so only a step moves
 * them apart, or a read of the two a few microseconds apart.
 */
export const CLOCK_STEP_TOLERANCE_MS = 100;

/**
 * The local clocks `StoreClock` reads, epoch ms for `wall`, and two that a step of the wall clock
 * leaves alone: `monotonic` stops while the host is suspended, `sinceBoot` does not.
 */
export interface LocalClocks {
  wall(): number;
  monotonic(): number;
  sinceBoot(): number;
}

/** The host's: `sinceBoot` counts suspended time on Linux (CLOCK_BOOTTIME), 10 ms steps. */
const HOST_CLOCKS: LocalClocks = {
  wall: () => Date.now(),
  monotonic: () => performance.now(),
  sinceBoot: () => uptime() * 1000,
};

/**
 * A reading whose round trip took longer than this says little about when the other side read
 * its clock: it is dropped and the last offset kept.
 */
export const MAX_ROUND_TRIP_MS = 100;

/**
 * How soon a reading that failed or was too slow to keep is tried again, ms, doubling up to
 * `STORE_CLOCK_REFRESH_MS` while they keep failing: a busy moment at connection (a reading
 * that took seconds) must not leave `now()` on the host's clock for a whole minute.
 */
export const STORE_CLOCK_RETRY_MS = 1000;

/**
 * The clock that stamps sessions (Redis's `TIME`, or the auth service's through the session
 * RPC) as seen from this process: the offset between it and the local clock, measured from the
 * middle of a reading's round trip, every minute and whenever the owner asks (at each
 * connection). A process comparing session stamps with its own clock — the local cache's
 * expiries, `@RequireRecentAuth()` — uses `now()`, so that a host clock minutes off neither
 * serves a session past its end nor refuses every re-authentication. Accurate to half a round
 * trip.
 *
 * A host clock stepped between two readings (NTP, an operator) or a host suspended and resumed
 * is seen by `now()` itself, as the wall clock parting from the monotonic one by more than
 * `CLOCK_STEP_TOLERANCE_MS`: the offset at once takes in the part of it the host did not spend
 * asleep (the store's clock went on while it slept, as the wall clock did), and the offset is
 * measured again.
 *
 * A reading that fails or takes too long is tried again within `STORE_CLOCK_RETRY_MS`, backing
 * off while they keep failing, until one is kept.
 */
export class StoreClock {
  private offsetMs = 0;
  /** Half the round trip of the reading the offset comes from; null until one is taken. */
  private halfRoundTripMs: number | null = null;
  private readonly timer: NodeJS.Timeout;
  /** The reading again after one was dropped, while it is pending; its delay next time. */
  private retry?: NodeJS.Timeout;
  private retryInMs = STORE_CLOCK_RETRY_MS;
  private stopped = false;
  /** The local clocks at the last reading (or step seen): `now()` compares how far each went. */
  private wallAt: number;
  private monotonicAt: number;
  private sinceBootAt: number;

  /**
   * `read` answers the other clock in epoch ms, or null when it has none to give (a peer of an
   * older release); it may reject. `ready` says whether reading is worth trying now. `local`:
   * the host's clocks unless a test gives its own.
   */
  constructor(
    private readonly read: () => Promise<number | null>,
    private readonly ready: () => boolean = () => true,
    private readonly local: LocalClocks = HOST_CLOCKS,
  ) {
    this.wallAt = local.wall();
    this.monotonicAt = local.monotonic();
    this.sinceBootAt = local.sinceBoot();
    this.timer = setInterval(() => {
      if (ready()) {
        void this.measure();
      }
    }, STORE_CLOCK_REFRESH_MS);
    this.timer.unref();
  }

  /**
   * The store's now, epoch ms, from the local clock and the last offset measured. On the request
   * path: two clock reads, unless the wall clock was stepped (see `stepped`).
   */
  now(): number {
    const wall = this.local.wall();
    const monotonic = this.local.monotonic();
    const step = wall - this.wallAt - (monotonic - this.monotonicAt);
    if (step > CLOCK_STEP_TOLERANCE_MS || step < -CLOCK_STEP_TOLERANCE_MS) {
      this.stepped(wall, monotonic, step);
    }
    return wall + this.offsetMs;
  }

  /**
   * The wall clock moved `step` ms more than the monotonic one since the last reading: set, or
   * the host slept (the monotonic clock stopped, the wall clock and the store's went on). What
   * the host did not spend asleep was a step, which the offset takes back at once (counted from
   * the monotonic clock, as accurate as the last reading but for its drift); the offset is then
   * measured again. A host whose clock since boot follows the wall clock (not Linux) takes a
   * step forward for a sleep: `now()` is then ahead until the reading, which ends sessions and
   * the re-authentication window early rather than late.
   */
  private stepped(wall: number, monotonic: number, step: number): void {
    const sinceBoot = this.local.sinceBoot();
    const asleep = sinceBoot - this.sinceBootAt - (monotonic - this.monotonicAt);
    this.offsetMs -= step - Math.max(asleep, 0);
    this.wallAt = wall;
    this.monotonicAt = monotonic;
    this.sinceBootAt = sinceBoot;
    if (this.ready()) {
      void this.measure();
    }
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

  /**
   * Measures the offset once; a failed, empty or slow reading keeps the previous one, and so
   * does one the wall clock was stepped during.
   */
  async measure(): Promise<void> {
    const sentAt = this.local.monotonic();
    const sentWall = this.local.wall();
    let theirs: number | null;
    try {
      theirs = await this.read();
    } catch {
      this.retryLater();
      return;
    }
    const answeredAt = this.local.monotonic();
    const wall = this.local.wall();
    const roundTrip = answeredAt - sentAt;
    // A wall clock stepped while the reading was out drops it too: `now()` sees the step, takes
    // it in and reads again.
    const step = wall - sentWall - roundTrip;
    // A peer with no clock to give (an older release) has none the next time either.
    if (theirs === null) {
      return;
    }
    if (
      roundTrip > MAX_ROUND_TRIP_MS ||
      step > CLOCK_STEP_TOLERANCE_MS ||
      step < -CLOCK_STEP_TOLERANCE_MS
    ) {
      this.retryLater();
      return;
    }
    this.retryInMs = STORE_CLOCK_RETRY_MS;
    this.offsetMs = Math.round(theirs + roundTrip / 2 - wall);
    this.halfRoundTripMs = Math.ceil(roundTrip / 2);
    this.wallAt = wall;
    this.monotonicAt = answeredAt;
    this.sinceBootAt = this.local.sinceBoot();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
  }

  /**
   * Reads again soon, once (a retry already pending stands), when the owner says reading is worth
   * it then: a store down is read again at its reconnection anyway.
   */
  private retryLater(): void {
    if (this.stopped || this.retry !== undefined) {
      return;
    }
    const delay = this.retryInMs;
    this.retryInMs = Math.min(delay * 2, STORE_CLOCK_REFRESH_MS);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.ready()) {
        void this.measure();
      }
    }, delay);
    this.retry.unref();
  }
}
