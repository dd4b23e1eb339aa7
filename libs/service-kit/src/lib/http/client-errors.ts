import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { rawErrorAnswer } from './raw-answer';

/** How long a refused client may go on sending after the answer before its connection drops. */
export const CLIENT_ERROR_LINGER_MS = 2_000;

/** The status Node itself would answer for what its HTTP parser refused. */
function statusOf(error: NodeJS.ErrnoException): number {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

/**
 * Answers what Node's HTTP parser refuses before any route sees it (a malformed header, an
 * oversized one, a bad `Content-Length`) as every other error is answered: JSON
 * `{ statusCode, message }`, `nosniff`, `no-store`, and the connection closed. Node's own
 * answer is a bare status line. As Node does, nothing is written into an answer already under
 * way on the connection (its head sent), nor on a connection the client reset; a kept-alive
 * connection whose earlier answers are complete gets its answer.
 *
 * After the answer the connection is half-closed and what the client still sends (the rest of
 * its headers, its body: the parser refuses each chunk again) is read and dropped, so the
 * answer reaches a client that is still writing instead of a reset. The client closes on
 * `Connection: close`; one that goes on sending is dropped after `CLIENT_ERROR_LINGER_MS`.
 *
 * @example
 * answerClientErrors(app.getHttpServer());
 */
export function answerClientErrors(server: Server): void {
  /** The answer under way on each connection, until it is complete. */
  const answering = new WeakMap<Socket, ServerResponse>();
  /** Connections this handler answered, lingering until the client closes. */
  const answered = new WeakSet<Socket>();
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const { socket } = request;
    answering.set(socket, response);
    response.once('close', () => {
      if (answering.get(socket) === response) answering.delete(socket);
    });
  });
  server.on(
    'clientError',
    (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
      if (answered.has(socket)) {
        return;
      }
      if (error.code === 'ECONNRESET' || !socket.writable || answering.get(socket)?.headersSent) {
        socket.destroy();
        return;
      }
      answered.add(socket);
      // The answer to a HEAD request has no body: a client reads any as garbage ("data after
      // Connection: close"). A refused packet may not start at the request line (a request
      // whose headers came in two packets, or the leftovers of an earlier body): then the
      // method is unknown, and no body is the answer that reads right either way. A timeout
      // refuses no packet: its answer keeps the body.
      const start = error.rawPacket?.subarray(0, 16).toString('latin1') ?? '';
      const head = start !== '' && (!/^[A-Z]+ /.test(start) || start.startsWith('HEAD '));
      socket.end(rawErrorAnswer(statusOf(error), { body: !head }));
      const linger = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
      linger.unref();
      socket.once('close', () => clearTimeout(linger));
    },
  );
}
