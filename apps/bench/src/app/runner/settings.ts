/** How long and how hard the runner measures; `BENCH_QUICK=1` keeps it to a few minutes. */
export interface RunnerSettings {
  quick: boolean;
  redisUrl: string;
  connections: number;
  rounds: number;
  warmupSeconds: number;
  roundSeconds: number;
  /** Paired rounds (`none`, then the scenario) of the fixed-rate pass. */
  fixedRateRounds: number;
  /** The measured window of each fixed-rate run. */
  fixedRateSeconds: number;
  /**
   * Load at the fixed rate before the window opens: connections set up, and a server that sat
   * idle while the others ran serving requests again before its CPU time counts.
   */
  fixedRateWarmSeconds: number;
  /**
   * The fixed rate, as a share of the slowest scenario's saturated throughput on the adapter:
   * every scenario keeps up with it, so CPU per request is measured below saturation.
   */
  fixedRateShare: number;
  /** Back-to-back rounds per compared pair and figure (`head-to-head.ts`). */
  headToHeadRounds: number;
  /** Each saturated run of a head-to-head pair; its fixed-rate runs use `fixedRateSeconds`. */
  headToHeadSeconds: number;
  /** Revocations timed against each adapter's `session-cache` server. */
  stalenessSamples: number;
  scaleSizes: number[];
  latencySamples: number;
}

export function runnerSettings(env: NodeJS.ProcessEnv = process.env): RunnerSettings {
  const quick = env['BENCH_QUICK'] === '1';
  const redisUrl = env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const { hostname } = new URL(redisUrl);
  if (hostname !== '127.0.0.1' && hostname !== 'localhost' && hostname !== '::1') {
    throw new Error(`The benchmark only runs against a loopback Redis, not ${hostname}`);
  }
  return {
    quick,
    redisUrl,
    connections: 100,
    rounds: quick ? 3 : 5,
    warmupSeconds: quick ? 1 : 3,
    roundSeconds: quick ? 1.5 : 3,
    fixedRateRounds: quick ? 3 : 5,
    fixedRateSeconds: quick ? 1.5 : 4,
    fixedRateWarmSeconds: quick ? 0.5 : 1,
    fixedRateShare: 0.45,
    headToHeadRounds: quick ? 6 : 10,
    headToHeadSeconds: quick ? 1 : 2,
    stalenessSamples: quick ? 5 : 10,
    scaleSizes: quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000],
    latencySamples: quick ? 1_000 : 3_000,
  };
}

/** The variable as a positive integer; `fallback` when it is not set. */
export function positiveInteger(
  variable: string,
  fallback: number,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const text = env[variable];
  if (text === undefined) {
    return fallback;
  }
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${variable} must be a positive integer, not ${text}`);
  }
  return value;
}

/**
 * A comma-separated list of positive integers in `variable` (`700,1800,3600`); `fallback` when it
 * is not set.
 */
export function positiveIntegers(
  variable: string,
  fallback: number[],
  env: NodeJS.ProcessEnv = process.env,
): number[] {
  const text = env[variable];
  if (text === undefined) {
    return fallback;
  }
  return text.split(',').map((part) => positiveInteger(variable, 0, { [variable]: part.trim() }));
}
