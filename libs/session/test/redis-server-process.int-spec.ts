import { Redis } from 'ioredis';

import {
  freePort,
  isAccepting,
  RedisServerProcess,
  startRedisSentinels,
  startRedisServer,
} from '../src/testing';

jest.setTimeout(30_000);

/**
 * Kills the Redis (or Sentinel) on `port` with SIGKILL from outside its owner, as a crash would,
 * and waits until this process has reaped it: the child's 'exit' is emitted in the same turn.
 */
async function killFromOutside(port: number): Promise<void> {
  const client = new Redis(port, '127.0.0.1');
  const info = await client.info('server');
  client.disconnect();
  const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
  process.kill(pid, 'SIGKILL');
  while (isRunning(pid)) await new Promise((resolve) => setTimeout(resolve, 10));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether `stopping` settles within one turn of the event loop, rather than waits. */
function settlesAtOnce(stopping: Promise<void>): Promise<boolean> {
  return Promise.race([
    stopping.then(() => true),
    new Promise<boolean>((resolve) => setImmediate(() => resolve(false))),
  ]);
}

describe('RedisServerProcess', () => {
  it('stops a server that never answered on its port, instead of leaving it running', async () => {
    const elsewhere = await freePort();
    // The later `--port` wins: the server listens on `elsewhere`, and start() waits in vain.
    const server = new RedisServerProcess(await freePort(), ['--port', String(elsewhere)]);
    try {
      await expect(server.start()).rejects.toThrow();
      expect(await isAccepting(elsewhere)).toBe(false);
    } finally {
      await server.dispose();
    }
  });

  it('stops at once a server a signal ended already, instead of waiting for its exit again', async () => {
    const server = await startRedisServer();
    try {
      await killFromOutside(server.port);
      expect(await settlesAtOnce(server.stop())).toBe(true);
    } finally {
      await server.dispose();
    }
  });
});

describe('RedisSentinelProcess', () => {
  it('is disposed of at once when a signal ended it already', async () => {
    // Nothing needs to listen at the primary's address for a Sentinel to start.
    const [sentinel] = await startRedisSentinels({ name: 'ended', port: await freePort() }, 1);
    await killFromOutside(sentinel.port);
    expect(await settlesAtOnce(sentinel.dispose())).toBe(true);
  });
});
