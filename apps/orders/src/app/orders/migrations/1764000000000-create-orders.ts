import { MigrationInterface, QueryRunner, Table } from 'typeorm';

/** Creates the orders table; written with the Table API so it runs on SQLite and PostgreSQL. */
export class CreateOrders1764000000000 implements MigrationInterface {
  name = 'CreateOrders1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const types = queryRunner.connection.driver.mappedDataTypes;
    await queryRunner.createTable(
      new Table({
        name: 'orders',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '64' },
          { name: 'items', type: 'text' },
          {
            name: 'created_at',
            type: types.createDate as string,
            default: types.createDateDefault,
          },
        ],
        indices: [{ name: 'idx_orders_user_id', columnNames: ['user_id'] }],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('orders');
  }
}
