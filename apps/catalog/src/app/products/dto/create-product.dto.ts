import { IsInt, Max, Min } from 'class-validator';

import { ProductNameField } from './product-name.field';
import { SkuField } from './sku.field';

export class CreateProductDto {
  @SkuField()
  sku!: string;

  @ProductNameField()
  name!: string;

  @IsInt()
  @Min(0)
  @Max(100_000_000)
  priceCents!: number;
}
