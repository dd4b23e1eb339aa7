import { createServer } from 'node:net';

import { freePort } from './free-port';

describe('freePort', () => {
  it('never hands out one port twice, though the OS picks closed ones again', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 1000; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('answers a port an app can listen on', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((listening, failed) => {
      server.once('error', failed);
      server.listen(port, '127.0.0.1', listening);
    });
    await new Promise((closed) => server.close(closed));
  });
});
