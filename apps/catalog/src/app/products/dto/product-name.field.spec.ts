import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';

import { DEMO_PRODUCTS } from '../products.seeder';
import { CreateProductDto } from './create-product.dto';
import { hiddenCharacterIn } from './product-name.field';

describe('hiddenCharacterIn', () => {
  it.each([
    ['a right-to-left override', 'gum\u202E lemanE', 'U+202E'],
    ['a first-strong isolate', 'Wool \u2068scarf', 'U+2068'],
    ['a zero-width space', 'Enamel\u200Bmug', 'U+200B'],
    ['a ZWJ between Latin letters', 'Enamel\u200Dmug', 'U+200D'],
    ['a ZWNJ between Latin letters', 'Enamel\u200Cmug', 'U+200C'],
    ['a ZWJ at the end of an emoji', '\u{1F469}\u200D', 'U+200D'],
    ['a word joiner', 'Enamel\u2060mug', 'U+2060'],
    ['a byte order mark', 'Enamel mug\uFEFF', 'U+FEFF'],
    ['a right-to-left mark', 'Enamel\u200F mug', 'U+200F'],
    ['a soft hyphen', 'Ena\u00ADmel', 'U+00AD'],
    ['a line separator', 'Enamel\u2028mug', 'U+2028'],
    ['a Hangul filler', '\u3164', 'U+3164'],
    ['a variation selector after a letter', 'Enamel\uFE0F mug', 'U+FE0F'],
    ['a variation selector after a digit, no keycap', 'Mug 1\uFE0F', 'U+FE0F'],
    ['tag letters outside a flag', 'Mug\u{E0061}\u{E007F}', 'U+E0061'],
    ['a noncharacter', 'Mug\uFFFF', 'U+FFFF'],
  ])('finds %s', (_case, name, code) => {
    expect(hiddenCharacterIn(name)).toBe(code);
  });

  it.each([
    ['accents', 'Crème brûlée'],
    ['CJK', '緑茶 100 g'],
    ['an ideographic variation sequence', '葛\u{E0100}城'],
    ['Arabic', 'قهوة عربية'],
    ['Persian with a ZWNJ', 'می\u200Cخواهم'],
    ['Hindi with a ZWJ after the virama', 'क्\u200Dष'],
    ['an emoji ZWJ sequence', '\u{1F469}\u200D\u{1F4BB}'],
    ['a skin tone before a ZWJ', '\u{1F469}\u{1F3FD}\u200D\u{1F373}'],
    ['VS16 before a ZWJ', '\u{1F3F3}\uFE0F\u200D\u{1F308}'],
    ['a keycap', '1\uFE0F\u20E3'],
    ['an emoji with VS16', '\u2764\uFE0F'],
    ['a subdivision flag', '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}'],
  ])('finds nothing in %s', (_case, name) => {
    expect(hiddenCharacterIn(name)).toBeUndefined();
  });
});

describe('CreateProductDto', () => {
  it.each(DEMO_PRODUCTS)('takes the demo product $sku the seeder creates', (product) => {
    expect(validateSync(plainToInstance(CreateProductDto, product))).toEqual([]);
  });
});
