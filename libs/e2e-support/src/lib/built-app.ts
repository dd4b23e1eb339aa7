import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

const WORKSPACE_ROOT = resolve(__dirname, '../../../..');

/**
 * How a built app ended, with everything it wrote.
 *
 * @example
 * const { code, stderr }: AppExit = await orders.runToExit({ NODE_ENV: 'prod' }, dir);
 * expect(code).toBe(1);
 */
export interface AppExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A built app running as a child process.
 *
 * @example
 * const running: RunningApp = catalog.start({ CATALOG_PORT: String(port) }, dir);
 * afterAll(() => running.stop());
 */
export interface RunningApp {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** Sends SIGTERM (unless it has exited already) and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * An app as `nx build <name>` leaves it (`dist/apps/<name>/main.js`), run as a black box:
 * a child process in a given directory with exactly the given environment, plus PATH, so that
 * nothing of the test runner's environment leaks in.
 *
 * @example
 * const orders = new BuiltApp('orders');
 * const running = orders.start({ ORDERS_PORT: String(port) }, dir);
 * await waitForStatus(`http://127.0.0.1:${port}/api/orders/health`);
 * await running.stop();
 */
export class BuiltApp {
  /** The bundle the build writes. */
  readonly main: string;

  constructor(readonly name: string) {
    this.main = resolve(WORKSPACE_ROOT, 'dist', 'apps', name, 'main.js');
  }

  /** Starts the app in `cwd`; see {@link stopProcess} for stopping it. */
  start(env: Record<string, string>, cwd: string): RunningApp {
    const child = spawn(process.execPath, [this.main], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    return { child, output: () => output, stop: () => stopProcess(child) };
  }

  /** Runs the app until it exits by itself; it is killed after `timeoutMs` if it does not. */
  runToExit(env: Record<string, string>, cwd: string, timeoutMs = 20_000): Promise<AppExit> {
    const { child } = this.start(env, cwd);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => (stdout += chunk));
    child.stderr?.on('data', (chunk) => (stderr += chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    return new Promise((done) =>
      child.once('exit', (code) => {
        clearTimeout(killer);
        done({ code, stdout, stderr });
      }),
    );
  }
}

/**
 * Sends SIGTERM to a child process that is still running and resolves with its exit code.
 *
 * @example
 * afterAll(() => stopProcess(child));
 */
export function stopProcess(child: ChildProcess): Promise<number | null> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done(child.exitCode);
    child.once('exit', (code) => done(code));
    child.kill('SIGTERM');
  });
}
