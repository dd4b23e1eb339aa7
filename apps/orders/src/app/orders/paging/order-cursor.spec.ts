import { BadRequestException } from '@nestjs/common';

import { orderCursor } from './order-cursor';

describe('order cursor', () => {
  const position = {
    createdAt: new Date('2026-12-02T02:33:10.123Z'),
    id: '0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9',
  };

  it('decodes what it encodes', () => {
    expect(orderCursor.decode(orderCursor.encode(position))).toEqual(position);
  });

  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it.each([
    ['too long', 'A'.repeat(500)],
    ['JSON that is not a pair', encode({ createdAt: 1, id: 2 })],
    ['a pair of numbers', encode([1, 2])],
    ['a date that is not ISO', encode(['2026-12-02', position.id])],
    ['an impossible date', encode(['2026-02-31T00:00:00.000Z', position.id])],
    ['an id that is not a UUID', encode([position.createdAt.toISOString(), "1' OR '1'='1"])],
    ['a third element', encode([position.createdAt.toISOString(), position.id, 1])],
  ])('refuses %s with a 400', (_case, cursor) => {
    expect(() => orderCursor.decode(cursor)).toThrow(BadRequestException);
  });
});
