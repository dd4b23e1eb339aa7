import { createServer, IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { MessageMappingProperties } from '@nestjs/websockets';
import { EMPTY, finalize, isObservable, Observable } from 'rxjs';
import type { WebSocket, WebSocketServer } from 'ws';

import { rawErrorAnswer } from '@cloakroom/service-kit';

/** Limits on what one socket may ask of the server, for {@link FlowControlledWsAdapter}. */
export interface SocketLimits {
  /** Messages being handled at once; one more closes the socket. */
  maxInFlight: number;
  /**
   * Answers (pongs included) queued for a client that does not read them, in bytes; past it,
   * the socket is dropped.
   */
  maxUnreadBytes: number;
}

/** The close code of a socket that broke its limits: RFC 6455's policy violation. */
export const POLICY_VIOLATION = 1008;

/** The close code of every socket when the service stops: RFC 6455's going away. */
export const GOING_AWAY = 1001;

/**
 * Nest's `ws` adapter, with limits per socket: Nest starts every message a socket sends at once
 * (each one a session check against Redis, then the handler), and sends every answer however
 * much the client leaves unread. Here a socket with `maxInFlight` messages still being handled
 * that sends another, or with more than `maxUnreadBytes` of answers waiting, is closed with
 * 1008: a well-behaved client waits for its answers, and one that floods cannot queue work for
 * everyone else's session checks or grow the server's memory. A socket with more than
 * `maxUnreadBytes` waiting is terminated instead of closed, whether it sends a message or a
 * ping (pongs count as answers): a close frame would reach it only after everything it left
 * unread, and the socket would stay open until the close timed out.
 *
 * An upgrade to a path that no `@WebSocketGateway` serves gets a JSON 404, as an unknown route
 * does. `goAway()` closes every socket with 1001 (going away), when the service stops.
 *
 * @example
 * app.useWebSocketAdapter(new FlowControlledWsAdapter(app, { maxInFlight: 4, maxUnreadBytes: 1 << 20 }));
 */
export class FlowControlledWsAdapter extends WsAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly limits: SocketLimits,
  ) {
    super(app);
  }

  override bindMessageHandlers(
    client: WebSocket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    // `ws` answers every ping with a pong of its own, unread or not, so the limit on unread
    // answers is checked on pings too.
    client.on('ping', () => {
      if (client.bufferedAmount > this.limits.maxUnreadBytes) client.terminate();
    });
    let inFlight = 0;
    const settle = () => {
      inFlight--;
    };
    const limited = handlers.map((handler) => ({
      ...handler,
      callback: (...args: unknown[]): Observable<unknown> | Promise<unknown> => {
        if (client.bufferedAmount > this.limits.maxUnreadBytes) {
          // Its close frame would wait behind the answers it does not read (as with pongs).
          client.terminate();
          return EMPTY;
        }
        if (inFlight >= this.limits.maxInFlight) {
          client.close(POLICY_VIOLATION, 'Too many requests');
          return EMPTY;
        }
        inFlight++;
        let result: Observable<unknown> | Promise<unknown>;
        try {
          result = handler.callback(...args);
        } catch (error) {
          settle();
          throw error;
        }
        return isObservable(result) ? result.pipe(finalize(settle)) : result.finally(settle);
      },
    }));
    super.bindMessageHandlers(client, limited, transform);
  }

  /**
   * Closes every open socket with 1001 (going away) and resolves once they are all closed: what
   * the service does at a shutdown signal (`stopping` in `ordersService`). Later, Nest's own
   * shutdown ends them without a close frame (Apollo's drain, then `WsAdapter.close`):
   * clients, through the gateway too, saw 1006, which a restart should not look like. A client
   * that does not answer the close is cut off once the drain time is over.
   */
  async goAway(): Promise<void> {
    const servers: PathServer[] = [...this.wsServersRegistry.values()].flat();
    const clients = servers.flatMap((server) => [...server.clients]);
    await Promise.all(
      clients.map(
        (client) =>
          new Promise<void>((resolve) => {
            if (client.readyState === client.CLOSED) return resolve();
            client.once('close', () => resolve());
            client.close(GOING_AWAY, 'Server shutting down');
          }),
      ),
    );
  }

  /**
   * Nest's dispatch of upgrades to its `ws` servers by path, but for an upgrade that none
   * takes: Nest destroys its connection without a word (through the gateway, the client got
   * no HTTP answer at all), where it gets the JSON error of every other answer.
   */
  protected override ensureHttpServerExists(
    port: number,
    httpServer: Server = createServer(),
  ): Server | undefined {
    if (this.httpServersRegistry.has(port)) {
      return undefined;
    }
    this.httpServersRegistry.set(port, httpServer);
    httpServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      let pathname: string;
      try {
        pathname = new URL(request.url ?? '/', `ws://${request.headers.host}/`).pathname;
      } catch {
        socket.end(rawErrorAnswer(400));
        return;
      }
      const servers: PathServer[] = this.wsServersRegistry.get(port) ?? [];
      const server = servers.find((candidate) => candidate.path === pathname);
      if (!server) {
        socket.end(rawErrorAnswer(404));
        return;
      }
      server.handleUpgrade(request, socket, head, (client) =>
        server.emit('connection', client, request),
      );
    });
    return httpServer;
  }
}

/** A gateway's `ws` server, with the path Nest's registry gives it. */
type PathServer = WebSocketServer & { path: string };
