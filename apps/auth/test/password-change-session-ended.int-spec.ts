import request from 'supertest';
import type { App } from 'supertest/types';

import { SessionService } from '@cloakroom/session';

import { SecurityActivityService } from '../src/app/activity/security-activity.service';
import { UsersService } from '../src/app/users/users.service';
import {
  AuthApp,
  createUser,
  loginWithBearer,
  loginWithCookie,
  startAuthApp,
  strongPassword,
} from './auth-app';

/**
 * A password change checks the current password, writes the new one, then rotates the session
 * it came with. Should that session end in between (its owner logs out on another tab, an
 * admin revokes it, a login presents its token), the change is answered 401, "nothing done":
 * the new password must not stand behind that answer.
 */
describe('a password change whose session ends before it completes', () => {
  let auth: AuthApp;
  let http: App;
  let adminCookie: string;
  let sessions: SessionService;
  let users: UsersService;

  beforeAll(async () => {
    auth = await startAuthApp('password-change-session-ended');
    http = auth.http;
    sessions = auth.app.get(SessionService);
    users = auth.app.get(UsersService);
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await auth?.close();
  });

  const login = (username: string, password: string) =>
    request(http).post('/api/auth/login').send({ username, password, transport: 'bearer' });

  /** Ends the session with `end` right after the change has written the new password. */
  function endSessionAfterPasswordWritten(end: () => Promise<unknown>) {
    const replace = users.replacePassword.bind(users);
    jest.spyOn(users, 'replacePassword').mockImplementation(async (...args) => {
      const replaced = await replace(...args);
      await end();
      return replaced;
    });
  }

  const endings: [string, (token: string, userId: string) => Promise<unknown>][] = [
    [
      'its owner logs out',
      (token) =>
        request(http).post('/api/auth/logout').set('Authorization', `Bearer ${token}`).expect(204),
    ],
    ['it is revoked', (token) => sessions.revoke(token)],
    ['all of the user’s sessions are revoked', (_, userId) => sessions.revokeAllForUser(userId)],
  ];

  it.each(endings)('answers 401 and keeps the old password when %s', async (_, end) => {
    const user = await createUser(http, adminCookie);
    const { token } = await loginWithBearer(http, user.username, user.password);
    const newPassword = strongPassword();
    endSessionAfterPasswordWritten(() => end(token, user.id));

    const changed = await request(http)
      .post('/api/auth/password')
      .set('Authorization', `Bearer ${token}`)
      .send({ currentPassword: user.password, newPassword });
    expect({ status: changed.status, body: changed.body }).toEqual({
      status: 401,
      body: { statusCode: 401, message: expect.any(String) },
    });
    jest.restoreAllMocks();

    await login(user.username, newPassword).expect(401);
    await login(user.username, user.password).expect(200);
    const activity = await auth.app.get(SecurityActivityService).list(user.id, null);
    expect(activity.items.map((item) => item.type)).not.toContain('password.changed');
  });

  it('still changes the password when the session lives on', async () => {
    const user = await createUser(http, adminCookie);
    const { token } = await loginWithBearer(http, user.username, user.password);
    const newPassword = strongPassword();
    endSessionAfterPasswordWritten(async () => undefined);

    await request(http)
      .post('/api/auth/password')
      .set('Authorization', `Bearer ${token}`)
      .send({ currentPassword: user.password, newPassword })
      .expect(200);
    jest.restoreAllMocks();

    await login(user.username, user.password).expect(401);
    await login(user.username, newPassword).expect(200);
  });
});
