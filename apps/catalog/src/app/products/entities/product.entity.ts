import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'products' })
export class Product {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 32, unique: true })
  sku!: string;

  @Column({ type: 'varchar', length: 120 })
  name!: string;

  /** Integer cents: money never goes through floating point. */
  @Column({ name: 'price_cents', type: 'integer' })
  priceCents!: number;

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;
}
