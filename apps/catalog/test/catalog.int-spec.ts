import { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { SessionUser } from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { listAllProducts, randomSuffix, StandInAuth, startCatalogApp } from './catalog-app';

const ORIGIN = 'http://localhost:3000';
const suite = randomSuffix();
const alice: SessionUser = { id: `alice-${suite}`, username: 'alice', roles: ['customer'] };
const admin: SessionUser = { id: `admin-${suite}`, username: 'admin', roles: ['admin'] };

describe('catalog (PostgreSQL, sessions through the auth RPC)', () => {
  let auth: StandInAuth;
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  let customerCookie: string;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await StandInAuth.started('redis://127.0.0.1:6379', testKeyPrefix(`catalog-${suite}`));
    app = await startCatalogApp({
      CATALOG_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      ...auth.clientEnv,
      SESSION_ALLOWED_ORIGINS: ORIGIN,
    });
    http = request(app.getHttpServer());
    customerCookie = await auth.login(app, alice);
    adminCookie = await auth.login(app, admin);
  });

  afterAll(async () => {
    await app?.close();
    await auth?.dispose();
  });

  function create(cookie: string, body: unknown) {
    return http
      .post('/api/catalog/products')
      .set('Cookie', cookie)
      .set('Origin', ORIGIN)
      .send(body as object);
  }

  function newProduct() {
    return { sku: `E2E-${randomSuffix()}`, name: 'Test product', priceCents: 1999 };
  }

  it('lists products to anyone, without a session', async () => {
    const response = await http.get('/api/catalog/products').expect(200);
    expect(Array.isArray(response.body)).toBe(true);
  });

  it('reports the session service and the database on the public health check', async () => {
    const response = await http.get('/api/catalog/health').expect(200);
    expect(response.body.details).toEqual({
      sessions: { status: 'up' },
      database: { status: 'up' },
    });
  });

  it('answers 401 to an anonymous product creation', async () => {
    const response = await http.post('/api/catalog/products').send(newProduct());
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ statusCode: 401, message: expect.any(String) });
  });

  it('answers 401 to an unknown token', async () => {
    const name = adminCookie.split('=')[0];
    await http
      .post('/api/catalog/products')
      .set('Cookie', `${name}=cr1.nottherealtoken`)
      .set('Origin', ORIGIN)
      .send(newProduct())
      .expect(401);
  });

  it('answers 403 to a customer creating a product', async () => {
    const response = await create(customerCookie, newProduct());
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ statusCode: 403, message: expect.any(String) });
  });

  it('lets an admin create a product: 201, then listed', async () => {
    const product = newProduct();
    const response = await create(adminCookie, product).expect(201);
    expect(response.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      ...product,
      createdAt: expect.any(String),
    });
    const list = await listAllProducts(http);
    expect(list).toContainEqual(expect.objectContaining(product));
  });

  it('answers 409 to a duplicate sku', async () => {
    const product = newProduct();
    await create(adminCookie, product).expect(201);
    const response = await create(adminCookie, { ...product, name: 'Again' });
    expect(response.status).toBe(409);
    expect(response.body).toEqual({ statusCode: 409, message: expect.any(String) });
  });

  it('refuses an admin cookie sent from a foreign origin with 403', async () => {
    await http
      .post('/api/catalog/products')
      .set('Cookie', adminCookie)
      .set('Origin', 'https://evil.example')
      .send(newProduct())
      .expect(403);
  });

  it('answers one of 20 parallel creations of one sku 201 and the others 409, never 500', async () => {
    const product = newProduct();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => create(adminCookie, { ...product, name: `Racer ${i}` })),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([201, ...Array(19).fill(409)]);
    const stored = (await listAllProducts(http)).filter(({ sku }) => sku === product.sku);
    const created = responses.find((response) => response.status === 201);
    expect(stored).toEqual([expect.objectContaining({ name: created?.body.name })]);
  });

  it.each([
    ['no Origin', {}],
    ["Origin 'null' (a sandboxed page)", { Origin: 'null' }],
    ['an allowed Origin on a cross-site fetch', { Origin: ORIGIN, 'Sec-Fetch-Site': 'cross-site' }],
    ['a sibling site', { Origin: 'http://shop.localhost:3000', 'Sec-Fetch-Site': 'same-site' }],
  ])('refuses an admin cookie with %s: 403, nothing created', async (_case, headers) => {
    const product = newProduct();
    const response = await http
      .post('/api/catalog/products')
      .set('Cookie', adminCookie)
      .set(headers)
      .send(product);
    expect(response.status).toBe(403);
    const list = await listAllProducts(http);
    expect(list).not.toContainEqual(expect.objectContaining({ sku: product.sku }));
  });

  it("takes an admin's bearer token from any origin: no browser attaches it by itself", async () => {
    const { token } = await auth.issue(admin);
    await http
      .post('/api/catalog/products')
      .set('Authorization', `Bearer ${token}`)
      .set('Origin', 'https://evil.example')
      .set('Sec-Fetch-Site', 'cross-site')
      .send(newProduct())
      .expect(201);
  });

  it.each([
    ['an empty body', {}],
    ['a negative price', { sku: 'X-1', name: 'X', priceCents: -1 }],
    ['a price in euros', { sku: 'X-1', name: 'X', priceCents: 19.99 }],
    ['a price as a string', { sku: 'X-1', name: 'X', priceCents: '100' }],
    ['an empty name', { sku: 'X-1', name: '', priceCents: 1 }],
    ['a name too long', { sku: 'X-1', name: 'x'.repeat(121), priceCents: 1 }],
    ['a bad sku', { sku: '../etc', name: 'X', priceCents: 1 }],
    ['a sku with a NUL', { sku: 'ZZ\u0000-1', name: 'X', priceCents: 1 }],
    ['an unknown field', { sku: 'X-1', name: 'X', priceCents: 1, stock: 3 }],
  ])('answers 400, not 500, to %s', async (_case, body) => {
    const response = await create(adminCookie, body);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
  });

  it.each([
    ['121 letters', 'x'.repeat(121), 'name must be 1 to 120 characters'],
    // Each emoji carries a variation selector: 122 characters to PostgreSQL, 61 to a count
    // that leaves the selectors out.
    [
      '61 emoji with variation selectors',
      '\u2764\uFE0F'.repeat(61),
      'name must be 1 to 120 characters',
    ],
    ['a lone surrogate', 'Tea\uD800pot', 'name must be well-formed Unicode'],
  ])(
    'answers 400 naming the fault, not 500, to a name of %s, and stores nothing',
    async (_case, name, message) => {
      const product = { ...newProduct(), name };
      const response = await create(adminCookie, product);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, message });
      const list = await listAllProducts(http);
      expect(list).not.toContainEqual(expect.objectContaining({ sku: product.sku }));
    },
  );

  it('takes a name of 120 characters, emoji and variation selectors counted each, and lists it as given', async () => {
    const name = '\u{1F600}\uFE0F'.repeat(60);
    const product = { ...newProduct(), name };
    await create(adminCookie, product).expect(201);
    const list = await listAllProducts(http);
    expect(list).toContainEqual(expect.objectContaining({ sku: product.sku, name }));
  });

  it.each([
    ['a NUL', 'Tea\u0000pot'],
    ['a line break', 'Tea\npot'],
    ['an escape sequence', 'Tea\u001b[31mpot'],
  ])('answers 400 naming the fault, not 500, to a name with %s', async (_case, name) => {
    const product = { ...newProduct(), name };
    const response = await create(adminCookie, product);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      statusCode: 400,
      message: 'name must not contain control characters',
    });
    const list = await listAllProducts(http);
    expect(list).not.toContainEqual(expect.objectContaining({ sku: product.sku }));
  });
});
