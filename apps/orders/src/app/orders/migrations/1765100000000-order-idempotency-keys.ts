import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * An order keeps the `Idempotency-Key` it was placed with, unique per user: one INSERT claims
 * the key and places the order, on PostgreSQL and on SQLite alike (whose one shared connection
 * makes a transaction of two statements take in other requests' writes). Orders without a key
 * (NULL) never collide.
 */
export class OrderIdempotencyKeys1765100000000 implements MigrationInterface {
  name = 'OrderIdempotencyKeys1765100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'orders',
      new TableColumn({
        name: 'idempotency_key',
        type: 'varchar',
        length: '255',
        isNullable: true,
      }),
    );
    await queryRunner.createIndex(
      'orders',
      new TableIndex({
        name: 'uq_orders_user_idempotency_key',
        columnNames: ['user_id', 'idempotency_key'],
        isUnique: true,
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('orders', 'uq_orders_user_idempotency_key');
    await queryRunner.dropColumn('orders', 'idempotency_key');
  }
}
