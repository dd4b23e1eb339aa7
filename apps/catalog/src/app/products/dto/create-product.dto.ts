import { IsInt, IsString, Length, Matches, Max, Min } from 'class-validator';

import { SkuField } from './sku.field';

export class CreateProductDto {
  @SkuField()
  sku!: string;

  @IsString()
  @Length(1, 120)
  // A name is shown wherever products are listed, and PostgreSQL refuses a NUL in text (a 500).
  @Matches(/^\P{Cc}*$/u, { message: 'name must not contain control characters' })
  name!: string;

  @IsInt()
  @Min(0)
  @Max(100_000_000)
  priceCents!: number;
}
