import { ArgsType, Field, InputType, Int } from '@nestjs/graphql';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';

import {
  IDEMPOTENCY_KEY_PATTERN,
  MAX_IDEMPOTENCY_KEY_LENGTH,
} from '../idempotency/idempotency-key';

/** One line of a new order: the REST body's item and GraphQL's `OrderItemInput`. */
@InputType('OrderItemInput')
export class OrderItemDto {
  @Field()
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, {
    message: 'sku must be 1 to 32 letters, digits or dashes',
  })
  sku!: string;

  @Field(() => Int)
  @IsInt()
  @Min(1)
  @Max(1000)
  quantity!: number;
}

/** The most lines an order holds. */
export const MAX_ORDER_LINES = 50;

/** `POST /api/orders`'s body and `placeOrder`'s arguments: the same rules for both. */
@ArgsType()
export class CreateOrderDto {
  @Field(() => [OrderItemDto])
  // A body of 100 KiB holds 30,000 empty items: each one validated and named in the error took
  // 2 s of the event loop and a 900 KB answer. One line past the cap still fails ArrayMaxSize.
  @Transform(({ value }: { value: unknown }) =>
    Array.isArray(value) ? value.slice(0, MAX_ORDER_LINES + 1) : value,
  )
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_ORDER_LINES)
  // One line per SKU: two lines of one SKU leave what was meant (the sum? the last?) to guess.
  // Catalog holds one product for SKUs that differ only in case, so `umbrella` is `UMBRELLA`.
  @ArrayUnique(
    (item: { sku?: unknown }) => (typeof item.sku === 'string' ? item.sku.toLowerCase() : item),
    { message: 'items must name each sku once (SKUs ignore case)' },
  )
  // ValidateNested checks what is inside a nested array, not that each item is an object.
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => OrderItemDto)
  items!: OrderItemDto[];
}

/** `placeOrder`'s arguments: an order's, and the REST route's `Idempotency-Key` header. */
@ArgsType()
export class PlaceOrderArgs extends CreateOrderDto {
  @Field(() => String, { nullable: true })
  @IsOptional()
  @Matches(IDEMPOTENCY_KEY_PATTERN, {
    message: `idempotencyKey must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters`,
  })
  idempotencyKey?: string;
}
