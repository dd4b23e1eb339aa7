import { randomUUID } from 'node:crypto';
import {
  ConflictException,
  forwardRef,
  HttpStatus,
  Inject,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';

import { SessionUser } from '@cloakroom/session';

import { CreateOrderDto } from './dto/create-order.dto';
import { DEFAULT_PAGE_SIZE, ListOrdersQuery } from './dto/list-orders.query';
import { Order, OrderItem } from './entities/order.entity';
import { IDEMPOTENCY_KEY_TTL_MS } from './idempotency/idempotency-key';
import { OrdersGateway } from './live/orders.gateway';
import { orderCursor } from './paging/order-cursor';

/** One page of the newest-first list, and the cursor of the next one when there is more. */
export interface OrdersPage {
  items: Order[];
  next: string | null;
}

/** A placed order, and whether it was placed earlier under the same idempotency key. */
export interface PlacedOrder {
  order: Order;
  replayed: boolean;
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
      const after = orderCursor.decode(query.cursor);
      select.andWhere('(o.createdAt, o.id) < (:createdAt, :id)', {
        createdAt: this.persisted(after.createdAt),
        id: after.id,
      });
    }
    const rows = await select.getMany();
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? orderCursor.encode(items[limit - 1]) : null };
  }

  /**
   * `createdAt` comes from this process, not the database default, so that it has the
   * precision of a JavaScript date (ms) and a cursor names it exactly. One INSERT, committed
   * on its own before the order is answered: on SQLite TypeORM runs every request's queries on
   * one connection, so `save`'s transaction took in the writes of the requests placing orders
   * meanwhile, which were answered before it committed and rolled back if it failed. The
   * owner's open WebSockets hear of it at once.
   *
   * With an idempotency key the same INSERT claims it, unique per user: of requests racing with
   * one key a single one places the order (PostgreSQL holds the others' INSERTs until it
   * commits), and each other one, like any later retry, is answered that order, `replayed`,
   * unless its items differ (422; in another order they are the same items, see `sameItems`).
   * A key older than `IDEMPOTENCY_KEY_TTL_MS` is let go first.
   */
  async place(user: SessionUser, dto: CreateOrderDto, key?: string): Promise<PlacedOrder> {
    const items = dto.items.map(({ sku, quantity }) => ({ sku, quantity }));
    const order = this.orders.create({
      id: randomUUID(),
      userId: user.id,
      items,
      createdAt: new Date(),
    });
    if (key === undefined) {
      await this.orders.insert(order);
    } else {
      const earlier = await this.claim(order, key);
      if (earlier) {
        if (!sameItems(earlier.items, items)) {
          throw new UnprocessableEntityException({
            statusCode: HttpStatus.UNPROCESSABLE_ENTITY,
            message:
              'This Idempotency-Key was used with other items: use a new key for a new order',
            error: 'idempotency_key_reused',
          });
        }
        return { order: earlier, replayed: true };
      }
    }
    this.live.orderPlaced(order);
    return { order, replayed: false };
  }

  /** Places `order` under `key`, or finds the live order that holds the key already. */
  private async claim(order: Order, key: string): Promise<Order | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.orders.insert({ ...order, idempotencyKey: key });
        return undefined;
      } catch (error) {
        if (!isUniqueViolation(error)) {
          throw error;
        }
      }
      const earlier = await this.orders.findOneBy({ userId: order.userId, idempotencyKey: key });
      const expired = order.createdAt.getTime() - IDEMPOTENCY_KEY_TTL_MS;
      if (earlier && earlier.createdAt.getTime() > expired) {
        return earlier;
      }
      if (earlier) {
        await this.orders.update({ id: earlier.id, idempotencyKey: key }, { idempotencyKey: null });
      }
    }
    // Only a key let go and claimed again between each of our attempts gets here.
    throw new ConflictException({
      statusCode: HttpStatus.CONFLICT,
      message: 'Another request with this Idempotency-Key is under way: retry',
      error: 'idempotency_key_busy',
    });
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

/**
 * Whether two orders' items are the same lines in any order: an order names each SKU once, so
 * its lines are a set keyed by SKU, and a client that rebuilds its basket for a retry may list
 * them in another order.
 */
function sameItems(a: OrderItem[], b: OrderItem[]): boolean {
  const quantities = new Map(a.map(({ sku, quantity }) => [sku, quantity]));
  return (
    a.length === b.length &&
    quantities.size === b.length &&
    b.every(({ sku, quantity }) => quantities.get(sku) === quantity)
  );
}

function isAdmin(user: SessionUser): boolean {
  return user.roles.includes('admin');
}

/** PostgreSQL reports 23505, SQLite SQLITE_CONSTRAINT_UNIQUE. */
function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) {
    return false;
  }
  const code = (error.driverError as { code?: string }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
