import { BadRequestException } from '@nestjs/common';

import { decodeProductCursor, encodeProductCursor } from './product-cursor';

describe('product cursor', () => {
  it.each(['A', 'TEA-EARL-GREY', 'z'.repeat(32)])('decodes what it encodes (%s)', (sku) => {
    expect(decodeProductCursor(encodeProductCursor(sku))).toBe(sku);
  });

  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it.each([
    ['an empty string', ''],
    ['not base64url', 'a+b/c='],
    ['too long', 'A'.repeat(500)],
    ['not JSON', Buffer.from('{[').toString('base64url')],
    ['a bare string', encode('TEA')],
    ['an object', encode({ sku: 'TEA' })],
    ['a number', encode([1])],
    ['no SKU a product can have', encode(["' OR '1'='1"])],
    ['a second element', encode(['TEA', 'MUG'])],
  ])('refuses %s with a 400', (_case, cursor) => {
    expect(() => decodeProductCursor(cursor)).toThrow(BadRequestException);
  });
});
