import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsString, Matches, ValidateBy } from 'class-validator';

/** Scripts whose spelling needs a joiner inside a word (Persian می‌خواهم, Hindi क्‍ष). */
const JOINING_SCRIPTS = [
  'Arabic',
  'Syriac',
  'Nko',
  'Mongolian',
  'Devanagari',
  'Bengali',
  'Gurmukhi',
  'Gujarati',
  'Oriya',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Sinhala',
];

/**
 * Invisible characters that are part of a visible one, so a name may hold them here and only
 * here: a ZWJ between two pictographs (👩‍💻, 🏳️‍🌈), VS15/VS16 after an emoji other than the
 * digits, `#` and `*` (which take VS16 only in a keycap, 1️⃣), an ideographic variation selector
 * after an ideograph, a Mongolian free variation selector after a Mongolian letter, one ZWNJ or
 * ZWJ between two letters of a script that spells with it, and the tag letters of a subdivision
 * flag (🏴󠁧󠁢󠁳󠁣󠁴󠁿). Marks are looked past a few at a time only: a name is at most 120
 * characters, and a long body must not make this slow.
 */
const VISIBLE_SEQUENCES = new RegExp(
  [
    String.raw`(?<=\p{Extended_Pictographic}[\p{Emoji_Modifier}\uFE0F]?)\u200D(?=\p{Extended_Pictographic})`,
    String.raw`(?<=[^\P{Emoji}0-9#*])[\uFE0E\uFE0F]`,
    String.raw`(?<=[0-9#*])\uFE0F(?=\u20E3)`,
    String.raw`(?<=\p{Ideographic})[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]`,
    String.raw`(?<=\p{sc=Mongolian})[\u180B-\u180D\u180F]`,
    ...JOINING_SCRIPTS.map(
      (script) =>
        String.raw`(?<=\p{sc=${script}}\p{M}{0,4})[\u200C\u200D](?=\p{M}{0,4}\p{sc=${script}})`,
    ),
    String.raw`(?<=\u{1F3F4})[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{2,6}\u{E007F}`,
  ].join('|'),
  'gu',
);

/**
 * What renders as nothing or moves the text around it: format characters (bidi embeddings,
 * overrides and isolates, LRM/RLM, zero-width spaces and joiners, the word joiner, the BOM, the
 * soft hyphen, tags), line and paragraph separators, noncharacters, and whatever else Unicode
 * calls default-ignorable (variation selectors, Hangul fillers, the grapheme joiner). Controls
 * and surrogates have rules of their own.
 */
const HIDDEN = /[\p{Cf}\p{Zl}\p{Zp}\p{Noncharacter_Code_Point}\p{Default_Ignorable_Code_Point}]/u;

/**
 * The first character of `name` that would hide in it or turn the text around it, as `U+XXXX`;
 * undefined when every character shows. Such a character lets one product pass for another
 * (`Enamel mug` and `Enamel\u200Bmug` look alike, U+202E shows `gum lemanE` as `Enamel mug`).
 *
 * @example
 * hiddenCharacterIn('Wool\u202Escarf'); // 'U+202E'
 * hiddenCharacterIn('Tea 👩‍🍳'); // undefined: the ZWJ joins two pictographs
 */
export function hiddenCharacterIn(name: string): string | undefined {
  const found = HIDDEN.exec(name.replace(VISIBLE_SEQUENCES, ''));
  if (!found) {
    return undefined;
  }
  const code = found[0].codePointAt(0) as number;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * A product's name, stored in NFC (composed): `é` typed as `e` + U+0301 is the same name as
 * `é`, so it is the same text in the database and in every comparison. 1 to 120 characters
 * counted in code points (as PostgreSQL counts `varchar(120)`), every one of them visible
 * ({@link hiddenCharacterIn}), no space at either end.
 *
 * @example
 * class CreateProductDto { @ProductNameField() name!: string; }
 */
export function ProductNameField(): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }) => (typeof value === 'string' ? value.normalize('NFC') : value)),
    IsString(),
    // class-validator's `Length` leaves variation selectors (U+FE0E, U+FE0F) out of its count,
    // so a longer name reached the INSERT and was refused there (a 500).
    Matches(/^.{1,120}$/su, { message: 'name must be 1 to 120 characters' }),
    // PostgreSQL refuses a NUL in text (a 500).
    Matches(/^\P{Cc}*$/u, { message: 'name must not contain control characters' }),
    // A lone surrogate is no text: the database would keep U+FFFD in its place.
    Matches(/^\P{Cs}*$/u, { message: 'name must be well-formed Unicode' }),
    Matches(/^(?!\s)[^]*(?<!\s)$/, { message: 'name must not start or end with a space' }),
    ValidateBy({
      name: 'isVisibleText',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && !hiddenCharacterIn(value),
        defaultMessage: (args) =>
          `name must not contain invisible or text-direction characters (${hiddenCharacterIn(String(args?.value))})`,
      },
    }),
  );
}
