import { cpus, release, totalmem } from 'node:os';

import { Redis } from 'ioredis';

import {
  ADAPTERS,
  Adapter,
  EXPRESS_SESSION_KEY_PREFIX,
  Scenario,
  SESSION_KEY_PREFIX,
  ServerSettings,
  scenariosFor,
} from '../scenarios';
import { ChildServer } from './child-server';
import { Fixtures, makeFixtures, REALISTIC_USER_AGENT } from './fixtures';
import { load, LoadResult } from './load';
import { commandCounts, commandDelta, deleteByPrefix } from './redis-stats';
import { countRoundTrips, RoundTrips } from './round-trips';
import { BenchReport, Measurement, printReport, ScenarioReport, writeReport } from './report';
import { measureScale } from './scale';
import { runnerSettings, RunnerSettings } from './settings';
import { median } from './stats';

const USERS = 100;

/** `npm run bench`: every scenario on both adapters, interleaved rounds, medians. */
export async function runBenchmark(): Promise<void> {
  const settings = runnerSettings();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(
    `Cloakroom benchmark (${settings.quick ? 'quick' : 'full'} run): ${settings.rounds} rounds of ${settings.roundSeconds} s, ${settings.connections} connections`,
  );
  const redis = new Redis(settings.redisUrl);
  await cleanUp(redis);
  const fixtures = await makeFixtures(settings.redisUrl, USERS);
  const servers = new Map<string, ChildServer>();
  let rpc: ChildServer | undefined;
  try {
    rpc = await ChildServer.start('rpc', serverSettings(settings, fixtures, 'express', 'none', 0));
    let port = settings.firstPort;
    const pending: Array<[Adapter, Scenario]> = ADAPTERS.flatMap((adapter) =>
      scenariosFor(adapter).map((scenario): [Adapter, Scenario] => [adapter, scenario]),
    );
    const planned = pending.map(([adapter, scenario]) =>
      serverSettings(settings, fixtures, adapter, scenario, ++port),
    );
    // Two at a time: twenty Nest apps booting at once on two cores take longer than one by one.
    const starter = async () => {
      for (let next = planned.shift(); next; next = planned.shift()) {
        servers.set(key(next.adapter, next.scenario), await ChildServer.start('server', next));
      }
    };
    await Promise.all([starter(), starter()]);
    log(`${servers.size} servers up; warming up`);
    for (const server of servers.values()) {
      const { adapter, scenario } = server.settings;
      const warm = await load({
        url: server.url,
        connections: settings.connections,
        seconds: settings.warmupSeconds,
        headers: fixtures.headers[scenario],
      });
      if (warm.non2xx || warm.errors || !warm.requests) {
        throw new Error(
          `${adapter}/${scenario} answered ${warm.non2xx} non-2xx and ${warm.errors} errors out of ${warm.requests} during warm-up`,
        );
      }
    }

    const runs = new Map<string, Measurement[]>();
    const measure = async (
      server: ChildServer,
      options: { overallRate?: number; seconds: number; headers?: Array<Record<string, string>> },
    ) => {
      const { scenario } = server.settings;
      const remote = scenario === 'session-remote' ? rpc : undefined;
      const [commandsBefore, cpuBefore, rpcBefore] = await Promise.all([
        commandCounts(redis),
        server.cpuMicros(),
        remote?.cpuMicros() ?? 0,
      ]);
      const result = await load({
        url: server.url,
        connections: settings.connections,
        seconds: options.seconds,
        headers: options.headers ?? fixtures.headers[scenario],
        overallRate: options.overallRate,
      });
      const [commandsAfter, cpuAfter, rpcAfter] = await Promise.all([
        commandCounts(redis),
        server.cpuMicros(),
        remote?.cpuMicros() ?? 0,
      ]);
      return measurement(
        result,
        commandDelta(commandsBefore, commandsAfter),
        cpuAfter - cpuBefore,
        rpcAfter - rpcBefore,
      );
    };

    // Each scenario run comes right after a run of `none` on the same adapter, and its ratio
    // to `none` is taken within that pair: the shared machine's load drifts within seconds.
    // Rounds visit the scenarios in a rotated order, reversed every other round.
    const pairedNone = new Map<string, Measurement[]>();
    const record = (map: Map<string, Measurement[]>, name: string, run: Measurement) =>
      map.set(name, [...(map.get(name) ?? []), run]);
    const others = [...servers.values()].filter((server) => server.settings.scenario !== 'none');
    for (let round = 0; round < settings.rounds; round++) {
      const shift = (round * 3) % others.length;
      const rotated = [...others.slice(shift), ...others.slice(0, shift)];
      for (const server of round % 2 ? rotated.reverse() : rotated) {
        const { adapter, scenario } = server.settings;
        const none = servers.get(key(adapter, 'none')) as ChildServer;
        const reference = await measure(none, { seconds: settings.roundSeconds });
        record(runs, key(adapter, 'none'), reference);
        record(pairedNone, key(adapter, scenario), reference);
        record(
          runs,
          key(adapter, scenario),
          await measure(server, { seconds: settings.roundSeconds }),
        );
      }
      log(`round ${round + 1}/${settings.rounds} done`);
    }
    for (const adapter of ADAPTERS) {
      pairedNone.set(key(adapter, 'none'), runs.get(key(adapter, 'none')) ?? []);
    }

    const trips = new Map<string, RoundTrips>();
    for (const server of servers.values()) {
      const { adapter, scenario } = server.settings;
      if (usesRedis(scenario)) {
        trips.set(
          key(adapter, scenario),
          await countRoundTrips(settings.redisUrl, server.url, fixtures.headers[scenario]),
        );
      }
    }
    log('Redis round trips counted');

    const fixedRates: Partial<Record<Adapter, number>> = {};
    const fixed = new Map<string, Measurement>();
    for (const adapter of ADAPTERS) {
      const noneRps = median((runs.get(key(adapter, 'none')) ?? []).map((run) => run.rps));
      const rate = Math.round(noneRps / 2 / 100) * 100;
      fixedRates[adapter] = rate;
      for (const scenario of scenariosFor(adapter)) {
        const server = servers.get(key(adapter, scenario)) as ChildServer;
        fixed.set(
          key(adapter, scenario),
          await measure(server, { seconds: settings.fixedRateSeconds, overallRate: rate }),
        );
      }
      log(`fixed-rate round at ${rate} req/s on ${adapter} done`);
    }

    const session = servers.get(key('express', 'session')) as ChildServer;
    const malformed = await measure(session, { seconds: 1, headers: fixtures.malformed });
    // INFO commandstats counts every client of the Redis; MONITOR only the server's own.
    const malformedTrips = await countRoundTrips(
      settings.redisUrl,
      session.url,
      fixtures.malformed,
    );
    const sentByServer = Object.values(malformedTrips.sent).reduce((sum, calls) => sum + calls, 0);
    log(
      `malformed tokens: ${malformed.requests} requests, ${malformed.non2xx} refused, ${sentByServer} Redis commands from the server (${malformed.redisCommands} from all clients)`,
    );

    await Promise.all([...servers.values()].map((server) => server.stop()));
    servers.clear();
    await rpc.stop();
    rpc = undefined;

    log('scale:');
    const scale = await measureScale(
      settings.redisUrl,
      settings.scaleSizes,
      settings.latencySamples,
      log,
    );

    const report: BenchReport = {
      machine: await machine(redis),
      node: process.version,
      quick: settings.quick,
      settings: {
        connections: settings.connections,
        rounds: settings.rounds,
        roundSeconds: settings.roundSeconds,
        warmupSeconds: settings.warmupSeconds,
        fixedRateSeconds: settings.fixedRateSeconds,
        fixedRates,
      },
      adapters: Object.fromEntries(
        ADAPTERS.map((adapter) => [
          adapter,
          Object.fromEntries(
            scenariosFor(adapter).map((scenario) => [
              scenario,
              summarise(
                runs.get(key(adapter, scenario)) ?? [],
                fixed.get(key(adapter, scenario)) as Measurement,
                pairedNone.get(key(adapter, scenario)) ?? [],
                trips.get(key(adapter, scenario)),
              ),
            ]),
          ),
        ]),
      ) as Record<Adapter, Record<Scenario, ScenarioReport>>,
      hotPath: {
        evalshaPerRequest: evalshaPerRequest(trips.get(key('express', 'session'))),
        evalshaPerRequestFastify: evalshaPerRequest(trips.get(key('fastify', 'session'))),
        evalshaPerRequestCommandstats: perRequest(
          runs.get(key('express', 'session')) ?? [],
          'evalsha',
        ),
        malformedRequests: malformed.requests,
        malformedRefused: malformed.non2xx,
        malformedRedisCommands: sentByServer,
        malformedRedisCommandsAllClients: malformed.redisCommands,
      },
      memory: {
        bytesPerSession: scale.points[scale.points.length - 1].bytesPerSession,
        sessionsMeasured: scale.points[scale.points.length - 1].sessions,
        userAgent: REALISTIC_USER_AGENT,
        shortUserAgent: scale.shortUserAgent,
      },
      scale: scale.points,
    };
    printReport(report, log);
    const file = await writeReport(report);
    log(`\nwritten to ${file}`);
  } finally {
    await Promise.all([...servers.values()].map((server) => server.stop()));
    await rpc?.stop();
    await fixtures.close();
    await cleanUp(redis);
    redis.disconnect();
  }
}

function key(adapter: Adapter, scenario: Scenario): string {
  return `${adapter}/${scenario}`;
}

function serverSettings(
  settings: RunnerSettings,
  fixtures: Fixtures,
  adapter: Adapter,
  scenario: Scenario,
  port: number,
): ServerSettings {
  return {
    adapter,
    scenario,
    port,
    redisUrl: settings.redisUrl,
    rpcPort: settings.firstPort,
    keys: fixtures.keys,
  };
}

function measurement(
  result: LoadResult,
  commands: Record<string, number>,
  cpuMicros: number,
  rpcCpuMicros: number,
): Measurement {
  const redisCommands = Object.values(commands).reduce((sum, calls) => sum + calls, 0);
  return { ...result, commands, redisCommands, cpuMicros, rpcCpuMicros };
}

function summarise(
  runs: Measurement[],
  fixed: Measurement,
  none: Measurement[],
  trips?: RoundTrips,
): ScenarioReport {
  const rps = median(runs.map((run) => run.rps));
  const perRequestOf = (pick: (run: Measurement) => number) =>
    median(runs.map((run) => pick(run) / Math.max(1, run.requests)));
  const executed = perRequestOf((run) => run.redisCommands);
  const tripsPerRequest = (counts: Record<string, number>) =>
    trips
      ? Object.values(counts).reduce((sum, calls) => sum + calls, 0) / Math.max(1, trips.requests)
      : 0;
  return {
    rps: Math.round(rps),
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
    cpuMicrosPerRequest: round(
      perRequestOf((run) => run.cpuMicros + run.rpcCpuMicros),
      1,
    ),
    rpcCpuMicrosPerRequest: round(
      perRequestOf((run) => run.rpcCpuMicros),
      1,
    ),
    fixedRate: { rps: Math.round(fixed.rps), p50: fixed.p50, p99: fixed.p99, non2xx: fixed.non2xx },
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
          perRequestOf((run) => run.commands[name] ?? 0),
          3,
        ),
      ]),
    ),
  };
}

function evalshaPerRequest(trips?: RoundTrips): number {
  return trips ? round((trips.sent['evalsha'] ?? 0) / Math.max(1, trips.requests), 3) : Number.NaN;
}

function usesRedis(scenario: Scenario): boolean {
  return scenario.startsWith('session') || scenario === 'express-session';
}

function perRequest(runs: Measurement[], command: string): number {
  return round(
    median(runs.map((run) => (run.commands[command] ?? 0) / Math.max(1, run.requests))),
    3,
  );
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
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

async function cleanUp(redis: Redis): Promise<void> {
  await deleteByPrefix(redis, SESSION_KEY_PREFIX);
  await deleteByPrefix(redis, EXPRESS_SESSION_KEY_PREFIX);
}
