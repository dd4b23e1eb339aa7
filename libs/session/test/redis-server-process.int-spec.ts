import { freePort, isAccepting, RedisServerProcess } from '../src/testing';

jest.setTimeout(30_000);

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
});
