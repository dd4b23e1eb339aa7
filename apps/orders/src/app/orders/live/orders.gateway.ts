import { IncomingMessage } from 'node:http';
import { forwardRef, Inject, UseFilters, UseGuards } from '@nestjs/common';
import {
  OnGatewayConnection,
  SubscribeMessage,
  WebSocketGateway,
  WsResponse,
} from '@nestjs/websockets';
import type { WebSocket } from 'ws';

import {
  CurrentUser,
  Roles,
  SessionGuard,
  SessionSocket,
  SessionSockets,
  SessionUser,
} from '@cloakroom/session';

import { Order } from '../entities/order.entity';
import { OrdersService } from '../orders.service';
import { SocketLimits } from './flow-controlled-ws.adapter';
import { SocketErrorFilter } from './socket-error.filter';

/** `WebSocket.OPEN`. */
const OPEN = 1;

/**
 * What one socket of the gateway may ask of the server (`FlowControlledWsAdapter`): 4 messages
 * in hand, and 1 MiB of what it was sent (answers and pushed orders) left unread.
 */
export const LIVE_SOCKET_LIMITS: SocketLimits = { maxInFlight: 4, maxUnreadBytes: 1024 * 1024 };

/**
 * `GET /api/orders/ws`: a live feed of the caller's orders. The handshake is authenticated by
 * `SessionSockets` (cookie with an allowed `Origin`, or `Authorization: Bearer`; otherwise the
 * socket closes with 4401), which also closes the socket with 4401 once its session ends; a
 * user's sockets past the 32nd are closed with 1008 (`sockets.maxPerUser`).
 * Each order placed, over REST or GraphQL, goes to every open socket of its owner as
 * `{"type":"order","order":{...}}`. A client may ask for the newest orders it may see with
 * `{"event":"recent"}` (answer `{"event":"recent","data":[...]}`), under the REST list's roles,
 * checked by `SessionGuard` on every message; a failure answers an `exception` frame
 * (`SocketErrorFilter`: 503 while the database is out of reach). The guard is bound here: Nest's
 * `APP_GUARD` does not reach WebSocket gateways, nor do global filters.
 *
 * Only a message keeps the session alive: its validation slides the idle timeout, as a request
 * does. An open socket, its pings and the orders pushed to it do not (pushes read the session
 * without sliding it), so a socket left quiet closes with 4401 when its session idles out.
 */
// The only message a client sends is `{"event":"recent"}`: larger frames close the socket (1009).
@WebSocketGateway({ path: '/api/orders/ws', maxPayload: 4096 })
@UseGuards(SessionGuard)
@UseFilters(SocketErrorFilter)
export class OrdersGateway implements OnGatewayConnection<WebSocket> {
  constructor(
    private readonly sockets: SessionSockets,
    @Inject(forwardRef(() => OrdersService)) private readonly orders: OrdersService,
  ) {}

  async handleConnection(
    client: WebSocket & SessionSocket,
    request: IncomingMessage,
  ): Promise<void> {
    await this.sockets.authenticate(client, request);
  }

  @SubscribeMessage('recent')
  @Roles('customer', 'admin')
  async recent(@CurrentUser() user: SessionUser): Promise<WsResponse<Order[]>> {
    return { event: 'recent', data: (await this.orders.list(user)).items };
  }

  /**
   * Sends a new order to its owner's sockets; never fails the request that placed it. Only to
   * sockets whose session the store holds live after the order was stored
   * (`SessionSockets.liveSocketsOf`, one read per session, sliding no idle timeout): a socket
   * is closed by its session's lifecycle event, which may arrive after a revocation was
   * answered, or not at all (a gap in the events), and until then it would hear of orders
   * placed after its session ended. Those sockets are closed instead (4401; 1013 when the store
   * does not answer).
   *
   * A socket with more than `maxUnreadBytes` of its frames unread is terminated rather than
   * sent one more: otherwise every order its owner places would queue in the server's memory,
   * once per socket, for a client that never reads (a close frame would wait behind them, as
   * in the adapter).
   */
  orderPlaced(order: Order): void {
    const frame = JSON.stringify({ type: 'order', order });
    void this.sockets.liveSocketsOf(order.userId).then((live) => {
      // Only `handleConnection` registers sockets here: each is a `ws` WebSocket.
      for (const socket of live as Array<WebSocket & SessionSocket>) {
        if (socket.readyState !== OPEN) {
          continue;
        }
        if (socket.bufferedAmount > LIVE_SOCKET_LIMITS.maxUnreadBytes) {
          socket.terminate();
        } else {
          socket.send(frame);
        }
      }
    });
  }
}
