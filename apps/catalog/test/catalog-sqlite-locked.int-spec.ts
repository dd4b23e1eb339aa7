import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import Database from 'better-sqlite3';
import request from 'supertest';

import { testKeyPrefix } from '@cloakroom/session/testing';

import { randomSuffix, StandInAuth, startCatalogApp } from './catalog-app';

jest.setTimeout(60_000);

const ORIGIN = 'http://localhost:3000';
const dir = mkdtempSync(join(tmpdir(), 'catalog-sqlite-locked-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Another connection holds the catalog's SQLite file locked past the driver's busy timeout (a
 * second process on the file, a backup, an operator's shell): the database is busy, not the
 * request wrong. A 503 the client may retry, as for PostgreSQL not answering, never a 500.
 */
describe('catalog while another connection holds its SQLite file locked', () => {
  const file = join(dir, 'catalog.sqlite');
  const suite = randomSuffix();
  let auth: StandInAuth;
  let app: INestApplication;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await StandInAuth.started('redis://127.0.0.1:6379', testKeyPrefix(`catalog-l-${suite}`));
    app = await startCatalogApp({
      CATALOG_DATABASE_URL: `sqlite:${file}`,
      ...auth.clientEnv,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    adminCookie = await auth.login(app, {
      id: `admin-${suite}`,
      username: 'admin',
      roles: ['admin'],
    });
  });

  afterAll(async () => {
    await app?.close();
    await auth?.dispose();
  });

  function createProduct(sku: string) {
    return request(app.getHttpServer())
      .post('/api/catalog/products')
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .send({ sku, name: 'Kettle', priceCents: 3100 });
  }

  /** Runs `during` while a second connection holds `lock` on the file, then lets go. */
  async function whileLocked<T>(lock: 'EXCLUSIVE' | 'IMMEDIATE', during: () => Promise<T>) {
    const holder = new Database(file);
    holder.exec(`BEGIN ${lock}`);
    try {
      return await during();
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  }

  it('answers 503 database_unavailable to reads and writes while the file is locked exclusively, and serves them after', async () => {
    const sku = `LOCK-${suite}`;
    const [list, create] = await whileLocked('EXCLUSIVE', async () => [
      await request(app.getHttpServer()).get('/api/catalog/products'),
      await createProduct(sku),
    ]);
    for (const answer of [list, create]) {
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ statusCode: 503, error: 'database_unavailable' });
      expect(JSON.stringify(answer.body)).not.toMatch(/SqliteError|at .*\.js/);
    }
    expect((await createProduct(sku)).status).toBe(201);
    const after = await request(app.getHttpServer()).get('/api/catalog/products?limit=200');
    expect(after.status).toBe(200);
    expect(after.body.filter((product: { sku: string }) => product.sku === sku)).toHaveLength(1);
  });

  it('answers 503 to a write while another connection holds the write lock, and stores nothing', async () => {
    const sku = `WLOCK-${suite}`;
    const create = await whileLocked('IMMEDIATE', () => createProduct(sku));
    expect(create.status).toBe(503);
    expect(create.body).toMatchObject({ statusCode: 503, error: 'database_unavailable' });
    expect((await createProduct(sku)).status).toBe(201);
  });
});
