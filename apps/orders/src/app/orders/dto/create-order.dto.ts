import { ArgsType, Field, InputType, Int } from '@nestjs/graphql';
import { Type } from 'class-transformer';
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

/** `POST /api/orders`'s body and `placeOrder`'s arguments: the same rules for both. */
@ArgsType()
export class CreateOrderDto {
  @Field(() => [OrderItemDto])
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  // One line per SKU: two lines of one SKU leave what was meant (the sum? the last?) to guess.
  @ArrayUnique((item: { sku?: unknown }) => (typeof item.sku === 'string' ? item.sku : item), {
    message: 'items must name each sku once',
  })
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
