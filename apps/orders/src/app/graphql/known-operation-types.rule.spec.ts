import { buildSchema, parse, validate } from 'graphql';

import { knownOperationTypes } from './known-operation-types.rule';

const schema = buildSchema(`
  type Query { myOrders: [String!]! }
  type Mutation { placeOrder(sku: String!): String! }
`);

const refusals = (query: string) =>
  validate(schema, parse(query), [knownOperationTypes]).map((error) => error.message);

describe('knownOperationTypes', () => {
  it('refuses an operation whose root type the schema lacks, wherever it is in the document', () => {
    expect(refusals('subscription { myOrders }')).toEqual([
      'This service has no subscription operations',
    ]);
    expect(refusals('query a { myOrders } subscription b { myOrders }')).toEqual([
      'This service has no subscription operations',
    ]);
  });

  it('lets queries and mutations through', () => {
    expect(refusals('query { myOrders } mutation m { placeOrder(sku: "A") }')).toEqual([]);
  });
});
