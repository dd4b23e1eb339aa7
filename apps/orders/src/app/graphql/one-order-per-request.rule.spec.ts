import { buildSchema, parse, validate } from 'graphql';

import { ONE_ORDER_PER_REQUEST, oneOrderPerRequest } from './one-order-per-request.rule';

const schema = buildSchema(`
  type Query { myOrders: [String!]! }
  type Mutation { placeOrder(sku: String!): String!, other: String! }
`);

const reasons = (query: string) =>
  validate(schema, parse(query), [oneOrderPerRequest]).map((error) => error.extensions['reason']);

describe('oneOrderPerRequest', () => {
  it.each([
    ['aliases', 'mutation { a: placeOrder(sku: "A") b: placeOrder(sku: "B") }'],
    ['one field twice', 'mutation { placeOrder(sku: "A") placeOrder(sku: "A") }'],
    [
      'a fragment spread twice',
      'mutation { ...F ...F } fragment F on Mutation { placeOrder(sku: "A") }',
    ],
    [
      'a fragment chain',
      'mutation { ...F placeOrder(sku: "A") } fragment F on Mutation { ...G } fragment G on Mutation { x: placeOrder(sku: "B") }',
    ],
    [
      'inline fragments, skipped or not',
      'mutation { ... { a: placeOrder(sku: "A") } ... @skip(if: true) { b: placeOrder(sku: "B") } }',
    ],
  ])('refuses a mutation that places two orders through %s', (_case, query) => {
    expect(reasons(query)).toEqual([ONE_ORDER_PER_REQUEST]);
  });

  it('refuses each mutation of a document that places two, and no other operation', () => {
    const query =
      'mutation m { ...F ...F } mutation n { placeOrder(sku: "A") } query q { myOrders } ' +
      'fragment F on Mutation { placeOrder(sku: "A") }';
    expect(reasons(query)).toEqual([ONE_ORDER_PER_REQUEST]);
  });

  it('lets one order through, beside other fields, and a fragment that is never spread', () => {
    expect(
      reasons(
        'mutation { ...F other __typename } fragment F on Mutation { placeOrder(sku: "A") } ' +
          'fragment Unused on Mutation { a: placeOrder(sku: "A") b: placeOrder(sku: "B") }',
      ),
    ).toEqual([]);
  });

  it('counts a fragment spread at every level of a long chain without walking it again', () => {
    const chain = Array.from(
      { length: 30 },
      (_, i) => `fragment F${i} on Mutation { ...F${i + 1} ...F${i + 1} }`,
    );
    expect(
      reasons(`mutation { ...F0 } ${chain.join(' ')} fragment F30 on Mutation { other }`),
    ).toEqual([]);
    expect(
      reasons(
        `mutation { ...F0 } ${chain.join(' ')} fragment F30 on Mutation { placeOrder(sku: "A") }`,
      ),
    ).toEqual([ONE_ORDER_PER_REQUEST]);
  });

  it('ends on a fragment cycle, which graphql-js reports itself', () => {
    expect(() =>
      reasons(
        'mutation { ...F } fragment F on Mutation { placeOrder(sku: "A") ...G } fragment G on Mutation { ...F }',
      ),
    ).not.toThrow();
  });
});
