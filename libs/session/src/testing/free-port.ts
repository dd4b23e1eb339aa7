import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP port that was free a moment ago: the OS picks it (listen on port 0), then
 * the probe closes. For servers a test spawns, instead of hard-coded ports that collide.
 *
 * @example
 * const server = await startRedisServer(await freePort());
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(0, '127.0.0.1', listening);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((closed) => server.close(closed));
  return port;
}
