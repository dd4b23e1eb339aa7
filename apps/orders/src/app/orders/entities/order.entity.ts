import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** One line of an order. */
export interface OrderItem {
  sku: string;
  quantity: number;
}

@Entity({ name: 'orders' })
export class Order {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** Id of the user (from the session) who placed the order. */
  @Index()
  @Column({ name: 'user_id', type: 'varchar', length: 64 })
  userId!: string;

  @Column({ type: 'simple-json' })
  items!: OrderItem[];

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;

  /**
   * The client's `Idempotency-Key`, unique per user: the INSERT that places the order claims it,
   * so two requests racing with one key cannot both place one. Never selected nor answered.
   */
  @Column({ name: 'idempotency_key', type: 'varchar', length: 255, nullable: true, select: false })
  idempotencyKey?: string | null;
}
