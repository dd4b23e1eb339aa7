import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { getRepositoryToken } from '@nestjs/typeorm';
import { Repository } from 'typeorm';

import { freePort, testKeyPrefix } from '@cloakroom/session/testing';

import { Product } from '../src/app/products/entities/product.entity';
import { ProductsSeeder } from '../src/app/products/products.seeder';
import { randomSuffix, StandInAuth, startCatalogApp } from './catalog-app';

/**
 * Two catalog instances starting at once on one empty database (development, where demo
 * products are seeded): both find it empty, both seed it. The one that came second used to fail
 * its start on the first demo SKU the other had created (409 thrown from its bootstrap).
 */
describe('catalog instances seeding one empty database at once (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'catalog-seed-race-'));
  let auth: StandInAuth;
  let apps: INestApplication[];

  beforeAll(async () => {
    auth = await StandInAuth.started(
      'redis://127.0.0.1:6379',
      testKeyPrefix(`catalog-seed-${randomSuffix()}`),
    );
    const env = {
      CATALOG_DATABASE_URL: `sqlite:${join(dir, 'catalog.sqlite')}`,
      ...auth.clientEnv,
    };
    // One after the other: each migrates the file and the first seeds it.
    apps = [await startCatalogApp(env)];
    apps.push(await startCatalogApp({ ...env, CATALOG_RPC_PORT: String(await freePort()) }));
  });

  afterAll(async () => {
    for (const app of apps ?? []) await app.close();
    await auth?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function seedAfter(app: INestApplication, ticks: number): Promise<void> {
    for (let i = 0; i < ticks; i++) await Promise.resolve();
    await app.get(ProductsSeeder).onApplicationBootstrap();
  }

  it('fails neither bootstrap and seeds each demo product once, whatever the interleaving', async () => {
    const products = apps[0].get<Repository<Product>>(getRepositoryToken(Product));
    const failed: string[] = [];
    for (let offset = 0; offset < 30; offset++) {
      await products.clear();
      const results = await Promise.allSettled([seedAfter(apps[0], 0), seedAfter(apps[1], offset)]);
      for (const result of results) {
        if (result.status === 'rejected') failed.push(`offset ${offset}: ${result.reason}`);
      }
      const skus = (await products.find()).map((product) => product.sku).sort();
      expect(skus).toEqual(['MUG-ENAMEL', 'SCARF-WOOL', 'TEA-EARL-GREY', 'UMBRELLA']);
    }
    expect(failed).toEqual([]);
  });
});
