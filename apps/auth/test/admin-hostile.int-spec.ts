import request from 'supertest';
import type { App } from 'supertest/types';

import { UsersService } from '../src/app/users/users.service';

import { AuthApp, loginWithBearer, startAuthApp, strongPassword } from './auth-app';

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/**
 * The admin console against callers who try their luck: a customer spelling admin routes
 * another way, an administrator slipping fields into a body, and names made to pass for
 * `admin`. Each is refused with a JSON 4xx, and nothing is written.
 */
describe('the admin console against hostile callers', () => {
  let auth: AuthApp;
  let http: App;
  let adminToken: string;
  let customerToken: string;
  let customerId: string;

  beforeAll(async () => {
    auth = await startAuthApp('admin-hostile');
    http = auth.http;
    adminToken = (await loginWithBearer(http, 'admin', 'admin-password')).token;
    const customer = await loginWithBearer(http, 'alice', 'alice-password');
    customerToken = customer.token;
    customerId = customer.body.user.id;
  });

  afterAll(async () => {
    await auth?.close();
  });

  const users = () => auth.app.get(UsersService);

  describe('a customer', () => {
    const spellings = (id: string): Array<[string, string]> => [
      ['get', '/api/auth/users'],
      ['get', '/api/auth/USERS'],
      ['get', '/API/AUTH/USERS/'],
      ['head', '/api/auth/users'],
      ['get', '/api/auth/users?search=a'],
      ['post', '/api/auth/Users'],
      ['put', `/api/auth/users/${id}/roles`],
      ['put', `/api/auth/users/${id}/ROLES/`],
      ['put', `/api/auth/users/${id}/disabled`],
      ['get', `/api/auth/users/${id}/sessions`],
      ['delete', `/api/auth/users/${id}/sessions`],
      ['post', '/api/auth/revoke-all'],
      ['post', '/api/auth/REVOKE-ALL'],
    ];

    it('is refused every admin route, however the path is spelt', async () => {
      for (const [method, path] of spellings(customerId)) {
        const response = await request(http)
          [method as 'get'](path)
          .set(bearer(customerToken))
          .set('X-HTTP-Method-Override', 'GET')
          .send(method === 'get' || method === 'head' ? undefined : { roles: ['admin'] });
        expect({ method, path, status: response.status }).toEqual({ method, path, status: 403 });
        if (method !== 'head') {
          expect(response.body).toEqual({ statusCode: 403, message: expect.any(String) });
        }
      }
      expect((await users().findById(customerId))?.roles).toEqual(['customer']);
    });

    it('finds no other route to the admin console (404, never the page)', async () => {
      for (const path of ['/api/auth//users', '/api/auth/%75sers', '/api/auth/./users']) {
        const response = await request(http).get(path).set(bearer(customerToken));
        expect({ path, status: response.status }).toEqual({ path, status: 404 });
        expect(response.body).toEqual({ statusCode: 404, message: expect.any(String) });
      }
    });
  });

  describe('an administrator', () => {
    let made = 0;
    const fresh = () => `hostile-${process.pid}-${made++}`;

    it.each<[string, object]>([
      ['disabled', { disabled: true }],
      ['id', { id: '00000000-0000-4000-8000-000000000000' }],
      ['passwordHash', { passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$x$y' }],
      ['createdAt', { createdAt: '2000-01-01T00:00:00Z' }],
      ['accessPending', { accessPending: true }],
      ['sessionsRevokePending', { sessionsRevokePending: true }],
    ])('cannot set %s through a creation (400, nobody created)', async (field, extra) => {
      const username = fresh();
      const response = await request(http)
        .post('/api/auth/users')
        .set(bearer(adminToken))
        .send({ username, password: strongPassword(), roles: ['customer'], ...extra });
      expect(response.status).toBe(400);
      expect(response.body).toEqual({
        statusCode: 400,
        message: `property ${field} should not exist`,
      });
      expect(await users().findByUsername(username)).toBeNull();
    });

    it.each(['__proto__', 'constructor'])(
      'cannot grant roles through a %s key (400, nobody created)',
      async (key) => {
        const username = fresh();
        const body = JSON.stringify({ username, password: strongPassword(), roles: [] }).replace(
          /}$/,
          `,"${key}":{"roles":["admin"],"prototype":{"roles":["admin"]}}}`,
        );
        const response = await request(http)
          .post('/api/auth/users')
          .set(bearer(adminToken))
          .set('Content-Type', 'application/json')
          .send(body);
        expect(response.status).toBe(400);
        expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
        expect(await users().findByUsername(username)).toBeNull();
      },
    );

    it('cannot slip another field into a change of roles or of the disabled flag', async () => {
      const id = customerId;
      for (const [route, body] of [
        ['roles', { roles: ['customer'], disabled: true }],
        ['roles', { roles: { 0: 'admin', length: 1 } }],
        ['disabled', { disabled: false, roles: ['admin'] }],
        ['disabled', { disabled: 'false' }],
      ] as const) {
        const response = await request(http)
          .put(`/api/auth/users/${id}/${route}`)
          .set(bearer(adminToken))
          .send(body);
        expect({ body, status: response.status }).toEqual({ body, status: 400 });
        expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
      }
      const stored = await users().findById(id);
      expect({ roles: stored?.roles, disabled: stored?.disabled }).toEqual({
        roles: ['customer'],
        disabled: false,
      });
    });

    it.each([
      ['Cyrillic а', '\u0430dmin'],
      ['dotless ı', 'adm\u0131n'],
      ['fullwidth letters', '\uFF41\uFF44\uFF4D\uFF49\uFF4E'],
      ['a zero-width space', 'ad\u200Bmin'],
      ['a zero-width joiner', 'admin\u200D'],
      ['a combining mark', 'admi\u0301n'],
      ['the Kelvin sign', '\u212Aadmin'],
      ['a NUL', 'admin\u0000x'],
    ])('cannot create an admin lookalike with %s (400)', async (_what, username) => {
      const response = await request(http)
        .post('/api/auth/users')
        .set(bearer(adminToken))
        .send({ username, password: strongPassword(), roles: ['customer'] });
      expect(response.status).toBe(400);
      expect(response.body).toEqual({
        statusCode: 400,
        message: 'username must be 3 to 64 letters, digits, dots, dashes or underscores',
      });
    });

    it.each(['ADMIN', ' admin', 'admin\t', '\uFEFFAdmin\u00A0', 'aDmIn\n'])(
      'meets the existing admin for %j: same name once trimmed and lower-cased (409)',
      async (username) => {
        const response = await request(http)
          .post('/api/auth/users')
          .set(bearer(adminToken))
          .send({ username, password: strongPassword(), roles: ['admin'] });
        expect(response.status).toBe(409);
        expect(response.body).toEqual({ statusCode: 409, message: 'Username already taken' });
      },
    );

    it('gets JSON 4xx bodies, never a stack or SQL text, for broken input', async () => {
      const probes: Array<[number, request.Test]> = [
        [400, request(http).put('/api/auth/users/not-a-uuid/roles').send({ roles: [] })],
        [
          400,
          request(http)
            .put(`/api/auth/users/${customerId}/roles`)
            .set('Content-Type', 'application/json')
            .send('{"roles":['),
        ],
        [404, request(http).get('/api/auth/users/00000000-0000-4000-8000-000000000000/sessions')],
        [404, request(http).delete(`/api/auth/users/${customerId}/sessions/${'a'.repeat(4000)}`)],
        [400, request(http).get('/api/auth/users').query({ search: 'a\u0000' })],
        [
          400,
          request(http)
            .get('/api/auth/users')
            .query({ search: 'a'.repeat(65) }),
        ],
        [400, request(http).get('/api/auth/users').query({ cursor: '%00' })],
        [400, request(http).get('/api/auth/users').query({ limit: '100000' })],
        [400, request(http).get('/api/auth/users?search[$ne]=x')],
      ];
      for (const [status, probe] of probes) {
        const response = await probe.set(bearer(adminToken));
        expect(response.status).toBe(status);
        expect(response.body).toEqual({ statusCode: status, message: expect.any(String) });
        expect(response.body.message).not.toMatch(/\bat \S+:\d+|QueryFailed|SELECT|syntax/i);
      }
    });
  });
});
