import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { answerWithError, rawErrorAnswer, RawErrorAnswerOptions } from './raw-answer';

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

/** A request line's start: a method, then a request target (`/…`, `*`, `http://…`). */
const REQUEST_LINE = /(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|TRACE|CONNECT) (?:\/|\*|https?:)/g;

/**
 * How the answer to a refused request reads right for its client: a `HEAD` request's has no
 * body. The refused request's line is the last one in the refused packet before the point of
 * failure (or the packet's start, for a method not of HTTP's own); the packet may start with the end of an earlier request's body (a body the answer
 * did not wait for, its end arriving with the next request), or may not hold the line at all
 * (headers that came in two packets): then the method is unknown, and the answer has neither
 * body nor length. A timeout refuses no packet: its answer keeps the body.
 */
function answerFor(
  error: NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number },
): RawErrorAnswerOptions {
  const packet = error.rawPacket;
  if (!packet?.length) return {};
  const failedAt = Math.min(error.bytesParsed ?? packet.length, packet.length);
  const text = packet.subarray(0, failedAt + 1).toString('latin1');
  // A packet that starts with a request line of a method of its own is that request.
  const method =
    [...text.matchAll(REQUEST_LINE)].at(-1)?.[1] ??
    /^([A-Z]+) /.exec(packet.toString('latin1', 0, 32))?.[1];
  if (method === undefined) return { request: 'unknown' };
  return method === 'HEAD' ? { request: 'HEAD' } : {};
}

/**
 * Answers what Node's HTTP parser refuses before any route sees it (a malformed header, an
 * oversized one, a bad `Content-Length`) as every other error is answered: JSON
 * `{ statusCode, message }`, `nosniff`, `no-store`, and the connection closed. Node's own
 * answer is a bare status line. The answer reads right for its client whatever came before the
 * refused bytes (`answerFor`): no body for `HEAD`, neither body nor length when the method is
 * not known. As Node does, nothing is written into an answer already under
 * way on the connection (its head sent), nor on a connection the client reset; a kept-alive
 * connection whose earlier answers are complete gets its answer.
 *
 * After the answer the connection is half-closed and what the client still sends (the rest of
 * its headers, its body: the parser refuses each chunk again) is read and dropped, so the
 * answer reaches a client that is still writing instead of a reset. The client closes on
 * `Connection: close`; one that goes on sending is dropped after `CLIENT_ERROR_LINGER_MS`.
 *
 * Two requests Node parses but refuses itself with a bare status, before any listener sees
 * them, get the same answer ({@link refuseAsNodeDoes}). Call it before anything but the app
 * listens for the server's requests.
 *
 * @example
 * answerClientErrors(app.getHttpServer());
 */
export function answerClientErrors(server: Server): void {
  /** The answer under way on each connection, until it is complete. */
  const answering = new WeakMap<Socket, ServerResponse>();
  /** Connections this handler answered, lingering until the client closes. */
  const answered = new WeakSet<Socket>();
  refuseAsNodeDoes(server);
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
      socket.end(rawErrorAnswer(statusOf(error), answerFor(error)));
      const linger = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
      linger.unref();
      socket.once('close', () => clearTimeout(linger));
    },
  );
}

/**
 * What Node refuses of a parsed request, refused as Node does but answered as the kit answers
 * ({@link answerWithError}): an HTTP/1.1 request without `Host` (400, unless the server was made
 * with `requireHostHeader: false`; then no `100 Continue` is sent either), then an `Expect`
 * other than `100-continue` (417). Neither reaches the app. Node answers the first before any listener; to answer it, the server's check
 * is turned off and done here, in front of the listeners the server has now (the app's).
 */
function refuseAsNodeDoes(server: Server & { requireHostHeader?: boolean }): void {
  const requireHost = server.requireHostHeader !== false;
  server.requireHostHeader = false;
  const lacksHost = (request: IncomingMessage) =>
    requireHost &&
    request.httpVersionMajor === 1 &&
    request.httpVersionMinor === 1 &&
    request.headers.host === undefined;
  const listeners = server.listeners('request');
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (lacksHost(request)) {
      answerWithError(response, 400, 'Missing Host header');
      return;
    }
    for (const listener of listeners) listener.call(server, request, response);
  });
  // With a listener for it, Node hands over the request it would answer with a bare 417.
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    if (lacksHost(request)) answerWithError(response, 400, 'Missing Host header');
    else answerWithError(response, 417, 'Only the expectation 100-continue is supported');
  });
  // Node's own handling of 100-continue (send it, then the request), after its Host check:
  // a refused request is not asked for its body.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (lacksHost(request)) {
      answerWithError(response, 400, 'Missing Host header');
      return;
    }
    response.writeContinue();
    server.emit('request', request, response);
  });
}
