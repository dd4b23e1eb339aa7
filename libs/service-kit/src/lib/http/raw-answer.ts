import { STATUS_CODES } from 'node:http';

/** What `rawErrorAnswer` writes besides its status. */
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
  const reason = STATUS_CODES[status] ?? 'Error';
  const body = JSON.stringify({ statusCode: status, message: options.message ?? reason });
  return (
    `HTTP/1.1 ${status} ${reason}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    (options.request === 'unknown' ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`) +
    'X-Content-Type-Options: nosniff\r\n' +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n' +
    (options.request === undefined ? body : '')
  );
}
