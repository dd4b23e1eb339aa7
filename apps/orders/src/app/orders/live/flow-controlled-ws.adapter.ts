import { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { MessageMappingProperties } from '@nestjs/websockets';
import { EMPTY, finalize, isObservable, Observable } from 'rxjs';
import type { WebSocket } from 'ws';

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
}
