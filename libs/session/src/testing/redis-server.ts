import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

import { freePort } from './free-port';

/** A `redis-server` child process on a loopback port, for tests that stop and restart Redis. */
export class RedisServerProcess {
  private child?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'cloakroom-redis-'));

  /**
   * `env` is added to this process's environment for the server (say, a preloaded library
   * that sets its clock off).
   */
  constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
    private readonly env: Record<string, string> = {},
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        ...this.extraArgs,
      ],
      { stdio: 'ignore', env: { ...process.env, ...this.env } },
    );
    try {
      await waitForPing(this.port);
    } catch (error) {
      // Nobody gets a handle on a server that failed to start: left running, it would outlive
      // the test process, and keep that process from exiting meanwhile.
      await this.stop();
      throw error;
    }
  }

  /** Stops the server's process without ending it (SIGSTOP): a Redis that hangs. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a frozen server run on (SIGCONT). */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Kills the server abruptly, as a crash would. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    // A server a signal ended (a test's SIGKILL, a crash) has no exit code but a signal code;
    // its 'exit' came and went, and waiting for it would never end.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts `redis-server` on `port` (by default a free one) and resolves once it answers PING.
 *
 * @example
 * const redis = await startRedisServer();
 * SessionModule.forRoot({ redis: { url: redis.url } });
 * await redis.stop(); // a crash; `start()` brings it back on the same port
 */
export async function startRedisServer(port?: number, extraArgs: string[] = []) {
  const server = new RedisServerProcess(port ?? (await freePort()), extraArgs);
  await server.start();
  return server;
}

export async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      // `disconnect()` ends the socket and arms a timer to destroy it should it not close
      // within `disconnectTimeout` (2 s by default); that timer is cleared only by a close
      // still to come. A probe refused before the server listened is closed already: the timer
      // would run its full course and hold the test process open after its last test.
      disconnectTimeout: 0,
    });
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      probe.disconnect();
    }
  }
}
