import fc from 'fast-check';

import { microOrder, microPace, summarizeMicro } from './micro';

describe('summarizeMicro', () => {
  it('compares round by round: a drift both variants share drops out of the difference', () => {
    // Round i is slowed by 10 i µs for everyone; b always costs 1 µs more than a.
    const a = [5, 15, 25, 35, 45, 55, 65, 75];
    const b = a.map((value) => value + 1);
    const { variants, comparisons } = summarizeMicro({ a, b }, [['b', 'a']]);
    expect(variants['a'].micros).toBe(35);
    expect(comparisons).toEqual([
      { a: 'b', b: 'a', diff: 1, interval: [1, 1], diffs: [1, 1, 1, 1, 1, 1, 1, 1] },
    ]);
  });

  it('gives the median of the differences, not the difference of the medians', () => {
    const { comparisons } = summarizeMicro(
      { a: [10, 20, 30, 40, 50, 60], b: [13, 19, 33, 39, 53, 59] },
      [['b', 'a']],
    );
    // Differences 3, -1, 3, -1, 3, -1: median (nearest rank) -1; medians differ by +2.
    expect(comparisons[0].diff).toBe(-1);
    expect(comparisons[0].interval).toEqual([-1, 3]);
  });

  it('leaves out a comparison of a variant that was not measured, and has no interval below 6 rounds', () => {
    const { comparisons } = summarizeMicro({ a: [1, 2, 3], b: [2, 3, 4] }, [
      ['b', 'a'],
      ['c', 'a'],
    ]);
    expect(comparisons).toHaveLength(1);
    expect(comparisons[0].interval).toBeUndefined();
  });
});

describe('microOrder', () => {
  it('runs every variant once per round, and each of them first within 2n rounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(100), (count, start) => {
        const variants = Array.from({ length: count }, (_, i) => i);
        const firsts = new Set<number>();
        for (let index = start; index < start + 2 * count; index++) {
          const order = microOrder(variants, index);
          expect([...order].sort((x, y) => x - y)).toEqual(variants);
          firsts.add(order[0]);
        }
        expect(firsts.size).toBe(count);
      }),
    );
    expect([0, 1, 2, 3].map((index) => microOrder(['w', 'x', 'y', 'z'], index))).toEqual([
      ['w', 'x', 'y', 'z'],
      ['z', 'y', 'x', 'w'],
      ['x', 'y', 'z', 'w'],
      ['w', 'z', 'y', 'x'],
    ]);
  });
});

describe('microPace', () => {
  it('makes the calls back to back, so many in flight, unless a rate is set', () => {
    expect(microPace({}, 50)).toEqual({ inFlight: 50 });
  });

  it('paces the calls one at a time at BENCH_MICRO_RATE a second', () => {
    expect(microPace({ BENCH_MICRO_RATE: '900' }, 50)).toEqual({ callsPerSecond: 900 });
  });

  it.each(['0', '-5', '1.5', 'fast', ''])('refuses the rate %p rather than run unpaced', (rate) => {
    expect(() => microPace({ BENCH_MICRO_RATE: rate }, 50)).toThrow(/BENCH_MICRO_RATE/);
  });
});
