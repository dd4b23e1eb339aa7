import request from 'supertest';
import type { App } from 'supertest/types';

import { AuthApp, ORIGIN, startAuthApp } from './auth-app';

/**
 * A browser that signed in with a cookie, then signs in again in bearer mode (a client of the
 * same origin that keeps its token itself). The login revokes the cookie's session (no
 * fixation), but the browser goes on sending the cookie with every request, next to the bearer
 * token: two different tokens, which the guard refuses (401), and a script cannot drop an
 * HttpOnly cookie. The bearer login must not leave the client locked out of its own session.
 */
describe('a bearer login from a browser that holds a session cookie', () => {
  let auth: AuthApp;
  let http: App;

  beforeAll(async () => {
    auth = await startAuthApp('bearer-login-over-cookie');
    http = auth.http;
  });

  afterAll(async () => {
    await auth?.close();
  });

  it.each([
    ['a browser-session cookie', false],
    ['a remember-me cookie', true],
  ])('drops %s it revoked, and the token it answers works', async (_case, rememberMe) => {
    // An agent keeps cookies as a browser does, honouring their expiry.
    const browser = request.agent(http);
    await browser
      .post('/api/auth/login')
      .set('Origin', ORIGIN)
      .send({ username: 'alice', password: 'alice-password', rememberMe })
      .expect(200);
    await browser.get('/api/auth/session').expect(200);

    const bearer = await browser
      .post('/api/auth/login')
      .set('Origin', ORIGIN)
      .send({ username: 'alice', password: 'alice-password', transport: 'bearer' })
      .expect(200);
    const setCookies = ([] as string[]).concat(bearer.headers['set-cookie'] ?? []);
    const sessionCookies = setCookies.filter((cookie) => cookie.startsWith('cr_session='));
    // Only the revoked cookie cleared: no new session cookie, and nothing else of the site
    // (a client keeping its token in storage would lose it to Clear-Site-Data).
    expect(sessionCookies).toEqual([expect.stringMatching(/^cr_session=; Max-Age=0; Path=\//)]);
    expect(bearer.headers['clear-site-data']).toBeUndefined();

    const token = bearer.body.token as string;
    await browser.get('/api/auth/session').set('Authorization', `Bearer ${token}`).expect(200);
    await browser.get('/api/auth/session').expect(401);
  });

  it('sets no cookie on a bearer login that presented none', async () => {
    const bearer = await request(http)
      .post('/api/auth/login')
      .send({ username: 'alice', password: 'alice-password', transport: 'bearer' })
      .expect(200);
    expect(bearer.headers['set-cookie']).toBeUndefined();
  });
});
