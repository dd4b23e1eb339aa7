import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

import { BuiltApp, stopProcess } from './built-app';

describe('BuiltApp', () => {
  it('runs the bundle the build writes under dist/apps of the workspace', () => {
    const { main } = new BuiltApp('orders');
    expect(main).toMatch(/\/dist\/apps\/orders\/main\.js$/);
    expect(existsSync(main.replace(/dist\/apps\/orders\/main\.js$/, 'nx.json'))).toBe(true);
  });
});

describe('stopProcess', () => {
  it('terminates a running child and resolves once it has exited', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => undefined, 1000)']);
    await stopProcess(child);
    expect(child.signalCode).toBe('SIGTERM');
  });

  it('resolves at once with the exit code of a child that has already exited', async () => {
    const child = spawn(process.execPath, ['-e', 'process.exit(3)']);
    await new Promise((exited) => child.once('exit', exited));
    await expect(stopProcess(child)).resolves.toBe(3);
  });
});
