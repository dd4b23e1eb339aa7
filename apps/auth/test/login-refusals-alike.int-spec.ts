import request from 'supertest';
import type { App } from 'supertest/types';

import { PasswordService } from '../src/app/users/password.service';

import { AuthApp, createUser, loginWithCookie, ORIGIN, startAuthApp } from './auth-app';

/**
 * Whoever asks, a refused login tells nothing of the account: an unknown username, a wrong
 * password and a disabled account (with its right password or not) get the same status, body
 * and headers, after the same password work. Equal cost is shown by equal work (one argon2
 * check each), not by timing on a shared machine.
 */
describe('refused logins', () => {
  let auth: AuthApp;
  let http: App;

  beforeAll(async () => {
    auth = await startAuthApp('login-refusals-alike');
    http = auth.http;
  });

  afterAll(async () => {
    await auth?.close();
  });

  it('look alike and cost one password check each: unknown, wrong password, disabled', async () => {
    const { cookie: adminCookie } = await loginWithCookie(http, 'admin', 'admin-password');
    const known = await createUser(http, adminCookie);
    const disabled = await createUser(http, adminCookie);
    await request(http)
      .put(`/api/auth/users/${disabled.id}/disabled`)
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .send({ disabled: true })
      .expect(200);
    const attempts: Array<[string, string, string]> = [
      ['an unknown username', 'no-such-user', 'Guess-0f-the-day'],
      ['a wrong password', known.username, 'Guess-0f-the-day'],
      ['a disabled account, right password', disabled.username, disabled.password],
      ['a disabled account, wrong password', disabled.username, 'Guess-0f-the-day'],
    ];
    const verify = jest.spyOn(auth.app.get(PasswordService), 'verify');
    try {
      for (const transport of ['cookie', 'bearer']) {
        const answers = new Map<string, unknown>();
        for (const [name, username, password] of attempts) {
          verify.mockClear();
          const response = await request(http)
            .post('/api/auth/login')
            .set('Origin', ORIGIN)
            .send({ username, password, transport });
          const headers = { ...response.headers };
          delete headers['date'];
          answers.set(name, { status: response.status, body: response.text, headers });
          expect({ name, checks: verify.mock.calls.length }).toEqual({ name, checks: 1 });
        }
        const [first] = answers.values();
        expect(first).toMatchObject({
          status: 401,
          body: JSON.stringify({ statusCode: 401, message: 'Invalid username or password' }),
        });
        for (const [name, answer] of [...answers].slice(1)) {
          expect({ name, answer }).toEqual({ name, answer: first });
        }
      }
    } finally {
      verify.mockRestore();
    }
  });
});
