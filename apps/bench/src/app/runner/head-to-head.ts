import { Scenario } from '../scenarios';
import type { Measurement } from './report';
import { median, medianInterval, round } from './stats';

/**
 * What a pair is compared on: requests/s in back-to-back saturated runs (`rps`, which also
 * gives their CPU difference under saturation), or CPU per request in back-to-back runs at the
 * adapter's fixed rate (`cpu`).
 */
export type HeadToHeadFigure = 'rps' | 'cpu';

export interface HeadToHeadPair {
  a: Scenario;
  b: Scenario;
  figures: HeadToHeadFigure[];
}

/**
 * The comparisons the goals are about, each measured on its own: going through each scenario's
 * ratio to its own `none` run adds the noise of two `none` runs to every comparison.
 */
export const HEAD_TO_HEAD_PAIRS: readonly HeadToHeadPair[] = [
  { a: 'session', b: 'jwt-hs256', figures: ['rps', 'cpu'] },
  { a: 'session', b: 'jwt-rs256', figures: ['rps'] },
  { a: 'session', b: 'express-session', figures: ['rps'] },
  { a: 'session', b: 'redis-floor', figures: ['cpu'] },
  // The least any guard making one Redis round trip can cost, against HS256: the bound of the
  // first goal at the fixed rate.
  { a: 'redis-floor', b: 'jwt-hs256', figures: ['cpu'] },
  // The same round trip with no client library: what no Redis client can take away.
  { a: 'redis-floor-socket', b: 'jwt-hs256', figures: ['cpu'] },
  // The same for the requests/s goals: a guard making one round trip serves no more than the
  // round trip alone, written as the store writes it.
  { a: 'redis-floor-coalesced', b: 'jwt-hs256', figures: ['rps'] },
  { a: 'redis-floor-coalesced', b: 'jwt-rs256', figures: ['rps'] },
  { a: 'redis-floor-coalesced', b: 'express-session', figures: ['rps'] },
  { a: 'session-cache', b: 'none', figures: ['cpu'] },
  { a: 'session-cache', b: 'allow-all', figures: ['cpu'] },
  // The least a cache hit keyed by token digests can cost over a guard that checks nothing:
  // the bound of the cache goal.
  { a: 'hash-floor', b: 'allow-all', figures: ['cpu'] },
  { a: 'session-metrics', b: 'session', figures: ['cpu'] },
  { a: 'session-remote', b: 'session-remote-unbatched', figures: ['rps', 'cpu'] },
  // Would the other Redis client make the round trip cheaper? Both write a turn's commands together.
  { a: 'redis-floor-node-redis', b: 'redis-floor-coalesced', figures: ['rps', 'cpu'] },
];

/**
 * One pair's back-to-back runs, reduced: medians over the rounds, every round's figure, and
 * each median's 95 % confidence interval (`medianInterval`; absent with fewer than 6 rounds).
 */
export interface HeadToHead {
  a: Scenario;
  b: Scenario;
  rounds: number;
  /** a's requests/s over b's, saturated (`rps` pairs). */
  rpsRatio?: number;
  rpsRatioInterval?: [number, number];
  rpsRatios?: number[];
  /** a's CPU µs per request minus b's in the same saturated runs (`rps` pairs). */
  cpuDiffSaturated?: number;
  cpuDiffSaturatedInterval?: [number, number];
  cpuDiffsSaturated?: number[];
  /** The rate, requests/s, of the fixed-rate runs (`cpu` pairs). */
  fixedRate?: number;
  /** a's CPU µs per request minus b's at the fixed rate (`cpu` pairs). */
  cpuDiffFixed?: number;
  cpuDiffFixedInterval?: [number, number];
  cpuDiffsFixed?: number[];
}

/** Runs one scenario once: saturated, or at the adapter's fixed rate. */
export type MeasureOnce = (scenario: Scenario, atFixedRate: boolean) => Promise<Measurement>;

/**
 * `rounds` back-to-back runs of a and b per figure; who goes first alternates, so that a
 * drift in the machine's load favours neither.
 */
export async function headToHead(
  pair: HeadToHeadPair,
  rounds: number,
  measure: MeasureOnce,
): Promise<HeadToHead> {
  const result: HeadToHead = { a: pair.a, b: pair.b, rounds };
  for (const figure of pair.figures) {
    const ratios: number[] = [];
    const differences: number[] = [];
    for (let n = 0; n < rounds; n++) {
      const atFixedRate = figure === 'cpu';
      let a: Measurement;
      let b: Measurement;
      if (n % 2 === 0) {
        a = await measure(pair.a, atFixedRate);
        b = await measure(pair.b, atFixedRate);
      } else {
        b = await measure(pair.b, atFixedRate);
        a = await measure(pair.a, atFixedRate);
      }
      ratios.push(a.rps / b.rps);
      differences.push(cpuPerRequest(a) - cpuPerRequest(b));
    }
    const cpuDiffs = differences.map((difference) => round(difference, 1));
    if (figure === 'rps') {
      result.rpsRatios = ratios.map((ratio) => round(ratio, 3));
      result.rpsRatio = median(result.rpsRatios);
      result.rpsRatioInterval = medianInterval(result.rpsRatios);
      result.cpuDiffsSaturated = cpuDiffs;
      result.cpuDiffSaturated = median(cpuDiffs);
      result.cpuDiffSaturatedInterval = medianInterval(cpuDiffs);
    } else {
      result.cpuDiffsFixed = cpuDiffs;
      result.cpuDiffFixed = median(cpuDiffs);
      result.cpuDiffFixedInterval = medianInterval(cpuDiffs);
    }
  }
  return result;
}

function cpuPerRequest(run: Measurement): number {
  return (run.cpuMicros + run.rpcCpuMicros) / Math.max(1, run.requests);
}
