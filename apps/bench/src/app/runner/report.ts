import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { Adapter, Scenario } from '../scenarios';
import { renderChart } from './chart';
import type { HeadToHead } from './head-to-head';
import { LoadResult } from './load';
import { KeyKind } from './memory';
import { RoundTrips } from './round-trips';
import { MemoryVariant, ScalePoint } from './scale';
import { Staleness } from './staleness';
import { median, medianInterval } from './stats';

/** One measured run of one scenario. */
export interface Measurement extends LoadResult {
  commands: Record<string, number>;
  redisCommands: number;
  cpuMicros: number;
  rpcCpuMicros: number;
  /** The server process's voluntary context switches during the run (wake-ups from a wait). */
  wakeups: number;
}

export interface ScenarioReport {
  rps: number;
  p50: number;
  p99: number;
  /** Median over rounds of this scenario's rps / the same round's `none` rps. */
  ratioToNone: number;
  /** Commands sent per request (INFO commandstats delta, commands run inside scripts taken out). */
  redisCommandsPerRequest: number;
  /** INFO commandstats delta per request as is: a script's own commands included. */
  redisCommandsExecutedPerRequest: number;
  /** Commands the servers' connections sent per request, counted with MONITOR in a short pass. */
  redisRoundTripsPerRequest: number;
  redisRoundTrips: RoundTrips | null;
  /**
   * Server process CPU per request at the adapter's fixed rate (below saturation), median over
   * the fixed-rate rounds; for `session-remote`, plus the RPC process's.
   */
  cpuMicrosPerRequest: number;
  /** The RPC process's part of `cpuMicrosPerRequest` (`session-remote`; 0 elsewhere). */
  rpcCpuMicrosPerRequest: number;
  /** Median over fixed-rate rounds of this scenario's CPU per request minus its paired `none`'s. */
  cpuAddedOverNone: number;
  /** `cpuAddedOverNone` minus `redis-floor`'s: the cost beyond one Redis round trip. */
  cpuAddedOverFloor: number;
  /** The same CPU figure from the saturated rounds, where load generator and Redis compete. */
  cpuMicrosPerRequestSaturated: number;
  /** The fixed-rate rounds: rps reached, median latencies, refusals, CPU per request by round. */
  fixedRate: {
    rps: number;
    p50: number;
    p99: number;
    non2xx: number;
    cpuMicrosPerRequestByRound: number[];
    /**
     * The server's wake-ups per request (voluntary context switches, every thread): below
     * saturation each costs a request most of its CPU, so a guard that waits for Redis adds one.
     */
    wakeupsPerRequest: number;
  };
  /**
   * The server with no requests at all (timers, subscriptions, monitors), every server at once
   * before the first pass: CPU and wake-ups per second. At the fixed rate each request carries
   * `cpuMillisPerSecond * 1000 / rate` µs of it. Absent from runs made before it was measured.
   */
  idle?: { cpuMillisPerSecond: number; wakeupsPerSecond: number };
  /** `session-cache` only: how long a revoked session kept passing (see staleness.ts). */
  stalenessMs?: Staleness;
  rounds: Array<{ rps: number; p50: number; p99: number; non2xx: number; errors: number }>;
  commandsPerRequest: Record<string, number>;
}

export interface BenchReport {
  machine: { cpu: string; cores: number; memoryBytes: number; os: string; redis: string };
  node: string;
  quick: boolean;
  settings: {
    connections: number;
    rounds: number;
    roundSeconds: number;
    warmupSeconds: number;
    fixedRateRounds: number;
    fixedRateSeconds: number;
    fixedRateWarmSeconds: number;
    /** Fixed rate = this share of the slowest scenario's saturated rps, rounded down to 50. */
    fixedRateShare: number;
    fixedRates: Record<Adapter, number>;
    headToHeadRounds: number;
    headToHeadSeconds: number;
  };
  adapters: Record<Adapter, Partial<Record<Scenario, ScenarioReport>>>;
  /** The goals' comparisons, each pair measured back to back (`head-to-head.ts`). */
  headToHead: Record<Adapter, HeadToHead[]>;
  hotPath: {
    evalshaPerRequest: number;
    evalshaPerRequestFastify: number;
    evalshaPerRequestCommandstats: number;
    malformedRequests: number;
    malformedRefused: number;
    /** Sent by the server's own connections (MONITOR). */
    malformedRedisCommands: number;
    /** INFO commandstats over the same pass: every client of the Redis. */
    malformedRedisCommandsAllClients: number;
  };
  /** The `session-cache` scenario's cache; its staleness samples are in that scenario. */
  cache: { ttlSeconds: number; stalenessSamplesPerAdapter: number };
  memory: {
    /** MEMORY USAGE of every per-session and per-user key, per session (largest scale point). */
    bytesPerSession: number;
    breakdown: Record<string, KeyKind>;
    /** Keys every session shares (event stream, watermark): bytes in all, not per session. */
    sharedKeys: Record<string, number>;
    /** `used_memory` growth per session, which adds Redis's keyspace tables. */
    usedMemoryBytesPerSession: number;
    /** MEMORY USAGE of connect-redis' key for the same session data (mean). */
    connectRedisBytesPerSession: number;
    connectRedisSessions: number;
    sessionsMeasured: number;
    userAgent: string;
    /** The device label the sessions keep instead of the user agent. */
    device: string;
    keptUserAgent: MemoryVariant;
  };
  scale: ScalePoint[];
}

export function printReport(report: BenchReport, log: (line: string) => void): void {
  for (const [adapter, scenarios] of Object.entries(report.adapters)) {
    log(`\n### ${adapter} (fixed rate ${report.settings.fixedRates[adapter as Adapter]} req/s)\n`);
    log(
      '| scenario | rps | x none | p50 ms | p99 ms | CPU us/req (fixed) | added over none | ' +
        'added over floor | wake-ups/req (fixed) | idle CPU ms/s | CPU us/req (saturated) | ' +
        'Redis cmds/req |',
    );
    log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const [name, s] of Object.entries(scenarios)) {
      if (!s) continue;
      const cpu = s.rpcCpuMicrosPerRequest
        ? `${s.cpuMicrosPerRequest} (rpc ${s.rpcCpuMicrosPerRequest})`
        : `${s.cpuMicrosPerRequest}`;
      log(
        `| ${name} | ${s.rps} | ${s.ratioToNone.toFixed(2)} | ${s.p50} | ${s.p99} | ${cpu} | ` +
          `${signed(s.cpuAddedOverNone)} | ${signed(s.cpuAddedOverFloor)} | ` +
          `${s.fixedRate.wakeupsPerRequest ?? '-'} | ` +
          `${s.idle?.cpuMillisPerSecond ?? '-'} | ` +
          `${s.cpuMicrosPerRequestSaturated} | ${s.redisRoundTripsPerRequest} |`,
      );
    }
    const stale = scenarios['session-cache']?.stalenessMs;
    if (stale) {
      log(
        `\nsession-cache: a revoked session passed until ${stale.medianMs} ms (median) / ` +
          `${stale.maxMs} ms (max) after revoke() returned (${stale.samplesMs.length} revocations; ` +
          `cache ttl ${report.cache.ttlSeconds} s)`,
      );
    }
  }
  printHeadToHead(report.headToHead, report.settings.headToHeadRounds, log);
  log('\n### scale (one session per user; validate = one call at a time, runner to Redis)\n');
  log(
    '| sessions | load s | validate p50 us | validate p99 us | bytes/session | used_memory/session | hash | index |',
  );
  log('|---:|---:|---:|---:|---:|---:|---|---|');
  for (const p of report.scale) {
    log(
      `| ${p.sessions} | ${p.loadSeconds.toFixed(1)} | ${p.validateP50Micros} | ${p.validateP99Micros} | ` +
        `${p.bytesPerSession} | ${p.usedMemoryBytesPerSession} | ${p.hashEncoding} | ${p.indexEncoding} |`,
    );
  }
  const memory = report.memory;
  log(`\n### memory per session (${memory.sessionsMeasured} sessions, MEMORY USAGE)\n`);
  log('| key kind | keys | bytes/session | encoding |');
  log('|---|---:|---:|---|');
  for (const [kind, k] of Object.entries(memory.breakdown)) {
    log(`| ${kind} | ${k.keys} | ${k.bytesPerSession} | ${k.encoding} |`);
  }
  log(`| **total** | | **${memory.bytesPerSession}** | |`);
  log(
    `| connect-redis, same data (${memory.connectRedisSessions} sessions) | | ` +
      `${memory.connectRedisBytesPerSession} | string |`,
  );
  const shared = Object.entries(memory.sharedKeys)
    .map(([name, bytes]) => `${name} ${bytes} B`)
    .join(', ');
  log(`\nshared by all sessions: ${shared || 'nothing'}`);
  const kept = memory.keptUserAgent;
  log(
    `keeping the ${kept.userAgent.length}-byte user agent too (keepUserAgent): ${kept.bytesPerSession} bytes/session (${kept.sessions} sessions), hash ${kept.hashEncoding}`,
  );
  const hot = report.hotPath;
  log(
    `hot path: ${hot.evalshaPerRequest} EVALSHA/request (fastify ${hot.evalshaPerRequestFastify}); ${hot.malformedRequests} malformed-token requests, ${hot.malformedRefused} refused, ${hot.malformedRedisCommands} Redis commands from the server (${hot.malformedRedisCommandsAllClients} from all clients)`,
  );
  log('\n### goals\n');
  for (const line of goals(report)) {
    log(`- ${line}`);
  }
}

/** The head-to-head pairs as a table: each figure's median over the rounds and its interval. */
export function printHeadToHead(
  pairs: Partial<Record<Adapter, HeadToHead[]>>,
  rounds: number,
  log: (line: string) => void,
): void {
  log(
    `\n### head to head (${rounds} back-to-back rounds per pair, first run alternating; median [95 % interval])\n`,
  );
  log(
    '| adapter | a | b | rps a/b (saturated) | CPU a-b us/req (saturated) | CPU a-b us/req (fixed rate) |',
  );
  log('|---|---|---|---:|---:|---:|');
  for (const [adapter, compared] of Object.entries(pairs)) {
    for (const pair of compared ?? []) {
      log(
        `| ${adapter} | ${pair.a} | ${pair.b} | ${withInterval(pair.rpsRatios)} | ` +
          `${withInterval(pair.cpuDiffsSaturated ?? optional(pair.cpuDiffSaturated), true)} | ` +
          `${withInterval(pair.cpuDiffsFixed, true)}${pair.fixedRate && pair.cpuDiffsFixed ? ` at ${pair.fixedRate}/s` : ''} |`,
      );
    }
  }
}

function signed(value: number): string {
  return Number.isNaN(value) ? '-' : `${value > 0 ? '+' : ''}${value}`;
}

/** A figure whose rounds a results file from before they were kept does not have. */
function optional(value: number | undefined): number[] | undefined {
  return value === undefined ? undefined : [value];
}

/** A head-to-head figure from its rounds: the median and, when there are enough, its interval. */
function withInterval(rounds: number[] | undefined, sign = false): string {
  if (!rounds?.length) {
    return '-';
  }
  const show = (value: number) => (sign ? signed(value) : `${value}`);
  const interval = medianInterval(rounds);
  return interval
    ? `${show(median(rounds))} [${show(interval[0])}, ${show(interval[1])}]`
    : show(median(rounds));
}

/**
 * The issue's targets, as figures: met or missed, and by how much. Comparisons come from the
 * head-to-head pairs; the figure through each scenario's own `none` runs follows as a note.
 * A head-to-head median is judged with its 95 % interval (`medianInterval`): met or missed when
 * the whole interval is on one side of the target, unresolved when it straddles the target, so
 * that a run too noisy to tell says so instead of reporting its median's side as a verdict.
 */
export function goals(report: BenchReport): string[] {
  const lines: string[] = [];
  const check = (label: string, rounds: number[], target: number, atMost = false, note = '') => {
    const value = median(rounds);
    const meets = (figure: number) => (atMost ? figure <= target : figure >= target);
    const interval = rounds.length > 1 ? medianInterval(rounds) : undefined;
    let verdict = meets(value) ? 'met' : 'MISSED';
    let spread = '';
    if (interval) {
      spread = ` [${interval[0]}, ${interval[1]}]`;
      if (meets(interval[0]) !== meets(interval[1])) {
        verdict = `unresolved (median ${meets(value) ? 'meets' : 'misses'})`;
      }
    } else if (rounds.length > 1) {
      spread = ` (${rounds.length} rounds: too few for an interval)`;
    }
    lines.push(
      `${verdict}: ${label} = ${value}${spread} (target ${atMost ? '<=' : '>='} ${target})${note}`,
    );
  };
  // Not goals: what the cheapest guard of a kind does against a goal's target. A guard making
  // one Redis round trip costs at least a floor (the round trip and no guard work); a cache hit
  // keyed by token digests at least `hash-floor` (the token found and hashed). When the floor's
  // whole interval is past the target, no guard of that kind can meet the goal at this rate.
  const bound = (
    label: string,
    rounds: number[] | undefined,
    target: number,
    atMost: boolean,
    kind: string,
  ) => {
    const interval = medianInterval(rounds ?? []);
    if (!rounds || !interval) return;
    const past = atMost ? interval[0] > target : interval[1] < target;
    lines.push(
      `bound: ${label} = ${median(rounds)} [${interval[0]}, ${interval[1]}] (goal's target ${atMost ? '<=' : '>='} ${target}), ` +
        (past
          ? `past the target: no ${kind} meets the goal above`
          : 'not past the target: it does not rule the goal above out'),
    );
  };
  const oneRoundTrip = 'guard making one Redis round trip';
  for (const [adapter, s] of Object.entries(report.adapters)) {
    const session = s.session;
    if (!session) continue;
    const pairs = report.headToHead?.[adapter as Adapter] ?? [];
    const pair = (a: Scenario, b: Scenario) => pairs.find((p) => p.a === a && p.b === b);
    const added = (name: Scenario) => s[name]?.cpuAddedOverNone ?? Number.NaN;
    const difference = (a: Scenario, b: Scenario) => Math.round((added(a) - added(b)) * 10) / 10;
    const cpu = (a: Scenario, b: Scenario, target: number, label: string) =>
      check(
        `${adapter} ${label}, us per request (fixed rate, head to head)`,
        pair(a, b)?.cpuDiffsFixed ?? [],
        target,
        true,
        `; through none: ${difference(a, b)}`,
      );
    const throughput = (b: Scenario, target: number) => {
      const other = s[b];
      if (!other) return;
      const h2h = pair('session', b);
      check(
        `${adapter} session / ${b} requests/s (saturated, head to head)`,
        h2h?.rpsRatios ?? [],
        target,
        false,
        `; through none: ${Math.round((session.ratioToNone / other.ratioToNone) * 100) / 100}` +
          (h2h?.cpuDiffSaturated === undefined
            ? ''
            : `; CPU per request, session minus ${b}: ${h2h.cpuDiffSaturated} us saturated`),
      );
      bound(
        `${adapter} redis-floor-coalesced (no guard, one EVALSHA written as the store writes it) / ${b} requests/s (saturated, head to head)`,
        pair('redis-floor-coalesced', b)?.rpsRatios,
        target,
        false,
        oneRoundTrip,
      );
    };
    cpu('session', 'jwt-hs256', 0, 'session CPU minus fast-jwt HS256 CPU');
    bound(
      `${adapter} redis-floor (no guard, one EVALSHA) CPU minus fast-jwt HS256 CPU, us per request (fixed rate, head to head)`,
      pair('redis-floor', 'jwt-hs256')?.cpuDiffsFixed,
      0,
      true,
      oneRoundTrip,
    );
    bound(
      `${adapter} redis-floor-socket (no guard, no client library: one EVALSHA written to a socket) CPU minus fast-jwt HS256 CPU, us per request (fixed rate, head to head)`,
      pair('redis-floor-socket', 'jwt-hs256')?.cpuDiffsFixed,
      0,
      true,
      oneRoundTrip,
    );
    cpu('session', 'redis-floor', 10, 'session CPU minus redis-floor CPU');
    cpu('session-cache', 'none', 5, 'session-cache CPU minus none CPU');
    // What any Nest guard costs by itself is not the cache's: the same figure over `allow-all`.
    cpu(
      'session-cache',
      'allow-all',
      5,
      'session-cache CPU minus allow-all (a guard that checks nothing) CPU',
    );
    bound(
      `${adapter} hash-floor (a guard that only finds the token and hashes it) CPU minus allow-all CPU, us per request (fixed rate, head to head)`,
      pair('hash-floor', 'allow-all')?.cpuDiffsFixed,
      5,
      true,
      'cache keyed by token digests',
    );
    cpu('session-metrics', 'session', 2, 'session-metrics CPU minus session CPU');
    throughput('jwt-hs256', 1.2);
    throughput('jwt-rs256', 1.5);
    throughput('express-session', 1.5);
    check(
      `${adapter} session Redis commands sent/request (MONITOR)`,
      [session.redisRoundTripsPerRequest],
      1.05,
      true,
      `; INFO commandstats: ${session.redisCommandsPerRequest} sent, ` +
        `${session.redisCommandsExecutedPerRequest} executed counting the script's own`,
    );
  }
  check(
    'Redis bytes per session (index and user keys included)',
    [report.memory.bytesPerSession],
    400,
    true,
  );
  return lines;
}

/**
 * Writes `bench/results/<prefix><timestamp>.json` (the directory made if missing); answers its
 * path and the timestamp, which the run's other files share.
 */
export async function writeResultJson(
  prefix: string,
  data: unknown,
): Promise<{ file: string; stamp: string }> {
  const directory = join(process.cwd(), 'bench', 'results');
  await mkdir(directory, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(directory, `${prefix}${stamp}.json`);
  await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
  return { file, stamp };
}

/** Writes `<timestamp>.json`, `<timestamp>.svg` and `latest.svg`; answers their paths. */
export async function writeReport(report: BenchReport): Promise<string[]> {
  const { file: json, stamp } = await writeResultJson('', report);
  const svg = join(dirname(json), `${stamp}.svg`);
  const latest = join(dirname(json), 'latest.svg');
  const chart = renderChart(report, `bench/results/${stamp}.json`);
  await writeFile(svg, chart);
  await writeFile(latest, chart);
  return [json, svg, latest];
}

/**
 * `node dist/apps/bench/main.js report <results.json>`: prints a saved run's tables and goals
 * again with this version's report (its intervals, say), without measuring anything.
 */
export async function printSavedReport(): Promise<void> {
  const path = process.argv[3];
  if (!path) {
    throw new Error('Usage: main.js report <bench/results/<timestamp>.json>');
  }
  const report = JSON.parse(await readFile(path, 'utf8')) as BenchReport;
  printReport(report, (line) => process.stdout.write(`${line}\n`));
}
