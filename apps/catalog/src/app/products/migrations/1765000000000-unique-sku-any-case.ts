import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Makes a SKU unique whatever its case: `UMBRELLA` and `umbrella` were two products that a list
 * or an order line tells apart by case alone. The SKU keeps the spelling it was created with.
 * An index on `lower(sku)`, which PostgreSQL and SQLite write alike (SKUs are ASCII).
 */
export class UniqueSkuAnyCase1765000000000 implements MigrationInterface {
  name = 'UniqueSkuAnyCase1765000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const clashes: Array<{ sku: string }> = await queryRunner.query(
      'SELECT lower(sku) AS sku FROM products GROUP BY lower(sku) HAVING count(*) > 1 LIMIT 5',
    );
    if (clashes.length > 0) {
      throw new Error(
        `products whose SKUs differ only in case must be renamed first: ${clashes.map(({ sku }) => sku).join(', ')}`,
      );
    }
    await queryRunner.query(
      'CREATE UNIQUE INDEX "UQ_products_sku_any_case" ON products (lower(sku))',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX "UQ_products_sku_any_case"');
  }
}
