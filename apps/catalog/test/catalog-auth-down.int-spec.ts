import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { freePort, RedisServerProcess, startRedisServer } from '@cloakroom/session/testing';

import { StandInAuth, startCatalogApp } from './catalog-app';

const ORIGIN = 'http://localhost:3000';

describe('catalog when the auth service or its Redis goes down (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'catalog-e2e-'));
  let redis: RedisServerProcess;
  let auth: StandInAuth;
  let app: INestApplication;
  let adminCookie: string;

  beforeAll(async () => {
    redis = await startRedisServer(await freePort());
    auth = await StandInAuth.started(redis.url, 'cr:');
    app = await startCatalogApp({
      NODE_ENV: 'development',
      CATALOG_DATABASE_URL: `sqlite:${join(dir, 'catalog.sqlite')}`,
      ...auth.clientEnv,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    adminCookie = await auth.login(app, { id: 'admin-1', username: 'admin', roles: ['admin'] });
  });

  afterAll(async () => {
    await app?.close();
    await auth?.dispose();
    await redis?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  function createProduct(sku: string) {
    return request(app.getHttpServer())
      .post('/api/catalog/products')
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .send({ sku, name: 'Lamp', priceCents: 4500 });
  }

  it('seeds an empty catalog with demo products outside production', async () => {
    const response = await request(app.getHttpServer()).get('/api/catalog/products').expect(200);
    expect(response.body.length).toBeGreaterThanOrEqual(3);
  });

  it('creates products while the auth service is up', async () => {
    await createProduct('LAMP-1').expect(201);
  });

  describe('with the auth service stopped', () => {
    beforeAll(async () => {
      await auth.stop();
    });

    it('answers 503 on guarded routes, never 500 nor a pass', async () => {
      // Answered while auth is still stopped (it starts again only below): no wait for it.
      const response = await createProduct('LAMP-2');
      expect(response.status).toBe(503);
      expect(response.body).toEqual({ statusCode: 503, message: expect.any(String) });
      const listed = await request(app.getHttpServer()).get('/api/catalog/products').expect(200);
      expect(listed.body.map((product: { sku: string }) => product.sku)).not.toContain('LAMP-2');
    });

    it('still lists products: public reads need no session', async () => {
      await request(app.getHttpServer()).get('/api/catalog/products').expect(200);
    });

    it('reports the session service down on the health check, with 503', async () => {
      const response = await request(app.getHttpServer()).get('/api/catalog/health');
      expect(response.status).toBe(503);
      expect(response.body.details.sessions.status).toBe('down');
    });

    it('recovers by itself when the auth service comes back', async () => {
      await auth.start();
      await waitFor(async () => (await createProduct('LAMP-3')).status === 201);
    });
  });

  describe("with the auth service's Redis stopped", () => {
    beforeAll(async () => {
      await redis.stop();
    });

    afterAll(async () => {
      await redis.start();
    });

    it('answers 503 on guarded routes', async () => {
      const response = await createProduct('LAMP-4');
      expect(response.status).toBe(503);
    });

    it('answers 200 on public routes', async () => {
      await request(app.getHttpServer()).get('/api/catalog/products').expect(200);
    });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
