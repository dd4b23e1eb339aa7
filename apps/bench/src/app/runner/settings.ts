/** How long and how hard the runner measures; `BENCH_QUICK=1` keeps it to a few minutes. */
export interface RunnerSettings {
  quick: boolean;
  redisUrl: string;
  connections: number;
  rounds: number;
  warmupSeconds: number;
  roundSeconds: number;
  fixedRateSeconds: number;
  scaleSizes: number[];
  latencySamples: number;
  firstPort: number;
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
    fixedRateSeconds: quick ? 3 : 6,
    scaleSizes: quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000],
    latencySamples: quick ? 1_000 : 3_000,
    firstPort: Number(env['BENCH_PORT'] ?? 39100),
  };
}
