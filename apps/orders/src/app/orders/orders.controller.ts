import { IncomingMessage, ServerResponse } from 'node:http';
import {
  Body,
  Controller,
  Get,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';

import { nextPageLink } from '@cloakroom/service-kit';
import { CurrentUser, Roles, SessionUser } from '@cloakroom/session';

import { CreateOrderDto } from './dto/create-order.dto';
import { ListOrdersQuery } from './dto/list-orders.query';
import { Order } from './entities/order.entity';
import { IdempotencyKey, IDEMPOTENT_REPLAYED_HEADER } from './idempotency/idempotency-key';
import { OrdersService } from './orders.service';

@Controller()
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  /** An array, as before paging; the next page is in the `Link` header (RFC 8288). */
  @Get()
  @Roles('customer', 'admin')
  async list(
    @CurrentUser() user: SessionUser,
    @Query() query: ListOrdersQuery,
    @Req() request: IncomingMessage,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<Order[]> {
    const page = await this.orders.list(user, query);
    if (page.next) {
      response.setHeader('Link', nextPageLink(request, { cursor: page.next, limit: query.limit }));
    }
    return page.items;
  }

  /**
   * With an `Idempotency-Key`, a retry of a request whose answer was lost is answered the order
   * it placed, 201 again with `Idempotent-Replayed: true`, and places no other (`OrdersService`).
   */
  @Post()
  @Roles('customer')
  async place(
    @CurrentUser() user: SessionUser,
    @Body() dto: CreateOrderDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<Order> {
    const { order, replayed } = await this.orders.place(user, dto, key);
    if (replayed) {
      response.setHeader(IDEMPOTENT_REPLAYED_HEADER, 'true');
    }
    return order;
  }

  /**
   * Open to any session, by ownership rather than role (DESIGN: owner or admin, else 404): an
   * order is found for its owner or an admin, and is missing to everyone else, a session
   * without any role included, so that no answer tells whether it exists.
   */
  @Get(':id')
  findOne(
    @CurrentUser() user: SessionUser,
    @Param('id', new ParseUUIDPipe({ errorHttpStatusCode: HttpStatus.NOT_FOUND })) id: string,
  ): Promise<Order> {
    return this.orders.findOne(user, id);
  }
}
