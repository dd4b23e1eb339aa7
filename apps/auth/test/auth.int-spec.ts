import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';
import request from 'supertest';
import type { App } from 'supertest/types';

import { SessionEvent, SessionEvents, SessionEventsReader } from '@cloakroom/session';
import { watchRedisCommands } from '@cloakroom/session/testing';

import { MAX_PRESENTED_TOKENS } from '../src/app/auth/presented-tokens';
import { PasswordService } from '../src/app/users/password.service';

import {
  AuthApp,
  createUser,
  expectAlive,
  expectBodiesRefused,
  loginWithBearer,
  loginWithCookie,
  ORIGIN,
  REDIS_URL,
  sessionCookie,
  startAuthApp,
  CHROME_ON_WINDOWS,
} from './auth-app';

/** A session cookie of the token format, naming no session: what a flood is made of. */
function randomSessionCookie(): string {
  return `cr_session=cr1.${randomBytes(6).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
}

/**
 * Every command Redis runs on the suite's keys (`prefix`) from the moment this resolves until
 * `stop()`, as a MONITOR sees it, scripts' inner calls included. XREAD and XINFO are left out:
 * the activity consumer reads (and looks at) the events stream on its own schedule, whatever
 * the request does.
 */
async function watchRedis(prefix: string): Promise<{ stop(): Promise<string[]> }> {
  const watch = await watchRedisCommands(
    REDIS_URL,
    (args) => !/^(xread|xinfo)$/i.test(args[0]) && args.some((arg) => arg.includes(prefix)),
  );
  return { stop: async () => (await watch.stop()).map((args) => args.join(' ')) };
}

/** The headers of a logout: an expired session cookie, `Clear-Site-Data`, no caching. */
function expectClearingHeaders(response: request.Response): void {
  expect(String(response.headers['set-cookie'])).toMatch(/^cr_session=;.*Expires=Thu, 01 Jan 1970/);
  expect(response.headers['clear-site-data']).toBe('"cache", "cookies", "storage"');
  expect(response.headers['cache-control']).toBe('no-store');
}

/**
 * Sends `sent` while watching Redis: a JSON 400 with the logout's clearing headers, and not one
 * Redis command on the suite's keys (`prefix`) on the way.
 */
async function expectRefusedUnseen(prefix: string, sent: request.Test): Promise<void> {
  const watch = await watchRedis(prefix);
  let refused: request.Response;
  let commands: string[];
  try {
    refused = await sent;
  } finally {
    commands = await watch.stop();
  }
  expect(commands).toEqual([]);
  expect(refused.status).toBe(400);
  expect(refused.body).toEqual({ statusCode: 400, message: expect.any(String) });
  expectClearingHeaders(refused);
}

describe('auth service (HTTP, real Redis and PostgreSQL)', () => {
  let auth: AuthApp;
  let http: App;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await startAuthApp('main', { SESSION_MAX_PER_USER: '3' });
    http = auth.http;
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
  });

  afterAll(async () => {
    await auth?.close();
  });

  describe('POST /api/auth/login', () => {
    it('issues an HttpOnly SameSite cookie and the user and session in the body', async () => {
      const response = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send({ username: 'alice', password: 'alice-password' })
        .expect(200);
      const setCookie = String(response.headers['set-cookie']);
      expect(setCookie).toMatch(/^cr_session=cr1\.[\w-]{8}\.[\w-]{43}; /);
      expect(setCookie).toContain('HttpOnly');
      expect(setCookie).toContain('SameSite=Lax');
      expect(setCookie).toContain('Path=/');
      expect(response.body).toEqual({
        user: { id: expect.any(String), username: 'alice', roles: ['customer'] },
        session: {
          id: expect.stringMatching(/^[\w-]{8}\.[\w-]{22}$/),
          createdAt: expect.any(String),
          expiresAt: expect.any(String),
          authenticatedAt: response.body.session.createdAt,
          persistent: false,
        },
      });
      expect(response.body.token).toBeUndefined();
      expect(response.headers['cache-control']).toBe('no-store');
    });

    it('returns the token in the body and sets no cookie in bearer mode', async () => {
      const response = await request(http)
        .post('/api/auth/login')
        .send({ username: 'bob', password: 'bob-password', transport: 'bearer' })
        .expect(200);
      expect(response.headers['set-cookie']).toBeUndefined();
      expect(response.body.token).toMatch(/^cr1\./);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${response.body.token}`)
        .expect(200);
    });

    it('answers 401 with the same body for an unknown user and a wrong password', async () => {
      const unknown = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send({ username: 'nobody-here', password: 'whatever-password' })
        .expect(401);
      const wrong = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send({ username: 'bob', password: 'not-bobs-password' })
        .expect(401);
      expect(unknown.body).toEqual({ statusCode: 401, message: 'Invalid username or password' });
      expect(wrong.body).toEqual(unknown.body);
      expect(wrong.headers['set-cookie']).toBeUndefined();
    });

    it('runs the full password check for an unknown user, as for a wrong password', async () => {
      // Equal cost is shown by equal work, not by timing on a shared machine: both answers
      // go through one argon2id verification (for the unknown user, against a dummy hash).
      const user = await createUser(http, adminCookie);
      const verify = jest.spyOn(auth.app.get(PasswordService), 'verify');
      try {
        for (const username of ['ghost-user', user.username]) {
          await request(http)
            .post('/api/auth/login')
            .send({ username, password: 'wrong-password', transport: 'bearer' })
            .expect(401);
        }
        expect(verify).toHaveBeenCalledTimes(2);
        // Both count toward the hashing share of the client and of the username typed.
        const ip = verify.mock.calls[0][2]?.ip;
        expect(verify.mock.calls[0]).toEqual([
          undefined,
          'wrong-password',
          { ip: expect.any(String), username: 'ghost-user' },
        ]);
        expect(verify.mock.calls[1]).toEqual([
          expect.stringMatching(/^\$argon2id\$/),
          'wrong-password',
          { ip, username: user.username },
        ]);
      } finally {
        verify.mockRestore();
      }
    });

    it.each([
      ['an unknown field', { username: 'alice', password: 'alice-password', admin: true }],
      ['a number for a username', { username: 42, password: 'alice-password' }],
      ['a missing password', { username: 'alice' }],
      ['an unknown transport', { username: 'alice', password: 'alice-password', transport: 'x' }],
      ['an array body', [1, 2]],
      ['a NUL character in the username', { username: 'al\u0000ice', password: 'x' }],
      // Optional fields may be left out; null is not a boolean, a transport or a session id.
      ['a null rememberMe', { username: 'alice', password: 'alice-password', rememberMe: null }],
      ['a null transport', { username: 'alice', password: 'alice-password', transport: null }],
      [
        'a null replaceSession',
        { username: 'alice', password: 'alice-password', replaceSession: null },
      ],
    ])('answers 400 for %s', async (_case, body) => {
      const response = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send(body as object)
        .expect(400);
      expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
    });

    it.each([
      '{"username":"alice","password":"alice-password","__proto__":{"admin":true}}',
      '{"username":"alice","password":"alice-password","constructor":{"prototype":{}}}',
    ])('answers 400 to a field the DTO would drop unseen: %s', async (json) => {
      const response = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .set('Content-Type', 'application/json')
        .send(json)
        .expect(400);
      expect(response.body).toEqual({ statusCode: 400, message: expect.any(String) });
    });

    it('answers 400, not 500, for malformed JSON', async () => {
      const response = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .set('Content-Type', 'application/json')
        .send('{"username": "alice",')
        .expect(400);
      expect(response.body).toEqual({ statusCode: 400, message: expect.stringContaining('JSON') });
    });

    it('answers 413 for a body over the size limit', async () => {
      const response = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send({ username: 'alice', password: 'x'.repeat(64 * 1024) })
        .expect(413);
      expect(response.body).toEqual({ statusCode: 413, message: expect.any(String) });
    });

    it('refuses a cookie login from a foreign origin or a cross-site fetch (login CSRF)', async () => {
      const foreign = await request(http)
        .post('/api/auth/login')
        .set('Origin', 'https://evil.example')
        .send({ username: 'alice', password: 'alice-password' })
        .expect(403);
      expect(foreign.headers['set-cookie']).toBeUndefined();
      await request(http)
        .post('/api/auth/login')
        .set('Sec-Fetch-Site', 'cross-site')
        .send({ username: 'alice', password: 'alice-password' })
        .expect(403);
      await request(http)
        .post('/api/auth/login')
        .send({ username: 'alice', password: 'alice-password' })
        .expect(403);
      await request(http)
        .post('/api/auth/login')
        .set('Sec-Fetch-Site', 'same-origin')
        .send({ username: 'alice', password: 'alice-password' })
        .expect(200);
    });

    it('lets a bearer login without browser headers through, but not one from a foreign origin', async () => {
      await request(http)
        .post('/api/auth/login')
        .send({ username: 'alice', password: 'alice-password', transport: 'bearer' })
        .expect(200);
      await request(http)
        .post('/api/auth/login')
        .set('Origin', 'https://evil.example')
        .send({ username: 'alice', password: 'alice-password', transport: 'bearer' })
        .expect(403);
    });

    it('revokes the token presented with a login: no session fixation', async () => {
      const user = await createUser(http, adminCookie);
      const first = await loginWithCookie(http, user.username, user.password);
      const bearer = await loginWithBearer(http, user.username, user.password);
      const second = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .set('Cookie', first.cookie)
        .set('Authorization', `Bearer ${bearer.token}`)
        .send({ username: user.username, password: user.password })
        .expect(200);
      expect(second.body.session.id).not.toBe(first.body.session.id);
      await request(http).get('/api/auth/session').set('Cookie', first.cookie).expect(401);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${bearer.token}`)
        .expect(401);
      await request(http).get('/api/auth/session').set('Cookie', sessionCookie(second)).expect(200);
    });

    it('revokes every session cookie presented with a login, not only the first', async () => {
      const user = await createUser(http, adminCookie);
      const first = await loginWithCookie(http, user.username, user.password);
      const second = await loginWithCookie(http, user.username, user.password);
      const third = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .set('Cookie', `${first.cookie}; ${second.cookie}`)
        .send({ username: user.username, password: user.password })
        .expect(200);
      for (const held of [first.cookie, second.cookie]) {
        await request(http).get('/api/auth/session').set('Cookie', held).expect(401);
      }
      await request(http).get('/api/auth/session').set('Cookie', sessionCookie(third)).expect(200);
    });

    it('refuses a login with more session tokens than a browser holds before the password is checked, without a Redis command', async () => {
      const user = await createUser(http, adminCookie);
      const held = await loginWithCookie(http, user.username, user.password);
      const planted = Array.from({ length: MAX_PRESENTED_TOKENS }, randomSessionCookie);
      // A wrong password: a 401 would show it was checked (and counted by the throttle).
      await expectRefusedUnseen(
        auth.keyPrefix,
        request(http)
          .post('/api/auth/login')
          .set('Origin', ORIGIN)
          .set('Cookie', [...planted, held.cookie].join('; '))
          .send({ username: user.username, password: 'not-the-password' }),
      );
      await request(http).get('/api/auth/session').set('Cookie', held.cookie).expect(200);
      // At the cap, the login goes through and revokes the session it held.
      const atCap = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .set('Cookie', [...planted.slice(1), held.cookie].join('; '))
        .send({ username: user.username, password: user.password })
        .expect(200);
      await request(http).get('/api/auth/session').set('Cookie', held.cookie).expect(401);
      await request(http).get('/api/auth/session').set('Cookie', sessionCookie(atCap)).expect(200);
    });

    it('records the client address from X-Forwarded-For sent by a trusted proxy, and the device label', async () => {
      const user = await createUser(http, adminCookie);
      const login = await request(http)
        .post('/api/auth/login')
        .set('X-Forwarded-For', '203.0.113.7')
        .set('User-Agent', CHROME_ON_WINDOWS)
        .send({ username: user.username, password: user.password, transport: 'bearer' })
        .expect(200);
      const list = await request(http)
        .get('/api/auth/sessions')
        .set('Authorization', `Bearer ${login.body.token}`)
        .expect(200);
      expect(list.body).toEqual([
        expect.objectContaining({
          ip: '203.0.113.7',
          device: 'Chrome 131 on Windows',
          current: true,
        }),
      ]);
      // SESSION_KEEP_USER_AGENT is off: the raw string is not kept.
      expect(list.body[0]).not.toHaveProperty('userAgent');
    });

    it('revokes the oldest session past SESSION_MAX_PER_USER', async () => {
      const user = await createUser(http, adminCookie);
      const tokens: string[] = [];
      for (let i = 0; i < 4; i++) {
        tokens.push((await loginWithBearer(http, user.username, user.password)).token);
      }
      const status = async (token: string) =>
        (await request(http).get('/api/auth/session').set('Authorization', `Bearer ${token}`))
          .status;
      expect(await Promise.all(tokens.map(status))).toEqual([401, 200, 200, 200]);
    });
  });

  describe('session routes', () => {
    it('GET /session answers 401 without a session, and for a malformed token', async () => {
      const none = await request(http).get('/api/auth/session').expect(401);
      expect(none.body).toEqual({ statusCode: 401, message: expect.any(String) });
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', 'Bearer not-a-token')
        .expect(401);
    });

    it('GET /session returns the user and session of the caller', async () => {
      const { cookie, body } = await loginWithCookie(http, 'bob', 'bob-password');
      const response = await request(http)
        .get('/api/auth/session')
        .set('Cookie', cookie)
        .expect(200);
      expect(response.body.user).toEqual(body.user);
      expect(response.body.session.id).toBe(body.session.id);
    });

    it('POST /logout answers 204, clears the cookie and kills the token', async () => {
      const { cookie } = await loginWithCookie(http, 'bob', 'bob-password');
      const response = await request(http)
        .post('/api/auth/logout')
        .set('Cookie', cookie)
        .set('Origin', ORIGIN)
        .expect(204);
      const cleared = String(response.headers['set-cookie']);
      expect(cleared).toMatch(/^cr_session=;/);
      expect(cleared).toContain('Expires=Thu, 01 Jan 1970');
      await request(http).get('/api/auth/session').set('Cookie', cookie).expect(401);
    });

    it('GET /session answers 401 to two different session cookies rather than picking one', async () => {
      const bob = await loginWithCookie(http, 'bob', 'bob-password');
      const alice = await loginWithCookie(http, 'alice', 'alice-password');
      await request(http)
        .get('/api/auth/session')
        .set('Cookie', `${bob.cookie}; ${alice.cookie}`)
        .expect(401);
    });

    it('POST /logout ends the real session behind a cookie planted at a longer path', async () => {
      // Users of its own: the suite caps sessions per user at 3.
      const [victim, attacker] = [
        await createUser(http, adminCookie),
        await createUser(http, adminCookie),
      ];
      const other = await loginWithCookie(http, victim.username, victim.password);
      const planted = await loginWithCookie(http, attacker.username, attacker.password);
      for (const first of [`cr_session=cr1.${'A'.repeat(8)}.${'A'.repeat(43)}`, planted.cookie]) {
        const { cookie } = await loginWithCookie(http, victim.username, victim.password);
        const response = await request(http)
          .post('/api/auth/logout')
          .set('Cookie', `${first}; ${cookie}`)
          .set('Origin', ORIGIN)
          .expect(204);
        expect(String(response.headers['set-cookie'])).toMatch(/^cr_session=;/);
        await request(http).get('/api/auth/session').set('Cookie', cookie).expect(401);
      }
      // Every session presented ends, the planted one too; others of the same user live on.
      await request(http).get('/api/auth/session').set('Cookie', planted.cookie).expect(401);
      await request(http).get('/api/auth/session').set('Cookie', other.cookie).expect(200);
    });

    it('POST /logout refuses more session tokens than a browser holds: 400, cookies cleared, no Redis command', async () => {
      const user = await createUser(http, adminCookie);
      const { cookie } = await loginWithCookie(http, user.username, user.password);
      const planted = Array.from({ length: MAX_PRESENTED_TOKENS }, randomSessionCookie);
      // The browser drops every cookie of the site, the planted ones too, and can log in again.
      await expectRefusedUnseen(
        auth.keyPrefix,
        request(http)
          .post('/api/auth/logout')
          .set('Origin', ORIGIN)
          .set('Cookie', [...planted, cookie].join('; ')),
      );
      await request(http).get('/api/auth/session').set('Cookie', cookie).expect(200);
      // At the cap, the session behind the planted cookies ends as in any logout.
      const atCap = await request(http)
        .post('/api/auth/logout')
        .set('Origin', ORIGIN)
        .set('Cookie', [...planted.slice(1), cookie].join('; '))
        .expect(204);
      expectClearingHeaders(atCap);
      await request(http).get('/api/auth/session').set('Cookie', cookie).expect(401);
    });

    it('POST /logout ends the session whatever body comes with it', async () => {
      const bodies: [string, string][] = [
        ['{"bye": ', 'application/json'],
        [JSON.stringify({ pad: 'x'.repeat(200 * 1024) }), 'application/json'],
        ['{"a":"b"}', 'application/json; charset=utf-16le'],
        ['a[b][c]=1', 'application/x-www-form-urlencoded'],
      ];
      for (const [body, type] of bodies) {
        const { cookie } = await loginWithCookie(http, 'bob', 'bob-password');
        const response = await request(http)
          .post('/api/auth/logout')
          .set('Cookie', cookie)
          .set('Origin', ORIGIN)
          .set('Content-Type', type)
          .send(body);
        expect({ type, status: response.status }).toEqual({ type, status: 204 });
        expect(String(response.headers['set-cookie'])).toMatch(/^cr_session=;/);
        await request(http).get('/api/auth/session').set('Cookie', cookie).expect(401);
      }
    });

    it('refuses a cookie-authenticated logout from a foreign origin, and exempts bearer requests', async () => {
      const { cookie } = await loginWithCookie(http, 'bob', 'bob-password');
      await request(http)
        .post('/api/auth/logout')
        .set('Cookie', cookie)
        .set('Origin', 'https://evil.example')
        .expect(403);
      await request(http).get('/api/auth/session').set('Cookie', cookie).expect(200);
      const { token } = await loginWithBearer(http, 'bob', 'bob-password');
      await request(http)
        .post('/api/auth/logout')
        .set('Authorization', `Bearer ${token}`)
        .set('Origin', 'https://evil.example')
        .expect(204);
    });

    it('refuses a cross-site logout that carries no cookie, clearing nothing: no logout CSRF', async () => {
      // A form post from another site: the browser keeps the SameSite cookie back, yet would
      // apply a cookie-clearing answer.
      const { cookie } = await loginWithCookie(http, 'bob', 'bob-password');
      for (const headers of [
        { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' },
        { Origin: 'https://evil.example' },
        { 'Sec-Fetch-Site': 'cross-site' },
      ]) {
        const answer = await request(http).post('/api/auth/logout').set(headers).expect(403);
        expect(answer.headers['set-cookie']).toBeUndefined();
        expect(answer.headers['clear-site-data']).toBeUndefined();
      }
      await request(http).get('/api/auth/session').set('Cookie', cookie).expect(200);
      // The page's own logout, and a client that is no browser, still clear.
      await request(http)
        .post('/api/auth/logout')
        .set({ Origin: ORIGIN, 'Sec-Fetch-Site': 'same-origin' })
        .expect(204);
      await request(http).post('/api/auth/logout').expect(204);
    });

    it("GET /sessions lists the caller's sessions and marks the current one", async () => {
      const user = await createUser(http, adminCookie);
      const first = await loginWithBearer(http, user.username, user.password);
      const second = await loginWithBearer(http, user.username, user.password);
      const response = await request(http)
        .get('/api/auth/sessions')
        .set('Authorization', `Bearer ${second.token}`)
        .expect(200);
      expect(response.body).toHaveLength(2);
      expect(response.body).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            id: first.body.session.id,
            createdAt: expect.any(String),
            lastSeenAt: expect.any(String),
            ip: expect.any(String),
            current: false,
          }),
          expect.objectContaining({ id: second.body.session.id, current: true }),
        ]),
      );
    });

    it("DELETE /sessions/:id revokes one of the caller's sessions, 404 for another user's", async () => {
      const user = await createUser(http, adminCookie);
      const mine = await loginWithBearer(http, user.username, user.password);
      const other = await loginWithBearer(http, user.username, user.password);
      const stranger = await loginWithBearer(http, 'bob', 'bob-password');
      const asMe = (test: request.Test) => test.set('Authorization', `Bearer ${mine.token}`);
      await asMe(request(http).delete(`/api/auth/sessions/${stranger.body.session.id}`)).expect(
        404,
      );
      await asMe(request(http).delete('/api/auth/sessions/garbage')).expect(404);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${stranger.token}`)
        .expect(200);
      await asMe(request(http).delete(`/api/auth/sessions/${other.body.session.id}`)).expect(204);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${other.token}`)
        .expect(401);
      await asMe(request(http).get('/api/auth/session')).expect(200);
    });

    it('DELETE /sessions/:id and the admin route take session ids only, never a token: 404, nothing revoked', async () => {
      // A token in a URL ends up in access logs, proxies and browser histories.
      const user = await createUser(http, adminCookie);
      const mine = await loginWithBearer(http, user.username, user.password);
      const other = await loginWithBearer(http, user.username, user.password);
      for (const token of [mine.token, other.token]) {
        const refused = await request(http)
          .delete(`/api/auth/sessions/${token}`)
          .set('Authorization', `Bearer ${mine.token}`);
        expect({ status: refused.status, body: refused.body }).toEqual({
          status: 404,
          body: { statusCode: 404, message: 'Session not found' },
        });
      }
      await request(http)
        .delete(`/api/auth/users/${user.id}/sessions/${other.token}`)
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .expect(404);
      await expectAlive(http, [mine.token, other.token]);
    });

    it('DELETE /sessions/:id refuses a body (an option it would not honour) and revokes nothing', async () => {
      const user = await createUser(http, adminCookie);
      const mine = await loginWithBearer(http, user.username, user.password);
      const other = await loginWithBearer(http, user.username, user.password);
      const third = await loginWithBearer(http, user.username, user.password);
      await expectBodiesRefused({ alsoRevoke: [third.body.session.id] }, (type, body) =>
        request(http)
          .delete(`/api/auth/sessions/${other.body.session.id}`)
          .set('Authorization', `Bearer ${mine.token}`)
          .set('Content-Type', type)
          .send(body),
      );
      await expectAlive(http, [mine.token, other.token, third.token]);
    });

    it("DELETE /sessions revokes all the caller's other sessions", async () => {
      const user = await createUser(http, adminCookie);
      const keep = await loginWithBearer(http, user.username, user.password);
      const drop1 = await loginWithBearer(http, user.username, user.password);
      const drop2 = await loginWithBearer(http, user.username, user.password);
      await request(http)
        .delete('/api/auth/sessions')
        .set('Authorization', `Bearer ${keep.token}`)
        .expect(204);
      for (const { token } of [drop1, drop2]) {
        await request(http)
          .get('/api/auth/session')
          .set('Authorization', `Bearer ${token}`)
          .expect(401);
      }
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${keep.token}`)
        .expect(200);
    });

    it('DELETE /sessions refuses a body (an option it would not honour) and revokes nothing', async () => {
      const user = await createUser(http, adminCookie);
      const keep = await loginWithBearer(http, user.username, user.password);
      const other = await loginWithBearer(http, user.username, user.password);
      await expectBodiesRefused({ except: [other.body.session.id] }, (type, body) =>
        request(http)
          .delete('/api/auth/sessions')
          .set('Authorization', `Bearer ${keep.token}`)
          .set('Content-Type', type)
          .send(body),
      );
      await expectAlive(http, [keep.token, other.token]);
    });
  });

  describe('POST /api/auth/password', () => {
    it('changes the password, rotates the current cookie and revokes the other sessions', async () => {
      const user = await createUser(http, adminCookie);
      const current = await loginWithCookie(http, user.username, user.password);
      const other = await loginWithBearer(http, user.username, user.password);
      const response = await request(http)
        .post('/api/auth/password')
        .set('Cookie', current.cookie)
        .set('Origin', ORIGIN)
        .send({ currentPassword: user.password, newPassword: 'velvet otter quantum ferry' })
        .expect(200);
      const rotated = sessionCookie(response);
      expect(rotated).not.toBe(current.cookie);
      expect(response.body.session.id).not.toBe(current.body.session.id);
      await request(http).get('/api/auth/session').set('Cookie', current.cookie).expect(401);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${other.token}`)
        .expect(401);
      await request(http).get('/api/auth/session').set('Cookie', rotated).expect(200);
      await request(http)
        .post('/api/auth/login')
        .send({ username: user.username, password: user.password, transport: 'bearer' })
        .expect(401);
      await loginWithBearer(http, user.username, 'velvet otter quantum ferry');
    });

    it('returns the rotated token in the body for a bearer session', async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const response = await request(http)
        .post('/api/auth/password')
        .set('Authorization', `Bearer ${token}`)
        .send({ currentPassword: user.password, newPassword: 'copper lantern rhubarb sky' })
        .expect(200);
      expect(response.headers['set-cookie']).toBeUndefined();
      expect(response.body.token).toMatch(/^cr1\./);
      expect(response.body.token).not.toBe(token);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${token}`)
        .expect(401);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${response.body.token}`)
        .expect(200);
    });

    it('answers 403 for a wrong current password and 400 for a too short new one', async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const change = (body: object) =>
        request(http).post('/api/auth/password').set('Authorization', `Bearer ${token}`).send(body);
      await change({
        currentPassword: 'wrong-password',
        newPassword: 'amber walrus kettle drum',
      }).expect(403);
      await change({ currentPassword: user.password, newPassword: 'short' }).expect(400);
      await change({ currentPassword: user.password, newPassword: 'x'.repeat(129) }).expect(400);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
    });
  });

  describe('admin routes', () => {
    it('POST /users creates a user who can log in, 409 for a duplicate', async () => {
      const response = await request(http)
        .post('/api/auth/users')
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .send({ username: 'Carol.E2E', password: 'marble heron orchard 42', roles: ['customer'] })
        .expect(201);
      expect(response.body).toEqual({
        id: expect.any(String),
        username: 'carol.e2e',
        roles: ['customer'],
        disabled: false,
      });
      await loginWithBearer(http, 'carol.e2e', 'marble heron orchard 42');
      const duplicate = await request(http)
        .post('/api/auth/users')
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .send({ username: 'carol.e2e', password: 'glacier tulip saxophone', roles: [] })
        .expect(409);
      expect(duplicate.body).toEqual({ statusCode: 409, message: 'Username already taken' });
    });

    it('POST /users answers 400 for a bad body and 403 for a customer', async () => {
      const post = (cookie: string, body: object) =>
        request(http)
          .post('/api/auth/users')
          .set('Cookie', cookie)
          .set('Origin', ORIGIN)
          .send(body);
      await post(adminCookie, { username: 'dave', password: 'short', roles: [] }).expect(400);
      await post(adminCookie, { username: 'dave', password: 'long-enough', roles: 'admin' }).expect(
        400,
      );
      await post(adminCookie, {
        username: 'dave',
        password: 'long-enough',
        roles: [],
        isAdmin: true,
      }).expect(400);
      const customer = await loginWithCookie(http, 'alice', 'alice-password');
      await post(customer.cookie, { username: 'dave', password: 'long-enough', roles: [] }).expect(
        403,
      );
    });

    it("PUT /users/:id/roles reaches the user's live sessions on their next request", async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const asUser = (test: request.Test) => test.set('Authorization', `Bearer ${token}`);
      await asUser(request(http).delete(`/api/auth/users/${user.id}/sessions`)).expect(403);
      const response = await request(http)
        .put(`/api/auth/users/${user.id}/roles`)
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .send({ roles: ['customer', 'admin'] })
        .expect(200);
      expect(response.body).toEqual({
        id: user.id,
        username: user.username,
        roles: ['customer', 'admin'],
        disabled: false,
      });
      const session = await asUser(request(http).get('/api/auth/session')).expect(200);
      expect(session.body.user.roles).toEqual(['customer', 'admin']);
      await asUser(request(http).delete(`/api/auth/users/${user.id}/sessions`)).expect(204);
    });

    it('answers 404 for an unknown user and 400 for a bad id', async () => {
      const put = (id: string) =>
        request(http)
          .put(`/api/auth/users/${id}/roles`)
          .set('Cookie', adminCookie)
          .set('Origin', ORIGIN)
          .send({ roles: ['customer'] });
      await put('00000000-0000-4000-8000-000000000000').expect(404);
      await put('not-a-uuid').expect(400);
      await request(http)
        .delete('/api/auth/users/00000000-0000-4000-8000-000000000000/sessions')
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .expect(404);
    });

    it('DELETE /users/:id/sessions revokes every session of the user', async () => {
      const user = await createUser(http, adminCookie);
      const a = await loginWithBearer(http, user.username, user.password);
      const b = await loginWithCookie(http, user.username, user.password);
      await request(http)
        .delete(`/api/auth/users/${user.id}/sessions`)
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .expect(204);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${a.token}`)
        .expect(401);
      await request(http).get('/api/auth/session').set('Cookie', b.cookie).expect(401);
    });

    it('DELETE /users/:id/sessions refuses a body (an option it would not honour) and revokes nothing', async () => {
      const user = await createUser(http, adminCookie);
      const a = await loginWithBearer(http, user.username, user.password);
      const b = await loginWithBearer(http, user.username, user.password);
      await expectBodiesRefused({ keep: [a.body.session.id] }, (type, body) =>
        request(http)
          .delete(`/api/auth/users/${user.id}/sessions`)
          .set('Cookie', adminCookie)
          .set('Origin', ORIGIN)
          .set('Content-Type', type)
          .send(body),
      );
      await expectAlive(http, [a.token, b.token]);
    });
  });

  describe('events', () => {
    let redis: Redis;
    let reader: SessionEventsReader;
    const received: SessionEvent[] = [];

    beforeAll(async () => {
      redis = new Redis(REDIS_URL);
      reader = new SessionEventsReader(redis, { keyPrefix: auth.keyPrefix, blockMs: 200 });
      const items = reader.read();
      // The first item is the `start` gap: from then on every event is received.
      await items.next();
      void (async () => {
        for await (const item of items) {
          if (item.kind === 'event') received.push(item.event);
        }
      })();
    });

    afterAll(() => {
      reader.close();
      redis.disconnect();
    });

    const waitFor = async (predicate: (event: SessionEvent) => boolean) => {
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        const event = received.find(predicate);
        if (event) return event;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error('event not received');
    };

    it('records logout, an admin revoke-all and a role change, with cause and actor', async () => {
      const user = await createUser(http, adminCookie);
      const { token, body } = await loginWithBearer(http, user.username, user.password);
      const actor = { id: user.id, username: user.username };
      expect(
        await waitFor((event) => event.type === SessionEvents.created && event.userId === user.id),
      ).toMatchObject({ sessionId: body.session.id, actor });
      await request(http)
        .post('/api/auth/logout')
        .set('Authorization', `Bearer ${token}`)
        .expect(204);
      expect(
        await waitFor(
          (event) => event.type === SessionEvents.revoked && event.sessionId === body.session.id,
        ),
      ).toMatchObject({ userId: user.id, reason: 'logout', actor });
      const admin = (test: request.Test) => test.set('Cookie', adminCookie).set('Origin', ORIGIN);
      await admin(request(http).delete(`/api/auth/users/${user.id}/sessions`)).expect(204);
      expect(
        await waitFor(
          (event) => event.type === SessionEvents.revokedAll && event.userId === user.id,
        ),
      ).toMatchObject({ reason: 'admin', actor: { username: 'admin' } });
      await admin(request(http).put(`/api/auth/users/${user.id}/roles`))
        .send({ roles: ['auditor'] })
        .expect(200);
      const changed = await waitFor(
        (event) => event.type === SessionEvents.rolesChanged && event.userId === user.id,
      );
      expect(changed).toMatchObject({ roles: ['auditor'], actor: { username: 'admin' } });
    });

    it('records a token presented at login as revoked and sessions over the cap as evicted', async () => {
      const user = await createUser(http, adminCookie);
      const first = await loginWithBearer(http, user.username, user.password);
      // Logging in again with the first token in hand revokes it (no fixation).
      const second = await request(http)
        .post('/api/auth/login')
        .set('Authorization', `Bearer ${first.token}`)
        .send({ username: user.username, password: user.password, transport: 'bearer' })
        .expect(200);
      expect(
        await waitFor(
          (event) =>
            event.type === SessionEvents.revoked && event.sessionId === first.body.session.id,
        ),
      ).toMatchObject({ userId: user.id, reason: 'login' });
      // The cap is 3 in this suite: the fourth live session evicts the oldest, the second login.
      for (let i = 0; i < 3; i++) await loginWithBearer(http, user.username, user.password);
      expect(
        await waitFor(
          (event) =>
            event.type === SessionEvents.evicted && event.sessionId === second.body.session.id,
        ),
      ).toMatchObject({ userId: user.id, reason: 'cap', actor: null });
    });
  });

  describe('public routes', () => {
    it('GET /health reports Redis and the database up', async () => {
      const response = await request(http).get('/api/auth/health').expect(200);
      expect(response.body.details).toEqual({
        sessions: { status: 'up' },
        database: { status: 'up' },
      });
    });

    it('serves the OpenAPI document at /api/auth/docs', async () => {
      await request(http).get('/api/auth/docs').expect(200);
      const document = await request(http).get('/api/auth/docs-json').expect(200);
      expect(Object.keys(document.body.paths)).toEqual(
        expect.arrayContaining(['/api/auth/login', '/api/auth/users/{id}/roles']),
      );
    });

    it('answers unknown routes with a JSON 404', async () => {
      const response = await request(http).get('/api/auth/nowhere').expect(404);
      expect(response.body).toEqual({ statusCode: 404, message: expect.any(String) });
    });
  });
});
