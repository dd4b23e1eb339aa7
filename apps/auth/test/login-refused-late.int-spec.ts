import request from 'supertest';
import type { App } from 'supertest/types';

import { SecurityActivityService } from '../src/app/activity/security-activity.service';
import { UsersService } from '../src/app/users/users.service';

import {
  AuthApp,
  CHROME_ON_WINDOWS,
  createUser,
  loginWithBearer,
  loginWithCookie,
  ORIGIN,
  startAuthApp,
  strongPassword,
} from './auth-app';

/**
 * A login whose password was right when checked, but whose account was disabled, or whose
 * password changed, before its session was created, is refused with the login's 401. The
 * activity log must show that refusal like any other failed login: a user (or an
 * administrator) reading it must not find a 401 that left no trace, least of all the right
 * password tried on an account just disabled.
 */
describe('a login refused after its password was checked', () => {
  let auth: AuthApp;
  let http: App;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await startAuthApp('login-refused-late');
    http = auth.http;
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
  });

  afterAll(async () => {
    await auth?.close();
  });

  afterEach(() => jest.restoreAllMocks());

  /**
   * Runs `meanwhile` right after the login's password check (and only that one's) answered,
   * before the login goes on to create the session: the race, made deterministic.
   */
  function afterTheCheckOf(username: string, meanwhile: () => Promise<unknown>): void {
    const users = auth.app.get(UsersService);
    const check = users.checkCredentials.bind(users);
    let done = false;
    jest.spyOn(users, 'checkCredentials').mockImplementation(async (name, password) => {
      const result = await check(name, password);
      if (!done && name === username) {
        done = true;
        await meanwhile();
      }
      return result;
    });
  }

  async function failedLogins(userId: string) {
    const { items } = await auth.app.get(SecurityActivityService).list(userId, null);
    return items.filter((item) => item.type === 'login.failed');
  }

  it('records login.failed (reason disabled) when the account was disabled meanwhile', async () => {
    const user = await createUser(http, adminCookie);
    afterTheCheckOf(user.username, () =>
      request(http)
        .put(`/api/auth/users/${user.id}/disabled`)
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .send({ disabled: true })
        .expect(200),
    );
    await request(http)
      .post('/api/auth/login')
      .set('User-Agent', CHROME_ON_WINDOWS)
      .send({ username: user.username, password: user.password, transport: 'bearer' })
      .expect(401, { statusCode: 401, message: 'Invalid username or password' });
    expect(await auth.app.get(UsersService).findById(user.id)).toMatchObject({ disabled: true });
    expect(await failedLogins(user.id)).toEqual([
      expect.objectContaining({
        type: 'login.failed',
        userId: user.id,
        actor: null,
        reason: 'disabled',
        device: 'Chrome 131 on Windows',
        ip: expect.any(String),
      }),
    ]);
  });

  it('records login.failed when the password was changed meanwhile', async () => {
    const user = await createUser(http, adminCookie);
    const owner = await loginWithBearer(http, user.username, user.password);
    const newPassword = strongPassword();
    afterTheCheckOf(user.username, () =>
      request(http)
        .post('/api/auth/password')
        .set('Authorization', `Bearer ${owner.token}`)
        .send({ currentPassword: user.password, newPassword })
        .expect(200),
    );
    await request(http)
      .post('/api/auth/login')
      .send({ username: user.username, password: user.password, transport: 'bearer' })
      .expect(401, { statusCode: 401, message: 'Invalid username or password' });
    expect(await failedLogins(user.id)).toEqual([
      expect.objectContaining({ type: 'login.failed', userId: user.id, actor: null }),
    ]);
  });
});
