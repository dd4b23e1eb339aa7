import { ADAPTERS, Adapter, Scenario, SCENARIOS, scenariosFor } from '../scenarios';
import { ChildServer } from './child-server';
import { headToHead, HeadToHead } from './head-to-head';
import { printHeadToHead, writeResultJson } from './report';
import { fixedRateFor, measureRun, serverKey, withBench } from './servers';
import { positiveInteger, positiveIntegers, runnerSettings } from './settings';

/** Rounds of a pair run when `BENCH_ROUNDS` does not say. */
const DEFAULT_ROUNDS = 20;

/** What `pair` writes to `bench/results/pair-<timestamp>.json`. */
export interface PairReport {
  a: Scenario;
  b: Scenario;
  rounds: number;
  quick: boolean;
  fixedRateSeconds: number;
  headToHeadSeconds: number;
  /** Per adapter: 45 % of the slower scenario's saturated requests/s, or `BENCH_FIXED_RATE`'s first. */
  fixedRates: Partial<Record<Adapter, number>>;
  headToHead: Partial<Record<Adapter, HeadToHead[]>>;
}

/**
 * `node dist/apps/bench/main.js pair <a> <b>`: only the head-to-head comparison of two
 * scenarios (requests/s and CPU saturated, CPU at a fixed rate), with more rounds than the
 * full run gives a pair (`BENCH_ROUNDS`, 20 by default), on each adapter both run on: one
 * question, a narrower interval. The fixed rate is the full run's share of the slower of the
 * two's saturated requests/s (the full run takes the slowest of all scenarios), unless
 * `BENCH_FIXED_RATE` gives it, or several (`700,1800,3600`: the CPU difference at each rate,
 * since what a request costs at a steady rate depends on how many arrive while the server is
 * awake); `BENCH_QUICK=1` shortens the runs as it does the full run's.
 */
export async function runPair(): Promise<void> {
  const [a, b] = process.argv.slice(3);
  if (!isScenario(a) || !isScenario(b) || a === b) {
    throw new Error(`Usage: main.js pair <a> <b>, two of ${SCENARIOS.join(', ')}`);
  }
  const rounds = positiveInteger('BENCH_ROUNDS', DEFAULT_ROUNDS);
  const rates = positiveIntegers('BENCH_FIXED_RATE', []);
  const settings = runnerSettings();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const adapters = ADAPTERS.filter(
    (adapter) => scenariosFor(adapter).includes(a) && scenariosFor(adapter).includes(b),
  );
  log(
    `Cloakroom benchmark, pair ${a} / ${b}: ${rounds} rounds per figure on ${adapters.join(', ')}`,
  );
  const planned = adapters.flatMap(
    (adapter): Array<[Adapter, Scenario]> => [
      [adapter, a],
      [adapter, b],
    ],
  );
  await withBench(settings, planned, async (bench) => {
    const report: PairReport = {
      a,
      b,
      rounds,
      quick: settings.quick,
      fixedRateSeconds: settings.fixedRateSeconds,
      headToHeadSeconds: settings.headToHeadSeconds,
      fixedRates: {},
      headToHead: {},
    };
    for (const adapter of adapters) {
      const server = (scenario: Scenario) =>
        bench.servers.get(serverKey(adapter, scenario)) as ChildServer;
      const saturatedRps = async (scenario: Scenario) =>
        (await measureRun(bench, server(scenario), { seconds: settings.roundSeconds })).rps;
      const fixedRates = rates.length
        ? rates
        : [fixedRateFor(Math.min(await saturatedRps(a), await saturatedRps(b)), settings)];
      report.fixedRates[adapter] = fixedRates[0];
      log(`${adapter}: fixed rate ${fixedRates.join(', ')} req/s`);
      report.headToHead[adapter] = [];
      for (const [index, fixedRate] of fixedRates.entries()) {
        // The saturated figures do not depend on the rate: measured with the first one only.
        const compared = await headToHead(
          { a, b, figures: index === 0 ? ['rps', 'cpu'] : ['cpu'] },
          rounds,
          (scenario, atFixedRate) =>
            measureRun(bench, server(scenario), {
              seconds: atFixedRate ? settings.fixedRateSeconds : settings.headToHeadSeconds,
              fixed: atFixedRate
                ? { rate: fixedRate, warmSeconds: settings.fixedRateWarmSeconds }
                : undefined,
            }),
        );
        report.headToHead[adapter].push({ ...compared, fixedRate });
      }
    }
    printHeadToHead(report.headToHead, rounds, log);
    const { file } = await writeResultJson('pair-', report);
    log(`\nwritten to ${file}`);
  });
}

function isScenario(name: string | undefined): name is Scenario {
  return (SCENARIOS as readonly string[]).includes(name ?? '');
}
