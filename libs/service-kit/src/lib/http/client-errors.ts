import { STATUS_CODES } from 'node:http';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

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
 * answer is a bare status line. As Node does, nothing is written on a connection that has
 * already carried an answer, nor on one the client reset.
 *
 * @example
 * answerClientErrors(app.getHttpServer());
 */
export function answerClientErrors(server: Server): void {
  server.on(
    'clientError',
    (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
      if (error.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
        socket.destroy();
        return;
      }
      const status = statusOf(error);
      const reason = STATUS_CODES[status] ?? 'Bad Request';
      const body = JSON.stringify({ statusCode: status, message: reason });
      // The answer to a HEAD request has no body: a client reads any as garbage.
      const head = error.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\n` +
          'Content-Type: application/json; charset=utf-8\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          'X-Content-Type-Options: nosniff\r\n' +
          'Cache-Control: no-store\r\n' +
          'Connection: close\r\n\r\n' +
          (head ? '' : body),
      );
    },
  );
}
