import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** `GET /api/orders?limit=&cursor=`; unknown parameters are refused like unknown body fields. */
export class ListOrdersQuery {
  /** Digits only: `1.5`, `1e2`, `0x10` or a repeated parameter stay unconverted and fail. */
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' && /^\d{1,6}$/.test(value) ? +value : value))
  @IsInt({ message: 'limit must be an integer from 1 to 200' })
  @Min(1, { message: 'limit must be an integer from 1 to 200' })
  @Max(MAX_PAGE_SIZE, { message: 'limit must be an integer from 1 to 200' })
  limit?: number;

  @IsOptional()
  @IsString()
  cursor?: string;
}
