import { ArgumentsHost, Catch, Logger, WsExceptionFilter } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import type { WebSocket } from 'ws';

import { isDatabaseUnavailable } from '@cloakroom/service-kit';

/** `WebSocket.OPEN`. */
const OPEN = 1;

/**
 * Tells the socket whose message failed in its handler, with an `exception` frame as
 * `SessionGuard` refuses a message (`{"event":"exception","data":{status, message, pattern}}`):
 * Nest's own WebSocket filter writes nothing to a `ws` socket, so the client waited for its
 * answer for ever. A database that cannot be reached or does not answer in time is a 503
 * `database_unavailable` (the health check reports it); anything else is a 500 that is logged
 * with its stack and sent without a word of its cause. A `WsException` is the guard's refusal,
 * which told the client already (a frame, or the socket closed): nothing more is sent.
 *
 * @example
 * @WebSocketGateway({ path: '/api/orders/ws' })
 * @UseFilters(SocketErrorFilter)
 * export class OrdersGateway {}
 */
@Catch()
export class SocketErrorFilter implements WsExceptionFilter {
  private readonly logger = new Logger(SocketErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    if (exception instanceof WsException) {
      return;
    }
    const ws = host.switchToWs();
    const client = ws.getClient<WebSocket>();
    let failure: { status: number; message: string; error?: string };
    if (isDatabaseUnavailable(exception)) {
      failure = { status: 503, message: 'Database unavailable', error: 'database_unavailable' };
    } else {
      this.logger.error(exception instanceof Error ? exception.stack : String(exception));
      failure = { status: 500, message: 'Internal server error' };
    }
    if (client.readyState === OPEN) {
      client.send(
        JSON.stringify({ event: 'exception', data: { ...failure, pattern: ws.getPattern() } }),
      );
    }
  }
}
