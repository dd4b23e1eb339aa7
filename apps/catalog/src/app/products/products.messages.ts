import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';

import { Roles } from '@cloakroom/session';

import { PriceQuoteRequest } from './dto/price-quote.request';
import { Product } from './entities/product.entity';
import { ProductsService } from './products.service';

/** Message patterns catalog serves to other services. */
export const CatalogMessages = {
  /**
   * `{ skus }` → the products among them in any case, `{ sku, name, priceCents }` under each
   * product's own spelling; unknown SKUs left out.
   */
  prices: 'catalog.prices',
} as const;

/**
 * Catalog's RPC. Every message must carry a session assertion (the global `SessionGuard`
 * refuses it otherwise): a price quote is made for a shopper, never for an anonymous caller
 * on the service network.
 */
@Controller()
export class ProductsMessages {
  constructor(private readonly products: ProductsService) {}

  @MessagePattern(CatalogMessages.prices)
  @Roles('customer', 'admin')
  prices(
    @Payload() request: PriceQuoteRequest,
  ): Promise<Array<Pick<Product, 'sku' | 'name' | 'priceCents'>>> {
    return this.products.prices(request.skus);
  }
}
