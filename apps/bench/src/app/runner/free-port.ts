import { AddressInfo, createServer } from 'node:net';

/**
 * A loopback port that nothing listens on or is connected from right now. Fixed ports are
 * not safe here: they sit in the range the OS hands out to outgoing connections (the load
 * generator's, Redis clients', other work on the machine), and a listen on one of those fails.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
