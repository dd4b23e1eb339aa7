import {
  CLOCK_DRIFT_ALLOWANCE_MS,
  CLOCK_STEP_TOLERANCE_MS,
  STORE_CLOCK_REFRESH_MS,
  STORE_CLOCK_RETRY_MS,
  StoreClock,
} from './store-clock';

/** A host whose clocks a test moves: time passing, the wall clock set, a suspend. */
class FakeHost {
  /** The true time; the store's clock is `aheadMs` ahead of it. */
  private time = 1_000_000;
  private wallError = 0;
  private monotonicAt = 50;
  private bootAt = 7_000;
  aheadMs = 0;
  readonly clocks = {
    wall: () => this.time + this.wallError,
    monotonic: () => this.monotonicAt,
    sinceBoot: () => this.bootAt,
  };

  /** What the store's clock reads now. */
  store(): number {
    return this.time + this.aheadMs;
  }

  advance(ms: number): void {
    this.time += ms;
    this.monotonicAt += ms;
    this.bootAt += ms;
  }

  /** The wall clock set `ms` forward (negative: back); nothing else moves. */
  step(ms: number): void {
    this.wallError += ms;
  }

  /** Suspended for `ms`: the monotonic clock stands still, the others go on. */
  suspend(ms: number): void {
    this.time += ms;
    this.bootAt += ms;
  }
}

describe('StoreClock', () => {
  let host: FakeHost;
  let reads: number;
  /** The next reading's round trip. */
  let roundTripMs: number;
  const reading = async () => {
    reads += 1;
    const answer = host.store() + roundTripMs / 2;
    host.advance(roundTripMs);
    return answer;
  };
  const clocks: StoreClock[] = [];
  const clockOf = (read: () => Promise<number | null> = reading) => {
    const clock = new StoreClock(read, () => true, host.clocks);
    clocks.push(clock);
    return clock;
  };

  beforeEach(() => {
    host = new FakeHost();
    reads = 0;
    roundTripMs = 0;
  });

  afterEach(() => clocks.splice(0).forEach((clock) => clock.stop()));

  it('has no uncertainty to give until a reading was taken', () => {
    const clock = clockOf();
    expect(clock.uncertainty).toBeNull();
    expect(clock.now()).toBe(host.clocks.wall());
  });

  it('is as uncertain as half the round trip of its reading, plus the drift allowance', async () => {
    const clock = clockOf();
    host.aheadMs = 5_000;
    roundTripMs = 30;
    await clock.measure();
    expect(clock.offset).toBe(5_000);
    expect(clock.uncertainty).toBe(15 + CLOCK_DRIFT_ALLOWANCE_MS);
    // A reading too slow to say anything keeps the last offset and its uncertainty.
    host.aheadMs = 9_000;
    roundTripMs = 500;
    await clock.measure();
    expect(clock.offset).toBe(5_000);
    expect(clock.uncertainty).toBe(15 + CLOCK_DRIFT_ALLOWANCE_MS);
  });

  const steps = [1_000, 5_000, 60_000, 3_600_000].flatMap((ms) => [ms, -ms]);

  it.each(steps)(
    'follows the store at once when the host clock is set by %p ms, and reads it again',
    async (stepMs) => {
      host.aheadMs = 5_000;
      const clock = clockOf();
      await clock.measure();
      expect(reads).toBe(1);
      host.advance(20_000);
      host.step(stepMs);
      // Judged before the reading it starts has answered.
      expect(Math.abs(clock.now() - host.store())).toBeLessThanOrEqual(CLOCK_STEP_TOLERANCE_MS);
      expect(reads).toBe(2);
      await Promise.resolve();
      host.advance(30_000);
      expect(clock.now()).toBe(host.store());
      expect(reads).toBe(2);
    },
  );

  it.each([1_000, 60_000, 3_600_000])(
    'follows the store at once when the host resumes from a %p ms suspend, and reads it again',
    async (asleepMs) => {
      host.aheadMs = -2_000;
      const clock = clockOf();
      await clock.measure();
      host.advance(10_000);
      host.suspend(asleepMs);
      expect(clock.now()).toBe(host.store());
      expect(reads).toBe(2);
    },
  );

  it('takes back a step made while the host slept, and only the step', async () => {
    const clock = clockOf();
    await clock.measure();
    host.suspend(3_600_000);
    host.step(-30_000);
    expect(clock.now()).toBe(host.store());
    host.suspend(60_000);
    host.step(45_000);
    expect(clock.now()).toBe(host.store());
    expect(reads).toBe(3);
  });

  it('reads the store no more often while the clocks keep within the tolerance', async () => {
    const clock = clockOf();
    await clock.measure();
    for (let i = 0; i < 100; i++) {
      host.advance(500);
      host.step(i % 2 ? CLOCK_STEP_TOLERANCE_MS / 2 : -CLOCK_STEP_TOLERANCE_MS / 2);
      expect(Math.abs(clock.now() - host.store())).toBeLessThanOrEqual(CLOCK_STEP_TOLERANCE_MS);
    }
    expect(reads).toBe(1);
  });

  it.each([-600_000, 600_000])(
    'is not skewed by a step of %p ms made while its reading is out',
    async (stepMs) => {
      host.aheadMs = 700;
      let stepping = false;
      const clock = clockOf(async () => {
        reads += 1;
        const answer = host.store() + 20;
        host.advance(40);
        if (stepping) host.step(stepMs);
        return answer;
      });
      await clock.measure();
      stepping = true;
      await clock.measure();
      stepping = false;
      expect(clock.offset).toBe(700);
      // The step is seen by `now()`, which reads again (and the reading takes its 40 ms).
      const store = host.store();
      expect(clock.now()).toBe(store);
      expect(reads).toBe(3);
      await Promise.resolve();
      expect(clock.now()).toBe(host.store());
    },
  );

  it('ends a window early rather than late on a host that cannot tell a sleep from a step', async () => {
    const clock = clockOf();
    await clock.measure();
    const blind = host.clocks;
    blind.sinceBoot = () => blind.wall() + 1;
    host.step(60_000);
    expect(clock.now()).toBeGreaterThanOrEqual(host.store());
    expect(reads).toBe(2);
  });

  describe('a reading it could not keep', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    /** Lets timers due within `ms` fire, and the readings they start answer. */
    async function elapse(ms: number): Promise<void> {
      await jest.advanceTimersByTimeAsync(ms);
    }

    it('is taken again within a second when it was too slow, not a minute later', async () => {
      host.aheadMs = 600_000;
      roundTripMs = 1_500; // a busy moment at connection
      const clock = clockOf();
      await clock.measure();
      expect(clock.uncertainty).toBeNull();
      roundTripMs = 10;
      await elapse(STORE_CLOCK_RETRY_MS);
      expect(reads).toBe(2);
      expect(clock.offset).toBe(600_000);
      // Kept: nothing more until the minute's reading.
      await elapse(STORE_CLOCK_REFRESH_MS - STORE_CLOCK_RETRY_MS - 1);
      expect(reads).toBe(2);
    });

    it('backs off while readings keep failing, up to the minute, and starts over once one is kept', async () => {
      let failing = true;
      const clock = clockOf(async () => {
        reads += 1;
        if (failing) throw new Error('down');
        return host.store();
      });
      await clock.measure();
      const at: number[] = [];
      for (let elapsed = 0; elapsed < 3 * STORE_CLOCK_REFRESH_MS; elapsed += 250) {
        const before = reads;
        await elapse(250);
        if (reads > before) at.push(elapsed + 250);
      }
      // 1, 2, 4, 8, 16 s after each other, then no closer than 32 s and the minute's readings.
      expect(at.slice(0, 5)).toEqual([1_000, 3_000, 7_000, 15_000, 31_000]);
      expect(at.slice(5)).toEqual([60_000, 63_000, 120_000, 123_000, 180_000]);
      failing = false;
      await elapse(STORE_CLOCK_REFRESH_MS);
      expect(clock.uncertainty).not.toBeNull();
      failing = true;
      const before = reads;
      await clock.measure();
      await elapse(STORE_CLOCK_RETRY_MS);
      expect(reads).toBe(before + 2);
    });

    it('is not taken again from a peer that has no clock to give, nor once stopped', async () => {
      const none = clockOf(async () => {
        reads += 1;
        return null;
      });
      await none.measure();
      await elapse(STORE_CLOCK_REFRESH_MS - 1);
      expect(reads).toBe(1);
      none.stop();
      roundTripMs = 500;
      const slow = clockOf();
      await slow.measure();
      slow.stop();
      await elapse(STORE_CLOCK_REFRESH_MS * 2);
      expect(reads).toBe(2);
    });
  });
});
