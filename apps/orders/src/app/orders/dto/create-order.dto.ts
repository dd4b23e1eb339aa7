import { ArgsType, Field, InputType, Int } from '@nestjs/graphql';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsObject,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';

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
  // ValidateNested checks what is inside a nested array, not that each item is an object.
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => OrderItemDto)
  items!: OrderItemDto[];
}
