import request from 'supertest';

import { AuthApp, ORIGIN, startAuthApp } from './auth-app';

describe('auth with SESSION_COOKIE_SECURE on', () => {
  let auth: AuthApp;

  beforeAll(async () => {
    auth = await startAuthApp('secure-cookie', { SESSION_COOKIE_SECURE: 'true' });
  });

  afterAll(async () => {
    await auth?.close();
  });

  it('sets a Secure cookie named with the __Host- prefix, and reads it back', async () => {
    const login = await request(auth.http)
      .post('/api/auth/login')
      .set('Origin', ORIGIN)
      .send({ username: 'alice', password: 'alice-password' })
      .expect(200);
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/^__Host-cr_session=cr1\./);
    expect(setCookie).toContain('Secure');
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('Path=/');
    expect(setCookie).not.toContain('Domain=');
    await request(auth.http)
      .get('/api/auth/session')
      .set('Cookie', setCookie.split(';')[0])
      .expect(200);
  });
});
