import request from 'supertest';
import type { App } from 'supertest/types';

import { SessionService } from '@cloakroom/session';

import { isEnabledAdmin, UsersService } from '../src/app/users/users.service';

import { AuthApp, loginWithBearer, startAuthApp, strongPassword } from './auth-app';

jest.setTimeout(180_000);

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Ending sessions is an administrator's power too: an administrator demoted or disabled while
 * their revocation is on its way (past the guard, which read a session still saying admin) must
 * not end anyone's sessions afterwards. Whatever the interleaving, a revocation acts only while
 * the caller's row says enabled administrator.
 */
describe('an administrator demoted or disabled while revoking sessions', () => {
  let auth: AuthApp;
  let http: App;
  let made = 0;

  beforeAll(async () => {
    auth = await startAuthApp('admin-demoted-while-revoking');
    http = auth.http;
  });

  afterAll(async () => {
    await auth?.close();
  });

  afterEach(() => jest.restoreAllMocks());

  /** The seeded administrator, signed in afresh: a revoke-all of an earlier case ended the last. */
  const demoToken = async () => (await loginWithBearer(http, 'admin', 'admin-password')).token;

  async function newUser(token: string, roles: string[]) {
    const username = `revoker-${process.pid}-${made++}`;
    const password = strongPassword();
    const created = await request(http)
      .post('/api/auth/users')
      .set(bearer(token))
      .send({ username, password, roles })
      .expect(201);
    const login = await loginWithBearer(http, username, password);
    return { id: created.body.id as string, token: login.token, sessionId: login.body.session.id };
  }

  const routes = {
    'DELETE /users/:id/sessions': (token: string, victim: { id: string }) =>
      request(http).delete(`/api/auth/users/${victim.id}/sessions`).set(bearer(token)),
    'DELETE /users/:id/sessions/:sessionId': (
      token: string,
      victim: { id: string; sessionId: string },
    ) =>
      request(http)
        .delete(`/api/auth/users/${victim.id}/sessions/${victim.sessionId}`)
        .set(bearer(token)),
    'POST /revoke-all': (token: string) =>
      request(http).post('/api/auth/revoke-all').set(bearer(token)),
  } as const;
  type Route = keyof typeof routes;

  const changes = {
    demoted: ['roles', { roles: ['customer'] }],
    disabled: ['disabled', { disabled: true }],
  } as const;
  type Change = keyof typeof changes;

  /**
   * Once the guard has read the session of `token` (saying admin), runs `meanwhile` before the
   * request goes on: awaited, or left to race for `raceMs`.
   */
  function afterTheGuard(token: string, meanwhile: () => Promise<unknown>, raceMs?: number) {
    const sessions = auth.app.get(SessionService);
    const validate = sessions.validate.bind(sessions);
    let armed = true;
    const change: { done?: Promise<unknown> } = {};
    jest.spyOn(sessions, 'validate').mockImplementation(async (given) => {
      const session = await validate(given);
      if (armed && given === token) {
        armed = false;
        change.done = meanwhile();
        if (raceMs === undefined) await change.done;
        else await sleep(raceMs);
      }
      return session;
    });
    return change;
  }

  /**
   * Each store call that ends sessions for the caller, with whether the caller's row then said
   * admin (the disable of the caller ends their sessions too, for its own administrator).
   */
  function watchActs(callerId: string): boolean[] {
    const sessions = auth.app.get(SessionService);
    const users = auth.app.get(UsersService);
    const acts: boolean[] = [];
    // The three calls have different signatures; each is only passed through.
    const calls = sessions as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const name of ['revoke', 'revokeAllForUser', 'revokeEverything']) {
      const original = calls[name].bind(sessions);
      jest.spyOn(calls, name).mockImplementation(async (...args) => {
        const options = args[args.length - 1] as { actor?: { id: string } } | undefined;
        if (options?.actor?.id === callerId) {
          const caller = await users.findById(callerId);
          acts.push(!!caller && isEnabledAdmin(caller));
        }
        return original(...args);
      });
    }
    return acts;
  }

  const alive = async (token: string) =>
    (await request(http).get('/api/auth/session').set(bearer(token))).status === 200;

  async function round(route: Route, change: Change, raceMs?: number) {
    const main = await demoToken();
    const caller = await newUser(main, ['admin']);
    const victim = await newUser(main, ['customer']);
    const [path, body] = changes[change];
    const demotion = afterTheGuard(
      caller.token,
      // Sent now: a supertest request leaves only once it is awaited.
      async () =>
        await request(http)
          .put(`/api/auth/users/${caller.id}/${path}`)
          .set(bearer(main))
          .send(body),
      raceMs,
    );
    const acts = watchActs(caller.id);
    const answer = await routes[route](caller.token, victim);
    // A revoke-all that acted first ended the session the change was sent with (401).
    const changed = ((await demotion.done) as request.Response).status;
    jest.restoreAllMocks();
    return { answer, acts, changed, victimAlive: await alive(victim.token) };
  }

  const cases = Object.keys(routes).flatMap((route) =>
    Object.keys(changes).map((change) => [route as Route, change as Change] as const),
  );

  it.each(cases)('%s ends nothing once the caller was %s (403)', async (route, change) => {
    const { answer, acts, changed, victimAlive } = await round(route, change);
    expect(changed).toBe(200);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 403,
      body: { statusCode: 403, message: expect.any(String) },
    });
    expect(acts).toEqual([]);
    expect(victimAlive).toBe(true);
  });

  it.each(cases)(
    '%s acts only while the caller is an enabled admin, whenever they are %s',
    async (route, change) => {
      for (const raceMs of [0, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 400]) {
        const { answer, acts, victimAlive } = await round(route, change, raceMs);
        // Acted under an admin, then answered 204 with the victim gone; or refused, untouched.
        const outcome = { raceMs, status: answer.status, acts, victimAlive };
        if (answer.status === 204) {
          expect(outcome).toEqual({ raceMs, status: 204, acts: [true], victimAlive: false });
        } else {
          expect(outcome).toEqual({ raceMs, status: 403, acts: [], victimAlive: true });
        }
      }
    },
  );

  it.each(Object.keys(routes) as Route[])(
    '%s still acts for an administrator who stays one',
    async (route) => {
      const main = await demoToken();
      const caller = await newUser(main, ['admin']);
      const victim = await newUser(main, ['customer']);
      await routes[route](caller.token, victim).expect(204);
      expect(await alive(victim.token)).toBe(false);
      expect(await alive(caller.token)).toBe(true);
    },
  );
});
