import { ServerResponse, STATUS_CODES } from 'node:http';

/**
 * What `rawErrorAnswer` writes besides its status.
 *
 * @example
 * socket.end(rawErrorAnswer(400, { message: 'A WebSocket handshake has no body' }));
 * socket.end(rawErrorAnswer(431, { request: 'HEAD' }));
 */
export interface RawErrorAnswerOptions {
  /** The body's `message`; the status's reason phrase by default. */
  message?: string;
  /**
   * The request answered, when it is not one whose answer carries the JSON body:
   * - `HEAD`: no body (a client would read one as garbage); `Content-Length` still states the
   *   body's length, as for `HEAD`;
   * - `unknown`: a request whose method is not known: neither body nor `Content-Length`, so the
   *   answer ends where the connection does, and a `HEAD` client and any other read it whole
   *   (with a length and no body, any other client reads a cut answer).
   */
  request?: 'HEAD' | 'unknown';
  /** The methods the target serves, sent as `Allow` (a 405 must carry it: RFC 9110 §15.5.6). */
  allow?: readonly string[];
}

/** The status line's reason, the headers and the body of every error answer no filter writes. */
function errorAnswerOf(
  status: number,
  options: RawErrorAnswerOptions,
): { reason: string; headers: [string, string][]; body: string } {
  const reason = STATUS_CODES[status] ?? 'Error';
  const body = JSON.stringify({ statusCode: status, message: options.message ?? reason });
  const headers: [string, string][] = [
    ['Content-Type', 'application/json; charset=utf-8'],
    ...(options.request === 'unknown'
      ? []
      : [['Content-Length', String(Buffer.byteLength(body))] as [string, string]]),
    ['X-Content-Type-Options', 'nosniff'],
    ['Cache-Control', 'no-store'],
    ['Connection', 'close'],
    ...(options.allow ? [['Allow', options.allow.join(', ')] as [string, string]] : []),
  ];
  return { reason, headers, body: options.request === undefined ? body : '' };
}

/**
 * An error answer written straight to a socket, for requests that no response object will
 * answer (refused by Node's HTTP parser, a WebSocket upgrade no one takes), as every other
 * error is answered: JSON `{ statusCode, message }`, `nosniff`, `no-store`. It closes the
 * connection (`Connection: close`): send it with `socket.end`.
 *
 * @example
 * socket.end(rawErrorAnswer(404));
 */
export function rawErrorAnswer(status: number, options: RawErrorAnswerOptions = {}): string {
  const { reason, headers, body } = errorAnswerOf(status, options);
  const head = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${status} ${reason}\r\n${head}\r\n${body}`;
}

/**
 * The same answer as {@link rawErrorAnswer}, through the response Node made for a request it
 * refuses before any listener of the app sees it (an `Expect` it cannot meet, no `Host`), so
 * that it comes after the answers already under way on the connection, and closes it. Node
 * leaves the body out for `HEAD`.
 *
 * @example
 * server.on('checkExpectation', (_request, response) => answerWithError(response, 417));
 */
export function answerWithError(response: ServerResponse, status: number, message?: string): void {
  const { reason, headers, body } = errorAnswerOf(status, { message });
  response.writeHead(status, reason, Object.fromEntries(headers)).end(body);
}
