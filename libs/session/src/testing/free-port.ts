import { AddressInfo, connect, createServer } from 'node:net';

/**
 * Ports this process handed out. The OS may give a port again as soon as its probe closed,
 * before the app it was meant for listens on it (one in eight of 2000 probes in a row here):
 * two apps of one stack then get the same port and one of them cannot start.
 */
const handedOut = new Set<number>();

/** Probes in a row that may all answer ports already handed out before giving up. */
const MAX_PROBES = 1000;

/**
 * A loopback TCP port that was free a moment ago (the OS picks it: listen on port 0, then the
 * probe closes) and that this process has not handed out before, for a server a test starts,
 * instead of hard-coded ports that collide.
 *
 * @example
 * const env = { ORDERS_PORT: String(await freePort()) };
 */
export async function freePort(): Promise<number> {
  for (let probe = 0; probe < MAX_PROBES; probe++) {
    const port = await probePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no port left that this process has not handed out (${handedOut.size} so far)`);
}

/** A port the OS picks for a listener on port 0, closed again at once. */
async function probePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(0, '127.0.0.1', listening);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((closed) => server.close(closed));
  return port;
}

/**
 * Whether something accepts connections on the loopback `port` now: a server a test stopped,
 * or one still starting, does not.
 *
 * @example
 * await until(async () => !(await isAccepting(port)));
 */
export function isAccepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
