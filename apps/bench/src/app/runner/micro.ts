import { medianInterval, median, round } from './stats';
import { positiveInteger } from './settings';

/**
 * One variant's CPU time per unit of work (µs: per guard call in process, per request for the
 * bare servers), one figure per round; every variant ran once in each round, so the i-th
 * figures of two variants are a pair.
 */
export type MicroSamples = Record<string, number[]>;

/** A comparison of two variants' samples: `a` minus `b`, µs per unit of work. */
export interface MicroComparison {
  a: string;
  b: string;
  /** Median of the paired differences, round by round. */
  diff: number;
  /** Its 95 % interval (`medianInterval`); undefined with fewer than 6 rounds. */
  interval?: [number, number];
  diffs: number[];
}

export interface MicroSummary {
  /** Per variant: median µs per unit of work, and every round's figure. */
  variants: Record<string, { micros: number; rounds: number[] }>;
  comparisons: MicroComparison[];
}

/**
 * Medians per variant, and each asked comparison as the median of its round-by-round
 * differences with a distribution-free interval: pairing takes out what drifts between rounds
 * (the machine's other load, its clock speed), which a difference of medians would keep.
 */
export function summarizeMicro(
  samples: MicroSamples,
  pairs: ReadonlyArray<readonly [string, string]>,
): MicroSummary {
  const variants: MicroSummary['variants'] = {};
  for (const [name, rounds] of Object.entries(samples)) {
    variants[name] = { micros: round(median(rounds), 3), rounds };
  }
  const comparisons = pairs
    .filter(([a, b]) => samples[a] && samples[b])
    .map(([a, b]): MicroComparison => {
      const count = Math.min(samples[a].length, samples[b].length);
      const diffs = Array.from({ length: count }, (_, i) =>
        round(samples[a][i] - samples[b][i], 3),
      );
      const interval = medianInterval(diffs);
      return { a, b, diff: round(median(diffs), 3), interval, diffs };
    });
  return { variants, comparisons };
}

/**
 * The order variants run in within round `index`: rounds come in pairs, the same rotation
 * forwards then backwards, and each pair rotates by one more; so every variant runs first, and
 * last, within 2n rounds, with an odd or an even number of variants alike.
 */
export function microOrder<T>(variants: readonly T[], index: number): T[] {
  const shift = Math.floor(index / 2) % variants.length;
  const rotated = [...variants.slice(shift), ...variants.slice(0, shift)];
  return index % 2 === 1 ? rotated.reverse() : rotated;
}

/**
 * How the in-process run makes its calls: `inFlight` at once, back to back (everything hot,
 * wake-ups shared), or with `BENCH_MICRO_RATE` one at a time at that many calls a second, the
 * process idle in between — as a server at a fixed request rate meets its requests: each
 * alone, with caches the rest of the machine has used meanwhile.
 */
export type MicroPace = { inFlight: number } | { callsPerSecond: number };

export function microPace(env: NodeJS.ProcessEnv, inFlight: number): MicroPace {
  return env['BENCH_MICRO_RATE'] === undefined
    ? { inFlight }
    : { callsPerSecond: positiveInteger('BENCH_MICRO_RATE', 1, env) };
}
