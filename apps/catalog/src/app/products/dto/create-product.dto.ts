import { IsInt, IsString, Length, Matches, Max, Min } from 'class-validator';

export class CreateProductDto {
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, {
    message: 'sku must be 1 to 32 letters, digits or dashes',
  })
  sku!: string;

  @IsString()
  @Length(1, 120)
  name!: string;

  @IsInt()
  @Min(0)
  @Max(100_000_000)
  priceCents!: number;
}
