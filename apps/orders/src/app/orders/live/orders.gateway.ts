import { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { forwardRef, Inject, UseFilters, UseGuards } from '@nestjs/common';
import {
  OnGatewayConnection,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WsResponse,
} from '@nestjs/websockets';
import type { WebSocket, WebSocketServer } from 'ws';

import {
  CurrentUser,
  Roles,
  SessionGuard,
  SessionSocket,
  SessionSocketClose,
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

/** The roles of the REST list (`GET /api/orders`), which the socket follows: any of them. */
const LIVE_ROLES = ['customer', 'admin'];

/** The headers of a refused handshake's JSON answer, as every other error answer has them. */
const REFUSAL_HEADERS: OutgoingHttpHeaders = {
  'Content-Type': 'application/json; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

/**
 * `GET /api/orders/ws`: a live feed of the caller's orders. The handshake is checked before it
 * is answered (`SessionSockets.admit`): a session (cookie with an allowed `Origin`, or
 * `Authorization: Bearer`) holding a role of the REST list (`customer` or `admin`), and fewer
 * than 32 sockets of the user here (`sockets.maxPerUser`); otherwise the upgrade is refused with
 * a JSON 401 (no or dead session), 403 (foreign `Origin` for a cookie, no such role), 429 (too
 * many sockets) or 503 (session store unavailable). An accepted socket is registered by
 * `SessionSockets` before the client reads the 101 (`handleConnection`), so every order placed
 * once the client sees `open` reaches it. `SessionSockets` closes it with 4401 once its session
 * ends and with 4403 once the session has neither role (`holdRoles`); handshakes racing past
 * the 32nd socket are closed with 1008.
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
export class OrdersGateway
  implements OnGatewayInit<WebSocketServer>, OnGatewayConnection<WebSocket>
{
  constructor(
    private readonly sockets: SessionSockets,
    @Inject(forwardRef(() => OrdersService)) private readonly orders: OrdersService,
  ) {}

  /**
   * Has `ws` ask `SessionSockets.admit` before it answers a handshake. An admitted connection is
   * corked before `ws` writes its 101: the client reads it only once `handleConnection` has
   * registered the socket; told `open` before that, a client that placed an order meanwhile was
   * never sent it.
   */
  afterInit(server: WebSocketServer): void {
    server.options.verifyClient = ({ req }, done) => {
      void this.sockets.admit(req, LIVE_ROLES).then((refusal) => {
        if (refusal === null) {
          req.socket.cork();
          done(true);
        } else {
          const body = JSON.stringify({ statusCode: refusal.status, message: refusal.message });
          done(false, refusal.status, body, REFUSAL_HEADERS);
        }
      });
    };
  }

  /**
   * Registers an admitted socket (from the admission's validation: `SessionSockets` closes it
   * with 4401 if the session ended since), holds it to the list's roles from then on, and lets
   * the client read the 101 (and, if the session ended or lost its roles meanwhile, the close
   * that follows: 4401, 4403 or 1008).
   */
  async handleConnection(
    client: WebSocket & SessionSocket,
    request: IncomingMessage,
  ): Promise<void> {
    const since = performance.now();
    try {
      const session = await this.sockets.authenticate(client, request);
      if (session === null) {
        return;
      }
      if (!LIVE_ROLES.some((role) => session.roles.includes(role))) {
        client.close(SessionSocketClose.forbidden, 'Missing role');
        return;
      }
      this.sockets.holdRoles(request, LIVE_ROLES, since);
    } finally {
      request.socket.uncork();
    }
  }

  @SubscribeMessage('recent')
  @Roles(...LIVE_ROLES)
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
