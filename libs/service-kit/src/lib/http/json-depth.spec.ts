import fc from 'fast-check';

import { nestsDeeperThan } from './json-depth';

const bytes = (text: string) => Buffer.from(text, 'utf8');

/** The depth of a parsed value, counted the way the scanner counts brackets. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Object.values(value as object);
  return 1 + Math.max(0, ...children.map(depthOf));
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
