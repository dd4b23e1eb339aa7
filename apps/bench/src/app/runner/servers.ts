import { Redis } from 'ioredis';

import { freePort } from '@cloakroom/session/testing';

import {
  Adapter,
  EXPRESS_SESSION_KEY_PREFIX,
  ProcessUsage,
  Scenario,
  ServerSettings,
  SESSION_KEY_PREFIX,
} from '../scenarios';
import { ChildServer } from './child-server';
import { Fixtures, makeFixtures } from './fixtures';
import { assertAllAnswered, load, loadAtRate, LoadResult } from './load';
import { commandCounts, commandDelta, deleteByPrefix } from './redis-stats';
import type { Measurement } from './report';
import { RunnerSettings } from './settings';

/** The users the load generator takes turns with, one per connection (`makeFixtures`). */
export const BENCH_USERS = 100;

/** Paced load kept up after a measured window, so that no connection closes inside it. */
const WINDOW_TAIL_SECONDS = 0.25;

/** What the runner measures with: its settings, fixtures, Redis connection and child processes. */
export interface Bench {
  settings: RunnerSettings;
  fixtures: Fixtures;
  /** The runner's own connection, for INFO commandstats. */
  redis: Redis;
  /** The session RPC process `session-remote*` servers validate through. */
  rpc: ChildServer;
  /** By `serverKey(adapter, scenario)`. */
  servers: Map<string, ChildServer>;
}

export function serverKey(adapter: Adapter, scenario: Scenario): string {
  return `${adapter}/${scenario}`;
}

/**
 * Runs `body` with fresh fixtures and the servers of `planned` started and warmed up; then,
 * whether `body` succeeded or not, stops the servers and deletes the benchmark's Redis data.
 */
export async function withBench<T>(
  settings: RunnerSettings,
  planned: Array<[Adapter, Scenario]>,
  body: (bench: Bench) => Promise<T>,
): Promise<T> {
  const redis = new Redis(settings.redisUrl);
  await deleteBenchData(redis);
  const fixtures = await makeFixtures(settings.redisUrl, BENCH_USERS);
  try {
    const bench = await startServers(settings, fixtures, redis, planned);
    try {
      return await body(bench);
    } finally {
      await stopServers(bench);
    }
  } finally {
    await fixtures.close();
    await deleteBenchData(redis);
    redis.disconnect();
  }
}

/**
 * Starts the RPC process, then one server per planned adapter and scenario, and warms each up
 * (saturated load for the warm-up time; any refusal or error fails the start, after stopping
 * whatever had started).
 */
async function startServers(
  settings: RunnerSettings,
  fixtures: Fixtures,
  redis: Redis,
  planned: Array<[Adapter, Scenario]>,
): Promise<Bench> {
  const rpcPort = await freePort();
  const settingsOf = (adapter: Adapter, scenario: Scenario, port: number): ServerSettings => ({
    adapter,
    scenario,
    port,
    redisUrl: settings.redisUrl,
    rpcPort,
    keys: fixtures.keys,
  });
  const rpc = await ChildServer.start('rpc', settingsOf('express', 'none', 0));
  const bench: Bench = { settings, fixtures, redis, rpc, servers: new Map() };
  try {
    await startAndWarm(bench, planned, settingsOf);
  } catch (error) {
    await stopServers(bench);
    throw error;
  }
  return bench;
}

async function startAndWarm(
  bench: Bench,
  planned: Array<[Adapter, Scenario]>,
  settingsOf: (adapter: Adapter, scenario: Scenario, port: number) => ServerSettings,
): Promise<void> {
  const { settings, fixtures } = bench;
  const queue = [...planned];
  // Two at a time: twenty Nest apps booting at once on two cores take longer than one by one.
  const starter = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [adapter, scenario] = next;
      const server = await ChildServer.start(
        'server',
        settingsOf(adapter, scenario, await freePort()),
      );
      bench.servers.set(serverKey(adapter, scenario), server);
    }
  };
  // Both starters finish before a failure is reported, so that no server starts after the stop.
  const started = await Promise.allSettled([starter(), starter()]);
  const failed = started.find((outcome) => outcome.status === 'rejected');
  if (failed) {
    throw failed.reason;
  }
  for (const server of bench.servers.values()) {
    const { adapter, scenario } = server.settings;
    const warm = await load({
      url: server.url,
      connections: settings.connections,
      seconds: settings.warmupSeconds,
      headers: fixtures.headers[scenario],
    });
    assertAllAnswered(warm, `${adapter}/${scenario}, warming up,`);
  }
}

/** Stops every server and the RPC process (again: a stopped one is left as it is). */
export async function stopServers(bench: Bench): Promise<void> {
  await Promise.all([...bench.servers.values()].map((server) => server.stop()));
  bench.servers.clear();
  await bench.rpc.stop();
}

export interface MeasureOptions {
  seconds: number;
  /** A paced run at this rate, its CPU read at the edges of a window (`loadAtRate`). */
  fixed?: { rate: number; warmSeconds: number };
  headers?: Array<Record<string, string>>;
}

/**
 * One run against one server: saturated, or paced at a fixed rate with the CPU read at the
 * edges of a window; the server's CPU time and wake-ups (and the RPC process's CPU for
 * `session-remote*`), and every Redis command run meanwhile.
 */
export async function measureRun(
  bench: Bench,
  server: ChildServer,
  options: MeasureOptions,
): Promise<Measurement> {
  const { settings, fixtures, redis } = bench;
  const { scenario } = server.settings;
  const remote = scenario.startsWith('session-remote') ? bench.rpc : undefined;
  const idle = { micros: 0, wakeups: 0 };
  const readCpu = () => Promise.all([server.usage(), remote?.usage() ?? idle]);
  const headers = options.headers ?? fixtures.headers[scenario];
  const cpu: Array<[ProcessUsage, ProcessUsage]> = [];
  const commandsBefore = await commandCounts(redis);
  let result: LoadResult;
  if (options.fixed) {
    const paced = await loadAtRate({
      url: server.url,
      connections: settings.connections,
      rate: options.fixed.rate,
      headers,
      window: {
        after: options.fixed.warmSeconds,
        seconds: options.seconds,
        onEdge: async () => void cpu.push(await readCpu()),
      },
      tailSeconds: WINDOW_TAIL_SECONDS,
    });
    const requests = paced.windowRequests ?? 0;
    result = { ...paced, requests, rps: requests / options.seconds };
  } else {
    cpu.push(await readCpu());
    result = await load({
      url: server.url,
      connections: settings.connections,
      seconds: options.seconds,
      headers,
    });
    cpu.push(await readCpu());
  }
  const commands = commandDelta(commandsBefore, await commandCounts(redis));
  const [[before, rpcBefore], [after, rpcAfter]] = cpu;
  return {
    ...result,
    commands,
    redisCommands: Object.values(commands).reduce((sum, calls) => sum + calls, 0),
    cpuMicros: after.micros - before.micros,
    rpcCpuMicros: rpcAfter.micros - rpcBefore.micros,
    wakeups: after.wakeups - before.wakeups,
  };
}

/**
 * The rate of an adapter's fixed-rate runs: `fixedRateShare` of the slowest compared scenario's
 * saturated requests/s, rounded down to 50 (at least 50), so that every one keeps up with it.
 */
export function fixedRateFor(slowestRps: number, settings: RunnerSettings): number {
  return Math.max(50, Math.floor((slowestRps * settings.fixedRateShare) / 50) * 50);
}

/** Deletes the sessions the servers validate (and express-session's), before and after a run. */
export async function deleteBenchData(redis: Redis): Promise<void> {
  await deleteByPrefix(redis, SESSION_KEY_PREFIX);
  await deleteByPrefix(redis, EXPRESS_SESSION_KEY_PREFIX);
}
