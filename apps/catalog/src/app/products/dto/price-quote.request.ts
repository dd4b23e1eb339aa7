import { ArrayMaxSize, IsArray, IsString, Length } from 'class-validator';

/** Limit of one quote: an order has at most this many lines. */
export const MAX_QUOTE_SKUS = 100;

/** `catalog.prices`: the SKUs to price. */
export class PriceQuoteRequest {
  @IsArray()
  @ArrayMaxSize(MAX_QUOTE_SKUS)
  @IsString({ each: true })
  @Length(1, 32, { each: true })
  skus!: string[];
}
