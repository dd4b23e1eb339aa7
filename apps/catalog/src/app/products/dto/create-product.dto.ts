import { IsInt, IsString, Matches, Max, Min } from 'class-validator';

import { SkuField } from './sku.field';

export class CreateProductDto {
  @SkuField()
  sku!: string;

  @IsString()
  // Counted in code points, as PostgreSQL counts `varchar(120)`: class-validator's `Length` leaves
  // variation selectors (U+FE0E, U+FE0F) out of its count, so a longer name reached the INSERT
  // and was refused there (a 500).
  @Matches(/^.{1,120}$/su, { message: 'name must be 1 to 120 characters' })
  // A name is shown wherever products are listed, and PostgreSQL refuses a NUL in text (a 500).
  @Matches(/^\P{Cc}*$/u, { message: 'name must not contain control characters' })
  // A lone surrogate is no text: the database would keep U+FFFD in its place, not the name answered.
  @Matches(/^\P{Cs}*$/u, { message: 'name must be well-formed Unicode' })
  name!: string;

  @IsInt()
  @Min(0)
  @Max(100_000_000)
  priceCents!: number;
}
