import { Algorithm, hash } from '@node-rs/argon2';
import request from 'supertest';
import type { App } from 'supertest/types';
import { DataSource } from 'typeorm';

import { User } from '../src/app/users/entities/user.entity';
import { UsersService } from '../src/app/users/users.service';

import {
  AuthApp,
  createUser,
  loginWithBearer,
  loginWithCookie,
  ORIGIN,
  startAuthApp,
} from './auth-app';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Revocation tried as an administrator needs it and as a racing client would escape it:
 * account disable, global revocation, and logins racing role changes, disables and password
 * changes at many offsets (real concurrency, real Redis and PostgreSQL).
 */
describe('auth revocation (HTTP, real Redis and PostgreSQL)', () => {
  let auth: AuthApp;
  let http: App;
  let adminCookie: string;

  beforeAll(async () => {
    // AccessSync looks every 20 ms (not 5 s): every race below also races its looks, which
    // apply a change's mark from any instance at any moment of the change.
    auth = await startAuthApp('revocation', {
      SESSION_MAX_PER_USER: '0',
      ACCESS_SYNC_INTERVAL: '0.02',
    });
    http = auth.http;
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
  });

  afterAll(async () => {
    await auth?.close();
  });

  const asAdmin = (test: request.Test) => test.set('Cookie', adminCookie).set('Origin', ORIGIN);
  const whoami = (token: string) =>
    request(http).get('/api/auth/session').set('Authorization', `Bearer ${token}`);
  const login = (username: string, password: string) =>
    request(http).post('/api/auth/login').send({ username, password, transport: 'bearer' });

  describe('PUT /api/auth/users/:id/disabled', () => {
    it('ends every session of the user at once and refuses their logins like a wrong password', async () => {
      const user = await createUser(http, adminCookie);
      const bearer = await loginWithBearer(http, user.username, user.password);
      const cookie = await loginWithCookie(http, user.username, user.password);
      const disabled = await asAdmin(request(http).put(`/api/auth/users/${user.id}/disabled`))
        .send({ disabled: true })
        .expect(200);
      expect(disabled.body).toEqual({
        id: user.id,
        username: user.username,
        roles: ['customer'],
        disabled: true,
      });
      await whoami(bearer.token).expect(401);
      await request(http).get('/api/auth/session').set('Cookie', cookie.cookie).expect(401);
      const refused = await login(user.username, user.password).expect(401);
      const wrong = await login(user.username, 'not-the-password').expect(401);
      expect(refused.body).toEqual(wrong.body);

      await asAdmin(request(http).put(`/api/auth/users/${user.id}/disabled`))
        .send({ disabled: false })
        .expect(200, {
          id: user.id,
          username: user.username,
          roles: ['customer'],
          disabled: false,
        });
      await whoami((await loginWithBearer(http, user.username, user.password)).token).expect(200);
    });

    it('answers 409 to disabling oneself, 404 for an unknown user, 400 for a bad body', async () => {
      const me = (await whoamiByCookie(adminCookie)).user.id;
      await asAdmin(request(http).put(`/api/auth/users/${me}/disabled`))
        .send({ disabled: true })
        .expect(409);
      await asAdmin(
        request(http).put('/api/auth/users/00000000-0000-4000-8000-000000000000/disabled'),
      )
        .send({ disabled: true })
        .expect(404);
      const user = await createUser(http, adminCookie);
      for (const body of [{}, { disabled: 'yes' }, { disabled: true, roles: ['admin'] }]) {
        const response = await asAdmin(request(http).put(`/api/auth/users/${user.id}/disabled`))
          .send(body)
          .expect(400);
        expect(response.body.statusCode).toBe(400);
      }
    });

    it('is for administrators only', async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      await request(http)
        .put(`/api/auth/users/${user.id}/disabled`)
        .set('Authorization', `Bearer ${token}`)
        .send({ disabled: true })
        .expect(403);
      await request(http)
        .post('/api/auth/revoke-all')
        .set('Authorization', `Bearer ${token}`)
        .expect(403);
    });
  });

  describe('POST /api/auth/revoke-all', () => {
    it("ends every session of every user at once, except the caller's own", async () => {
      const users = [await createUser(http, adminCookie), await createUser(http, adminCookie)];
      const tokens = [];
      for (const user of users) {
        tokens.push((await loginWithBearer(http, user.username, user.password)).token);
        tokens.push((await loginWithBearer(http, user.username, user.password)).token);
      }
      const otherAdmin = (await loginWithBearer(http, 'admin', 'admin-password')).token;
      const caller = (await loginWithBearer(http, 'admin', 'admin-password')).token;
      await request(http)
        .post('/api/auth/revoke-all')
        .set('Authorization', `Bearer ${caller}`)
        .expect(204);
      for (const token of [...tokens, otherAdmin]) await whoami(token).expect(401);
      await whoami(caller).expect(200);
      // Signing in again works at once.
      await whoami(
        (await loginWithBearer(http, users[0].username, users[0].password)).token,
      ).expect(200);
      adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
    });

    it('refuses a body with 400 and revokes nothing: the action takes no option', async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const caller = (await loginWithBearer(http, 'admin', 'admin-password')).token;
      for (const body of [{ except: [token] }, { userId: user.id }]) {
        const refused = await request(http)
          .post('/api/auth/revoke-all')
          .set('Authorization', `Bearer ${caller}`)
          .send(body)
          .expect(400);
        expect(refused.body).toMatchObject({ statusCode: 400 });
      }
      await whoami(token).expect(200);
      await request(http)
        .post('/api/auth/revoke-all')
        .set('Authorization', `Bearer ${caller}`)
        .send({})
        .expect(204);
      await whoami(token).expect(401);
      adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
    });

    it('refuses a body it does not read, or a JSON array, and revokes nothing', async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const caller = (await loginWithBearer(http, 'admin', 'admin-password')).token;
      const option = JSON.stringify({ except: [token] });
      // `fetch` sends a string body as text/plain: the option would go unread.
      for (const [type, body] of [
        ['text/plain;charset=UTF-8', option],
        ['application/vnd.api+json', option],
        ['application/json', `[${option}]`],
      ]) {
        const refused = await request(http)
          .post('/api/auth/revoke-all')
          .set('Authorization', `Bearer ${caller}`)
          .set('Content-Type', type)
          .send(body)
          .expect(400);
        expect(refused.body).toEqual({ statusCode: 400, message: expect.any(String) });
      }
      await whoami(token).expect(200);
      // No body at all is what the action takes.
      await request(http)
        .post('/api/auth/revoke-all')
        .set('Authorization', `Bearer ${caller}`)
        .expect(204);
      await whoami(token).expect(401);
      adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
    });
  });

  /**
   * A login (argon2 takes tens of milliseconds) and an administrator's change are started
   * `offset` ms apart, for many offsets, so the change lands before, during and after each step
   * of the login. Whatever the order, a session that exists afterwards must reflect the change.
   */
  describe('a login racing an administrator', () => {
    const offsets = [0, 2, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 80, 100];

    it(`never keeps roles a demotion took away (${offsets.length} offsets)`, async () => {
      let stale = 0;
      let raced = 0;
      for (const offset of offsets) {
        const user = await createUser(http, adminCookie, ['admin']);
        const [loggedIn] = await Promise.all([
          login(user.username, user.password),
          sleep(offset).then(() =>
            asAdmin(request(http).put(`/api/auth/users/${user.id}/roles`))
              .send({ roles: ['customer'] })
              .expect(200),
          ),
        ]);
        if (loggedIn.status !== 200) {
          expect(loggedIn.status).toBe(503);
          continue;
        }
        if (loggedIn.body.user.roles.includes('admin')) raced++;
        const seen = await whoami(loggedIn.body.token).expect(200);
        if (seen.body.user.roles.includes('admin')) stale++;
      }
      expect(stale).toBe(0);
      // Some logins read the old roles and were issued before the demotion reached them: the
      // race was really run, and the demotion still won.
      expect(raced).toBeGreaterThan(0);
    });

    it(`never leaves a disabled account a live session (${offsets.length} offsets)`, async () => {
      for (const offset of offsets) {
        const user = await createUser(http, adminCookie);
        const [loggedIn] = await Promise.all([
          login(user.username, user.password),
          sleep(offset).then(() =>
            asAdmin(request(http).put(`/api/auth/users/${user.id}/disabled`))
              .send({ disabled: true })
              .expect(200),
          ),
        ]);
        if (loggedIn.status === 200) {
          await whoami(loggedIn.body.token).expect(401);
        } else {
          expect([401, 503]).toContain(loggedIn.status);
        }
      }
    });

    it(`never lets the old password outlive a password change (${offsets.length} offsets)`, async () => {
      for (const offset of offsets) {
        const user = await createUser(http, adminCookie);
        const owner = await loginWithBearer(http, user.username, user.password);
        const [attacker, changed] = await Promise.all([
          login(user.username, user.password),
          sleep(offset).then(() =>
            request(http)
              .post('/api/auth/password')
              .set('Authorization', `Bearer ${owner.token}`)
              .send({ currentPassword: user.password, newPassword: `${user.password}-new` }),
          ),
        ]);
        expect(changed.status).toBe(200);
        await whoami(changed.body.token).expect(200);
        if (attacker.status === 200) {
          await whoami(attacker.body.token).expect(401);
        }
      }
      // Each round creates a user, checks the new password's strength and hashes it.
    }, 60_000);
  });

  describe('two password changes racing', () => {
    it('let only the first change count: the other changes nothing (8 offsets)', async () => {
      for (const offset of [0, 5, 10, 20, 40, 60, 100, 150]) {
        const user = await createUser(http, adminCookie);
        const first = await loginWithBearer(http, user.username, user.password);
        const second = await loginWithBearer(http, user.username, user.password);
        const change = (token: string, newPassword: string) =>
          request(http)
            .post('/api/auth/password')
            .set('Authorization', `Bearer ${token}`)
            .send({ currentPassword: user.password, newPassword });
        const passwords = [`${user.password}-one`, `${user.password}-two`];
        const answers = await Promise.all([
          change(first.token, passwords[0]),
          sleep(offset).then(() => change(second.token, passwords[1])),
        ]);
        const statuses = answers.map((answer) => answer.status);
        const winner = statuses.indexOf(200);
        expect({ offset, statuses: [...statuses].sort() }).toMatchObject({
          offset,
          statuses: [200, expect.any(Number)],
        });
        // Refused by the guard (its session revoked by the first change) or by the check.
        expect([401, 403]).toContain(statuses[1 - winner]);
        const outcome = {
          offset,
          winnerToken: (await whoami(answers[winner].body.token)).status,
          loserToken: (await whoami([first, second][1 - winner].token)).status,
          winnerPassword: (await login(user.username, passwords[winner])).status,
          loserPassword: (await login(user.username, passwords[1 - winner])).status,
          oldPassword: (await login(user.username, user.password)).status,
        };
        expect(outcome).toEqual({
          offset,
          winnerToken: 200,
          loserToken: 401,
          winnerPassword: 200,
          loserPassword: 401,
          oldPassword: 401,
        });
      }
    }, 90_000);
  });

  /**
   * The guard let the change in, then the account was disabled: the sessions are gone, so the
   * answer is a 401, never a 403 that calls a right current password incorrect.
   */
  describe('a password change racing a disable', () => {
    const disable = (id: string) =>
      asAdmin(request(http).put(`/api/auth/users/${id}/disabled`))
        .send({ disabled: true })
        .expect(200);
    const change = (token: string, currentPassword: string) =>
      request(http)
        .post('/api/auth/password')
        .set('Authorization', `Bearer ${token}`)
        .send({ currentPassword, newPassword: `${currentPassword}-new` });

    afterEach(() => {
      jest.restoreAllMocks();
    });

    it('answers 401 when the account is disabled after the guard, before the password check', async () => {
      const user = await createUser(http, adminCookie);
      const owner = await loginWithBearer(http, user.username, user.password);
      const users = auth.app.get(UsersService);
      const check = users.checkCredentials.bind(users);
      jest.spyOn(users, 'checkCredentials').mockImplementation(async (username, password) => {
        await disable(user.id);
        return check(username, password);
      });
      const answer = await change(owner.token, user.password);
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 401,
        body: { statusCode: 401, message: 'Authentication required' },
      });
      // A wrong current password of an enabled account is still the 403.
      const other = await createUser(http, adminCookie);
      const session = await loginWithBearer(http, other.username, other.password);
      jest.restoreAllMocks();
      await change(session.token, `${other.password}-wrong`).expect(403);
    });

    const offsets = [0, 2, 4, 6, 8, 10, 15, 20, 25, 30, 40, 50, 60, 80];

    it(`never calls the right password incorrect, nor leaves a session (${offsets.length} offsets)`, async () => {
      for (const offset of offsets) {
        const user = await createUser(http, adminCookie);
        const owner = await loginWithBearer(http, user.username, user.password);
        const [changed] = await Promise.all([
          change(owner.token, user.password),
          sleep(offset).then(() => disable(user.id)),
        ]);
        expect({ offset, status: changed.status }).toEqual({
          offset,
          status: changed.status === 200 ? 200 : 401,
        });
        if (changed.status === 200) {
          await whoami(changed.body.token).expect(401);
        }
        await whoami(owner.token).expect(401);
      }
    }, 60_000);
  });

  /**
   * A right login redoes a hash made with older parameters (or before passwords were
   * normalised). That write must not land over the hash of a password change that raced it
   * (the old password would work again, the new one not), nor refuse a right password because
   * a parallel login redid the same hash first.
   */
  describe('a login that redoes an older hash', () => {
    async function storeOlderHash(id: string, password: string): Promise<void> {
      const older = await hash(password, {
        algorithm: Algorithm.Argon2id,
        memoryCost: 19456,
        timeCost: 3,
        parallelism: 1,
      });
      await auth.app.get(DataSource).getRepository(User).update(id, { passwordHash: older });
    }

    it('never undoes a password change that raced it (21 offsets)', async () => {
      for (let offset = 0; offset <= 100; offset += 5) {
        const user = await createUser(http, adminCookie);
        const owner = await loginWithBearer(http, user.username, user.password);
        await storeOlderHash(user.id, user.password);
        const newPassword = `${user.password}-new`;
        // The change checks the current password (redoing its hash too), then hashes the new
        // one: a login started during that work redoes the old hash around the change's write.
        const [changed, attacker] = await Promise.all([
          request(http)
            .post('/api/auth/password')
            .set('Authorization', `Bearer ${owner.token}`)
            .send({ currentPassword: user.password, newPassword }),
          sleep(offset).then(() => login(user.username, user.password)),
        ]);
        expect({ offset, changed: changed.status }).toEqual({ offset, changed: 200 });
        const afterwards = {
          offset,
          newPassword: (await login(user.username, newPassword)).status,
          oldPassword: (await login(user.username, user.password)).status,
          attackerLive:
            attacker.status === 200 && (await whoami(attacker.body.token)).status === 200,
        };
        expect([200, 401]).toContain(attacker.status);
        expect(afterwards).toEqual({
          offset,
          newPassword: 200,
          oldPassword: 401,
          attackerLive: false,
        });
      }
    }, 90_000);

    it('lets every one of parallel right logins in while one of them redoes the hash', async () => {
      for (let round = 0; round < 5; round++) {
        const user = await createUser(http, adminCookie);
        await storeOlderHash(user.id, user.password);
        const logins = await Promise.all(
          Array.from({ length: 3 }, () => login(user.username, user.password)),
        );
        expect({ round, statuses: logins.map((response) => response.status) }).toEqual({
          round,
          statuses: [200, 200, 200],
        });
        await login(user.username, user.password).expect(200);
      }
    }, 60_000);
  });

  async function whoamiByCookie(cookie: string) {
    const response = await request(http).get('/api/auth/session').set('Cookie', cookie).expect(200);
    return response.body as { user: { id: string } };
  }
});
