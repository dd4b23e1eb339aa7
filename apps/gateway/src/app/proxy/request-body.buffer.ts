import { IncomingMessage, ServerResponse } from 'node:http';

/** A request whose body the gateway has read in full, to forward it in one piece. */
export interface BufferedRequest extends IncomingMessage {
  bufferedBody?: Buffer;
}

/**
 * Bytes of a refused body the gateway still reads before answering 413. Beyond it the client
 * is abusive: it gets its 413 at once and the connection is closed.
 */
const DRAIN_LIMIT = 8 * 1024 * 1024;

/**
 * Reads a request body of at most `limit` bytes (the limit of the service it goes to) before
 * anything is proxied, and answers 413 beyond it, declared (`Content-Length`) or streamed
 * (chunked). The body then travels to the service whole, with its length: the service never
 * has to refuse a body while the gateway is still sending it, so an early answer cannot turn
 * into a reset connection and a 502. A refused body is read to its end before the 413 goes
 * out, as body-parser does: a client still sending when the answer comes and the socket
 * closes could read a reset instead of the 413.
 *
 * @example
 * app.use('/api/auth', bufferRequestBody(bodyLimitOf('auth')));
 */
export function bufferRequestBody(limit: number) {
  return (request: BufferedRequest, response: ServerResponse, next: () => void): void => {
    const declared = request.headers['content-length'];
    if (declared === undefined && request.headers['transfer-encoding'] === undefined) {
      next();
      return;
    }
    if (Number(declared) > DRAIN_LIMIT) {
      tooLarge(response, { close: true });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = Number(declared) > limit;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT) {
        request.removeAllListeners('data');
        tooLarge(response, { close: true });
      } else if (size > limit) {
        refused = true;
        chunks.length = 0;
      } else if (!refused) {
        chunks.push(chunk);
      }
    });
    request.on('end', () => {
      if (refused) {
        tooLarge(response, { close: false });
        return;
      }
      request.bufferedBody = Buffer.concat(chunks, size);
      request.headers['content-length'] = String(size);
      delete request.headers['transfer-encoding'];
      next();
    });
  };
}

function tooLarge(response: ServerResponse, { close }: { close: boolean }): void {
  if (response.headersSent) return;
  response.writeHead(413, {
    'content-type': 'application/json; charset=utf-8',
    ...(close && { connection: 'close' }),
  });
  response.end(JSON.stringify({ statusCode: 413, message: 'Request body too large' }));
}
