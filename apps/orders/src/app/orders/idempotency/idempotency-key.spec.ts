import { BadRequestException } from '@nestjs/common';

import { parseIdempotencyKey } from './idempotency-key';

describe('parseIdempotencyKey', () => {
  it('has no key without the header', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
  });

  it.each([
    ['a UUID', '8e03978e-40d5-43e8-bc93-6894a57f9324', '8e03978e-40d5-43e8-bc93-6894a57f9324'],
    ['one character', 'k', 'k'],
    ['255 characters', 'k'.repeat(255), 'k'.repeat(255)],
    ['every visible ASCII character', '!~{}"\\', '!~{}"\\'],
    ["the draft's quoted form", '"abc"', 'abc'],
    ['a quoted form with escapes', '"a\\"b\\\\c"', 'a"b\\c'],
    ['a quoted form of 255 characters', `"${'k'.repeat(255)}"`, 'k'.repeat(255)],
  ])('takes %s', (_case, header, key) => {
    expect(parseIdempotencyKey(header)).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a quoted form of 256 characters', `"${'k'.repeat(256)}"`],
    ['a space', 'a b'],
    ['a tab', 'a\tb'],
    ['a newline', 'a\nb'],
    ['a NUL', 'a\u0000b'],
    ['DEL', 'a\u007fb'],
    ['a Latin-1 letter', 'caf\u00e9'],
    ['an emoji', 'key\u{1f511}'],
    ['an empty quoted form', '""'],
    ['an unterminated quote', '"abc'],
    ['a bare quote inside a quoted form', '"a"b"'],
    ['a bad escape in a quoted form', '"a\\nb"'],
    ['several headers', ['a', 'b']],
  ])('refuses %s with a 400', (_case, header) => {
    expect(() => parseIdempotencyKey(header)).toThrow(BadRequestException);
  });
});
