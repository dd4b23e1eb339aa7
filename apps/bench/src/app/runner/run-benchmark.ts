import { cpus, release, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

import { BENCH_LOCAL_CACHE } from '../bench/bench.module';
import { ADAPTERS, Adapter, Scenario, scenariosFor } from '../scenarios';
import { ChildServer } from './child-server';
import { REALISTIC_DEVICE, REALISTIC_USER_AGENT } from './fixtures';
import { HEAD_TO_HEAD_PAIRS, headToHead, HeadToHead } from './head-to-head';
import { countRoundTrips, RoundTrips } from './round-trips';
import { BenchReport, Measurement, printReport, ScenarioReport, writeReport } from './report';
import { measureScale } from './scale';
import {
  fixedRateFor,
  measureRun,
  MeasureOptions,
  serverKey,
  stopServers,
  withBench,
} from './servers';
import { runnerSettings } from './settings';
import { measureStaleness, Staleness } from './staleness';
import { median, round } from './stats';

/** `npm run bench`: every scenario on both adapters, interleaved rounds, medians. */
export async function runBenchmark(): Promise<void> {
  const settings = runnerSettings();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(
    `Cloakroom benchmark (${settings.quick ? 'quick' : 'full'} run): ${settings.rounds} rounds of ${settings.roundSeconds} s, ${settings.connections} connections`,
  );
  const planned = ADAPTERS.flatMap((adapter) =>
    scenariosFor(adapter).map((scenario): [Adapter, Scenario] => [adapter, scenario]),
  );
  await withBench(settings, planned, async (bench) => {
    const { servers, redis, fixtures } = bench;
    log(`${servers.size} servers up and warmed up`);
    const idle = await measureIdle([...servers.values()]);
    log(`idle CPU measured (${IDLE_SECONDS} s, every server at once)`);
    const measure = (server: ChildServer, options: MeasureOptions) =>
      measureRun(bench, server, options);

    // Each scenario run comes right after a run of `none` on the same adapter, and its ratio
    // (or CPU difference) to `none` is taken within that pair: the shared machine's load drifts
    // within seconds. Rounds visit the scenarios in a rotated order, reversed every other round.
    const others = [...servers.values()].filter((server) => server.settings.scenario !== 'none');
    const pairedRounds = async (
      pass: string,
      rounds: number,
      seconds: number,
      fixedOf: (adapter: Adapter) => { rate: number; warmSeconds: number } | undefined,
    ): Promise<PairedRuns> => {
      const runs = new Map<string, Measurement[]>();
      const pairedNone = new Map<string, Measurement[]>();
      const record = (map: Map<string, Measurement[]>, name: string, run: Measurement) =>
        map.set(name, [...(map.get(name) ?? []), run]);
      for (let round = 0; round < rounds; round++) {
        const shift = (round * 3) % others.length;
        const rotated = [...others.slice(shift), ...others.slice(0, shift)];
        for (const server of round % 2 ? rotated.reverse() : rotated) {
          const { adapter, scenario } = server.settings;
          const none = servers.get(serverKey(adapter, 'none')) as ChildServer;
          const fixed = fixedOf(adapter);
          const reference = await measure(none, { seconds, fixed });
          record(runs, serverKey(adapter, 'none'), reference);
          record(pairedNone, serverKey(adapter, scenario), reference);
          record(runs, serverKey(adapter, scenario), await measure(server, { seconds, fixed }));
        }
        log(`${pass} round ${round + 1}/${rounds} done`);
      }
      for (const adapter of ADAPTERS) {
        pairedNone.set(serverKey(adapter, 'none'), runs.get(serverKey(adapter, 'none')) ?? []);
      }
      return { runs, pairedNone };
    };

    const saturated = await pairedRounds(
      'saturated',
      settings.rounds,
      settings.roundSeconds,
      () => undefined,
    );

    const trips = new Map<string, RoundTrips>();
    for (const server of servers.values()) {
      const { adapter, scenario } = server.settings;
      if (usesRedis(scenario)) {
        trips.set(
          serverKey(adapter, scenario),
          await countRoundTrips(settings.redisUrl, server.url, fixtures.headers[scenario]),
        );
      }
    }
    log('Redis round trips counted');

    // One rate per adapter, which the slowest scenario sustains with room to spare: below
    // saturation the server's CPU per request no longer depends on how the two cores were
    // shared between it, the load generator and Redis.
    const fixedRates = Object.fromEntries(
      ADAPTERS.map((adapter) => {
        const slowest = Math.min(
          ...scenariosFor(adapter).map((scenario) =>
            median((saturated.runs.get(serverKey(adapter, scenario)) ?? []).map((run) => run.rps)),
          ),
        );
        return [adapter, fixedRateFor(slowest, settings)];
      }),
    ) as Record<Adapter, number>;
    log(
      `fixed rates: ${ADAPTERS.map((adapter) => `${adapter} ${fixedRates[adapter]} req/s`).join(', ')}`,
    );
    const fixed = await pairedRounds(
      'fixed-rate',
      settings.fixedRateRounds,
      settings.fixedRateSeconds,
      (adapter) => ({ rate: fixedRates[adapter], warmSeconds: settings.fixedRateWarmSeconds }),
    );

    // The goals' comparisons, each pair back to back (see head-to-head.ts).
    const headToHeads = {} as Record<Adapter, HeadToHead[]>;
    for (const adapter of ADAPTERS) {
      headToHeads[adapter] = [];
      const fixedRate = { rate: fixedRates[adapter], warmSeconds: settings.fixedRateWarmSeconds };
      for (const pair of HEAD_TO_HEAD_PAIRS) {
        const a = servers.get(serverKey(adapter, pair.a));
        const b = servers.get(serverKey(adapter, pair.b));
        if (!a || !b) continue;
        const compared = await headToHead(
          pair,
          settings.headToHeadRounds,
          (scenario, atFixedRate) =>
            measure(scenario === pair.a ? a : b, {
              seconds: atFixedRate ? settings.fixedRateSeconds : settings.headToHeadSeconds,
              fixed: atFixedRate ? fixedRate : undefined,
            }),
        );
        headToHeads[adapter].push({ ...compared, fixedRate: fixedRate.rate });
      }
      log(`head-to-head pairs on ${adapter} done`);
    }

    const session = servers.get(serverKey('express', 'session')) as ChildServer;
    const malformed = await measure(session, { seconds: 1, headers: fixtures.malformed });
    // INFO commandstats counts every client of the Redis; MONITOR only the server's own.
    const malformedTrips = await countRoundTrips(
      settings.redisUrl,
      session.url,
      fixtures.malformed,
    );
    // The store reads Redis's clock (TIME) at each connection and once a minute (`StoreClock`),
    // whatever the requests: one may fall in this pass, and is not a request's.
    const sentByServer = Object.entries(malformedTrips.sent)
      .filter(([command]) => command !== 'time')
      .reduce((sum, [, calls]) => sum + calls, 0);
    log(
      `malformed tokens: ${malformed.requests} requests, ${malformed.non2xx} refused, ${sentByServer} Redis commands from the server (${malformed.redisCommands} from all clients)`,
    );

    const staleness = new Map<Adapter, Staleness>();
    for (const adapter of ADAPTERS) {
      const cache = servers.get(serverKey(adapter, 'session-cache')) as ChildServer;
      const measured = await measureStaleness(
        fixtures.sessions,
        cache.url,
        settings.stalenessSamples,
      );
      staleness.set(adapter, measured);
      log(
        `${adapter}/session-cache staleness after a revocation: median ${measured.medianMs} ms, max ${measured.maxMs} ms`,
      );
    }

    await stopServers(bench);

    log('scale:');
    const scale = await measureScale(
      settings.redisUrl,
      settings.scaleSizes,
      settings.latencySamples,
      log,
    );

    const largest = scale.points[scale.points.length - 1];
    const report: BenchReport = {
      machine: await machine(redis),
      node: process.version,
      quick: settings.quick,
      settings: {
        connections: settings.connections,
        rounds: settings.rounds,
        roundSeconds: settings.roundSeconds,
        warmupSeconds: settings.warmupSeconds,
        fixedRateRounds: settings.fixedRateRounds,
        fixedRateSeconds: settings.fixedRateSeconds,
        fixedRateWarmSeconds: settings.fixedRateWarmSeconds,
        fixedRateShare: settings.fixedRateShare,
        fixedRates,
        headToHeadRounds: settings.headToHeadRounds,
        headToHeadSeconds: settings.headToHeadSeconds,
      },
      adapters: Object.fromEntries(
        ADAPTERS.map((adapter) => [
          adapter,
          withFloor(
            Object.fromEntries(
              scenariosFor(adapter).map((scenario) => {
                const name = serverKey(adapter, scenario);
                const report = summarise(
                  {
                    runs: saturated.runs.get(name) ?? [],
                    none: saturated.pairedNone.get(name) ?? [],
                  },
                  { runs: fixed.runs.get(name) ?? [], none: fixed.pairedNone.get(name) ?? [] },
                  trips.get(name),
                );
                const stale = scenario === 'session-cache' ? staleness.get(adapter) : undefined;
                const withIdle = { ...report, idle: idle.get(name) };
                return [scenario, stale ? { ...withIdle, stalenessMs: stale } : withIdle];
              }),
            ),
          ),
        ]),
      ) as Record<Adapter, Record<Scenario, ScenarioReport>>,
      headToHead: headToHeads,
      hotPath: {
        evalshaPerRequest: evalshaPerRequest(trips.get(serverKey('express', 'session'))),
        evalshaPerRequestFastify: evalshaPerRequest(trips.get(serverKey('fastify', 'session'))),
        evalshaPerRequestCommandstats: perRequest(
          saturated.runs.get(serverKey('express', 'session')) ?? [],
          'evalsha',
        ),
        malformedRequests: malformed.requests,
        malformedRefused: malformed.non2xx,
        malformedRedisCommands: sentByServer,
        malformedRedisCommandsAllClients: malformed.redisCommands,
      },
      cache: {
        ttlSeconds: BENCH_LOCAL_CACHE.ttl,
        stalenessSamplesPerAdapter: settings.stalenessSamples,
      },
      memory: {
        bytesPerSession: largest.bytesPerSession,
        breakdown: largest.breakdown.kinds,
        sharedKeys: largest.breakdown.sharedKeys,
        usedMemoryBytesPerSession: largest.usedMemoryBytesPerSession,
        connectRedisBytesPerSession: scale.connectRedisBytesPerSession,
        connectRedisSessions: scale.connectRedisSessions,
        sessionsMeasured: largest.sessions,
        userAgent: REALISTIC_USER_AGENT,
        device: REALISTIC_DEVICE,
        keptUserAgent: scale.keptUserAgent,
      },
      scale: scale.points,
    };
    printReport(report, log);
    const files = await writeReport(report);
    log(`\nwritten to ${files.join(', ')}`);
  });
}

/** Seconds every server is watched with no load, after a second to settle from its warm-up. */
const IDLE_SECONDS = 5;

/**
 * Each server's CPU (ms) and wake-ups per second with no requests: what its timers, monitors
 * and subscriptions cost. At a fixed rate that cost is spread over the requests; saturated it
 * vanishes into them.
 */
async function measureIdle(
  servers: ChildServer[],
): Promise<Map<string, NonNullable<ScenarioReport['idle']>>> {
  await sleep(1_000);
  const before = await Promise.all(servers.map((server) => server.usage()));
  const started = process.hrtime.bigint();
  await sleep(IDLE_SECONDS * 1_000);
  const after = await Promise.all(servers.map((server) => server.usage()));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return new Map(
    servers.map((server, i) => [
      serverKey(server.settings.adapter, server.settings.scenario),
      {
        cpuMillisPerSecond: round((after[i].micros - before[i].micros) / 1_000 / seconds, 2),
        wakeupsPerSecond: round((after[i].wakeups - before[i].wakeups) / seconds, 1),
      },
    ]),
  );
}

/** A pass's runs per scenario, and the `none` run made just before each of them. */
interface PairedRuns {
  runs: Map<string, Measurement[]>;
  pairedNone: Map<string, Measurement[]>;
}

/** One scenario's runs in one pass, each with the `none` run it was paired with. */
interface Pass {
  runs: Measurement[];
  none: Measurement[];
}

function summarise(saturated: Pass, fixed: Pass, trips?: RoundTrips): ScenarioReport {
  const { runs, none } = saturated;
  const perRequestOf = (of: Measurement[], pick: (run: Measurement) => number) =>
    median(of.map((run) => pick(run) / Math.max(1, run.requests)));
  const cpuOf = (run: Measurement) =>
    (run.cpuMicros + run.rpcCpuMicros) / Math.max(1, run.requests);
  const executed = perRequestOf(runs, (run) => run.redisCommands);
  const tripsPerRequest = (counts: Record<string, number>) =>
    trips
      ? Object.values(counts).reduce((sum, calls) => sum + calls, 0) / Math.max(1, trips.requests)
      : 0;
  return {
    rps: Math.round(median(runs.map((run) => run.rps))),
    p50: median(runs.map((run) => run.p50)),
    p99: median(runs.map((run) => run.p99)),
    // Each round's own `none` is the reference: the machine's load drifts between rounds.
    ratioToNone: round(median(runs.map((run, i) => run.rps / (none[i]?.rps ?? Number.NaN))), 3),
    redisCommandsPerRequest: round(
      Math.max(0, executed - tripsPerRequest(trips?.inScripts ?? {})),
      3,
    ),
    redisCommandsExecutedPerRequest: round(executed, 3),
    redisRoundTripsPerRequest: round(tripsPerRequest(trips?.sent ?? {}), 3),
    redisRoundTrips: trips ?? null,
    cpuMicrosPerRequest: round(median(fixed.runs.map(cpuOf)), 1),
    rpcCpuMicrosPerRequest: round(
      perRequestOf(fixed.runs, (run) => run.rpcCpuMicros),
      1,
    ),
    cpuAddedOverNone: round(
      median(fixed.runs.map((run, i) => cpuOf(run) - cpuOf(fixed.none[i] ?? run))),
      1,
    ),
    // Filled in by `withFloor` once the floor's own figure is known.
    cpuAddedOverFloor: Number.NaN,
    cpuMicrosPerRequestSaturated: round(median(runs.map(cpuOf)), 1),
    fixedRate: {
      rps: Math.round(median(fixed.runs.map((run) => run.rps))),
      p50: median(fixed.runs.map((run) => run.p50)),
      p99: median(fixed.runs.map((run) => run.p99)),
      non2xx: fixed.runs.reduce((sum, run) => sum + run.non2xx, 0),
      cpuMicrosPerRequestByRound: fixed.runs.map((run) => round(cpuOf(run), 1)),
      wakeupsPerRequest: round(
        perRequestOf(fixed.runs, (run) => run.wakeups),
        2,
      ),
    },
    rounds: runs.map((run) => ({
      rps: Math.round(run.rps),
      p50: run.p50,
      p99: run.p99,
      non2xx: run.non2xx,
      errors: run.errors,
    })),
    commandsPerRequest: Object.fromEntries(
      Object.keys(Object.assign({}, ...runs.map((run) => run.commands))).map((name) => [
        name,
        round(
          perRequestOf(runs, (run) => run.commands[name] ?? 0),
          3,
        ),
      ]),
    ),
  };
}

/** Each scenario's CPU added over `redis-floor`: its own paired difference minus the floor's. */
function withFloor(scenarios: Record<string, ScenarioReport>): Record<string, ScenarioReport> {
  const floor = scenarios['redis-floor']?.cpuAddedOverNone ?? Number.NaN;
  return Object.fromEntries(
    Object.entries(scenarios).map(([name, report]) => [
      name,
      { ...report, cpuAddedOverFloor: round(report.cpuAddedOverNone - floor, 1) },
    ]),
  );
}

function evalshaPerRequest(trips?: RoundTrips): number {
  return trips ? round((trips.sent['evalsha'] ?? 0) / Math.max(1, trips.requests), 3) : Number.NaN;
}

function usesRedis(scenario: Scenario): boolean {
  return (
    scenario.startsWith('session') ||
    scenario === 'express-session' ||
    scenario.startsWith('redis-floor')
  );
}

function perRequest(runs: Measurement[], command: string): number {
  return round(
    median(runs.map((run) => (run.commands[command] ?? 0) / Math.max(1, run.requests))),
    3,
  );
}

async function machine(redis: Redis): Promise<BenchReport['machine']> {
  const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    os: `${process.platform} ${release()}`,
    redis: version,
  };
}
