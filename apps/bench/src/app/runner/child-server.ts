import { ChildProcess, fork } from 'node:child_process';

import { ChildMessage, ProcessUsage, SERVER_SETTINGS_VARIABLE, ServerSettings } from '../scenarios';
import { BARE_SETTINGS_VARIABLE, BareSettings } from '../server/bare-server';

/** What each role of a child process is started with. */
interface ChildSettings {
  server: ServerSettings;
  rpc: ServerSettings;
  'bare-server': BareSettings;
}

/** A server (or the RPC stand-in) in its own process, so it never shares a core's time slice with the load generator's event loop. */
export class ChildServer<S extends ServerSettings | BareSettings = ServerSettings> {
  private constructor(
    readonly settings: S,
    private readonly child: ChildProcess,
  ) {}

  static start<R extends keyof ChildSettings>(
    role: R,
    settings: ChildSettings[R],
  ): Promise<ChildServer<ChildSettings[R]>> {
    const variable = role === 'bare-server' ? BARE_SETTINGS_VARIABLE : SERVER_SETTINGS_VARIABLE;
    const child = fork(process.argv[1], [role], {
      env: { ...process.env, [variable]: JSON.stringify(settings) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${describe(settings, role)} did not start`)),
        30_000,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${describe(settings, role)} exited with code ${code}`));
      });
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve(new ChildServer(settings, child));
        }
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.settings.port}/bench`;
  }

  /**
   * CPU time (user + system, µs) the process has used so far, and its voluntary context
   * switches: how many times one of its threads went to sleep waiting (for I/O, mostly) and
   * was woken again.
   */
  usage(): Promise<ProcessUsage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('No CPU reading from the server')), 5_000);
      const onMessage = (message: ChildMessage) => {
        if (message.type === 'cpu') {
          clearTimeout(timer);
          this.child.off('message', onMessage);
          resolve({
            micros: message.micros,
            wakeups: message.wakeups,
            connections: message.connections,
          });
        }
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'cpu' });
    });
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}

function describe(settings: ServerSettings | BareSettings, role: string): string {
  if (role === 'rpc') {
    return 'The session RPC server';
  }
  return 'scenario' in settings
    ? `The ${settings.adapter}/${settings.scenario} server`
    : `The bare ${settings.server} server`;
}
