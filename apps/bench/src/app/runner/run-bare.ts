import { freePort } from '@cloakroom/session/testing';

import { BARE_SERVERS, BareServer, BareSettings } from '../server/bare-server';
import { ChildServer } from './child-server';
import { assertAllAnswered, load } from './load';
import { MicroSamples, MicroSummary, microOrder, summarizeMicro } from './micro';
import { writeResultJson } from './report';
import { positiveInteger, runnerSettings } from './settings';
import { median, round } from './stats';

/** What the report compares, `a` minus `b`, CPU µs per request. */
const BARE_PAIRS: ReadonlyArray<readonly [BareServer, BareServer]> = [
  ['http-prototypes', 'http'],
  ['express', 'http'],
  ['fastify', 'http'],
  ['express', 'fastify'],
];

/** What `bare` writes to `bench/results/bare-<timestamp>.json`. */
export interface BareReport extends MicroSummary {
  rounds: number;
  roundSeconds: number;
  connections: number;
  /** Median requests/s of each server's saturated rounds. */
  rps: Record<string, number>;
}

/**
 * `node dist/apps/bench/main.js bare`: what an HTTP server costs per request before any Nest
 * code or guard runs — Node's `http` alone, the same with Express's per-request prototype
 * switch, Express, Fastify — each in its own process, saturated by the runner's load (100
 * connections), its CPU time per request read over IPC. Rounds of 3 s per server (1 s with
 * `BENCH_QUICK=1`; `BENCH_ROUNDS`, 10 by default) in a rotated order; comparisons are medians
 * of round-by-round differences with 95 % intervals.
 */
export async function runBare(): Promise<void> {
  const settings = runnerSettings();
  const rounds = positiveInteger('BENCH_ROUNDS', 10);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const servers = new Map<BareServer, ChildServer<BareSettings>>();
  try {
    for (const server of BARE_SERVERS) {
      servers.set(
        server,
        await ChildServer.start('bare-server', { server, port: await freePort() }),
      );
    }
    log(
      `Cloakroom bare-server benchmark: ${BARE_SERVERS.join(', ')}; ${rounds} rounds of ${settings.roundSeconds} s, ${settings.connections} connections`,
    );
    const run = async (server: ChildServer<BareSettings>, seconds: number) => {
      const before = await server.usage();
      const result = await load({
        url: server.url,
        connections: settings.connections,
        seconds,
        headers: [{}],
      });
      const after = await server.usage();
      assertAllAnswered(result, `The bare ${server.settings.server} server`);
      return { micros: (after.micros - before.micros) / result.requests, rps: result.rps };
    };
    for (const server of servers.values()) {
      await run(server, settings.warmupSeconds);
    }
    const samples: MicroSamples = {};
    const rps: Record<string, number[]> = {};
    for (let index = 0; index < rounds; index++) {
      for (const name of microOrder(BARE_SERVERS, index)) {
        const measured = await run(
          servers.get(name) as ChildServer<BareSettings>,
          settings.roundSeconds,
        );
        (samples[name] ??= []).push(round(measured.micros, 2));
        (rps[name] ??= []).push(measured.rps);
      }
      log(`round ${index + 1}/${rounds} done`);
    }
    const report: BareReport = {
      rounds,
      roundSeconds: settings.roundSeconds,
      connections: settings.connections,
      rps: Object.fromEntries(
        Object.entries(rps).map(([name, all]) => [name, Math.round(median(all))]),
      ),
      ...summarizeMicro(samples, BARE_PAIRS),
    };
    printBare(report, log);
    const { file } = await writeResultJson('bare-', report);
    log(`\nwritten to ${file}`);
  } finally {
    await Promise.all([...servers.values()].map((server) => server.stop()));
  }
}

function printBare(report: BareReport, log: (line: string) => void): void {
  log('\n| server | requests/s (median) | CPU µs/request (median) |\n|---|---:|---:|');
  for (const [name, { micros }] of Object.entries(report.variants)) {
    log(`| ${name} | ${report.rps[name]} | ${micros.toFixed(1)} |`);
  }
  log(
    '\n| a | b | a − b µs/request (median of paired rounds) | 95 % interval |\n|---|---|---:|---|',
  );
  for (const { a, b, diff, interval } of report.comparisons) {
    const shown = interval ? `[${interval[0].toFixed(1)}, ${interval[1].toFixed(1)}]` : '–';
    log(`| ${a} | ${b} | ${diff >= 0 ? '+' : ''}${diff.toFixed(1)} | ${shown} |`);
  }
}
