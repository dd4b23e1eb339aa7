import { ArgsType, Field, Int } from '@nestjs/graphql';
import { IsInt, Max, Min } from 'class-validator';

import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../dto/list-orders.query';

@ArgsType()
export class MyOrdersArgs {
  /**
   * The newest `limit` orders, within the REST list's bounds. Nullable in the schema
   * (`limit: Int = 50`): a nullable variable may stand for an argument with a default, and
   * graphql-js fails an explicit null for an `Int!` one inside execution, an internal error;
   * here the null reaches the validation pipe, a `BAD_REQUEST`.
   */
  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE })
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit: number = DEFAULT_PAGE_SIZE;
}
