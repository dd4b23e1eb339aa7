import { Body, Controller, Get, HttpStatus, Param, ParseUUIDPipe, Post } from '@nestjs/common';

import { CurrentUser, Roles, SessionUser } from '@cloakroom/session';

import { CreateOrderDto } from './dto/create-order.dto';
import { Order } from './entities/order.entity';
import { OrdersService } from './orders.service';

@Controller()
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  @Get()
  @Roles('customer', 'admin')
  list(@CurrentUser() user: SessionUser): Promise<Order[]> {
    return this.orders.list(user);
  }

  @Post()
  @Roles('customer')
  place(@CurrentUser() user: SessionUser, @Body() dto: CreateOrderDto): Promise<Order> {
    return this.orders.place(user, dto);
  }

  @Get(':id')
  @Roles('customer', 'admin')
  findOne(
    @CurrentUser() user: SessionUser,
    @Param('id', new ParseUUIDPipe({ errorHttpStatusCode: HttpStatus.NOT_FOUND })) id: string,
  ): Promise<Order> {
    return this.orders.findOne(user, id);
  }
}
