import request from 'supertest';
import type { App } from 'supertest/types';

import { AuthApp, createUser, loginWithCookie, ORIGIN, startAuthApp } from './auth-app';

/**
 * `DELETE /users/:id/sessions` on the administrator's own account ends their other sessions
 * and keeps the one asking, as `DELETE /sessions` and `POST /revoke-all` do.
 */
describe("an administrator ending their own account's sessions", () => {
  let auth: AuthApp;
  let http: App;

  beforeAll(async () => {
    auth = await startAuthApp('admin-own-sessions');
    http = auth.http;
  });

  afterAll(async () => {
    await auth?.close();
  });

  it('keeps the session asking and ends every other one', async () => {
    const admin = await loginWithCookie(http, 'admin', 'admin-password');
    const adminId = admin.body.user.id as string;
    const others = await Promise.all(
      Array.from({ length: 3 }, () => loginWithCookie(http, 'admin', 'admin-password')),
    );

    await request(http)
      .delete(`/api/auth/users/${adminId}/sessions`)
      .set('Cookie', admin.cookie)
      .set('Origin', ORIGIN)
      .expect(204);
    for (const { cookie } of others) {
      await request(http).get('/api/auth/session').set('Cookie', cookie).expect(401);
    }
    const listed = await request(http)
      .get('/api/auth/sessions')
      .set('Cookie', admin.cookie)
      .expect(200);
    expect(listed.body).toEqual([
      expect.objectContaining({ id: admin.body.session.id, current: true }),
    ]);
  });

  it("still ends every session of another user's account", async () => {
    const admin = await loginWithCookie(http, 'admin', 'admin-password');
    const user = await createUser(http, admin.cookie);
    const sessions = await Promise.all(
      Array.from({ length: 3 }, () => loginWithCookie(http, user.username, user.password)),
    );

    await request(http)
      .delete(`/api/auth/users/${user.id}/sessions`)
      .set('Cookie', admin.cookie)
      .set('Origin', ORIGIN)
      .expect(204);
    for (const { cookie } of sessions) {
      await request(http).get('/api/auth/session').set('Cookie', cookie).expect(401);
    }
    await request(http).get('/api/auth/session').set('Cookie', admin.cookie).expect(200);
  });
});
