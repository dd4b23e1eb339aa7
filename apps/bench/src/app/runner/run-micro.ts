import { IncomingMessage, ServerResponse } from 'node:http';

import { CanActivate, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { Redis } from 'ioredis';

import { PrometheusSessionMetrics } from '@cloakroom/service-sessions';
import {
  SessionGuard,
  SessionModule,
  SessionModuleOptions,
  SessionService,
} from '@cloakroom/session';

import { BENCH_LOCAL_CACHE, sessionOptions } from '../bench/bench.module';
import { BenchController } from '../bench/bench.controller';
import { connectRedisFloorClient } from '../bench/redis-floor.controller';
import { AllowAllGuard } from '../guards/allow-all.guard';
import { FastJwtGuard } from '../guards/fast-jwt.guard';
import { HashFloorGuard } from '../guards/hash-floor.guard';
import { RedisFloorGuard } from '../guards/redis-floor.guard';
import { Fixtures, makeFixtures } from './fixtures';
import {
  MicroPace,
  MicroSamples,
  MicroSummary,
  microOrder,
  microPace,
  summarizeMicro,
} from './micro';
import { writeResultJson } from './report';
import { BENCH_USERS, deleteBenchData } from './servers';
import { positiveInteger, runnerSettings } from './settings';

/** The guards measured in process, each as its HTTP scenario configures it. */
const MICRO_VARIANTS = [
  'allow-all',
  'hash-floor',
  'jwt-hs256',
  'redis-floor',
  'redis-floor-coalesced',
  'redis-floor-socket',
  'session',
  'session-metrics',
  'session-cache',
  'session-cache-metrics',
] as const;
type MicroVariant = (typeof MICRO_VARIANTS)[number];

/** What the report compares, `a` minus `b`: the questions, without HTTP around them. */
const MICRO_PAIRS: ReadonlyArray<readonly [MicroVariant, MicroVariant]> = [
  ['session', 'jwt-hs256'],
  ['session', 'allow-all'],
  ['session', 'redis-floor-coalesced'],
  ['redis-floor-coalesced', 'redis-floor'],
  ['redis-floor', 'jwt-hs256'],
  ['redis-floor-socket', 'jwt-hs256'],
  ['redis-floor-coalesced', 'redis-floor-socket'],
  ['jwt-hs256', 'allow-all'],
  ['session-metrics', 'session'],
  ['session-cache', 'allow-all'],
  ['hash-floor', 'allow-all'],
  ['session-cache', 'hash-floor'],
  ['session-cache-metrics', 'session-cache'],
];

/** Guard calls in flight at once, as the HTTP runs keep connections busy. */
const IN_FLIGHT = 50;

/** Each paced round lasts this long: as many calls as the rate makes in that time. */
const PACED_ROUND_SECONDS = 2;

/** What `micro` writes to `bench/results/micro-<timestamp>.json`. */
export interface MicroReport extends MicroSummary {
  rounds: number;
  callsPerRound: number;
  /** Calls at once, back to back; absent when paced. */
  inFlight?: number;
  /** Calls a second, one at a time (`BENCH_MICRO_RATE`); absent when back to back. */
  callsPerSecond?: number;
}

interface Measured {
  guard: CanActivate;
  headers: Array<Record<string, string>>;
  close(): Promise<void>;
}

/**
 * `node dist/apps/bench/main.js micro`: each guard's own CPU time per call, in this process,
 * with no HTTP server around it — `canActivate` on the benchmark route's execution context,
 * 50 calls in flight, against the local Redis. Rounds of 20,000 calls per guard (5,000 with
 * `BENCH_QUICK=1`; `BENCH_ROUNDS`; `BENCH_GUARDS=a,b` for some of them), in an order rotated each round; comparisons are medians of round-by-round
 * differences with 95 % intervals. Everything here runs hot: what a request pays cold, and what
 * the server and its wake-ups cost, only the HTTP runs show.
 */
export async function runMicro(): Promise<void> {
  const settings = runnerSettings();
  const rounds = positiveInteger('BENCH_ROUNDS', 20);
  const pace = microPace(process.env, IN_FLIGHT);
  const calls =
    'callsPerSecond' in pace
      ? PACED_ROUND_SECONDS * pace.callsPerSecond
      : settings.quick
        ? 5_000
        : 20_000;
  const variants = microVariants(process.env['BENCH_GUARDS']);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const redis = new Redis(settings.redisUrl);
  await deleteBenchData(redis);
  const fixtures = await makeFixtures(settings.redisUrl, BENCH_USERS);
  const measured = new Map<MicroVariant, Measured>();
  try {
    for (const variant of variants) {
      measured.set(variant, await setUp(variant, settings.redisUrl, fixtures));
    }
    const how =
      'callsPerSecond' in pace
        ? `one at a time, ${pace.callsPerSecond} a second`
        : `${pace.inFlight} in flight`;
    log(
      `Cloakroom micro benchmark: ${variants.length} guards in process, ${rounds} rounds of ${calls} calls, ${how}`,
    );
    for (const variant of variants) {
      await cpuPerCall(measured.get(variant) as Measured, calls, pace); // warm-up
    }
    const samples: MicroSamples = {};
    for (let index = 0; index < rounds; index++) {
      for (const variant of microOrder(variants, index)) {
        const micros = await cpuPerCall(measured.get(variant) as Measured, calls, pace);
        (samples[variant] ??= []).push(micros);
      }
    }
    const report: MicroReport = {
      rounds,
      callsPerRound: calls,
      ...pace,
      ...summarizeMicro(samples, MICRO_PAIRS),
    };
    printMicro(report, log);
    const { file } = await writeResultJson('micro-', report);
    log(`\nwritten to ${file}`);
  } finally {
    for (const { close } of measured.values()) await close();
    await fixtures.close();
    await deleteBenchData(redis);
    redis.disconnect();
  }
}

/** The guards `BENCH_GUARDS` names (comma-separated), all of them when it is not set. */
function microVariants(names: string | undefined): MicroVariant[] {
  if (names === undefined) {
    return [...MICRO_VARIANTS];
  }
  const asked = names.split(',').map((name) => name.trim());
  const unknown = asked.filter((name) => !(MICRO_VARIANTS as readonly string[]).includes(name));
  if (unknown.length > 0 || asked.length === 0) {
    throw new Error(
      `BENCH_GUARDS names ${unknown.join(', ') || 'nothing'}: expected some of ${MICRO_VARIANTS.join(', ')}`,
    );
  }
  return MICRO_VARIANTS.filter((variant) => asked.includes(variant));
}

async function setUp(
  variant: MicroVariant,
  redisUrl: string,
  fixtures: Fixtures,
): Promise<Measured> {
  if (variant === 'allow-all') {
    return { guard: new AllowAllGuard(), headers: fixtures.headers['allow-all'], close: noop };
  }
  if (variant === 'hash-floor') {
    return { guard: new HashFloorGuard(), headers: fixtures.headers['hash-floor'], close: noop };
  }
  if (
    variant === 'redis-floor' ||
    variant === 'redis-floor-coalesced' ||
    variant === 'redis-floor-socket'
  ) {
    const client = await connectRedisFloorClient(variant, redisUrl, `bench-micro-${variant}`);
    return {
      guard: new RedisFloorGuard(client),
      headers: fixtures.headers['allow-all'],
      close: async () => client.onModuleDestroy(),
    };
  }
  if (variant === 'jwt-hs256') {
    return {
      guard: new FastJwtGuard(fixtures.keys.hsSecret),
      headers: fixtures.headers['jwt-hs256'],
      close: noop,
    };
  }
  const options: SessionModuleOptions = { ...sessionOptions(redisUrl) };
  if (variant.includes('metrics')) options.metrics = new PrometheusSessionMetrics();
  if (variant.includes('cache')) options.localCache = BENCH_LOCAL_CACHE;
  const context = await NestFactory.createApplicationContext(SessionModule.forRoot(options), {
    logger: ['error'],
  });
  await context.init();
  const headers = fixtures.headers.session;
  if (options.localCache) {
    await untilCached(context, headers);
  }
  return { guard: context.get(SessionGuard), headers, close: () => context.close() };
}

/**
 * Waits for the local cache to serve: it starts paused until its event feed is up, and a
 * variant that never hit would measure the store instead.
 */
async function untilCached(
  context: INestApplicationContext,
  headers: Array<Record<string, string>>,
): Promise<void> {
  const sessions = context.get(SessionService);
  const token = headers[0]['authorization'].slice('Bearer '.length);
  for (let attempt = 0; attempt < 250; attempt++) {
    await sessions.validate(token);
    if (sessions.cached(token)) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('The local cache never served a session');
}

/**
 * CPU time (user + system) this process spent per guard call over `calls` calls. Paced, that
 * includes each call's timer wake-up, the same for every guard, so the differences between
 * guards are still theirs.
 */
async function cpuPerCall(
  { guard, headers }: Measured,
  calls: number,
  pace: MicroPace,
): Promise<number> {
  let next = 0;
  let refused = 0;
  const raw = headers.map((lines) => Object.entries(lines).flat());
  const call = async () => {
    const index = next++ % headers.length;
    // What an HTTP request hands a guard: its header lines as received, and a Node response to
    // set headers on (the session guard marks it no-store), made anew as for each request.
    const request = { method: 'GET', headers: headers[index], rawHeaders: raw[index] };
    const response = new ServerResponse(request as IncomingMessage);
    const context = new ExecutionContextHost(
      [request, response, noop],
      BenchController,
      BenchController.prototype.bench,
    );
    context.setType('http');
    if (!(await guard.canActivate(context))) refused++;
  };
  const start = process.cpuUsage();
  if ('callsPerSecond' in pace) {
    // Each call is due at its own instant; one that falls behind is not made up in a burst.
    const gap = 1000 / pace.callsPerSecond;
    let due = performance.now();
    while (next < calls) {
      due = Math.max(due + gap, performance.now());
      await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
      await call();
    }
  } else {
    const worker = async () => {
      while (next < calls) await call();
    };
    await Promise.all(Array.from({ length: pace.inFlight }, worker));
  }
  const used = process.cpuUsage(start);
  if (refused > 0) {
    throw new Error(`${refused} of ${calls} guard calls refused: nothing valid was measured`);
  }
  return (used.user + used.system) / calls;
}

function printMicro(report: MicroReport, log: (line: string) => void): void {
  log('\n| guard | CPU µs/call (median) |\n|---|---:|');
  for (const [name, { micros }] of Object.entries(report.variants)) {
    log(`| ${name} | ${micros.toFixed(2)} |`);
  }
  log('\n| a | b | a − b µs/call (median of paired rounds) | 95 % interval |\n|---|---|---:|---|');
  for (const { a, b, diff, interval } of report.comparisons) {
    const shown = interval ? `[${interval[0].toFixed(2)}, ${interval[1].toFixed(2)}]` : '–';
    log(`| ${a} | ${b} | ${diff >= 0 ? '+' : ''}${diff.toFixed(2)} | ${shown} |`);
  }
}

async function noop(): Promise<void> {
  // nothing to close
}
