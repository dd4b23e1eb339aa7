import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AddressInfo, connect, createServer } from 'node:net';

/**
 * Ports this process handed out: a port probed free may be picked again before the app it was
 * meant for listens on it, and two apps of one stack would then get the same port.
 */
const handedOut = new Set<number>();

/** Probes in a row that may all answer ports already handed out before giving up. */
const MAX_PROBES = 1000;

/**
 * A loopback TCP port that was free a moment ago (see `probePort`) and that this process has
 * not handed out before, for a server a test starts, instead of hard-coded ports that collide.
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

/**
 * The first port of the range the OS hands out by itself (Linux's `ip_local_port_range`; 32768
 * when it cannot be read): to a listener on port 0, and to every outgoing connection as its
 * local port.
 */
function ephemeralStart(): number {
  try {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/);
    const port = Number(start);
    return Number.isInteger(port) && port > 0 ? port : DEFAULT_EPHEMERAL_START;
  } catch {
    return DEFAULT_EPHEMERAL_START;
  }
}

const DEFAULT_EPHEMERAL_START = 32768;
/** Below it are the well-known services tests talk to (Redis 6379, PostgreSQL 5432, ...). */
const LOWEST_PROBED = 15000;

/**
 * A port free at the moment, picked at random below the OS's own range. Ports the OS picks
 * (listen on port 0) were the same in processes probing at the same moment, and were the next
 * local port of some outgoing connection (a client of Redis, of a service): test files run in
 * parallel handed one port to two apps, or an app's port was taken by a connection before it
 * listened, and the app started second could not, while its test talked to the other. Picked
 * at random from thousands of ports no connection takes, two processes meet on one only by
 * chance, and rarely.
 */
async function probePort(): Promise<number> {
  const highest = ephemeralStart() - 1;
  if (highest - LOWEST_PROBED < 1000) return osPickedPort();
  for (;;) {
    const port = randomInt(LOWEST_PROBED, highest + 1);
    if (await canListen(port)) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port the OS picks for a listener on port 0, closed again at once. */
async function osPickedPort(): Promise<number> {
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
