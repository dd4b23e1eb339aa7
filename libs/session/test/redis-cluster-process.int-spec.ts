import { createServer, Server } from 'node:net';
import { Redis } from 'ioredis';

import { freePort, isAccepting, startRedisCluster } from '../src/testing';

jest.setTimeout(60_000);

describe('startRedisCluster', () => {
  it('stops the nodes that started when another one cannot, before it rejects', async () => {
    // A listener that hangs up on every connection: the node meant for its port cannot bind
    // it, and never answers PING there.
    const taken = createServer((socket) => socket.destroy());
    const takenPort = await listen(taken);
    const others = [await freePort(), await freePort()];
    try {
      await expect(startRedisCluster([takenPort, ...others])).rejects.toThrow();
      expect(await Promise.all(others.map(isAccepting))).toEqual([false, false]);
    } finally {
      await new Promise((closed) => taken.close(closed));
      // Nodes left running by the failure this test looks for end with it all the same.
      for (const port of others) {
        if (await isAccepting(port)) {
          const node = new Redis(port, '127.0.0.1', { retryStrategy: () => null });
          await node.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
          node.disconnect();
        }
      }
    }
  });
});

async function listen(server: Server): Promise<number> {
  const port = await freePort();
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(port, '127.0.0.1', listening);
  });
  return port;
}
