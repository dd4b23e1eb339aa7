import { randomUUID } from 'node:crypto';
import { ConflictException, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { MoreThan, QueryFailedError, Repository } from 'typeorm';

import { CreateProductDto } from './dto/create-product.dto';
import { DEFAULT_PAGE_SIZE, ListProductsQuery } from './dto/list-products.query';
import { Product } from './entities/product.entity';
import { productCursor } from './paging/product-cursor';

/** One page of the list, and the cursor of the next one when there is more. */
export interface ProductsPage {
  items: Product[];
  next: string | null;
}

@Injectable()
export class ProductsService {
  constructor(@InjectRepository(Product) private readonly products: Repository<Product>) {}

  /** In SKU order, by keyset on the SKU (see `productCursor`). */
  async list(query: ListProductsQuery = {}): Promise<ProductsPage> {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const rows = await this.products.find({
      where:
        query.cursor === undefined ? {} : { sku: MoreThan(productCursor.decode(query.cursor)) },
      order: { sku: 'ASC' },
      take: limit + 1,
    });
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? productCursor.encode(items[limit - 1].sku) : null };
  }

  /**
   * The products among `skus`, whatever the case they are spelled in, each once and under the
   * spelling it was created with; unknown ones are left out. A SKU is unique by `lower(sku)`, so
   * it is looked up by the same expression, which the unique index serves: the database lowers
   * both sides, so a lookup matches exactly what a creation would call a duplicate. One bound
   * parameter per SKU (at most `MAX_QUOTE_SKUS`), never a pattern: `%` or `_` match themselves.
   */
  async prices(skus: string[]): Promise<Array<Pick<Product, 'sku' | 'name' | 'priceCents'>>> {
    const distinct = [...new Set(skus)];
    if (distinct.length === 0) {
      return [];
    }
    const parameters = Object.fromEntries(distinct.map((sku, i) => [`sku${i}`, sku]));
    const wanted = distinct.map((_sku, i) => `lower(:sku${i})`).join(', ');
    return this.products
      .createQueryBuilder('product')
      .select(['product.sku', 'product.name', 'product.priceCents'])
      .where(`lower(product.sku) IN (${wanted})`, parameters)
      .orderBy('product.sku', 'ASC')
      .getMany();
  }

  count(): Promise<number> {
    return this.products.count();
  }

  /**
   * One INSERT, committed on its own before the product is answered: on SQLite TypeORM runs
   * every request's queries on one connection, so `save`'s transaction took in the creations
   * running meanwhile, which were answered before it committed and rolled back with it when
   * its SKU was taken.
   */
  async create(dto: CreateProductDto): Promise<Product> {
    const product = this.products.create({ id: randomUUID(), ...dto });
    try {
      await this.products.insert(product);
      return product;
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ConflictException(
          `A product with sku ${dto.sku} already exists (SKUs ignore case)`,
        );
      }
      throw error;
    }
  }
}

/** PostgreSQL reports 23505, SQLite SQLITE_CONSTRAINT_UNIQUE. */
function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) {
    return false;
  }
  const code = (error.driverError as { code?: string }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
