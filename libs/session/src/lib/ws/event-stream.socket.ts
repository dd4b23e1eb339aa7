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
 * 401/403), ends the response and then drops the connection, which is what makes Nest
 * unsubscribe the route's observable, or never subscribe it (an ended response alone keeps it
 * running).
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
    const status = code >= 4000 ? code - 4000 : code;
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
