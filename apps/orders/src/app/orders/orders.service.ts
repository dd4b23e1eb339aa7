import { randomUUID } from 'node:crypto';
import { forwardRef, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';

import { SessionUser } from '@cloakroom/session';

import { CreateOrderDto } from './dto/create-order.dto';
import { DEFAULT_PAGE_SIZE, ListOrdersQuery } from './dto/list-orders.query';
import { Order } from './entities/order.entity';
import { OrdersGateway } from './live/orders.gateway';
import { decodeOrderCursor, encodeOrderCursor } from './paging/order-cursor';

/** One page of the newest-first list, and the cursor of the next one when there is more. */
export interface OrdersPage {
  items: Order[];
  next: string | null;
}

@Injectable()
export class OrdersService {
  constructor(
    @InjectRepository(Order) private readonly orders: Repository<Order>,
    @Inject(forwardRef(() => OrdersGateway)) private readonly live: OrdersGateway,
  ) {}

  /**
   * Newest first, admins every order and anyone else their own, by keyset on (createdAt, id):
   * orders placed while a client walks the pages never shift it onto an order twice or past
   * one it has not seen. `own` limits an admin to their own orders too.
   */
  async list(
    user: SessionUser,
    query: ListOrdersQuery = {},
    { own = false }: { own?: boolean } = {},
  ): Promise<OrdersPage> {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const select = this.orders
      .createQueryBuilder('o')
      .orderBy('o.createdAt', 'DESC')
      .addOrderBy('o.id', 'DESC')
      .limit(limit + 1);
    if (own || !isAdmin(user)) {
      select.where('o.userId = :userId', { userId: user.id });
    }
    if (query.cursor !== undefined) {
      const after = decodeOrderCursor(query.cursor);
      select.andWhere('(o.createdAt, o.id) < (:createdAt, :id)', {
        createdAt: this.persisted(after.createdAt),
        id: after.id,
      });
    }
    const rows = await select.getMany();
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? encodeOrderCursor(items[limit - 1]) : null };
  }

  /**
   * `createdAt` comes from this process, not the database default, so that it has the
   * precision of a JavaScript date (ms) and a cursor names it exactly. One INSERT, committed
   * on its own before the order is answered: on SQLite TypeORM runs every request's queries on
   * one connection, so `save`'s transaction took in the writes of the requests placing orders
   * meanwhile, which were answered before it committed and rolled back if it failed. The
   * owner's open WebSockets hear of it at once.
   */
  async place(user: SessionUser, dto: CreateOrderDto): Promise<Order> {
    const items = dto.items.map(({ sku, quantity }) => ({ sku, quantity }));
    const order = this.orders.create({
      id: randomUUID(),
      userId: user.id,
      items,
      createdAt: new Date(),
    });
    await this.orders.insert(order);
    this.live.orderPlaced(order);
    return order;
  }

  /** Someone else's order is reported missing, not forbidden: its existence is not leaked. */
  async findOne(user: SessionUser, id: string): Promise<Order> {
    const order = await this.orders.findOneBy(isAdmin(user) ? { id } : { id, userId: user.id });
    if (!order) {
      throw new NotFoundException('Order not found');
    }
    return order;
  }

  /** A date as the driver writes it into `created_at`: query parameters bypass that step. */
  private persisted(date: Date): unknown {
    const column = this.orders.metadata.findColumnWithPropertyName('createdAt');
    return column
      ? this.orders.manager.connection.driver.preparePersistentValue(date, column)
      : date;
  }
}

function isAdmin(user: SessionUser): boolean {
  return user.roles.includes('admin');
}
