import request from 'supertest';

import { PasswordService } from '../src/app/users/password.service';
import { AuthApp, createUser, startAuthApp, strongPassword } from './auth-app';
import { loginFrom, throttledAuthApp } from './throttle-app';

const THROTTLE = {
  LOGIN_MAX_FAILURES_PER_USER: '5',
  LOGIN_MAX_FAILURES_PER_IP: '1000',
  LOGIN_USER_CEILING: '10',
  LOGIN_DELAY_FIRST: '30',
  LOGIN_DELAY_MAX: '60',
  LOGIN_FAILURE_WINDOW: '600',
};

/**
 * One guesser, one budget: a login, a re-authentication and a password change all check a
 * password, and a thief holding the owner's session could otherwise guess through each route,
 * or through each auth instance, at once. Parallel wrong guesses spread that way still reach
 * the password check exactly as often as the per-username limit allows.
 */
describe('the login throttle shared by every route and instance that checks a password', () => {
  const auth = throttledAuthApp('throttle-shared-budget', THROTTLE);
  let peer: AuthApp;

  beforeAll(async () => {
    // The same Redis keys and database: a second instance behind the same gateway.
    peer = await startAuthApp('throttle-shared-budget-peer', {
      ...THROTTLE,
      SESSION_KEY_PREFIX: auth.keyPrefix,
      AUTH_DATABASE_URL: auth.databaseUrl,
      SEED_DEMO_USERS: 'false',
    });
  });

  afterAll(async () => {
    await peer?.close();
  });

  /** Counts the password checks of both instances while `run` goes. */
  async function checksDuring(run: () => Promise<request.Response[]>) {
    const verifies = [auth, peer].map((app) => jest.spyOn(app.app.get(PasswordService), 'verify'));
    try {
      const answers = await run();
      const checks = verifies.reduce((sum, verify) => sum + verify.mock.calls.length, 0);
      return { statuses: answers.map((answer) => answer.status), checks };
    } finally {
      verifies.forEach((verify) => verify.mockRestore());
    }
  }

  it('lets 5 of 30 wrong guesses split over login, re-authentication and password change reach a check', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const ip = '198.51.100.31';
    // The thief's session, from the network it guesses from.
    const { body } = await auth.login(user.username, user.password, ip).expect(200);
    const bearer = `Bearer ${body.token as string}`;

    const guesses = Array.from({ length: 30 }, (_, i) => {
      const guess = `wrong-guess-${i}`;
      switch (i % 3) {
        case 0:
          return loginFrom(auth.http, user.username, guess, ip);
        case 1:
          return request(auth.http)
            .post('/api/auth/reauthenticate')
            .set('X-Forwarded-For', ip)
            .set('Authorization', bearer)
            .send({ password: guess });
        default:
          return request(auth.http)
            .post('/api/auth/password')
            .set('X-Forwarded-For', ip)
            .set('Authorization', bearer)
            .send({ currentPassword: guess, newPassword: strongPassword() });
      }
    });
    const { statuses, checks } = await checksDuring(() => Promise.all(guesses));

    expect(checks).toBe(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(25);
    expect(statuses.filter((status) => status !== 429).every((s) => [401, 403].includes(s))).toBe(
      true,
    );
    // The owner's right password still gets in from elsewhere, and the session is untouched.
    await auth.login(user.username, user.password, '198.51.100.32').expect(200);
    await request(auth.http).get('/api/auth/session').set('Authorization', bearer).expect(200);
  });

  it('lets 5 of 30 wrong guesses split over two instances reach a check', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const ip = '198.51.100.33';

    const { statuses, checks } = await checksDuring(() =>
      Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          loginFrom((i % 2 ? peer : auth).http, user.username, `wrong-guess-${i}`, ip),
        ),
      ),
    );

    expect(checks).toBe(5);
    expect(statuses.filter((status) => status === 401)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(25);
  });
});
