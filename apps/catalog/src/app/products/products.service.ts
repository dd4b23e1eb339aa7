import { randomUUID } from 'node:crypto';
import { ConflictException, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, MoreThan, QueryFailedError, Repository } from 'typeorm';

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

  /** The products among `skus`, by SKU; unknown ones are left out. */
  prices(skus: string[]): Promise<Array<Pick<Product, 'sku' | 'name' | 'priceCents'>>> {
    return this.products.find({
      select: { sku: true, name: true, priceCents: true },
      where: { sku: In([...new Set(skus)]) },
      order: { sku: 'ASC' },
    });
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
