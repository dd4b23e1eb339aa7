import type { RequestToken } from '../http/request-token.reader';
import { REQUEST_SESSION_PROPERTY, REQUEST_TOKEN_PROPERTY } from '../session.constants';
import type { Session } from '../session.types';

/**
 * What the library needs of a WebSocket (a `ws` `WebSocket` fits), and what it keeps on one
 * `SessionSockets.authenticate` accepted: the session (refreshed by `SessionGuard` on every
 * message) and the token it came with, under the same properties as on an HTTP request.
 *
 * @example
 * handleConnection(client: WebSocket & SessionSocket) { client.session?.userId; }
 */
export interface SessionSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  once(event: 'close', listener: () => void): unknown;
  [REQUEST_SESSION_PROPERTY]?: Session;
  [REQUEST_TOKEN_PROPERTY]?: RequestToken;
}

/** `WebSocket.OPEN` of the `ws` package and of browsers. */
export const SOCKET_OPEN = 1;
