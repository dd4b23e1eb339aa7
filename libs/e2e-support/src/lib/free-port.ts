import { AddressInfo, createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for an app under test to listen on.
 *
 * @example
 * const env = { ORDERS_PORT: String(await freePort()) };
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
