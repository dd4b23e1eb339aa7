import { BadRequestException } from '@nestjs/common';

import { keysetCursor, nextPageLink } from './keyset-paging';

describe('keysetCursor', () => {
  const NAME = /^[a-z]+$/;
  const cursor = keysetCursor<{ name: string; rank: number }>({
    maxLength: 64,
    fields: 2,
    write: ({ name, rank }) => [name, rank],
    read: ([name, rank]) =>
      typeof name === 'string' && NAME.test(name) && Number.isInteger(rank)
        ? { name, rank: rank as number }
        : undefined,
  });
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it('decodes what it encodes, as base64url JSON of the fields', () => {
    const written = cursor.encode({ name: 'tea', rank: 7 });
    expect(written).toBe(encode(['tea', 7]));
    expect(cursor.decode(written)).toEqual({ name: 'tea', rank: 7 });
  });

  it('takes a cursor as long as the limit', () => {
    const name = 'a'.repeat(42);
    const written = cursor.encode({ name, rank: 1 });
    expect(written).toHaveLength(64);
    expect(cursor.decode(written)).toEqual({ name, rank: 1 });
  });

  it.each([
    ['an empty string', ''],
    ['not base64url', 'a+b/c='],
    ['too long', 'A'.repeat(500)],
    ['a cursor it would read, past the limit', encode(['a'.repeat(43), 1])],
    ['not JSON', Buffer.from('{[').toString('base64url')],
    ['a bare string', encode('tea')],
    ['an object', encode({ name: 'tea', rank: 7 })],
    ['null', encode(null)],
    ['too few fields', encode(['tea'])],
    ['a field too many', encode(['tea', 7, 1])],
    ['fields the service does not write', encode(["' OR '1'='1", 7])],
  ])('refuses %s with a 400 naming the cursor', (_case, forged) => {
    let error: unknown;
    try {
      cursor.decode(forged);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as BadRequestException).getStatus()).toBe(400);
    expect((error as BadRequestException).message).toBe(
      'cursor is not a cursor this service issued',
    );
  });
});

describe('nextPageLink', () => {
  it('names the next page by the path asked for, with the params in their order', () => {
    expect(nextPageLink({ url: '/api/orders?limit=1' }, { cursor: 'WyJ4Il0', limit: 1 })).toBe(
      '</api/orders?cursor=WyJ4Il0&limit=1>; rel="next"',
    );
  });

  it('leaves out params that are undefined, and the query the request came with', () => {
    expect(
      nextPageLink(
        { url: '/api/catalog/products?cursor=old&x=1' },
        { cursor: 'abc', limit: undefined },
      ),
    ).toBe('</api/catalog/products?cursor=abc>; rel="next"');
  });

  it('escapes what it puts in the query', () => {
    expect(nextPageLink({ url: '/list' }, { cursor: 'a&b=c d' })).toBe(
      '</list?cursor=a%26b%3Dc+d>; rel="next"',
    );
  });

  it('never repeats the host of an absolute-form target', () => {
    expect(
      nextPageLink({ url: 'http://evil.example/api/orders?limit=2' }, { cursor: 'abc', limit: 2 }),
    ).toBe('</api/orders?cursor=abc&limit=2>; rel="next"');
  });

  it('names the root when the request has no target', () => {
    expect(nextPageLink({}, { cursor: 'abc' })).toBe('</?cursor=abc>; rel="next"');
  });
});
