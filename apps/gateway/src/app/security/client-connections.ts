import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';

import { clientNetwork } from '@cloakroom/service-kit';

import { TrustedProxies } from './trusted-proxies';

/** At most one warning about refused connections per this many milliseconds. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Holds at most `perClient` open connections of one client network (an IPv4 address, an IPv6
 * /64, as the login throttle counts them); a connection past it is closed as it arrives, before
 * anything is read from it, and one warning per 10 s says how many were. `0` limits nothing.
 *
 * The deadlines of `HTTP_HEADERS_TIMEOUT` and `HTTP_REQUEST_TIMEOUT` end a slow request, not a
 * client that keeps sending small requests in time on thousands of connections: without a cap,
 * one host could take every file descriptor of the gateway, which then could neither accept
 * anyone else nor reach the services. A browser opens six connections to an origin; the cap is
 * for a whole network, offices and carrier NATs included. A connection from a proxy in
 * `proxies` is not counted: it carries the requests of many clients, whom the gateway cannot
 * tell apart before it has read a request (the proxy's own limits are what hold them back).
 *
 * @example
 * limitConnectionsPerClient(app.getHttpServer(), 256, new TrustedProxies('10.0.0.7'));
 */
export function limitConnectionsPerClient(
  server: Server,
  perClient: number,
  proxies: TrustedProxies,
): void {
  if (perClient === 0) return;
  const open = new Map<string, number>();
  const logger = new Logger('ClientConnections');
  let refused = 0;
  let warnedAt = -Infinity;
  server.on('connection', (socket: Socket) => {
    if (proxies.trusts(socket.remoteAddress)) return;
    const client = clientNetwork(socket.remoteAddress ?? '');
    const count = open.get(client) ?? 0;
    if (count >= perClient) {
      socket.destroy();
      refused += 1;
      if (Date.now() - warnedAt >= REFUSAL_LOG_INTERVAL_MS) {
        warnedAt = Date.now();
        logger.warn(
          `Closed ${refused} connection(s) of clients past ${perClient} open connections ` +
            `(CONNECTIONS_PER_CLIENT) since the last such warning, the last from ${client}`,
        );
        refused = 0;
      }
      return;
    }
    open.set(client, count + 1);
    socket.once('close', () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left > 0) open.set(client, left);
      else open.delete(client);
    });
  });
}
