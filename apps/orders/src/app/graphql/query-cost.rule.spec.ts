import { buildSchema, parse, validate } from 'graphql';

import { maxQueryValues } from './query-cost.rule';

const schema = buildSchema(`
  type Item { sku: String! quantity: Int! }
  type Order { id: ID! createdAt: String! items: [Item!]! }
  type Query { myOrders(limit: Int): [Order!]! }
  type Mutation { placeOrder(sku: String!): Order! }
`);

/** The messages `maxQueryValues(limit)` reports for `query`. */
const refusals = (query: string, limit: number) =>
  validate(schema, parse(query), [maxQueryValues(limit)]).map((error) => error.message);

const PAGE = 'id createdAt items { sku quantity }';

describe('maxQueryValues', () => {
  it('counts each field once per item of every list above it, a list holding its literal limit or 50', () => {
    // 1 (myOrders) + 200 × (id, createdAt, items) + 200 × 50 × (sku, quantity) = 20,601.
    expect(refusals(`{ myOrders(limit: 200) { ${PAGE} } }`, 20_601)).toEqual([]);
    expect(refusals(`{ myOrders(limit: 200) { ${PAGE} } }`, 20_600)).toHaveLength(1);
    // Without a literal limit: 1 + 50 × 3 + 50 × 50 × 2 = 5,151.
    expect(refusals(`query ($n: Int) { myOrders(limit: $n) { ${PAGE} } }`, 5_151)).toEqual([]);
    expect(refusals(`{ myOrders { ${PAGE} } }`, 5_150)).toHaveLength(1);
  });

  it('counts aliases and fragments as often as they appear', () => {
    const aliased = Array.from({ length: 100 }, (_, i) => `a${i}: myOrders { ${PAGE} }`).join(' ');
    expect(refusals(`{ ${aliased} }`, 100_000)).toEqual([
      'The query asks for too much: more than 100000 values (use a smaller limit, fewer aliases)',
    ]);
    const spread = `fragment F on Order { ${PAGE} } { a: myOrders { ...F } b: myOrders { ...F } }`;
    expect(refusals(spread, 10_302)).toEqual([]);
    expect(refusals(spread, 10_301)).toHaveLength(1);
    const nested = `{ myOrders(limit: 10) { items { ... on Item { sku } ... on Item { quantity } } } }`;
    // 1 + 10 + 10 × 50 × 2 = 1,011.
    expect(refusals(nested, 1_011)).toEqual([]);
    expect(refusals(nested, 1_010)).toHaveLength(1);
  });

  it("counts a mutation's answer like a query's: 1 + 3 + 50 × 2", () => {
    expect(refusals(`mutation { placeOrder(sku: "TEA") { ${PAGE} } }`, 104)).toEqual([]);
    expect(refusals(`mutation { placeOrder(sku: "TEA") { ${PAGE} } }`, 103)).toHaveLength(1);
  });
});
