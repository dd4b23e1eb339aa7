import request from 'supertest';
import type { App } from 'supertest/types';

import { AuthApp, loginWithBearer, startAuthApp } from './auth-app';

/**
 * JSON can spell a lone UTF-16 surrogate (`"\ud800"`), which is no character: argon2 hashes
 * the UTF-8 of the password, in which every lone surrogate becomes U+FFFD. A password of them
 * is judged by the policy as the characters it is not, and stored as one that is.
 */
describe('a new password that is not well-formed Unicode', () => {
  let auth: AuthApp;
  let http: App;
  let adminToken: string;

  // Twelve different high surrogates (no two make a pair): random-looking to the strength
  // check, twelve U+FFFD to argon2, as is any other twelve.
  const surrogates = Array.from({ length: 12 }, (_, i) => `\\u${(0xd800 + i * 89).toString(16)}`);
  const illFormed = surrogates.join('');
  const replacement = '\\ufffd'.repeat(12);

  beforeAll(async () => {
    auth = await startAuthApp('password-ill-formed');
    http = auth.http;
    adminToken = (await loginWithBearer(http, 'admin', 'admin-password')).token;
  });

  afterAll(async () => {
    await auth?.close();
  });

  const login = (username: string, password: string) =>
    request(http)
      .post('/api/auth/login')
      .set('Content-Type', 'application/json')
      .send(`{"username":"${username}","password":"${password}","transport":"bearer"}`);

  it('is refused at account creation (400), and no account is made', async () => {
    const created = await request(http)
      .post('/api/auth/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .set('Content-Type', 'application/json')
      .send(`{"username":"lone-surrogates","password":"${illFormed}","roles":["customer"]}`);
    expect({ status: created.status, body: created.body }).toEqual({
      status: 400,
      body: { statusCode: 400, message: expect.stringMatching(/not valid Unicode/) },
    });
    expect((await login('lone-surrogates', replacement)).status).toBe(401);
  });

  it('is refused as a new password (400), and the current one keeps working', async () => {
    const { token } = await loginWithBearer(http, 'bob', 'bob-password');
    const changed = await request(http)
      .post('/api/auth/password')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/json')
      .send(`{"currentPassword":"bob-password","newPassword":"Quiet-${illFormed}-harbour"}`);
    expect({ status: changed.status, body: changed.body }).toEqual({
      status: 400,
      body: { statusCode: 400, message: expect.stringMatching(/not valid Unicode/) },
    });
    expect((await login('bob', `Quiet-${replacement}-harbour`)).status).toBe(401);
    expect((await login('bob', 'bob-password')).status).toBe(200);
  });
});
