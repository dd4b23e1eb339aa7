import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DataSource, DataSourceOptions, Like, Repository } from 'typeorm';

import { databaseOptions, openDataSource } from '@cloakroom/database';
import { StartupError } from '@cloakroom/service-kit';
import { SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { Product } from '../src/app/products/entities/product.entity';
import { CreateProducts1764000000000 } from '../src/app/products/migrations/1764000000000-create-products';
import { UniqueSkuAnyCase1765000000000 } from '../src/app/products/migrations/1765000000000-unique-sku-any-case';
import { randomSuffix, StandInAuth, startCatalogApp } from './catalog-app';

const ORIGIN = 'http://localhost:3000';
const dir = mkdtempSync(join(tmpdir(), 'catalog-sku-case-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The same letters in each case a SKU can be typed in. */
function caseVariants(sku: string): string[] {
  const flip = (text: string) =>
    [...text].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
  return [sku.toUpperCase(), sku.toLowerCase(), flip(sku), sku];
}

/** `UMBRELLA` and `umbrella` on a list or an order line are one product, not two. */
describe.each([
  ['PostgreSQL', () => 'postgres://postgres@127.0.0.1:5432/test'],
  ['SQLite', () => `sqlite:${join(dir, 'catalog.sqlite')}`],
])('product SKUs whatever their case (%s)', (_database, url) => {
  const suite = randomSuffix();
  const admin: SessionUser = { id: `admin-${suite}`, username: 'admin', roles: ['admin'] };
  let auth: StandInAuth;
  let app: INestApplication;
  let rows: Repository<Product>;
  let adminCookie: string;

  function create(sku: string) {
    return request(app.getHttpServer())
      .post('/api/catalog/products')
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .send({ sku, name: 'Umbrella', priceCents: 2450 });
  }

  /** The products stored under `sku` in any case, read past the service. */
  const storedAnyCase = async (sku: string) =>
    (await rows.find({ select: { sku: true } })).filter(
      (product) => product.sku.toLowerCase() === sku.toLowerCase(),
    );

  beforeAll(async () => {
    auth = await StandInAuth.started('redis://127.0.0.1:6379', testKeyPrefix(`sku-case-${suite}`));
    app = await startCatalogApp({
      CATALOG_DATABASE_URL: url(),
      ...auth.clientEnv,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    rows = app.get(DataSource).getRepository(Product);
    adminCookie = await auth.login(app, admin);
  });

  afterAll(async () => {
    // The PostgreSQL database is shared: the next run starts from what others left.
    await rows?.delete({ sku: Like(`%-${suite}`) });
    await rows?.delete({ sku: Like(`%-${suite.toUpperCase()}`) });
    await app?.close();
    await auth?.dispose();
  });

  it('answers 409 to a SKU that differs from a stored one only in case, and keeps the first', async () => {
    const [first, ...others] = caseVariants(`Umbrella-${suite}`);
    await create(first).expect(201);
    for (const sku of others) {
      const response = await create(sku);
      expect(response.status).toBe(409);
      expect(response.body).toEqual({
        statusCode: 409,
        message: `A product with sku ${sku} already exists (SKUs ignore case)`,
      });
    }
    expect(await storedAnyCase(first)).toEqual([{ sku: first }]);
  });

  it('creates one of 20 parallel creations of one SKU in different cases, and answers the others 409', async () => {
    const variants = caseVariants(`Race-${suite}`);
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => create(variants[i % variants.length])),
    );
    const statuses = responses.map(({ status }) => status).sort();
    expect(statuses).toEqual([201, ...Array<number>(19).fill(409)]);
    const created = responses.find(({ status }) => status === 201)?.body.sku;
    expect(await storedAnyCase(created)).toEqual([{ sku: created }]);
  });
});

describe('the migration to SKUs unique whatever their case', () => {
  it('fails start-up, naming them, over products whose SKUs differ only in case', async () => {
    const file = join(dir, 'clashing.sqlite');
    const open = (migrations: DataSourceOptions['migrations']) =>
      openDataSource(
        databaseOptions(`sqlite:${file}`, {
          entities: [Product],
          migrations: migrations ?? [],
          migrationsTableName: 'catalog_migrations',
        }) as DataSourceOptions,
      );
    const before = await open([CreateProducts1764000000000]);
    await before.getRepository(Product).insert([
      { id: '1', sku: 'UMBRELLA', name: 'Folding umbrella', priceCents: 2450 },
      { id: '2', sku: 'umbrella', name: 'Folding umbrella', priceCents: 2450 },
    ]);
    await before.destroy();

    const failure = await open([CreateProducts1764000000000, UniqueSkuAnyCase1765000000000]).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as Error).message).toContain(
      'products whose SKUs differ only in case must be renamed first: umbrella',
    );
  });
});
