import { connect } from 'node:net';

import { freePort, RedisServerProcess } from '../src/testing';

jest.setTimeout(30_000);

/** Whether something accepts connections on `port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('RedisServerProcess', () => {
  it('stops a server that never answered on its port, instead of leaving it running', async () => {
    const elsewhere = await freePort();
    // The later `--port` wins: the server listens on `elsewhere`, and start() waits in vain.
    const server = new RedisServerProcess(await freePort(), ['--port', String(elsewhere)]);
    try {
      await expect(server.start()).rejects.toThrow();
      expect(await listening(elsewhere)).toBe(false);
    } finally {
      await server.dispose();
    }
  });
});
