import request from 'supertest';
import type { App } from 'supertest/types';

import {
  AuthApp,
  createUser,
  loginWithCookie,
  ORIGIN,
  sessionCookie,
  startAuthApp,
  strongPassword,
} from './auth-app';

/**
 * A client may hold its session token twice: as the cookie, and as a bearer token it sends
 * next to it (a script that kept the token, an HTTP library with a cookie jar). The guard
 * admits the pair only when both are one token. A rotation (re-authentication, password
 * change) must leave both copies working: a new cookie next to the old bearer token is two
 * different tokens, a 401 on every request, and the client is locked out of its own session.
 */
describe('a session token held both as the cookie and as a bearer token', () => {
  let auth: AuthApp;
  let http: App;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await startAuthApp('token-held-twice');
    http = auth.http;
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
  });

  afterAll(async () => {
    await auth?.close();
  });

  const tokenOf = (cookie: string) => decodeURIComponent(cookie.slice('cr_session='.length));

  /** Both copies of the token: what the client sends with every request. */
  const asBoth = (test: request.Test, token: string) =>
    test
      .set('Cookie', `cr_session=${encodeURIComponent(token)}`)
      .set('Authorization', `Bearer ${token}`)
      .set('Origin', ORIGIN);

  const rotations: [string, (password: string) => { path: string; body: object }][] = [
    ['a re-authentication', (password) => ({ path: 'reauthenticate', body: { password } })],
    [
      'a password change',
      (password) => ({
        path: 'password',
        body: { currentPassword: password, newPassword: strongPassword() },
      }),
    ],
  ];

  it.each(rotations)('%s answers the new token both ways, and both copies work', async (_, ask) => {
    const user = await createUser(http, adminCookie);
    const old = tokenOf((await loginWithCookie(http, user.username, user.password)).cookie);
    const { path, body } = ask(user.password);

    const rotated = await asBoth(request(http).post(`/api/auth/${path}`), old).send(body);
    expect(rotated.status).toBe(200);
    const cookieToken = tokenOf(sessionCookie(rotated));
    expect(rotated.body.token).toBe(cookieToken);
    expect(cookieToken).not.toBe(old);

    // The client goes on sending both copies, each updated from the answer.
    await asBoth(request(http).get('/api/auth/session'), cookieToken).expect(200);
    await asBoth(request(http).get('/api/auth/session'), old).expect(401);
  });

  it.each(rotations)('%s by cookie alone keeps the token out of the body', async (_, ask) => {
    const user = await createUser(http, adminCookie);
    const { cookie } = await loginWithCookie(http, user.username, user.password);
    const { path, body } = ask(user.password);

    const rotated = await request(http)
      .post(`/api/auth/${path}`)
      .set('Cookie', cookie)
      .set('Origin', ORIGIN)
      .send(body)
      .expect(200);
    expect(rotated.body.token).toBeUndefined();
    await request(http).get('/api/auth/session').set('Cookie', sessionCookie(rotated)).expect(200);
  });
});
