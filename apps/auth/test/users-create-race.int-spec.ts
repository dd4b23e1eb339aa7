import request from 'supertest';

import {
  AuthApp,
  loginWithBearer,
  loginWithCookie,
  ORIGIN,
  startAuthApp,
  strongPassword,
} from './auth-app';

/**
 * Two administrators creating the same account at once, spelled differently (case, the
 * whitespace a form adds), on two auth instances: one account, one password, every other
 * request a 409 — never two accounts one login cannot tell apart, never a 500.
 */
describe('users created at once under spellings of one username', () => {
  let auth: AuthApp;
  let peer: AuthApp;
  let cookies: string[];

  beforeAll(async () => {
    auth = await startAuthApp('users-create-race');
    peer = await startAuthApp('users-create-race-peer', {
      SESSION_KEY_PREFIX: auth.keyPrefix,
      AUTH_DATABASE_URL: auth.databaseUrl,
      SEED_DEMO_USERS: 'false',
    });
    cookies = [
      (await loginWithCookie(auth.http, 'admin', 'admin-password')).cookie,
      (await loginWithCookie(peer.http, 'admin', 'admin-password')).cookie,
    ];
  });

  afterAll(async () => {
    await peer?.close();
    await auth?.close();
  });

  it.each([1, 2, 3, 4, 5])(
    'creates one account of 8 racing spellings (round %i)',
    async (round) => {
      const name = `racer-${process.pid}-${round}`;
      const spellings = [
        name,
        name.toUpperCase(),
        ` ${name}`,
        `${name}\u00a0`,
        `\t${name.replace('r', 'R')}`,
        `${name.toUpperCase()} `,
        name.replace(/e/g, 'E'),
        `\u3000${name}`,
      ];
      const attempts = spellings.map((username, i) => ({
        username,
        password: strongPassword(),
        i,
      }));

      const answers = await Promise.all(
        attempts.map(({ username, password, i }) =>
          request([auth, peer][i % 2].http)
            .post('/api/auth/users')
            .set('Cookie', cookies[i % 2])
            .set('Origin', ORIGIN)
            .send({ username, password, roles: ['customer'] }),
        ),
      );

      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 201)).toHaveLength(1);
      expect(statuses.filter((status) => status === 409)).toHaveLength(attempts.length - 1);
      const winner = statuses.indexOf(201);
      expect(answers[winner].body.username).toBe(name);
      // The winner's password signs in under every spelling; a loser's does not (three of them:
      // the login throttle allows five failures).
      for (const { username } of attempts) {
        await loginWithBearer(auth.http, username, attempts[winner].password);
      }
      for (const loser of attempts.filter((_, i) => i !== winner).slice(0, 3)) {
        await request(peer.http)
          .post('/api/auth/login')
          .send({ username: name, password: loser.password, transport: 'bearer' })
          .expect(401);
      }
    },
  );
});
