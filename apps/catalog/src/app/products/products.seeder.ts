import { ConflictException, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';

import { CatalogEnv } from '../config/catalog.env';
import { ProductsService } from './products.service';

/** What an empty catalog starts with outside production. */
export const DEMO_PRODUCTS = [
  { sku: 'TEA-EARL-GREY', name: 'Earl Grey tea, 100 g', priceCents: 650 },
  { sku: 'MUG-ENAMEL', name: 'Enamel mug', priceCents: 1200 },
  { sku: 'SCARF-WOOL', name: 'Wool scarf', priceCents: 3900 },
  { sku: 'UMBRELLA', name: 'Folding umbrella', priceCents: 2450 },
];

/** Outside production, an empty catalog gets a few demo products so the page has something. */
@Injectable()
export class ProductsSeeder implements OnApplicationBootstrap {
  private readonly logger = new Logger(ProductsSeeder.name);

  constructor(
    private readonly products: ProductsService,
    private readonly env: CatalogEnv,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.env.NODE_ENV === 'production' || (await this.products.count()) > 0) {
      return;
    }
    let seeded = 0;
    for (const product of DEMO_PRODUCTS) {
      try {
        await this.products.create(product);
        seeded++;
      } catch (error) {
        // Another instance starting on the same empty database seeds it at the same time: a demo
        // product it created first is seeded, not a reason for this one to fail its start.
        if (!(error instanceof ConflictException)) throw error;
      }
    }
    this.logger.log(`Seeded ${seeded} demo products`);
  }
}
