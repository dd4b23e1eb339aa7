import { applyDecorators } from '@nestjs/common';
import { IsString, Matches } from 'class-validator';

/**
 * A SKU as products are created with (1 to 32 letters, digits or dashes), or with `each` a list
 * of them. A string no product can have is refused before it reaches PostgreSQL, which would
 * answer a NUL in it with an error (SQLSTATE 22021) rather than no match.
 *
 * @example
 * class CreateProductDto { @SkuField() sku!: string; }
 */
export function SkuField({ each = false }: { each?: boolean } = {}): PropertyDecorator {
  return applyDecorators(
    IsString({ each }),
    Matches(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, {
      each,
      message: `${each ? 'each sku' : 'sku'} must be 1 to 32 letters, digits or dashes`,
    }),
  );
}
