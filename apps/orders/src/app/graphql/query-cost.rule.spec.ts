import { buildSchema, parse, validate } from 'graphql';

import { maxQueryValues, QueryCostLimits } from './query-cost.rule';

const schema = buildSchema(`
  type Item { sku: String! quantity: Int! }
  type Order { id: ID! createdAt: String! items: [Item!]! }
  type Query { myOrders(limit: Int = 50): [Order!]! }
  type Mutation { placeOrder(sku: String!): Order! }
`);

/** The messages `maxQueryValues` reports for `query`, with `maxValues` and other limits. */
const refusals = (query: string, maxValues: number, limits: Partial<QueryCostLimits> = {}) =>
  validate(schema, parse(query), [
    maxQueryValues({ maxValues, maxPageSize: 200, maxMutationFields: 10, ...limits }),
  ]).map((error) => error.message);

const tooMuch = (maxValues: number) =>
  `The query asks for too much: more than ${maxValues} values (use a smaller limit, fewer aliases)`;

const PAGE = 'id createdAt items { sku quantity }';

/** `myOrders(limit)` spreading `F0`, each `Fi` spreading `Fi+1` `spreads` times, the last `id`. */
function fragmentChain(levels: number, spreads: number, limit: number): string {
  const fragments = Array.from({ length: levels }, (_, i) => {
    const body = i === levels - 1 ? 'id' : `...F${i + 1} `.repeat(spreads);
    return `fragment F${i} on Order { ${body} }`;
  });
  return `query { myOrders(limit: ${limit}) { ...F0 } } ${fragments.join(' ')}`;
}

describe('maxQueryValues', () => {
  it('counts each field once per item of every list above it, a list holding its literal limit or 50', () => {
    // 1 (myOrders) + 200 × (id, createdAt, items) + 200 × 50 × (sku, quantity) = 20,601.
    expect(refusals(`{ myOrders(limit: 200) { ${PAGE} } }`, 20_601)).toEqual([]);
    expect(refusals(`{ myOrders(limit: 200) { ${PAGE} } }`, 20_600)).toHaveLength(1);
    // Without a limit, the schema's default: 1 + 50 × 3 + 50 × 50 × 2 = 5,151.
    expect(refusals(`{ myOrders { ${PAGE} } }`, 5_151)).toEqual([]);
    expect(refusals(`{ myOrders { ${PAGE} } }`, 5_150)).toHaveLength(1);
  });

  it('counts a variable limit as the largest page the resolver accepts', () => {
    const variable = `query ($n: Int) { myOrders(limit: $n) { ${PAGE} } }`;
    expect(refusals(variable, 20_601)).toEqual([]);
    expect(refusals(variable, 20_600)).toEqual([tooMuch(20_600)]);
    const aliased = Array.from({ length: 5 }, (_, i) => `a${i}: myOrders(limit: $l) { ${PAGE} }`);
    expect(refusals(`query ($l: Int!) { ${aliased.join(' ')} }`, 100_000)).toEqual([
      tooMuch(100_000),
    ]);
  });

  it('counts a literal limit clamped to 1..200, so a negative one cannot pay for other aliases', () => {
    const aliased = Array.from({ length: 40 }, (_, i) => `a${i}: myOrders(limit: 200) { ${PAGE} }`);
    const query = `{ z: myOrders(limit: -2000000000) { id } ${aliased.join(' ')} }`;
    expect(refusals(query, 100_000)).toEqual([tooMuch(100_000)]);
    // 1 + 1 × id: a zero limit still counts one item.
    expect(refusals(`{ myOrders(limit: 0) { id } }`, 2)).toEqual([]);
    expect(refusals(`{ myOrders(limit: 0) { id } }`, 1)).toEqual([tooMuch(1)]);
  });

  it('counts aliases and fragments as often as they appear', () => {
    const aliased = Array.from({ length: 100 }, (_, i) => `a${i}: myOrders { ${PAGE} }`).join(' ');
    expect(refusals(`{ ${aliased} }`, 100_000)).toEqual([tooMuch(100_000)]);
    const spread = `fragment F on Order { ${PAGE} } { a: myOrders { ...F } b: myOrders { ...F } }`;
    expect(refusals(spread, 10_302)).toEqual([]);
    expect(refusals(spread, 10_301)).toHaveLength(1);
    const nested = `{ myOrders(limit: 10) { items { ... on Item { sku } ... on Item { quantity } } } }`;
    // 1 + 10 + 10 × 50 × 2 = 1,011.
    expect(refusals(nested, 1_011)).toEqual([]);
    expect(refusals(nested, 1_010)).toHaveLength(1);
  });

  it('refuses fragments that expand past the limit, spread down a chain or in a cycle', () => {
    // 3^11 = 177,147 ids under one order, however small the limit.
    expect(refusals(fragmentChain(12, 3, 0), 100_000)).toEqual([tooMuch(100_000)]);
    const cycle =
      'fragment A on Order { id ...B } fragment B on Order { ...A } { myOrders { ...A } }';
    expect(refusals(cycle, 100_000)).toEqual([tooMuch(100_000)]);
  });

  it('looks at each fragment once per document, and refuses a document past its visit budget', () => {
    // 3^9 = 19,683 ids from 10 fragments: 30 visits, where walking each expansion takes 49,208.
    expect(refusals(fragmentChain(10, 3, 1), 1e9, { maxVisits: 100 })).toEqual([]);
    const wide = `{ myOrders(limit: 1) { ${'id '.repeat(100)} } }`;
    expect(refusals(wide, 1e9, { maxVisits: 101 })).toEqual([]);
    expect(refusals(wide, 1e9, { maxVisits: 100 })).toEqual([tooMuch(1e9)]);
  });

  it("counts a mutation's answer like a query's: 1 + 3 + 50 × 2", () => {
    expect(refusals(`mutation { placeOrder(sku: "TEA") { ${PAGE} } }`, 104)).toEqual([]);
    expect(refusals(`mutation { placeOrder(sku: "TEA") { ${PAGE} } }`, 103)).toHaveLength(1);
  });

  it('refuses a mutation with more than 10 root fields, aliased or spread from fragments', () => {
    const field = 'placeOrder(sku: "T") { id }';
    const place = (count: number, from = 0) =>
      Array.from({ length: count }, (_, i) => `p${from + i}: ${field}`).join(' ');
    const refused = 'The mutation does too much: more than 10 fields (send separate requests)';
    expect(refusals(`mutation { ${place(10)} }`, 100_000)).toEqual([]);
    expect(refusals(`mutation { ${place(11)} }`, 100_000)).toEqual([refused]);
    const spread = `mutation { ${place(6)} ...M ... on Mutation { ${place(1, 6)} } }
      fragment M on Mutation { ${place(4, 7)} }`;
    expect(refusals(spread, 100_000)).toEqual([refused]);
    // Queries only read: the values bound them.
    const queries = Array.from({ length: 11 }, (_, i) => `q${i}: myOrders(limit: 1) { id }`);
    expect(refusals(`{ ${queries.join(' ')} }`, 100_000)).toEqual([]);
  });

  it('refuses, when asked, a query with more than maxQueryFields root fields, spread or not', () => {
    const read = (count: number, from = 0) =>
      Array.from({ length: count }, (_, i) => `q${from + i}: myOrders(limit: 1) { id }`).join(' ');
    const refused = 'The query does too much: more than 10 fields (send separate requests)';
    expect(refusals(`{ ${read(10)} }`, 100_000, { maxQueryFields: 10 })).toEqual([]);
    expect(refusals(`{ ${read(11)} }`, 100_000, { maxQueryFields: 10 })).toEqual([refused]);
    const spread = `{ ${read(6)} ...Q ... on Query { ${read(1, 6)} } }
      fragment Q on Query { ${read(4, 7)} }`;
    expect(refusals(spread, 100_000, { maxQueryFields: 10 })).toEqual([refused]);
  });
});
