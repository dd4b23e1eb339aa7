import { ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';

import { freePort } from '@cloakroom/session/testing';

import { BareSettings, GATEWAY_BENCH_PATH } from '../server/bare-server';
import { ChildServer } from './child-server';
import { assertAllAnswered, load } from './load';
import { MicroSamples, MicroSummary, microOrder, summarizeMicro } from './micro';
import { writeResultJson } from './report';
import { positiveInteger, runnerSettings } from './settings';
import { median, round } from './stats';

/** Where the gateway builds to measure are, comma-separated: `dist/apps/gateway` by default. */
const GATEWAYS_VARIABLE = 'BENCH_GATEWAYS';

/** What `gateway` writes to `bench/results/gateway-<timestamp>.json`. */
export interface GatewayReport extends MicroSummary {
  rounds: number;
  roundSeconds: number;
  connections: number;
  /** Each gateway route's build: `gateway` is the first of `BENCH_GATEWAYS`, `gateway-2` the next. */
  builds: Record<string, string>;
  /** Per route (`direct`, then each gateway), medians over rounds. */
  rps: Record<string, number>;
  p50: Record<string, number>;
  p99: Record<string, number>;
  /** Each gateway process's own CPU µs per request (the service's is in `variants`). */
  gatewayMicros: Record<string, { median: number; rounds: number[] }>;
  /** Connections the service accepted per request through each gateway (1: none reused). */
  serviceConnectionsPerRequest: Record<string, number>;
}

/**
 * `node dist/apps/bench/main.js gateway`: what the gateway's hop costs. A stand-in service (the
 * bare `http` server) is loaded directly and through the built gateway (`dist/apps/gateway`,
 * its production settings, every service's URL pointing at the stand-in), in rotated rounds of
 * the runner's saturated load (100 connections). CPU per request is the service's alone
 * directly and the gateway's plus the service's through it (the gateway's read from
 * `/proc/<pid>/stat`, so Linux only); `gateway − direct` is what the hop adds. Also counted:
 * the connections the service accepts per request through the gateway.
 *
 * `BENCH_GATEWAYS=dist/apps/gateway,../other/dist/apps/gateway` measures several builds side by
 * side in one run (`gateway`, `gateway-2`, ...), each also compared with the first.
 */
export async function runGateway(): Promise<void> {
  const settings = runnerSettings();
  const rounds = positiveInteger('BENCH_ROUNDS', 10);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const service = await ChildServer.start('bare-server', {
    server: 'http',
    port: await freePort(),
  } satisfies BareSettings);
  const serviceUrl = `http://127.0.0.1:${service.settings.port}`;
  const builds = (process.env[GATEWAYS_VARIABLE] ?? join('dist', 'apps', 'gateway')).split(',');
  const gateways = new Map<string, { process: ChildProcess; url: string; build: string }>();
  const urls: Record<string, string> = { direct: `${serviceUrl}${GATEWAY_BENCH_PATH}` };
  try {
    for (const [index, build] of builds.entries()) {
      const name = index ? `gateway-${index + 1}` : 'gateway';
      const port = await freePort();
      const child = startGateway(build, port, serviceUrl);
      urls[name] = `http://127.0.0.1:${port}${GATEWAY_BENCH_PATH}`;
      gateways.set(name, { process: child, url: urls[name], build });
      await answering(urls[name], child);
    }
    const routes = Object.keys(urls);
    log(
      `Cloakroom gateway benchmark: a stand-in service directly and through ${builds.join(', ')}; ${rounds} rounds of ${settings.roundSeconds} s, ${settings.connections} connections`,
    );
    const run = async (route: string, seconds: number) => {
      const gateway = gateways.get(route)?.process;
      const [serviceBefore, gatewayBefore] = await Promise.all([
        service.usage(),
        gateway ? cpuMicrosOf(gateway) : 0,
      ]);
      const result = await load({
        url: urls[route],
        connections: settings.connections,
        seconds,
        headers: [{}],
      });
      const [serviceAfter, gatewayAfter] = await Promise.all([
        service.usage(),
        gateway ? cpuMicrosOf(gateway) : 0,
      ]);
      assertAllAnswered(result, `The ${route} route`);
      const gatewayMicros = (gatewayAfter - gatewayBefore) / result.requests;
      return {
        result,
        micros: (serviceAfter.micros - serviceBefore.micros) / result.requests + gatewayMicros,
        gatewayMicros,
        connectionsPerRequest:
          ((serviceAfter.connections ?? 0) - (serviceBefore.connections ?? 0)) / result.requests,
      };
    };
    for (const route of routes) await run(route, settings.warmupSeconds);
    const samples: MicroSamples = {};
    const measured = new Map(routes.map((route) => [route, new RouteSamples()]));
    for (let index = 0; index < rounds; index++) {
      for (const route of microOrder(routes, index)) {
        const one = await run(route, settings.roundSeconds);
        (samples[route] ??= []).push(round(one.micros, 2));
        measured.get(route)?.add(one);
      }
      log(`round ${index + 1}/${rounds} done`);
    }
    const perRoute = <T>(pick: (samples: RouteSamples) => T, among = routes) =>
      Object.fromEntries(among.map((route) => [route, pick(measured.get(route) as RouteSamples)]));
    const gatewayRoutes = routes.filter((route) => route !== 'direct');
    const report: GatewayReport = {
      rounds,
      roundSeconds: settings.roundSeconds,
      connections: settings.connections,
      builds: Object.fromEntries([...gateways].map(([name, { build }]) => [name, build])),
      rps: perRoute((all) => Math.round(median(all.rps))),
      p50: perRoute((all) => Math.round(median(all.p50))),
      p99: perRoute((all) => Math.round(median(all.p99))),
      gatewayMicros: perRoute(
        (all) => ({ median: round(median(all.gatewayMicros), 2), rounds: all.gatewayMicros }),
        gatewayRoutes,
      ),
      serviceConnectionsPerRequest: perRoute(
        (all) => round(median(all.connectionsPerRequest), 4),
        gatewayRoutes,
      ),
      ...summarizeMicro(samples, [
        ...gatewayRoutes.map((route) => [route, 'direct'] as const),
        ...gatewayRoutes.slice(1).map((route) => [route, 'gateway'] as const),
      ]),
    };
    printGateway(report, log);
    const { file } = await writeResultJson('gateway-', report);
    log(`\nwritten to ${file}`);
  } finally {
    gateways.forEach((gateway) => gateway.process.kill('SIGTERM'));
    await service.stop();
  }
}

/** A route's figures, round by round. */
class RouteSamples {
  readonly rps: number[] = [];
  readonly p50: number[] = [];
  readonly p99: number[] = [];
  readonly gatewayMicros: number[] = [];
  readonly connectionsPerRequest: number[] = [];

  add(one: {
    result: { rps: number; p50: number; p99: number };
    gatewayMicros: number;
    connectionsPerRequest: number;
  }): void {
    this.rps.push(one.result.rps);
    this.p50.push(one.result.p50);
    this.p99.push(one.result.p99);
    this.gatewayMicros.push(round(one.gatewayMicros, 2));
    this.connectionsPerRequest.push(one.connectionsPerRequest);
  }
}

/** The gateway built at `build`, with its production settings, every service at `serviceUrl`. */
function startGateway(build: string, port: number, serviceUrl: string): ChildProcess {
  return spawn(process.execPath, [join(build, 'main.js')], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      AUTH_URL: serviceUrl,
      ORDERS_URL: serviceUrl,
      CATALOG_URL: serviceUrl,
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Resolves once `url` answers 200; fails if the gateway exits or 30 s pass first. */
async function answering(url: string, gateway: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (gateway.exitCode !== null) throw new Error(`The gateway exited with ${gateway.exitCode}`);
    const status = await new Promise<number>((resolve) =>
      get(url, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      }).on('error', () => resolve(0)),
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer 200 within 30 s (is dist/apps/gateway built?)`);
}

/** CPU time (user + system, µs) a child process has used so far, from `/proc`. */
async function cpuMicrosOf(child: ChildProcess): Promise<number> {
  const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100;
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
}

function printGateway(report: GatewayReport, log: (line: string) => void): void {
  log('\n| route | requests/s | p50 ms | p99 ms | CPU µs/request (service, + gateway) |');
  log('|---|---:|---:|---:|---:|');
  for (const [route, { micros }] of Object.entries(report.variants)) {
    log(
      `| ${route} | ${report.rps[route]} | ${report.p50[route]} | ${report.p99[route]} | ${micros.toFixed(1)} |`,
    );
  }
  log('');
  for (const { a, b, diff, interval } of report.comparisons) {
    const shown = interval ? ` [${interval[0].toFixed(1)}, ${interval[1].toFixed(1)}]` : '';
    log(`${a} − ${b}: ${diff >= 0 ? '+' : ''}${diff.toFixed(1)} µs/request${shown}`);
  }
  for (const [route, { median }] of Object.entries(report.gatewayMicros)) {
    log(
      `${route} (${report.builds[route]}): its own CPU ${median.toFixed(1)} µs/request; the service accepted ${report.serviceConnectionsPerRequest[route]} connections per request`,
    );
  }
}
