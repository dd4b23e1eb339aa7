import { IncomingMessage } from 'node:http';
import { forwardRef, Inject, UseGuards } from '@nestjs/common';
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

/** `WebSocket.OPEN`. */
const OPEN = 1;

/**
 * `GET /api/orders/ws`: a live feed of the caller's orders. The handshake is authenticated by
 * `SessionSockets` (cookie with an allowed `Origin`, or `Authorization: Bearer`; otherwise the
 * socket closes with 4401), which also closes the socket with 4401 once its session ends.
 * Each order placed, over REST or GraphQL, goes to every open socket of its owner as
 * `{"type":"order","order":{...}}`. A client may ask for the newest orders it may see with
 * `{"event":"recent"}` (answer `{"event":"recent","data":[...]}`), under the REST list's roles,
 * checked by `SessionGuard` on every message. The guard is bound here: Nest's `APP_GUARD`
 * does not reach WebSocket gateways.
 */
// The only message a client sends is `{"event":"recent"}`: larger frames close the socket (1009).
@WebSocketGateway({ path: '/api/orders/ws', maxPayload: 4096 })
@UseGuards(SessionGuard)
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

  /** Sends a new order to its owner's sockets; never fails the request that placed it. */
  orderPlaced(order: Order): void {
    const frame = JSON.stringify({ type: 'order', order });
    for (const socket of this.sockets.socketsOf(order.userId)) {
      if (socket.readyState === OPEN) {
        socket.send(frame);
      }
    }
  }
}
