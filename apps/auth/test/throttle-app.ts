import request from 'supertest';
import type { App } from 'supertest/types';

import { AuthApp, loginWithCookie, startAuthApp, strongPassword } from './auth-app';

export interface ThrottledAuthApp extends AuthApp {
  /** The seeded admin's session cookie, to create users with. */
  adminCookie: string;
  /** A bearer login sent as from the client at `client`: see {@link loginFrom}. */
  login(username: string, password: string, client: string): request.Test;
  /** Logs `user` in from `client` and changes their password there; answers the new one. */
  changePassword(user: { username: string; password: string }, client: string): Promise<string>;
}

/**
 * A bearer login sent as from the client at `client`: auth trusts the loopback proxy's
 * `X-Forwarded-For`, and the login throttle counts by the client network it names.
 *
 * @example
 * await loginFrom(peer.http, user.username, user.password, '10.9.8.7').expect(429);
 */
export function loginFrom(
  http: App,
  username: string,
  password: string,
  client: string,
): request.Test {
  return request(http)
    .post('/api/auth/login')
    .set('X-Forwarded-For', client)
    .send({ username, password, transport: 'bearer' });
}

/**
 * Registers the hooks of a describe block that runs auth with the given login throttle and
 * password hashing settings (over {@link startAuthApp}'s), and returns the running app, with
 * the admin logged in, and logins and password changes sent from any client address.
 *
 * @example
 * const auth = throttledAuthApp('throttle-ceiling', { LOGIN_USER_CEILING: '3' });
 * it('...', async () => {
 *   const user = await createUser(auth.http, auth.adminCookie);
 *   await auth.login(user.username, 'wrong-password', '192.0.2.1').expect(401);
 * });
 */
export function throttledAuthApp(
  suite: string,
  settings: Record<string, string>,
): ThrottledAuthApp {
  const current = {
    login: (username, password, client) => loginFrom(current.http, username, password, client),
    changePassword: async (user, client) => {
      const { body } = await current.login(user.username, user.password, client).expect(200);
      const newPassword = strongPassword();
      await request(current.http)
        .post('/api/auth/password')
        .set('X-Forwarded-For', client)
        .set('Authorization', `Bearer ${body.token}`)
        .send({ currentPassword: user.password, newPassword })
        .expect(200);
      return newPassword;
    },
  } as ThrottledAuthApp;

  beforeAll(async () => {
    Object.assign(current, await startAuthApp(suite, settings));
    current.adminCookie = (await loginWithCookie(current.http, 'admin', 'admin-password')).cookie;
  });

  afterAll(async () => {
    await current.close?.();
  });

  return current;
}
