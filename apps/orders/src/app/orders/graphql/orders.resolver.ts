import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';

import { CurrentUser, Roles, SessionUser } from '@cloakroom/session';

import { CreateOrderDto } from '../dto/create-order.dto';
import { Order } from '../entities/order.entity';
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

  @Mutation(() => OrderModel)
  @Roles('customer')
  placeOrder(@CurrentUser() user: SessionUser, @Args() args: CreateOrderDto): Promise<Order> {
    return this.orders.place(user, args);
  }
}
