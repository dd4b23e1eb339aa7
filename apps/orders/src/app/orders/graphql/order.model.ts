import { Field, ID, Int, ObjectType } from '@nestjs/graphql';

@ObjectType('OrderItem')
export class OrderItemModel {
  @Field()
  sku!: string;

  @Field(() => Int)
  quantity!: number;
}

/** An order as GraphQL shows it: the fields of `GET /api/orders/:id`. */
@ObjectType('Order')
export class OrderModel {
  @Field(() => ID)
  id!: string;

  @Field()
  userId!: string;

  @Field(() => [OrderItemModel])
  items!: OrderItemModel[];

  @Field()
  createdAt!: Date;
}
