import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './free-port';
import { waitForPing } from './redis-server';

/** Settings of the primary a Sentinel monitors; durations in milliseconds. */
export interface SentinelMonitor {
  name: string;
  port: number;
  quorum?: number;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}

/** A `redis-server --sentinel` child process on a loopback port, with its own config file. */
export class RedisSentinelProcess {
  private child?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'cloakroom-sentinel-'));

  constructor(
    readonly port: number,
    private readonly monitor: SentinelMonitor,
  ) {}

  async start(): Promise<void> {
    const { name, port, quorum = 2, downAfterMs = 5000, failoverTimeoutMs = 60_000 } = this.monitor;
    // Sentinel rewrites its config file as it learns the topology: one per process.
    const config = join(this.dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${this.port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${port} ${quorum}`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
        '',
      ].join('\n'),
    );
    this.child = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
    await waitForPing(this.port);
  }

  async dispose(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    // As for a server (see `RedisServerProcess.stop`): one a signal ended has exited already.
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts `count` Sentinels (three by default) on free ports, all monitoring one primary.
 *
 * @example
 * const sentinels = await startRedisSentinels({ name: 'cloakroom', port: primary.port });
 * SessionModule.forRoot({
 *   redis: { sentinels: sentinels.map(({ port }) => ({ host: '127.0.0.1', port })), name: 'cloakroom' },
 * });
 */
export async function startRedisSentinels(
  monitor: SentinelMonitor,
  count = 3,
): Promise<RedisSentinelProcess[]> {
  const sentinels: RedisSentinelProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const sentinel = new RedisSentinelProcess(await freePort(), monitor);
      sentinels.push(sentinel);
      await sentinel.start();
    }
  } catch (error) {
    await Promise.all(sentinels.map((sentinel) => sentinel.dispose()));
    throw error;
  }
  return sentinels;
}
