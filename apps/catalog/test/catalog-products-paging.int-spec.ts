import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DataSource, Like, Repository } from 'typeorm';

import { SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { Product } from '../src/app/products/entities/product.entity';
import {
  listAllProducts,
  nextPage,
  randomSuffix,
  StandInAuth,
  startCatalogApp,
} from './catalog-app';

const ORIGIN = 'http://localhost:3000';
const dir = mkdtempSync(join(tmpdir(), 'catalog-paging-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SKU_STARTS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe.each([
  ['PostgreSQL', () => 'postgres://postgres@127.0.0.1:5432/test'],
  ['SQLite', () => `sqlite:${join(dir, 'catalog.sqlite')}`],
])('GET /api/catalog/products in pages (%s)', (_database, url) => {
  const suite = randomSuffix();
  const admin: SessionUser = { id: `admin-${suite}`, username: 'admin', roles: ['admin'] };
  let auth: StandInAuth;
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  let rows: Repository<Product>;
  let adminCookie: string;
  let count = 0;

  /** A new SKU that sorts anywhere among the others: before and after a walk's cursor. */
  const newSku = () =>
    `${SKU_STARTS[Math.floor(Math.random() * SKU_STARTS.length)]}P-${suite}-${++count}`;

  function create(sku: string) {
    return http
      .post('/api/catalog/products')
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .send({ sku, name: 'Paged', priceCents: 100 })
      .expect(201);
  }

  /** Every SKU in the database's own order (its collation's), which the pages must follow. */
  const stored = async () =>
    (await rows.find({ select: { sku: true }, order: { sku: 'ASC' } })).map(({ sku }) => sku);

  beforeAll(async () => {
    auth = await StandInAuth.started('redis://127.0.0.1:6379', testKeyPrefix(`paging-${suite}`));
    app = await startCatalogApp({
      CATALOG_DATABASE_URL: url(),
      ...auth.clientEnv,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    http = request(app.getHttpServer());
    rows = app.get(DataSource).getRepository(Product);
    adminCookie = await auth.login(app, admin);
    // More than a default page, whatever the database held before.
    for (let i = 0; i < 60; i++) await create(newSku());
  });

  afterAll(async () => {
    // The PostgreSQL database is shared: the next run starts from what others left.
    await rows?.delete({ sku: Like(`%P-${suite}-%`) });
    await app?.close();
    await auth?.dispose();
  });

  it('answers 50 products in SKU order by default, an array, and a Link to the next page', async () => {
    const response = await http.get('/api/catalog/products').expect(200);
    const skus = (response.body as Product[]).map((product) => product.sku);
    const all = await stored();
    expect(skus).toEqual(all.slice(0, 50));
    const next = nextPage(response.headers['link']);
    expect(next).toMatch(/^\/api\/catalog\/products\?cursor=[A-Za-z0-9_-]+$/);
    const after = (await http.get(next as string).expect(200)).body as Product[];
    expect(after.map((product) => product.sku)).toEqual(all.slice(50, 100));
  });

  it('walks every product once with any limit up to 200, the limit kept in each Link', async () => {
    const all = await stored();
    for (const limit of [1, 7, 50, 200]) {
      const seen: string[] = [];
      let pages = 0;
      for (let path = `/api/catalog/products?limit=${limit}`; path; pages++) {
        if (limit === 1 && pages === 30) break;
        const response = await http.get(path).expect(200);
        const page = (response.body as Product[]).map((product) => product.sku);
        expect(page.length).toBeLessThanOrEqual(limit);
        seen.push(...page);
        const next = nextPage(response.headers['link']);
        if (next) expect(new URLSearchParams(next.split('?')[1]).get('limit')).toBe(`${limit}`);
        path = next ?? '';
      }
      expect(seen).toEqual(limit === 1 ? all.slice(0, 30) : all);
    }
  });

  it('never answers a product twice nor skips one while products are created between page reads', async () => {
    for (let round = 0; round < 20; round++) {
      const before = await stored();
      // About a dozen pages, whatever the database holds (more past 2,400 products).
      const limit = Math.min(200, Math.max(1, Math.ceil(before.length / 12)));
      const created: string[] = [];
      let walking = true;
      const creating = (async () => {
        while (walking) {
          const burst = Array.from({ length: 1 + (round % 3) }, newSku);
          await Promise.all(burst.map(create));
          created.push(...burst);
        }
      })();
      const seen: string[] = [];
      try {
        for (let path = `/api/catalog/products?limit=${limit}`; path; ) {
          const response = await http.get(path).expect(200);
          seen.push(...(response.body as Product[]).map((product) => product.sku));
          path = nextPage(response.headers['link']) ?? '';
        }
      } finally {
        walking = false;
        await creating;
      }
      expect(created.length).toBeGreaterThan(0);
      const listed = new Set(seen);
      expect(seen).toEqual((await stored()).filter((sku) => listed.has(sku)));
      expect(before.filter((sku) => !seen.includes(sku))).toEqual([]);
      const now = new Set([...before, ...created]);
      expect(seen.filter((sku) => !now.has(sku))).toEqual([]);
    }
  }, 120_000);

  it('lists every product created concurrently, following the Links', async () => {
    const skus = Array.from({ length: 30 }, newSku);
    await Promise.all(skus.map(create));
    const listed = new Set((await listAllProducts(http)).map((product) => product.sku));
    expect(skus.filter((sku) => !listed.has(sku))).toEqual([]);
  });

  it.each([
    ['limit=0'],
    ['limit=201'],
    ['limit=-1'],
    ['limit=1.5'],
    ['limit=1e2'],
    ['limit=0x10'],
    ['limit=ten'],
    ['limit='],
    ['limit=5&limit=6'],
    ['cursor='],
    ['cursor=a+b/c='],
    [`cursor=${'A'.repeat(100)}`],
    [`cursor=${Buffer.from('{[').toString('base64url')}`],
    [`cursor=${encode(['../etc'])}`],
    [`cursor=${encode(['A', 'B'])}`],
    [`cursor=${encode([1])}`],
    [`cursor=${encode({ sku: 'A' })}`],
    [`cursor=${encode(['A'])}&cursor=${encode(['B'])}`],
    ['offset=10'],
  ])('answers 400 JSON to ?%s', async (query) => {
    const response = await http.get(`/api/catalog/products?${query}`);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
  });
});
