import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';
import { DataSource, Like, Repository, SelectQueryBuilder } from 'typeorm';

import { SESSION_ASSERTION_FIELD, SessionAssertions, SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { MAX_QUOTE_SKUS } from '../src/app/products/dto/price-quote.request';
import { Product } from '../src/app/products/entities/product.entity';
import { CatalogMessages } from '../src/app/products/products.messages';
import { ProductsService } from '../src/app/products/products.service';
import { randomSuffix, StandInAuth, startCatalogApp } from './catalog-app';

const ORIGIN = 'http://localhost:3000';
const dir = mkdtempSync(join(tmpdir(), 'catalog-prices-case-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every letter in the other case: `Umbrella-x1` → `uMBRELLA-X1`. */
const swapCase = (sku: string) =>
  [...sku].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');

/**
 * A SKU is one product whatever its case (the unique index on `lower(sku)`), so `catalog.prices`
 * finds it whatever case it is asked in, as orders' quotes need.
 */
describe.each([
  ['PostgreSQL', () => 'postgres://postgres@127.0.0.1:5432/test'],
  ['SQLite', () => `sqlite:${join(dir, 'catalog.sqlite')}`],
])('catalog.prices whatever the case of the SKUs (%s)', (_database, url) => {
  const suite = randomSuffix();
  const admin: SessionUser = { id: `admin-${suite}`, username: 'admin', roles: ['admin'] };
  const alice: SessionUser = { id: `alice-${suite}`, username: 'alice', roles: ['customer'] };
  /** Mixed case, as an admin may type it; the suite part stays lower case for the clean-up. */
  const sku = `Umbrella-${suite}`;
  let auth: StandInAuth;
  let app: INestApplication;
  let rows: Repository<Product>;
  let client: ClientProxy;
  let orders: SessionAssertions;

  /** `catalog.prices` as orders asks it, for a live customer session. */
  async function prices(skus: unknown): Promise<unknown> {
    const { session } = await auth.issue(alice);
    return firstValueFrom(
      client.send<unknown>(CatalogMessages.prices, {
        skus,
        [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog'),
      }),
    );
  }

  beforeAll(async () => {
    auth = await StandInAuth.started('redis://127.0.0.1:6379', testKeyPrefix(`prices-${suite}`));
    app = await startCatalogApp({
      CATALOG_DATABASE_URL: url(),
      ...auth.clientEnv,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    rows = app.get(DataSource).getRepository(Product);
    await request(app.getHttpServer())
      .post('/api/catalog/products')
      .set('Cookie', await auth.login(app, admin))
      .set('Origin', ORIGIN)
      .send({ sku, name: 'Folding umbrella', priceCents: 2450 })
      .expect(201);
    client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: {
        host: '127.0.0.1',
        port: auth.catalogRpcPort,
        tlsOptions: auth.certificates.remoteTls('orders'),
      },
    });
    orders = await auth.ordersAssertions();
  });

  afterAll(async () => {
    // The PostgreSQL database is shared: the next run starts from what others left.
    await rows?.delete({ sku: Like(`%-${suite}%`) });
    await client?.close();
    await app?.close();
    await auth?.dispose();
  });

  it.each([
    ['upper case', (s: string) => s.toUpperCase()],
    ['lower case', (s: string) => s.toLowerCase()],
    ['every letter swapped', swapCase],
  ])('prices a product asked in %s, under the spelling it was created with', async (_case, as) => {
    await expect(prices([as(sku), 'NO-SUCH-SKU'])).resolves.toEqual([
      { sku, name: 'Folding umbrella', priceCents: 2450 },
    ]);
  });

  it('answers a product once to a quote naming it in several cases', async () => {
    await expect(
      prices([sku.toUpperCase(), sku.toLowerCase(), swapCase(sku), sku.toUpperCase()]),
    ).resolves.toEqual([{ sku, name: 'Folding umbrella', priceCents: 2450 }]);
  });

  it('prices the most SKUs a quote may hold, each asked in another case than it was created in', async () => {
    const many = Array.from({ length: MAX_QUOTE_SKUS }, (_, i) => `Max-${suite}-${i}`);
    await rows.insert(
      many.map((each, i) => ({ id: randomUUID(), sku: each, name: 'Many', priceCents: i })),
    );
    const answer = (await prices(many.map(swapCase))) as Array<{ sku: string; priceCents: number }>;
    expect(answer).toHaveLength(MAX_QUOTE_SKUS);
    expect(new Map(answer.map((price) => [price.sku, price.priceCents]))).toEqual(
      new Map(many.map((each, i) => [each, i])),
    );
  });

  it('answers an empty quote with no products', async () => {
    await expect(prices([])).resolves.toEqual([]);
  });

  it('refuses SQL wildcards and quotes in a SKU, and never reads them as a pattern', async () => {
    const hostile = ['%', '_', `${sku.slice(0, -1)}_`, 'UMBRELLA-%', "' OR '1'='1", '%\\'];
    for (const skus of hostile.map((each) => [each])) {
      await expect(prices(skus)).rejects.toMatchObject({ status: 400 });
    }
    // Past the validation too (a caller in-process): each is a SKU, matched as written.
    await expect(app.get(ProductsService).prices(hostile)).resolves.toEqual([]);
  });

  it('takes only ASCII letters in a SKU, which both databases lower as JavaScript does', async () => {
    // `lower()` folds only ASCII on SQLite and by locale on PostgreSQL (Turkish `İ`, Kelvin
    // `K`, `ß`, `Ü`): a SKU holding one would be unique, and found, differently on each.
    for (const nonAscii of ['\u0130STANBUL', '\u212AELVIN', 'STRA\u00dfE', '\u00dcBER']) {
      await expect(prices([nonAscii])).rejects.toMatchObject({ status: 400 });
      await request(app.getHttpServer())
        .post('/api/catalog/products')
        .set('Cookie', await auth.login(app, admin))
        .set('Origin', ORIGIN)
        .send({ sku: nonAscii, name: 'Not ASCII', priceCents: 1 })
        .expect(400);
    }
    const allowed = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-';
    const dataSource = app.get(DataSource);
    const [folded]: Array<{ folded: string }> = await dataSource.query(
      ...dataSource.driver.escapeQueryWithParameters('SELECT lower(:allowed) AS folded', {
        allowed,
      }),
    );
    expect(folded.folded).toBe(allowed.toLowerCase());
  });

  it('looks the SKUs up through the unique index on lower(sku)', async () => {
    const getMany = jest.spyOn(SelectQueryBuilder.prototype, 'getMany');
    let lookup: [string, unknown[]];
    try {
      await app.get(ProductsService).prices([swapCase(sku), 'NO-SUCH-SKU']);
      lookup = (getMany.mock.contexts[0] as SelectQueryBuilder<Product>).getQueryAndParameters();
    } finally {
      getMany.mockRestore();
    }
    expect(await queryPlan(app.get(DataSource), ...lookup)).toContain('UQ_products_sku_any_case');
  });
});

/**
 * How the database would run `sql`, as text. PostgreSQL is told to avoid a sequential scan,
 * which it prefers on a small table: only a query the index cannot serve is left with one.
 */
async function queryPlan(dataSource: DataSource, sql: string, parameters: unknown[]) {
  if (dataSource.options.type !== 'postgres') {
    const plan: Array<{ detail: string }> = await dataSource.query(
      `EXPLAIN QUERY PLAN ${sql}`,
      parameters,
    );
    return plan.map(({ detail }) => detail).join('\n');
  }
  const runner = dataSource.createQueryRunner();
  try {
    await runner.startTransaction();
    await runner.query('SET LOCAL enable_seqscan = off');
    const plan: Array<{ 'QUERY PLAN': string }> = await runner.query(`EXPLAIN ${sql}`, parameters);
    await runner.rollbackTransaction();
    return plan.map((line) => line['QUERY PLAN']).join('\n');
  } finally {
    await runner.release();
  }
}
