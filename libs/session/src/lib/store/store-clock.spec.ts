import { CLOCK_DRIFT_ALLOWANCE_MS, StoreClock } from './store-clock';

describe('StoreClock', () => {
  let now: number;

  beforeEach(() => {
    now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
  });

  afterEach(() => jest.restoreAllMocks());

  /** The next reading's round trip, and how far ahead of the local clock it finds the store. */
  let next: { roundTripMs: number; aheadMs: number };
  const reading = async () => {
    const answer = now + next.roundTripMs / 2 + next.aheadMs;
    now += next.roundTripMs;
    return answer;
  };

  it('has no uncertainty to give until a reading was taken', () => {
    const clock = new StoreClock(reading);
    expect(clock.uncertainty).toBeNull();
    expect(clock.now()).toBe(now);
    clock.stop();
  });

  it('is as uncertain as half the round trip of its reading, plus the drift allowance', async () => {
    const clock = new StoreClock(reading);
    next = { roundTripMs: 30, aheadMs: 5_000 };
    await clock.measure();
    expect(clock.offset).toBe(5_000);
    expect(clock.uncertainty).toBe(15 + CLOCK_DRIFT_ALLOWANCE_MS);
    // A reading too slow to say anything keeps the last offset and its uncertainty.
    next = { roundTripMs: 500, aheadMs: 9_000 };
    await clock.measure();
    expect(clock.offset).toBe(5_000);
    expect(clock.uncertainty).toBe(15 + CLOCK_DRIFT_ALLOWANCE_MS);
    clock.stop();
  });
});
