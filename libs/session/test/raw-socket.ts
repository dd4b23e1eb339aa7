import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';

import { Injectable } from '@nestjs/common';
import { OnGatewayConnection } from '@nestjs/websockets';
import { WebSocket } from 'ws';

import { SessionSockets } from '../src';

/**
 * The base of a test gateway on `@nestjs/platform-ws` (raw WebSockets): it hands every
 * connection to `SessionSockets.authenticate`, which closes it with 4401 or keeps its session
 * current. The test's class adds `@UseGuards(SessionGuard)`, `@WebSocketGateway(...)` and the
 * messages it answers.
 *
 * @example
 * class FixtureGateway extends AuthenticatingGateway {
 *   ping() {
 *     return { event: 'pong', data: null };
 *   }
 * }
 */
@Injectable()
export abstract class AuthenticatingGateway implements OnGatewayConnection {
  constructor(private readonly sockets: SessionSockets) {}

  handleConnection(client: WebSocket, upgrade: IncomingMessage) {
    return this.sockets.authenticate(client, upgrade);
  }
}

/** A message as `@nestjs/platform-ws` frames it. */
export interface SocketMessage {
  event: string;
  data: unknown;
}

/** A raw WebSocket client of a test gateway. */
export interface SocketConnection {
  socket: WebSocket;
  /** Resolves with the close code and reason, and when (`performance.now()`) they arrived. */
  closed: Promise<{ code: number; reason: string; at: number }>;
  /** Resolves once open, or rejects if the socket fails first. */
  opened: Promise<void>;
  /** The next message not read yet, in the order they arrived: waits for one if none is left. */
  next(): Promise<SocketMessage>;
}

/**
 * Opens a raw WebSocket with these handshake headers and keeps the messages it receives until
 * the test reads them. Terminating the socket when the test ends is the caller's part.
 *
 * @example
 * const connection = connectSocket(url, { authorization: `Bearer ${token}` });
 * connection.socket.send(JSON.stringify({ event: 'whoami', data: {} }));
 * expect((await connection.next()).event).toBe('whoami');
 */
export function connectSocket(url: string, headers: Record<string, string>): SocketConnection {
  const socket = new WebSocket(url, { headers });
  const inbox: SocketMessage[] = [];
  const waiting: ((message: SocketMessage) => void)[] = [];
  socket.on('message', (raw) => {
    const message = JSON.parse(String(raw));
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else inbox.push(message);
  });
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    socket.once('close', (code, reason) =>
      resolve({ code, reason: String(reason), at: performance.now() }),
    ),
  );
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  // Awaited or not: a socket that fails unawaited shows in `closed`, not as an unhandled rejection.
  opened.catch(() => undefined);
  return {
    socket,
    closed,
    opened,
    next: () => {
      const message = inbox.shift();
      return message ? Promise.resolve(message) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}
