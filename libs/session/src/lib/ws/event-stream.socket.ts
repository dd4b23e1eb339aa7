import type { ServerResponse } from 'node:http';

import { SessionSocketClose } from '../session.constants';
import { SOCKET_OPEN, SessionSocket } from './session-socket.interface';

/** `WebSocket.CLOSED`: what a finished response reads as. */
const SOCKET_CLOSED = 3;

/** How long a stream's last event may wait for a reader that does not read before the cut. */
const LAST_EVENT_GRACE_MS = 1000;

/**
 * The name of the last event of a server-sent events stream whose session ended; its data is
 * `{ status, reason }` (401: the session ended; 403: it lost the route's role).
 *
 * @example
 * source.addEventListener(SESSION_ENDED_EVENT, () => source.close());
 */
export const SESSION_ENDED_EVENT = 'session-ended';

/**
 * A server-sent events response (an `@Sse()` route) held by `SessionSockets` as a socket:
 * closing it sends a last `session-ended` event (or, before the route has answered, a JSON
 * error answer), ends the response and then drops the connection, which is what makes Nest
 * unsubscribe the route's observable, or never subscribe it (an ended response alone keeps it
 * running). The close code gives the event's `status` and the answer's (`statusOfClose`).
 */
export class EventStreamSocket implements SessionSocket {
  constructor(private readonly response: ServerResponse) {}

  get readyState(): number {
    return this.response.writableEnded || this.response.destroyed ? SOCKET_CLOSED : SOCKET_OPEN;
  }

  /** One message event whose data is `data`, line by line. */
  send(data: string): void {
    if (this.readyState === SOCKET_OPEN) {
      this.response.write(`${data.replace(/^/gm, 'data: ')}\n\n`);
    }
  }

  close(code: number = SessionSocketClose.unauthenticated, reason = ''): void {
    const response = this.response;
    if (this.readyState !== SOCKET_OPEN) {
      return;
    }
    const status = statusOfClose(code);
    const connection = response.socket;
    const cut = () => connection?.destroy();
    if (response.headersSent) {
      response.end(
        `event: ${SESSION_ENDED_EVENT}\ndata: ${JSON.stringify({ status, reason })}\n\n`,
        cut,
      );
    } else {
      // The route has not answered yet (its handler is still at work): the session ended
      // first, so the request is answered as the guard would have answered it.
      response.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
      });
      response.end(JSON.stringify({ statusCode: status, message: reason }), cut);
    }
    setTimeout(cut, LAST_EVENT_GRACE_MS).unref();
  }

  once(event: 'close', listener: () => void): this {
    this.response.once(event, listener);
    return this;
  }
}

/**
 * The HTTP status a WebSocket close code stands for on an event stream: a 4xxx code carries an
 * error status as its last three digits (4401 → 401, 4403 → 403, 4429 → 429), and the library's
 * two other codes theirs (`SessionSocketClose.storeUnavailable`, 1013 → 503; `tooMany`, 1008 →
 * 429). Any other code (1000, 3000, 4200, a status Node would refuse to write) reads as the
 * default, the session ended (401): closing a stream must never throw, and must not answer a
 * refused request with a success or a redirect.
 */
function statusOfClose(code: number): number {
  if (Number.isInteger(code) && code >= 4400 && code <= 4599) {
    return code - 4000;
  }
  if (code === SessionSocketClose.storeUnavailable) {
    return 503;
  }
  if (code === SessionSocketClose.tooMany) {
    return 429;
  }
  return SessionSocketClose.unauthenticated - 4000;
}
