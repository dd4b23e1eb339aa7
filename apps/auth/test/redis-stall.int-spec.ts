import { Redis } from 'ioredis';
import request from 'supertest';
import type { App } from 'supertest/types';

import { SessionService } from '@cloakroom/session';
import { RedisServerProcess, startRedisServer } from '@cloakroom/session/testing';

import { UsersService } from '../src/app/users/users.service';

import {
  AuthApp,
  ORIGIN,
  createUser,
  loginWithBearer,
  loginWithCookie,
  startAuthApp,
  strongPassword,
} from './auth-app';

/**
 * A Redis that accepts connections but answers nothing (`CLIENT PAUSE`: every command waits
 * in its queue) is not a Redis that is down: the connection stays up, so only the store's
 * timeout can end a request. Each must end in a 503 JSON answer, bounded by that timeout, and
 * what a 503 answered must leave nothing behind once Redis answers again.
 */
describe('auth with Redis stalled', () => {
  const STORE_TIMEOUT_S = 0.3;
  /** Longer than the four requests answered under it take, on a slow machine too. */
  const PAUSE_MS = 8000;
  let redis: RedisServerProcess;
  let auth: AuthApp;
  let http: App;
  let admin: Redis;

  beforeAll(async () => {
    redis = await startRedisServer();
    auth = await startAuthApp('redis-stall', {
      REDIS_URL: redis.url,
      SESSION_STORE_TIMEOUT: String(STORE_TIMEOUT_S),
    });
    http = auth.http;
    admin = new Redis(redis.url);
  });

  afterAll(async () => {
    admin?.disconnect();
    await auth?.close();
    await redis?.dispose();
  });

  const bearerLogin = () =>
    request(http)
      .post('/api/auth/login')
      .send({ username: 'alice', password: 'alice-password', transport: 'bearer' });

  /** An administrator's change, cookie-authenticated from the allowed origin. */
  const adminPut = (cookie: string, path: string, body: object) =>
    request(http).put(path).set('Cookie', cookie).set('Origin', ORIGIN).send(body);

  /**
   * Expects `send` answered 503 while Redis still answers nothing (`stalled` says so): ended
   * by the store's timeout, not by Redis resuming.
   */
  async function expect503WhileStalled(
    send: () => request.Test,
    stalled: () => boolean,
  ): Promise<void> {
    const response = await send();
    expect({ status: response.status, stalled: stalled() }).toEqual({ status: 503, stalled: true });
    expect(response.body).toEqual({ statusCode: 503, message: 'Session store unavailable' });
    expect(response.headers['set-cookie']).toBeUndefined();
  }

  it('answers 503 by the store timeout while Redis stalls, and a login answered 503 leaves no session', async () => {
    const login = await bearerLogin().expect(200);
    const bearer = `Bearer ${login.body.token}`;

    await admin.client('PAUSE', PAUSE_MS, 'ALL');
    // Answered once the pause is over, after what waited before it.
    let resumed = false;
    const resuming = admin.ping().then(() => {
      resumed = true;
    });
    const stalled = () => !resumed;
    await expect503WhileStalled(
      () => request(http).get('/api/auth/session').set('Authorization', bearer),
      stalled,
    );
    await expect503WhileStalled(
      () =>
        request(http)
          .post('/api/auth/login')
          .set('Origin', ORIGIN)
          .send({ username: 'alice', password: 'alice-password' }),
      stalled,
    );
    await expect503WhileStalled(() => bearerLogin(), stalled);
    await expect503WhileStalled(
      () => request(http).get('/api/auth/sessions').set('Authorization', bearer),
      stalled,
    );

    await resuming;
    const after = await bearerLogin().expect(200);
    const sessions = await request(http)
      .get('/api/auth/sessions')
      .set('Authorization', `Bearer ${after.body.token}`)
      .expect(200);
    // Only the two logins answered 200 hold a session, whatever Redis ran after the pause.
    expect(sessions.body.map((session: { id: string }) => session.id).sort()).toEqual(
      [login.body.session.id, after.body.session.id].sort(),
    );
    await request(http).get('/api/auth/session').set('Authorization', bearer).expect(200);
  }, 30_000);

  /**
   * Runs `change` 31 times (each after `prepare`), Redis paused (longer than the store timeout) at offsets spread over
   * 1.5 times its usual duration; after each, once Redis answers again, `check` says what is
   * inconsistent (or nothing). Answers the statuses seen and the inconsistencies found.
   */
  async function underStalls(
    change: (step: number) => request.Test,
    check: (response: request.Response) => Promise<string | null>,
    prepare: () => Promise<void> = async () => undefined,
  ): Promise<{ statuses: number[]; wrong: string[] }> {
    await prepare();
    const statuses: number[] = [];
    const wrong: string[] = [];
    // Once without a stall, timed: how long the change takes here.
    const started = Date.now();
    const unstalled = await change(-1);
    const changeMs = Math.max(Date.now() - started, 5);
    const problem = await check(unstalled);
    if (problem) wrong.push(`without a stall: ${problem}`);
    for (let step = 0; step <= 30; step++) {
      await prepare();
      const offset = Math.round((step * 1.5 * changeMs) / 30);
      const pending = change(step).then((response) => response);
      await new Promise((resolve) => setTimeout(resolve, offset));
      await admin.client('PAUSE', 2 * STORE_TIMEOUT_S * 1000, 'ALL');
      const response = await pending;
      statuses.push(response.status);
      await admin.ping();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const problem = await check(response);
      if (problem) wrong.push(`${offset} ms, answered ${response.status}: ${problem}`);
    }
    return { statuses, wrong };
  }

  /** The services, an administrator's cookie, and a new customer for one test to change. */
  async function aCustomer() {
    const adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
    return {
      users: auth.app.get(UsersService),
      sessions: auth.app.get(SessionService),
      adminCookie,
      user: await createUser(http, adminCookie, ['customer']),
    };
  }

  /**
   * What `underStalls` found: no step inconsistent, every answer a 200 or a 503, and both seen
   * (the offsets spanned the request).
   */
  function expectConsistentThroughout({
    statuses,
    wrong,
  }: {
    statuses: number[];
    wrong: string[];
  }) {
    expect(wrong).toEqual([]);
    expect(statuses.filter((status) => status !== 200 && status !== 503)).toEqual([]);
    expect(statuses).toContain(503);
    expect(statuses).toContain(200);
  }

  /**
   * A login reads Redis (throttle, user tag, generation), checks the password, then writes the
   * session: a stall that starts between the reads and the write used to leave a session
   * behind a 503 (at one or two offsets of 31 here).
   */
  it('leaves no session behind a login answered 503, wherever in the login the stall starts', async () => {
    const sessions = auth.app.get(SessionService);
    const first = await bearerLogin().expect(200);
    const userId: string = first.body.user.id;
    // What the user holds before (this login, and those of the test above).
    const before = (await sessions.listForUser(userId)).map((session) => session.id);
    expect(before).toContain(first.body.session.id);
    const { statuses, wrong } = await underStalls(
      () => bearerLogin(),
      async (response) => {
        const answered = response.status === 200 ? [response.body.session.id] : [];
        const listed = (await sessions.listForUser(userId)).map((session) => session.id);
        for (const id of answered) await sessions.revoke(id);
        const expected = [...before, ...answered];
        return listed.sort().join() === expected.sort().join()
          ? null
          : `${listed.length} sessions, ${expected.length} expected`;
      },
    );
    expectConsistentThroughout({ statuses, wrong });
  }, 120_000);

  /**
   * At the cap a login evicts the user's oldest session. A login answered 503 must not have: a
   * stall between its reads and its write used to leave the oldest device logged out (the
   * create ran late, its undo removed only the new session).
   */
  it('keeps every device of a user at the cap after a login answered 503, wherever it stalls', async () => {
    const CAP = 10; // SESSION_MAX_PER_USER's default, under which this app runs
    const { sessions, user } = await aCustomer();
    const record = { id: user.id, username: user.username, roles: ['customer'] };
    const devices = async () =>
      (await sessions.listForUser(user.id)).map((session) => session.id).sort();
    let before: string[] = [];
    let oldest = '';
    const { statuses, wrong } = await underStalls(
      () =>
        request(http)
          .post('/api/auth/login')
          .send({ username: user.username, password: user.password, transport: 'bearer' }),
      async (response) => {
        const listed = await devices();
        const expected =
          response.status === 200
            ? [...before.filter((id) => id !== oldest), response.body.session.id].sort()
            : before;
        return listed.join() === expected.join()
          ? null
          : `${listed.filter((id) => !expected.includes(id)).length} unexpected, ` +
              `${expected.filter((id) => !listed.includes(id)).length} missing`;
      },
      async () => {
        await sessions.revokeAllForUser(user.id);
        for (let n = 0; n < CAP; n++) {
          const { session } = await sessions.create(record);
          if (n === 0) oldest = session.id;
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        before = await devices();
      },
    );
    expect(before).toHaveLength(CAP);
    expectConsistentThroughout({ statuses, wrong });
  }, 180_000);

  it('keeps the database and the live sessions agreeing on roles, whenever a change stalls', async () => {
    const { users, sessions, adminCookie, user } = await aCustomer();
    const { token } = await loginWithBearer(http, user.username, user.password);
    const { statuses, wrong } = await underStalls(
      (step) =>
        adminPut(adminCookie, `/api/auth/users/${user.id}/roles`, {
          roles: step % 2 ? ['customer', 'admin'] : ['customer'],
        }),
      async () => {
        const stored = (await users.findById(user.id))?.roles.join('+');
        const live = (await sessions.validate(token))?.roles.join('+');
        return stored === live ? null : `database ${stored}, session ${live}`;
      },
    );
    expectConsistentThroughout({ statuses, wrong });
  }, 120_000);

  it('never leaves a disabled account with live sessions, whenever disabling stalls', async () => {
    const { users, sessions, adminCookie, user } = await aCustomer();
    const disable = () =>
      adminPut(adminCookie, `/api/auth/users/${user.id}/disabled`, { disabled: true });
    let token = '';
    // Each step disables an enabled account that holds a live session.
    const enableAndLogIn = async () => {
      await adminPut(adminCookie, `/api/auth/users/${user.id}/disabled`, {
        disabled: false,
      }).expect(200);
      token = (await loginWithBearer(http, user.username, user.password)).token;
    };
    const { statuses, wrong } = await underStalls(
      () => disable(),
      async () => {
        const disabled = (await users.findById(user.id))?.disabled;
        const live = (await sessions.validate(token)) !== null;
        return disabled && live ? 'disabled, with a live session' : null;
      },
      enableAndLogIn,
    );
    expect(wrong).toEqual([]);
    expect(statuses).toContain(503);
  }, 120_000);

  it('keeps the old password after a password change answered 503, whenever it stalls', async () => {
    const { users, user } = await aCustomer();
    let current = user.password;
    let next = '';
    let token = '';
    const { statuses, wrong } = await underStalls(
      () => {
        next = strongPassword();
        return request(http)
          .post('/api/auth/password')
          .set('Authorization', `Bearer ${token}`)
          .send({ currentPassword: current, newPassword: next });
      },
      async (response) => {
        // Checked against the database directly: failed logins would count toward a lockout.
        const [oldWorks, newWorks] = await Promise.all(
          [current, next].map(
            async (password) => (await users.checkCredentials(user.username, password)).valid,
          ),
        );
        const changed = response.status === 200;
        // Go on with whichever password the account has now, to report every wrong step.
        if (newWorks) current = next;
        return oldWorks === !changed && newWorks === changed
          ? null
          : `old password ${oldWorks ? 'works' : 'fails'}, new one ${newWorks ? 'works' : 'fails'}`;
      },
      async () => {
        token = (await loginWithBearer(http, user.username, current)).token;
      },
    );
    expect(wrong).toEqual([]);
    expect(statuses).toContain(503);
    expect(statuses).toContain(200);
  }, 180_000);
});
