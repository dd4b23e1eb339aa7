import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';

import { clientNetwork, clientSite, NETWORKS_PER_SITE } from '@cloakroom/service-kit';

import { TrustedProxies } from './trusted-proxies';

/** At most one warning about refused connections per this many milliseconds. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Holds at most `perClient` open connections of one client network (an IPv4 address, an IPv6
 * /64, as the login throttle counts them), and at most `NETWORKS_PER_SITE` times `perClient` of
 * one IPv6 site (a /48, the block one customer may be given: 65,536 /64s) across all its /64s; a
 * connection past either is closed as it arrives, before anything is read from it, and one
 * warning per 10 s says how many were. `0` limits nothing.
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
  /** Open connections by client network and by IPv6 site (a /48 key is never a network's). */
  const open = new Map<string, number>();
  const logger = new Logger('ClientConnections');
  let refused = 0;
  let warnedAt = -Infinity;
  server.on('connection', (socket: Socket) => {
    if (proxies.trusts(socket.remoteAddress)) return;
    const address = socket.remoteAddress ?? '';
    const site = clientSite(address);
    const counted: { key: string; cap: number }[] = [
      { key: clientNetwork(address), cap: perClient },
      ...(site === undefined ? [] : [{ key: site, cap: perClient * NETWORKS_PER_SITE }]),
    ];
    const full = counted.find(({ key, cap }) => (open.get(key) ?? 0) >= cap);
    if (full) {
      socket.destroy();
      refused += 1;
      // Monotonic: a host clock set back would otherwise silence the warning for as long.
      if (performance.now() - warnedAt >= REFUSAL_LOG_INTERVAL_MS) {
        warnedAt = performance.now();
        logger.warn(
          `Closed ${refused} connection(s) of clients past ${perClient} open connections ` +
            `(CONNECTIONS_PER_CLIENT; ${NETWORKS_PER_SITE}× that for an IPv6 /48) since the ` +
            `last such warning, the last from ${full.key}`,
        );
        refused = 0;
      }
      return;
    }
    for (const { key } of counted) open.set(key, (open.get(key) ?? 0) + 1);
    socket.once('close', () => {
      for (const { key } of counted) {
        const left = (open.get(key) ?? 1) - 1;
        if (left > 0) open.set(key, left);
        else open.delete(key);
      }
    });
  });
}
