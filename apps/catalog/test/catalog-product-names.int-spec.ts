import { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import request from 'supertest';
import { DataSource, Like, Repository } from 'typeorm';

import { SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { Product } from '../src/app/products/entities/product.entity';
import { randomSuffix, StandInAuth, startCatalogApp } from './catalog-app';

const ORIGIN = 'http://localhost:3000';
const suite = randomSuffix();
const admin: SessionUser = { id: `admin-${suite}`, username: 'admin', roles: ['admin'] };

const range = (from: number, to: number) =>
  fc.integer({ min: from, max: to }).map((code) => String.fromCodePoint(code));

/** A visible character of one of many scripts. */
const letterArb = fc.oneof(
  range(0x41, 0x5a),
  range(0x61, 0x7a),
  range(0x30, 0x39),
  range(0xc0, 0xd6),
  range(0xe0, 0xff),
  range(0x391, 0x3a9),
  range(0x410, 0x44f),
  range(0x5d0, 0x5ea),
  range(0x627, 0x64a),
  range(0x905, 0x939),
  range(0xe01, 0xe2e),
  range(0x3041, 0x3096),
  range(0x4e00, 0x9fff),
  range(0xac00, 0xd7a3),
  range(0x1f600, 0x1f64f),
);

/** Whole words where invisible characters belong to what shows: they stay accepted. */
const WORDS = [
  'Café crème',
  'Crème brûlée',
  'Ελληνικός καφές',
  'Чай',
  'قهوة عربية',
  'می‌خواهم', // Persian: a ZWNJ inside the word
  'क्‍ष', // Devanagari: a ZWJ after the virama
  '緑茶 100 g',
  '葛\u{E0100}城', // an ideographic variation sequence
  '한국 차',
  'ชาไทย',
  '👩‍💻', // ZWJ sequence
  '👩🏽‍🍳', // skin tone, then ZWJ
  '🏳️‍🌈', // VS16, then ZWJ
  '👩‍❤️‍💋‍👨',
  '❤️',
  '1️⃣', // keycap
  '🏴󠁧󠁢󠁳󠁣󠁴󠁿', // subdivision flag: tag letters
  '🇫🇷',
];
const wordArb = fc.oneof(
  fc.constantFrom(...WORDS),
  fc.array(letterArb, { minLength: 1, maxLength: 12 }).map((letters) => letters.join('')),
);

/** A valid name: words and single spaces, 1 to 60 code points. */
const validNameArb = fc
  .array(wordArb, { minLength: 1, maxLength: 5 })
  .map((words) => words.join(' '))
  .filter((name) => [...name].length <= 60);

/** Characters refused wherever they stand. */
const ALWAYS_HIDDEN = [
  ...[0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069], // bidi
  ...[0x200b, 0x2060, 0xfeff, 0x200e, 0x200f, 0x061c], // zero-width, LRM, RLM, ALM
  ...[0x00ad, 0x180e, 0x2061, 0x2064, 0xfff9, 0xfffb, 0xe0001], // other format characters
  ...[0x2028, 0x2029, 0x3164, 0x115f, 0x034f, 0xfffe, 0xffff, 0xfdd0], // separators, fillers...
  ...[0x00, 0x09, 0x0a, 0x1b, 0x7f, 0x85, 0x9f], // controls
].map((code) => String.fromCodePoint(code));
/** Refused except inside the sequences above: sent after a Latin letter, they are refused. */
const HIDDEN_OUT_OF_PLACE = [
  ...[0x200c, 0x200d, 0xfe0e, 0xfe0f, 0xfe00, 0x180b, 0xe0100, 0xe0061, 0xe007f],
].map((code) => `x${String.fromCodePoint(code)}`);
const hiddenArb = fc.oneof(
  fc.constantFrom(...ALWAYS_HIDDEN),
  fc.constantFrom(...HIDDEN_OUT_OF_PLACE),
  // One lone surrogate: two could pair up.
  range(0xd800, 0xdfff),
);

/** `name` with `hidden` put in at `position` (of its code points, both ends included). */
function inject(name: string, hidden: string, position: number): string {
  const points = [...name];
  const at = position % (points.length + 1);
  return [...points.slice(0, at), hidden, ...points.slice(at)].join('');
}

describe('product names (PostgreSQL)', () => {
  let auth: StandInAuth;
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  let rows: Repository<Product>;
  let adminCookie: string;
  let sentinel: Product;

  beforeAll(async () => {
    auth = await StandInAuth.started('redis://127.0.0.1:6379', testKeyPrefix(`names-${suite}`));
    app = await startCatalogApp({
      CATALOG_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      ...auth.clientEnv,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    http = request(app.getHttpServer());
    rows = app.get(DataSource).getRepository(Product);
    adminCookie = await auth.login(app, admin);
    const sku = `NAMES-${suite}`;
    await create({ sku, name: 'Enamel mug', priceCents: 1200 }).expect(201);
    sentinel = await rows.findOneByOrFail({ sku });
  });

  afterAll(async () => {
    // The database is shared: the next run starts from what others left.
    await rows?.delete({ sku: Like(`N-${suite}-%`) });
    await rows?.delete({ sku: `NAMES-${suite}` });
    await app?.close();
    await auth?.dispose();
  });

  let count = 0;
  const newSku = () => `N-${suite}-${++count}`;

  function create(body: object) {
    return http
      .post('/api/catalog/products')
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .send(body);
  }

  it('refuses a hidden or text-direction character anywhere in a valid name: 400 naming the field, nothing stored', async () => {
    await fc.assert(
      fc.asyncProperty(
        validNameArb,
        fc.array(fc.tuple(hiddenArb, fc.nat()), { minLength: 1, maxLength: 3 }),
        fc.constantFrom('new', 'taken'),
        async (valid, injections, which) => {
          // Two lone surrogates could make a pair: the second one is dropped.
          const seen = { surrogate: false };
          const name = injections.reduce((text, [hidden, position]) => {
            const surrogate = /^[\uD800-\uDFFF]$/.test(hidden);
            if (surrogate && seen.surrogate) return text;
            seen.surrogate ||= surrogate;
            return inject(text, hidden, position);
          }, valid);
          // A taken SKU too: the name is refused before the INSERT can say 409.
          const sku = which === 'new' ? newSku() : sentinel.sku;
          const response = await create({ sku, name, priceCents: 100 });
          expect({ status: response.status, body: response.body }).toEqual({
            status: 400,
            body: { statusCode: 400, message: expect.stringMatching(/^name /) },
          });
          for (const message of (response.body.message as string).split('; ')) {
            expect(message).toMatch(/^name /);
          }
          expect(await rows.findBy({ sku })).toEqual(which === 'new' ? [] : [sentinel]);
        },
      ),
      { numRuns: 1000 },
    );
    expect(await rows.findOneBy({ sku: sentinel.sku })).toEqual(sentinel);
  }, 120_000);

  it('takes names in many scripts, emoji sequences included, and stores them as sent (NFC)', async () => {
    await fc.assert(
      fc.asyncProperty(validNameArb, async (name) => {
        const sku = newSku();
        const response = await create({ sku, name, priceCents: 100 });
        expect({ status: response.status, name: response.body.name }).toEqual({
          status: 201,
          name: name.normalize('NFC'),
        });
        expect(await rows.findOneBy({ sku })).toMatchObject({ name: name.normalize('NFC') });
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('stores a decomposed name composed (NFC), the same text as the composed one', async () => {
    const sku = newSku();
    const response = await create({ sku, name: 'Cafe\u0301 cre\u0300me', priceCents: 100 });
    expect(response.status).toBe(201);
    expect(response.body.name).toBe('Café crème');
    expect((await rows.findOneByOrFail({ sku })).name).toBe('Café crème');
  });

  it.each([
    ['U+202E', 'gum\u202E lemanE'],
    ['U+200B', 'Enamel\u200Bmug'],
    ['U+200D', 'Enamel\u200Dmug'],
  ])('names the character it refuses (%s)', async (code, name) => {
    const response = await create({ sku: newSku(), name, priceCents: 100 });
    expect(response.body).toEqual({
      statusCode: 400,
      message: `name must not contain invisible or text-direction characters (${code})`,
    });
  });

  it.each([' Enamel mug', 'Enamel mug ', '\u00A0Enamel mug', ' '])(
    'refuses a name that starts or ends with a space (%j)',
    async (name) => {
      const response = await create({ sku: newSku(), name, priceCents: 100 });
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(/^name must not start or end with a space/);
    },
  );
});
