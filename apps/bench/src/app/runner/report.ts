import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Adapter, Scenario } from '../scenarios';
import { LoadResult } from './load';
import { RoundTrips } from './round-trips';
import { MemoryVariant, ScalePoint } from './scale';

/** One measured run of one scenario. */
export interface Measurement extends LoadResult {
  commands: Record<string, number>;
  redisCommands: number;
  cpuMicros: number;
  rpcCpuMicros: number;
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
  /** Server process CPU per request; for `session-remote`, plus the RPC process's. */
  cpuMicrosPerRequest: number;
  rpcCpuMicrosPerRequest: number;
  /** At a fixed request rate (half of `none`'s throughput): latency without saturation. */
  fixedRate: { rps: number; p50: number; p99: number; non2xx: number };
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
    fixedRateSeconds: number;
    fixedRates: Partial<Record<Adapter, number>>;
  };
  adapters: Record<Adapter, Partial<Record<Scenario, ScenarioReport>>>;
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
  memory: {
    bytesPerSession: number;
    sessionsMeasured: number;
    userAgent: string;
    shortUserAgent: MemoryVariant;
  };
  scale: ScalePoint[];
}

export function printReport(report: BenchReport, log: (line: string) => void): void {
  for (const [adapter, scenarios] of Object.entries(report.adapters)) {
    log(`\n### ${adapter} (fixed rate ${report.settings.fixedRates[adapter as Adapter]} req/s)\n`);
    log(
      '| scenario | rps | x none | p50 ms | p99 ms | fixed-rate p50 / p99 ms | Redis round trips/req | ' +
        'INFO cmds/req sent (executed) | CPU us/req |',
    );
    log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const [name, s] of Object.entries(scenarios)) {
      if (!s) continue;
      const cpu = s.rpcCpuMicrosPerRequest
        ? `${s.cpuMicrosPerRequest} (rpc ${s.rpcCpuMicrosPerRequest})`
        : `${s.cpuMicrosPerRequest}`;
      log(
        `| ${name} | ${s.rps} | ${s.ratioToNone.toFixed(2)} | ${s.p50} | ${s.p99} | ` +
          `${s.fixedRate.p50} / ${s.fixedRate.p99} | ${s.redisRoundTripsPerRequest} | ${s.redisCommandsPerRequest} (${s.redisCommandsExecutedPerRequest}) | ${cpu} |`,
      );
    }
  }
  log('\n### scale (one session per user; validate = one call at a time, runner to Redis)\n');
  log('| sessions | load s | validate p50 us | validate p99 us | bytes/session | hash | index |');
  log('|---:|---:|---:|---:|---:|---|---|');
  for (const p of report.scale) {
    log(
      `| ${p.sessions} | ${p.loadSeconds.toFixed(1)} | ${p.validateP50Micros} | ${p.validateP99Micros} | ${p.bytesPerSession} | ${p.hashEncoding} | ${p.indexEncoding} |`,
    );
  }
  const short = report.memory.shortUserAgent;
  log(
    `\nwith a ${short.userAgent.length}-byte user agent: ${short.bytesPerSession} bytes/session (${short.sessions} sessions), hash ${short.hashEncoding}`,
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

/** The targets, as figures: met or missed, and by how much. */
export function goals(report: BenchReport): string[] {
  const lines: string[] = [];
  const check = (label: string, value: number, target: number, atMost = false, note = '') => {
    const met = atMost ? value <= target : value >= target;
    lines.push(
      `${met ? 'met' : 'MISSED'}: ${label} = ${value} (target ${atMost ? '<=' : '>='} ${target})${note}`,
    );
  };
  for (const [adapter, s] of Object.entries(report.adapters)) {
    const session = s.session;
    if (!session) continue;
    // Throughput ratios go through each scenario's ratio to its own round's `none`; the CPU
    // ratio (other's CPU per request / session's) is the same comparison, far less noisy.
    const versus = (name: Scenario, target: number) => {
      const other = s[name];
      if (!other) return;
      const ratio = Math.round((session.ratioToNone / other.ratioToNone) * 100) / 100;
      const cpu = Math.round((other.cpuMicrosPerRequest / session.cpuMicrosPerRequest) * 100) / 100;
      check(`${adapter} session / ${name}`, ratio, target, false, `; by CPU per request ${cpu}`);
    };
    const cpuVsNone =
      Math.round(
        ((s.none?.cpuMicrosPerRequest ?? Number.NaN) / session.cpuMicrosPerRequest) * 100,
      ) / 100;
    check(
      `${adapter} session / none`,
      session.ratioToNone,
      0.9,
      false,
      `; by CPU per request ${cpuVsNone}`,
    );
    versus('jwt-hs256', 1.0);
    versus('jwt-nestjs', 1.0);
    versus('jwt-rs256', 1.5);
    versus('express-session', 1.5);
    check(
      `${adapter} session Redis commands sent/request (MONITOR)`,
      session.redisRoundTripsPerRequest,
      1.05,
      true,
      `; INFO commandstats: ${session.redisCommandsPerRequest} sent, ` +
        `${session.redisCommandsExecutedPerRequest} executed counting the script's own`,
    );
  }
  check('Redis bytes per session (index included)', report.memory.bytesPerSession, 300, true);
  return lines;
}

export async function writeReport(report: BenchReport): Promise<string> {
  const directory = join(process.cwd(), 'bench', 'results');
  await mkdir(directory, { recursive: true });
  const file = join(directory, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
