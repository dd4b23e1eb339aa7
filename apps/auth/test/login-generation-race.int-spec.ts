import request from 'supertest';
import type { App } from 'supertest/types';

import { SessionService } from '@cloakroom/session';

import { SESSION_CREATE_TRIES } from '../src/app/auth/auth.service';
import { AuthApp, createUser, loginWithBearer, loginWithCookie, startAuthApp } from './auth-app';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A login reads the user's revocation generation, then the user, then creates the session only
 * if the generation has not moved. "Log out my other devices", a role change or a revoke-all
 * moves it: the login reads everything again. Changes that keep landing inside that window
 * must not turn a right password into a 503 (nothing was down), nor let stale roles through.
 */
describe('a login racing changes that move the revocation generation', () => {
  let auth: AuthApp;
  let http: App;
  let adminCookie: string;
  let adminToken: string;
  let sessions: SessionService;

  beforeAll(async () => {
    auth = await startAuthApp('login-generation-race', { SESSION_MAX_PER_USER: '0' });
    http = auth.http;
    sessions = auth.app.get(SessionService);
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
    adminToken = (await loginWithBearer(http, 'admin', 'admin-password')).token;
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await auth?.close();
  });

  const whoami = (token: string) =>
    request(http).get('/api/auth/session').set('Authorization', `Bearer ${token}`);
  const login = (username: string, password: string) =>
    request(http).post('/api/auth/login').send({ username, password, transport: 'bearer' });
  const revokeOthers = (token: string) =>
    request(http).delete('/api/auth/sessions').set('Authorization', `Bearer ${token}`);
  const newUser = (roles?: string[]) => createUser(http, adminCookie, roles);

  /**
   * Runs `change` right after the login under test has read the user's generation, on each of
   * its first `times` reads: the change lands between that read and the session's creation,
   * every time, whatever the timing.
   */
  function changeAfterGenerationRead(userId: string, times: number, change: () => Promise<void>) {
    const read = sessions.generationOf.bind(sessions);
    let left = times;
    jest.spyOn(sessions, 'generationOf').mockImplementation(async (id: string) => {
      const generation = await read(id);
      if (id === userId && left > 0) {
        left--;
        await change();
      }
      return generation;
    });
    return () => times - left;
  }

  it.each([1, 2, 3, 4])(
    'lets the login in when "log out my other devices" lands inside it %i time(s) in a row',
    async (times) => {
      const user = await newUser();
      const device = await loginWithBearer(http, user.username, user.password);
      const moved = changeAfterGenerationRead(user.id, times, async () => {
        await revokeOthers(device.token).expect(204);
      });
      const raced = await login(user.username, user.password);
      expect({ status: raced.status, body: raced.body }).toMatchObject({
        status: 200,
        body: { user: { id: user.id } },
      });
      expect(moved()).toBe(times);
      // Every revocation came before the session was created: it lives, and so does the
      // device that logged the others out.
      await whoami(raced.body.token).expect(200);
      await whoami(device.token).expect(200);
    },
  );

  it(`answers 503, leaving no session, only when the account changes inside each of its ${SESSION_CREATE_TRIES} tries`, async () => {
    const user = await newUser();
    const device = await loginWithBearer(http, user.username, user.password);
    changeAfterGenerationRead(user.id, SESSION_CREATE_TRIES, async () => {
      await revokeOthers(device.token).expect(204);
    });
    const raced = await login(user.username, user.password);
    expect({ status: raced.status, body: raced.body }).toEqual({
      status: 503,
      body: { statusCode: 503, message: expect.any(String) },
    });
    expect(raced.headers['retry-after']).toBe('1');
    const listed = await request(http)
      .get('/api/auth/sessions')
      .set('Authorization', `Bearer ${device.token}`)
      .expect(200);
    expect(listed.body).toHaveLength(1);
  });

  it('carries the roles of the last change when a demotion and revocations keep landing', async () => {
    const user = await newUser(['admin', 'customer']);
    const device = await loginWithBearer(http, user.username, user.password);
    let step = 0;
    changeAfterGenerationRead(user.id, 3, async () => {
      if (step++ === 1) {
        await request(http)
          .put(`/api/auth/users/${user.id}/roles`)
          .set('Authorization', `Bearer ${adminToken}`)
          .send({ roles: ['customer'] })
          .expect(200);
      } else {
        await revokeOthers(device.token).expect(204);
      }
    });
    const raced = await login(user.username, user.password);
    expect(raced.status).toBe(200);
    expect(raced.body.user.roles).toEqual(['customer']);
    const seen = await whoami(raced.body.token).expect(200);
    expect(seen.body.user.roles).toEqual(['customer']);
  });

  it('still refuses, as a wrong password, a login whose account is disabled between the tries', async () => {
    const user = await newUser();
    const device = await loginWithBearer(http, user.username, user.password);
    let step = 0;
    changeAfterGenerationRead(user.id, 2, async () => {
      if (step++ === 0) {
        await revokeOthers(device.token).expect(204);
      } else {
        await request(http)
          .put(`/api/auth/users/${user.id}/disabled`)
          .set('Authorization', `Bearer ${adminToken}`)
          .send({ disabled: true })
          .expect(200);
      }
    });
    const raced = await login(user.username, user.password);
    expect({ status: raced.status, body: raced.body }).toEqual({
      status: 401,
      body: { statusCode: 401, message: 'Invalid username or password' },
    });
    await whoami(device.token).expect(401);
  });

  const offsets = [0, 1, 2, 4, 6, 8, 10, 15, 20, 25, 30, 40, 50, 70];

  it(`never answers a right password with a 503 against two racing "log out my other devices" (${offsets.length} offsets)`, async () => {
    for (const offset of offsets) {
      const user = await newUser();
      const device = await loginWithBearer(http, user.username, user.password);
      const [raced, ...revoked] = await Promise.all([
        login(user.username, user.password),
        sleep(offset).then(() => revokeOthers(device.token)),
        sleep(offset + 1).then(() => revokeOthers(device.token)),
      ]);
      expect({ offset, status: raced.status }).toEqual({ offset, status: 200 });
      expect(revoked.map((answer) => answer.status)).toEqual([204, 204]);
    }
  }, 60_000);
});
