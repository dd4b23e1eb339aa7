import { randomUUID } from 'node:crypto';
import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';

import { SessionUser } from '@cloakroom/session';

import { CreateOrderDto } from './dto/create-order.dto';
import { Order } from './entities/order.entity';

@Injectable()
export class OrdersService {
  constructor(@InjectRepository(Order) private readonly orders: Repository<Order>) {}

  /** Admins see every order; anyone else only their own. */
  list(user: SessionUser): Promise<Order[]> {
    return this.orders.find({
      where: isAdmin(user) ? {} : { userId: user.id },
      order: { createdAt: 'DESC' },
    });
  }

  place(user: SessionUser, dto: CreateOrderDto): Promise<Order> {
    const items = dto.items.map(({ sku, quantity }) => ({ sku, quantity }));
    return this.orders.save(this.orders.create({ id: randomUUID(), userId: user.id, items }));
  }

  /** Someone else's order is reported missing, not forbidden: its existence is not leaked. */
  async findOne(user: SessionUser, id: string): Promise<Order> {
    const order = await this.orders.findOneBy(isAdmin(user) ? { id } : { id, userId: user.id });
    if (!order) {
      throw new NotFoundException('Order not found');
    }
    return order;
  }
}

function isAdmin(user: SessionUser): boolean {
  return user.roles.includes('admin');
}
