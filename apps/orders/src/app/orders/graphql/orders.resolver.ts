import { ServerResponse } from 'node:http';
import { Args, Context, Mutation, Query, Resolver } from '@nestjs/graphql';

import { CurrentUser, Roles, SessionUser } from '@cloakroom/session';

import { PlaceOrderArgs } from '../dto/create-order.dto';
import { Order } from '../entities/order.entity';
import { IDEMPOTENT_REPLAYED_HEADER } from '../idempotency/idempotency-key';
import { OrdersService } from '../orders.service';
import { MyOrdersArgs } from './my-orders.args';
import { OrderModel } from './order.model';

/**
 * `POST /api/orders/graphql`: the REST routes' rules (the app's `SessionGuard` runs on every
 * resolver: session, roles, the origin rule for cookie-authenticated POSTs).
 */
@Resolver(() => OrderModel)
export class OrdersResolver {
  constructor(private readonly orders: OrdersService) {}

  /** The caller's own orders, newest first; admins too see only their own here. */
  @Query(() => [OrderModel])
  @Roles('customer', 'admin')
  async myOrders(@CurrentUser() user: SessionUser, @Args() args: MyOrdersArgs): Promise<Order[]> {
    return (await this.orders.list(user, { limit: args.limit }, { own: true })).items;
  }

  /**
   * `idempotencyKey` is the REST route's `Idempotency-Key`, in the same space of keys (per user):
   * a retry is answered the order the key placed, with the HTTP header
   * `Idempotent-Replayed: true`, which one `placeOrder` per operation (`oneOrderPerRequest`)
   * leaves unambiguous.
   */
  @Mutation(() => OrderModel)
  @Roles('customer')
  async placeOrder(
    @CurrentUser() user: SessionUser,
    @Args() { idempotencyKey, ...order }: PlaceOrderArgs,
    @Context('res') response: ServerResponse,
  ): Promise<Order> {
    const { order: placed, replayed } = await this.orders.place(user, order, idempotencyKey);
    if (replayed) {
      response.setHeader(IDEMPOTENT_REPLAYED_HEADER, 'true');
    }
    return placed;
  }
}
