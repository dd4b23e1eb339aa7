import { ArrayMaxSize, IsArray } from 'class-validator';

import { SkuField } from './sku.field';

/** Limit of one quote: an order has at most this many lines. */
export const MAX_QUOTE_SKUS = 100;

/** `catalog.prices`: the SKUs to price. */
export class PriceQuoteRequest {
  @IsArray()
  @ArrayMaxSize(MAX_QUOTE_SKUS)
  @SkuField({ each: true })
  skus!: string[];
}
