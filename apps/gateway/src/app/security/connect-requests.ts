import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

import { rawErrorAnswer } from '@cloakroom/service-kit';

import { owesAnswers, trackOwedAnswers } from './pipelined-requests';

/** The methods the gateway serves: the `Allow` of its answer to a `CONNECT`. */
const SERVED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** How long a refused client may go on sending after the answer before its connection drops. */
export const CONNECT_LINGER_MS = 2_000;

/**
 * Answers every `CONNECT` (a request for a tunnel, which the gateway, no forward proxy, never
 * opens) with a JSON 405 that names the methods it serves in `Allow`, and closes the
 * connection. Node hands a `CONNECT` to the server's `connect` listeners with its socket taken
 * off the HTTP parser and its timeouts, and without one drops the connection unanswered.
 *
 * A `CONNECT` pipelined behind requests not yet answered has its connection closed, as an
 * upgrade has: the 405 would go out before their answers, which still hold the socket. What the
 * client sends after the request (a tunnel's first bytes, a body) is read and dropped, never
 * parsed: closed with bytes unread, the connection would be reset and the answer could be lost.
 * A client that goes on sending is dropped after {@link CONNECT_LINGER_MS}, so that the
 * connection does not outlive the answer and stays counted against its client (see
 * `limitConnectionsPerClient`) only until then.
 *
 * @example
 * refuseConnectRequests(app.getHttpServer());
 */
export function refuseConnectRequests(server: Server): void {
  trackOwedAnswers(server);
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    // Node takes its own error listener off the socket it hands over: a client that resets
    // the connection while the answer is written would otherwise stop the gateway.
    socket.on('error', () => socket.destroy());
    if (owesAnswers(socket)) {
      socket.destroy();
      return;
    }
    socket.end(
      rawErrorAnswer(405, { message: 'CONNECT is not served here', allow: SERVED_METHODS }),
    );
    socket.resume();
    const linger = setTimeout(() => socket.destroy(), CONNECT_LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  });
}
