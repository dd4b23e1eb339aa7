import fc from 'fast-check';

import { holdsMoreValuesThan, jsonShapeExcess, nestsDeeperThan } from './json-depth';

const bytes = (text: string) => Buffer.from(text, 'utf8');

/** The depth of a parsed value, counted the way the scanner counts brackets. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Object.values(value as object);
  return 1 + Math.max(0, ...children.map(depthOf));
}

/** The values of a parsed value: itself, and each element or member value at any depth. */
function valuesOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 1;
  return (
    1 + Object.values(value as object).reduce((sum: number, child) => sum + valuesOf(child), 0)
  );
}

describe('nestsDeeperThan', () => {
  it('counts arrays and objects, not brackets inside strings or escaped quotes', () => {
    expect(nestsDeeperThan(bytes('{"items":[{"sku":"a","quantity":1}]}'), 3)).toBe(false);
    expect(nestsDeeperThan(bytes('{"items":[{"sku":"a","quantity":1}]}'), 2)).toBe(true);
    expect(nestsDeeperThan(bytes('{"name":"[[[[{{{{ \\\\\\" [[[["}'), 1)).toBe(false);
    expect(nestsDeeperThan(bytes('"\\"[[["'), 0)).toBe(false);
  });

  it('stops at the first level too many of thousands', () => {
    const deep = bytes(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(nestsDeeperThan(deep, 32)).toBe(true);
    expect(nestsDeeperThan(bytes(`${'['.repeat(32)}${']'.repeat(32)}`), 32)).toBe(false);
  });

  it('agrees with the parsed depth of any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.nat(10), (value, limit) => {
        const text = bytes(JSON.stringify(value));
        expect(nestsDeeperThan(text, limit)).toBe(depthOf(value) > limit);
      }),
    );
  });
});

describe('holdsMoreValuesThan', () => {
  it('counts elements and member values, not commas or brackets inside strings', () => {
    expect(holdsMoreValuesThan(bytes('{"items":[{"sku":"a,b","quantity":1}]}'), 5)).toBe(false);
    expect(holdsMoreValuesThan(bytes('{"items":[{"sku":"a,b","quantity":1}]}'), 4)).toBe(true);
    expect(holdsMoreValuesThan(bytes('[ ]'), 1)).toBe(false);
    expect(holdsMoreValuesThan(bytes('[ {} , [ ] ]'), 2)).toBe(true);
    const escapes = bytes(JSON.stringify({ 'a\\': ',,[{', b: '"],\\' }));
    expect(holdsMoreValuesThan(escapes, 3)).toBe(false);
    expect(holdsMoreValuesThan(escapes, 2)).toBe(true);
    expect(holdsMoreValuesThan(bytes('1'), 0)).toBe(true);
  });

  it('stops at the first value too many of a hundred thousand', () => {
    const many = bytes(`[${Array(100_000).fill('{}').join(',')}]`);
    expect(holdsMoreValuesThan(many, 1024)).toBe(true);
    expect(holdsMoreValuesThan(bytes(`[${Array(1023).fill('0').join(',')}]`), 1024)).toBe(false);
    expect(holdsMoreValuesThan(bytes(`[${Array(1024).fill('0').join(',')}]`), 1024)).toBe(true);
  });

  it('agrees with the parsed count of any JSON value, however it is spaced', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 6 }),
        fc.nat(60),
        fc.boolean(),
        (value, limit, spaced) => {
          const text = bytes(JSON.stringify(value, null, spaced ? 2 : undefined));
          expect(holdsMoreValuesThan(text, limit)).toBe(valuesOf(value) > limit);
        },
      ),
    );
  });
});

describe('jsonShapeExcess', () => {
  it('says which limit a text passes first, in one pass', () => {
    expect(jsonShapeExcess(bytes('[[[1,2,3]]]'), 3, 6)).toBeNull();
    expect(jsonShapeExcess(bytes('[[[[1]]]]'), 3, 100)).toBe('depth');
    expect(jsonShapeExcess(bytes('[1,2,3,4,5]'), 3, 5)).toBe('values');
    // The values run out before the fourth level is reached.
    expect(jsonShapeExcess(bytes('[1,2,3,4,5,[[[1]]]]'), 3, 5)).toBe('values');
  });

  it('agrees with both counts of any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.nat(8), fc.nat(60), (value, depth, count) => {
        const excess = jsonShapeExcess(bytes(JSON.stringify(value)), depth, count);
        const deep = depthOf(value) > depth;
        const many = valuesOf(value) > count;
        expect(excess === null).toBe(!deep && !many);
        if (deep && !many) expect(excess).toBe('depth');
        if (many && !deep) expect(excess).toBe('values');
      }),
    );
  });
});
