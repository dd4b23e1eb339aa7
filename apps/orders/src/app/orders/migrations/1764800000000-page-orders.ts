import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * Paging by keyset on (created_at, id): an index for each list (a customer's, everyone's),
 * and `created_at` of existing rows brought to what the service now writes, a millisecond
 * date, so that a cursor names every row exactly (PostgreSQL's `now()` kept microseconds,
 * SQLite's `datetime('now')` wrote seconds in another text form).
 */
export class PageOrders1764800000000 implements MigrationInterface {
  name = 'PageOrders1764800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.driver.options.type === 'postgres') {
      await queryRunner.query(
        `UPDATE "orders" SET "created_at" = date_trunc('milliseconds', "created_at")`,
      );
    } else {
      await queryRunner.query(
        `UPDATE "orders" SET "created_at" = strftime('%Y-%m-%d %H:%M:%f', "created_at")`,
      );
    }
    await queryRunner.createIndices('orders', [
      new TableIndex({ name: 'idx_orders_created_id', columnNames: ['created_at', 'id'] }),
      new TableIndex({
        name: 'idx_orders_user_created_id',
        columnNames: ['user_id', 'created_at', 'id'],
      }),
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('orders', 'idx_orders_user_created_id');
    await queryRunner.dropIndex('orders', 'idx_orders_created_id');
  }
}
