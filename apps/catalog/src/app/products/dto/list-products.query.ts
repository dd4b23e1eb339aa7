import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/**
 * `GET /api/catalog/products?limit=&cursor=`, as `GET /api/orders` pages; unknown parameters
 * are refused like unknown body fields.
 */
export class ListProductsQuery {
  /** Digits only: `1.5`, `1e2`, `0x10` or a repeated parameter stay unconverted and fail. */
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' && /^\d{1,6}$/.test(value) ? +value : value))
  @IsInt({ message: `limit must be an integer from 1 to ${MAX_PAGE_SIZE}` })
  @Min(1, { message: `limit must be an integer from 1 to ${MAX_PAGE_SIZE}` })
  @Max(MAX_PAGE_SIZE, { message: `limit must be an integer from 1 to ${MAX_PAGE_SIZE}` })
  limit?: number;

  @IsOptional()
  @IsString({ message: 'cursor must be one cursor' })
  cursor?: string;
}
