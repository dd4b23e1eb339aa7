import { IncomingMessage, ServerResponse } from 'node:http';

import { TrustedProxies } from '../security/trusted-proxies';
import { BodyMemory } from './body-memory';

/** A request whose body the gateway has read in full, to forward it in one piece. */
export interface BufferedRequest extends IncomingMessage {
  bufferedBody?: Buffer;
}

/**
 * Bytes of a refused body the gateway still reads (and drops) before answering. Beyond it the
 * client is abusive: it gets a 413 at once and the connection is closed.
 */
const DRAIN_LIMIT = 8 * 1024 * 1024;

/**
 * Reads a request body of at most `limit` bytes (the limit of the service it goes to) before
 * anything is proxied, and answers 413 beyond it, declared (`Content-Length`) or streamed
 * (chunked). The body then travels to the service whole, with its length: the service never
 * has to refuse a body while the gateway is still sending it, so an early answer cannot turn
 * into a reset connection and a 502. A refused body is read to its end before the answer goes
 * out, as body-parser does: a client still sending when the answer comes and the socket
 * closes could read a reset instead of it.
 *
 * What a body holds of the gateway's memory is taken from `memory` as it arrives, from the share
 * of its client (behind a proxy in `proxies`, the client that proxy names), and given back when
 * the exchange is over: a body its client's share cannot hold is answered 429, one the
 * gateway's whole budget cannot hold 503, both with `Retry-After: 1`; such a body is read and
 * dropped, never held. (How long a client may take to send is `HTTP_REQUEST_TIMEOUT`.)
 *
 * @example
 * app.use('/api/auth', bufferRequestBody(bodyLimitOf('auth'), memory, proxies));
 */
export function bufferRequestBody(limit: number, memory: BodyMemory, proxies: TrustedProxies) {
  return (request: BufferedRequest, response: ServerResponse, next: () => void): void => {
    const declared = request.headers['content-length'];
    if (declared === undefined && request.headers['transfer-encoding'] === undefined) {
      next();
      return;
    }
    if (Number(declared) > DRAIN_LIMIT) {
      refuse(response, TOO_LARGE, { close: true });
      return;
    }
    const hold = memory.holdFor(proxies.clientOf(request));
    response.once('close', hold.release);
    const chunks: Buffer[] = [];
    let size = 0;
    let refusal: Refusal | undefined = Number(declared) > limit ? TOO_LARGE : undefined;
    // A body over the limit is a 413 whatever else refused it: sending it again cannot help.
    const drop = (why: Refusal) => {
      refusal = why === TOO_LARGE ? why : (refusal ?? why);
      chunks.length = 0;
      hold.release();
    };
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT) {
        request.removeAllListeners('data');
        request.removeAllListeners('end');
        drop(TOO_LARGE);
        refuse(response, TOO_LARGE, { close: true });
      } else if (size > limit) {
        drop(TOO_LARGE);
      } else if (!refusal) {
        const spent = hold.take(chunk.length);
        if (spent) drop(spent === 'client' ? CLIENT_BUSY : GATEWAY_BUSY);
        else chunks.push(chunk);
      }
    });
    request.on('end', () => {
      if (refusal) {
        refuse(response, refusal, { close: false });
        return;
      }
      request.bufferedBody = Buffer.concat(chunks, size);
      request.headers['content-length'] = String(size);
      delete request.headers['transfer-encoding'];
      next();
    });
  };
}

interface Refusal {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

const TOO_LARGE: Refusal = { status: 413, message: 'Request body too large' };
const CLIENT_BUSY: Refusal = {
  status: 429,
  message: 'Too many request bodies in flight from this client',
  headers: { 'retry-after': '1' },
};
const GATEWAY_BUSY: Refusal = {
  status: 503,
  message: 'The gateway is busy',
  headers: { 'retry-after': '1' },
};

function refuse(response: ServerResponse, refusal: Refusal, { close }: { close: boolean }): void {
  if (response.headersSent) return;
  const body = JSON.stringify({ statusCode: refusal.status, message: refusal.message });
  response.writeHead(refusal.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...refusal.headers,
    ...(close && { connection: 'close' }),
  });
  response.end(body);
}
