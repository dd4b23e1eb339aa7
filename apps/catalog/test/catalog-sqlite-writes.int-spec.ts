import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import Database from 'better-sqlite3';
import request from 'supertest';

import { testKeyPrefix } from '@cloakroom/session/testing';

import { Product } from '../src/app/products/entities/product.entity';
import { ProductsService } from '../src/app/products/products.service';
import { listAllProducts, randomSuffix, StandInAuth, startCatalogApp } from './catalog-app';

const ORIGIN = 'http://localhost:3000';
const dir = mkdtempSync(join(tmpdir(), 'catalog-sqlite-writes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * TypeORM's SQLite drivers run every query of the service on one connection: a product
 * creation that opened a transaction there took in the creations running meanwhile, which were
 * answered 201 before it committed, and rolled back with it when its SKU was taken (409).
 */
describe('catalog on SQLite under concurrent product creations', () => {
  const file = join(dir, 'catalog.sqlite');
  const suite = randomSuffix();
  let auth: StandInAuth;
  let app: INestApplication;
  let products: ProductsService;

  beforeAll(async () => {
    auth = await StandInAuth.started('redis://127.0.0.1:6379', testKeyPrefix(`catalog-w-${suite}`));
    app = await startCatalogApp({
      CATALOG_DATABASE_URL: `sqlite:${file}`,
      ...auth.clientEnv,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    products = app.get(ProductsService);
  });

  afterAll(async () => {
    await app?.close();
    await auth?.dispose();
  });

  /** The SKUs committed to the file, as another process (or catalog after a crash) reads them. */
  function committed(): Set<string> {
    const reader = new Database(file, { readonly: true });
    try {
      const rows = reader.prepare('SELECT sku FROM products').all() as { sku: string }[];
      return new Set(rows.map((row) => row.sku));
    } finally {
      reader.close();
    }
  }

  async function createAfter(ticks: number, sku: string): Promise<Product> {
    for (let i = 0; i < ticks; i++) await Promise.resolve();
    return products.create({ sku, name: 'Concurrent', priceCents: 100 });
  }

  it('keeps every product it created when a concurrent creation hits a taken SKU, at any offset', async () => {
    const taken = `TAKEN-${suite}`;
    await products.create({ sku: taken, name: 'First', priceCents: 100 });
    const lost: string[] = [];
    for (let offset = 0; offset < 40; offset++) {
      const skus = [0, 1, 2].map((i) => `NEW-${suite}-${offset}-${i}`);
      const results = await Promise.allSettled([
        createAfter(0, taken),
        ...skus.map((sku, i) => createAfter(offset + i, sku)),
      ]);
      expect(results[0]).toMatchObject({ status: 'rejected', reason: { status: 409 } });
      expect(results.slice(1).every((result) => result.status === 'fulfilled')).toBe(true);
      const stored = committed();
      lost.push(...skus.filter((sku) => !stored.has(sku)));
    }
    expect(lost).toEqual([]);
  });

  it('has each product committed when it answers it, whatever the interleaving', async () => {
    const uncommitted: string[] = [];
    for (let offset = 0; offset < 40; offset++) {
      await Promise.all(
        [0, 1, 2, 3].map((i) =>
          createAfter(i * offset, `NOW-${suite}-${offset}-${i}`).then(({ sku }) => {
            // Synchronously, before anything else of the service runs.
            if (!committed().has(sku)) uncommitted.push(sku);
          }),
        ),
      );
    }
    expect(uncommitted).toEqual([]);
  });

  it('lists every product answered 201 after concurrent POSTs, duplicates among them', async () => {
    const cookie = await auth.login(app, {
      id: `admin-${suite}`,
      username: 'admin',
      roles: ['admin'],
    });
    const http = request(app.getHttpServer());
    const skus = Array.from({ length: 60 }, (_, i) => `HTTP-${suite}-${i % 40}`);
    const responses = await Promise.all(
      skus.map((sku) =>
        http
          .post('/api/catalog/products')
          .set('Cookie', cookie)
          .set('Origin', ORIGIN)
          .send({ sku, name: 'Burst', priceCents: 5 }),
      ),
    );
    const created = responses.filter((response) => response.status === 201);
    expect(created).toHaveLength(40);
    expect(created[0].body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      sku: expect.any(String),
      name: 'Burst',
      priceCents: 5,
      createdAt: expect.any(String),
    });
    expect(responses.every((response) => [201, 409].includes(response.status))).toBe(true);
    const listed = await listAllProducts(http);
    const listedSkus = new Set(listed.map((product) => product.sku));
    expect(created.filter((response) => !listedSkus.has(response.body.sku))).toEqual([]);
  });
});
