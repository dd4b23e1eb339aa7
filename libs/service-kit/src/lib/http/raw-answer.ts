import { STATUS_CODES } from 'node:http';

/** What `rawErrorAnswer` writes besides its status. */
export interface RawErrorAnswerOptions {
  /** The body's `message`; the status's reason phrase by default. */
  message?: string;
  /**
   * Whether the body is written (true by default). The answer to a `HEAD` request has none: a
   * client reads any as garbage; `Content-Length` still states the body's length, as for `HEAD`.
   */
  body?: boolean;
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
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'X-Content-Type-Options: nosniff\r\n' +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n' +
    (options.body === false ? '' : body)
  );
}
