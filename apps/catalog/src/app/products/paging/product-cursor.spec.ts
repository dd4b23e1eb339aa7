import { BadRequestException } from '@nestjs/common';

import { productCursor } from './product-cursor';

describe('product cursor', () => {
  it.each(['A', 'TEA-EARL-GREY', 'z'.repeat(32)])('decodes what it encodes (%s)', (sku) => {
    expect(productCursor.decode(productCursor.encode(sku))).toBe(sku);
  });

  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it.each([
    ['too long', 'A'.repeat(500)],
    ['a bare string', encode('TEA')],
    ['an object', encode({ sku: 'TEA' })],
    ['a number', encode([1])],
    ['no SKU a product can have', encode(["' OR '1'='1"])],
    ['a second element', encode(['TEA', 'MUG'])],
  ])('refuses %s with a 400', (_case, cursor) => {
    expect(() => productCursor.decode(cursor)).toThrow(BadRequestException);
  });
});
