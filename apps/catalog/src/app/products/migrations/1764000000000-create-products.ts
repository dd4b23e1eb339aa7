import { MigrationInterface, QueryRunner, Table } from 'typeorm';

/** Creates the products table; written with the Table API so it runs on SQLite and PostgreSQL. */
export class CreateProducts1764000000000 implements MigrationInterface {
  name = 'CreateProducts1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const types = queryRunner.connection.driver.mappedDataTypes;
    await queryRunner.createTable(
      new Table({
        name: 'products',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'sku', type: 'varchar', length: '32', isUnique: true },
          { name: 'name', type: 'varchar', length: '120' },
          { name: 'price_cents', type: 'integer' },
          {
            name: 'created_at',
            type: types.createDate as string,
            default: types.createDateDefault,
          },
        ],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('products');
  }
}
