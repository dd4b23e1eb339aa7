import request from 'supertest';
import type { App } from 'supertest/types';

import { SecurityActivityService } from '../src/app/activity/security-activity.service';
import { USERS_PAGE_SIZE } from '../src/app/users/users.service';

import {
  AuthApp,
  createUser,
  expectAlive,
  expectBodiesRefused,
  loginWithBearer,
  loginWithCookie,
  ORIGIN,
  sessionCookie,
  startAuthApp,
  strongPassword,
  CHROME_ON_WINDOWS,
} from './auth-app';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every `Set-Cookie` value of a response. */
function setCookies(response: request.Response): string[] {
  return ([] as string[]).concat(response.headers['set-cookie'] ?? []);
}

/** The recent-auth routes of DESIGN §3, with a body each accepts. */
function recentAuthRoutes(userId: string, sessionId: string): [string, string, object?][] {
  return [
    ['post', '/api/auth/users', { username: 'never-made', password: strongPassword(), roles: [] }],
    ['put', `/api/auth/users/${userId}/roles`, { roles: ['customer'] }],
    ['delete', '/api/auth/sessions'],
    ['delete', `/api/auth/users/${userId}/sessions`],
    ['delete', `/api/auth/users/${userId}/sessions/${sessionId}`],
    ['put', `/api/auth/users/${userId}/disabled`, { disabled: true }],
    ['post', '/api/auth/revoke-all'],
  ];
}

describe('accounts (HTTP, real Redis and PostgreSQL)', () => {
  let auth: AuthApp;
  let http: App;
  let adminCookie: string;

  const asAdmin = (test: request.Test) => test.set('Cookie', adminCookie).set('Origin', ORIGIN);

  beforeAll(async () => {
    auth = await startAuthApp('accounts', {
      SESSION_KEEP_USER_AGENT: 'true',
      SESSION_REMEMBER_IDLE_TIMEOUT: '86400',
      SESSION_REMEMBER_ABSOLUTE_TIMEOUT: '172800',
    });
    http = auth.http;
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
  });

  afterAll(async () => {
    await auth?.close();
  });

  describe('remember me', () => {
    it('sets a browser-session cookie by default: no Expires, no Max-Age', async () => {
      const response = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send({ username: 'alice', password: 'alice-password' })
        .expect(200);
      const [cookie] = setCookies(response);
      expect(cookie).toMatch(/^cr_session=cr1\./);
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toMatch(/SameSite=(Lax|Strict)/);
      expect(cookie).toContain('Path=/');
      expect(cookie).not.toMatch(/Expires=/i);
      expect(cookie).not.toMatch(/Max-Age=/i);
      expect(response.body.session.persistent).toBe(false);
    });

    it('sets a persistent cookie until the absolute deadline with rememberMe, and the longer timeouts', async () => {
      const before = Date.now();
      const response = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send({ username: 'alice', password: 'alice-password', rememberMe: true })
        .expect(200);
      const [cookie] = setCookies(response);
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toMatch(/SameSite=(Lax|Strict)/);
      const expires = /Expires=([^;]+)/.exec(cookie)?.[1];
      expect(expires).toBeDefined();
      const session = await request(http)
        .get('/api/auth/session')
        .set('Cookie', sessionCookie(response))
        .expect(200);
      expect(session.body.session.persistent).toBe(true);
      // The cookie lasts as long as the session can (second precision in the header).
      const expiresAt = Date.parse(String(expires));
      expect(expiresAt).toBeGreaterThan(before + 172_000_000);
      expect(Date.parse(session.body.session.expiresAt)).toBeGreaterThan(before + 86_000_000);
    });

    it('refuses a rememberMe that is not a boolean', async () => {
      await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send({ username: 'alice', password: 'alice-password', rememberMe: 'yes' })
        .expect(400);
    });

    it('keeps the persistence through a re-authentication (the cookie stays persistent)', async () => {
      const login = await request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send({ username: 'alice', password: 'alice-password', rememberMe: true })
        .expect(200);
      const reauth = await request(http)
        .post('/api/auth/reauthenticate')
        .set('Cookie', sessionCookie(login))
        .set('Origin', ORIGIN)
        .send({ password: 'alice-password' })
        .expect(200);
      expect(setCookies(reauth)[0]).toMatch(/Expires=/);
      expect(reauth.body.session.persistent).toBe(true);
    });
  });

  describe('GET /api/auth/sessions', () => {
    it('lists device labels, authentication times, persistence and, kept on request, the user agent', async () => {
      const user = await createUser(http, adminCookie);
      const login = await request(http)
        .post('/api/auth/login')
        .set('User-Agent', CHROME_ON_WINDOWS)
        .send({ username: user.username, password: user.password, transport: 'bearer' })
        .expect(200);
      const response = await request(http)
        .get('/api/auth/sessions')
        .set('Authorization', `Bearer ${login.body.token}`)
        .expect(200);
      expect(response.body).toEqual([
        {
          id: login.body.session.id,
          createdAt: login.body.session.createdAt,
          lastSeenAt: expect.any(String),
          authenticatedAt: login.body.session.authenticatedAt,
          ip: expect.any(String),
          device: 'Chrome 131 on Windows',
          userAgent: CHROME_ON_WINDOWS,
          persistent: false,
          current: true,
        },
      ]);
    });
  });

  describe('POST /api/auth/logout', () => {
    const logout = () => request(http).post('/api/auth/logout').set('Origin', ORIGIN);

    function expectLoggedOut(response: request.Response) {
      expect(response.status).toBe(204);
      expect(response.headers['clear-site-data']).toBe('"cache", "cookies", "storage"');
      const [cleared] = setCookies(response);
      expect(cleared).toMatch(/^cr_session=;/);
      expect(cleared).toContain('Expires=Thu, 01 Jan 1970');
    }

    it('revokes a live session, answers 204, clears the cookie and the site data', async () => {
      const { cookie } = await loginWithCookie(http, 'bob', 'bob-password');
      expectLoggedOut(await logout().set('Cookie', cookie));
      await request(http).get('/api/auth/session').set('Cookie', cookie).expect(401);
    });

    it('answers the same for a dead session, a malformed cookie and no session at all', async () => {
      const { cookie } = await loginWithCookie(http, 'bob', 'bob-password');
      await logout().set('Cookie', cookie).expect(204);
      expectLoggedOut(await logout().set('Cookie', cookie));
      expectLoggedOut(await logout().set('Cookie', 'cr_session=garbage'));
      expectLoggedOut(await logout());
      expectLoggedOut(
        await request(http).post('/api/auth/logout').set('Authorization', 'Bearer cr1.nope'),
      );
    });

    it('ends the session a racing re-authentication rotated to (12 offsets)', async () => {
      for (const offset of [0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 120]) {
        const user = await createUser(http, adminCookie);
        const { cookie } = await loginWithCookie(http, user.username, user.password);
        const [reauth] = await Promise.all([
          request(http)
            .post('/api/auth/reauthenticate')
            .set('Cookie', cookie)
            .set('Origin', ORIGIN)
            .send({ password: user.password }),
          sleep(offset).then(() => logout().set('Cookie', cookie).expect(204)),
        ]);
        // Whichever came first, nothing of the session is left once both have answered.
        if (reauth.status === 200) {
          await request(http)
            .get('/api/auth/session')
            .set('Cookie', sessionCookie(reauth))
            .expect(401);
        } else {
          expect(reauth.status).toBe(401);
        }
        const left = await asAdmin(request(http).get(`/api/auth/users/${user.id}/sessions`));
        expect({ offset, left: left.body }).toEqual({ offset, left: [] });
      }
    });

    it('ends the session a token was rotated to moments ago, but takes no session id as a token', async () => {
      const user = await createUser(http, adminCookie);
      const first = await loginWithBearer(http, user.username, user.password);
      const rotated = await request(http)
        .post('/api/auth/reauthenticate')
        .set('Authorization', `Bearer ${first.token}`)
        .send({ password: user.password })
        .expect(200);
      // A session id is no secret: presented in place of a token, it ends nothing.
      const other = await loginWithBearer(http, user.username, user.password);
      await request(http)
        .post('/api/auth/logout')
        .set('Authorization', `Bearer ${other.body.session.id}`)
        .expect(204);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${other.token}`)
        .expect(200);
      // The old token, logged out after its rotation, ends the session it moved to.
      await request(http)
        .post('/api/auth/logout')
        .set('Authorization', `Bearer ${first.token}`)
        .expect(204);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${rotated.body.token}`)
        .expect(401);
    });

    it('refuses a cookie-carrying logout from another site, and leaves the session alive', async () => {
      const { cookie } = await loginWithCookie(http, 'bob', 'bob-password');
      for (const headers of [
        { Origin: 'https://evil.example' },
        { 'Sec-Fetch-Site': 'cross-site' },
        { Origin: ORIGIN, 'Sec-Fetch-Site': 'cross-site' },
        {},
      ]) {
        const response = await request(http)
          .post('/api/auth/logout')
          .set('Cookie', cookie)
          .set(headers)
          .expect(403);
        expect(response.headers['set-cookie']).toBeUndefined();
        expect(response.headers['clear-site-data']).toBeUndefined();
      }
      await request(http).get('/api/auth/session').set('Cookie', cookie).expect(200);
    });

    it('logs a bearer session out from anywhere (no cookie, no CSRF)', async () => {
      const { token } = await loginWithBearer(http, 'bob', 'bob-password');
      await request(http)
        .post('/api/auth/logout')
        .set('Authorization', `Bearer ${token}`)
        .set('Origin', 'https://evil.example')
        .expect(204);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${token}`)
        .expect(401);
    });
  });

  describe('POST /api/auth/reauthenticate', () => {
    it('rotates a cookie session: new cookie, old one dead at once, authenticatedAt refreshed', async () => {
      const user = await createUser(http, adminCookie);
      const login = await loginWithCookie(http, user.username, user.password);
      await sleep(20);
      const response = await request(http)
        .post('/api/auth/reauthenticate')
        .set('Cookie', login.cookie)
        .set('Origin', ORIGIN)
        .send({ password: user.password })
        .expect(200);
      const rotated = sessionCookie(response);
      expect(rotated).not.toBe(login.cookie);
      expect(response.body.token).toBeUndefined();
      expect(response.body.user).toEqual(login.body.user);
      expect(response.body.session.id).not.toBe(login.body.session.id);
      expect(response.body.session.createdAt).toBe(login.body.session.createdAt);
      expect(Date.parse(response.body.session.authenticatedAt)).toBeGreaterThan(
        Date.parse(login.body.session.authenticatedAt),
      );
      await request(http).get('/api/auth/session').set('Cookie', login.cookie).expect(401);
      await request(http).get('/api/auth/session').set('Cookie', rotated).expect(200);
      const activity = await auth.app.get(SecurityActivityService).list(user.id, null);
      expect(activity.items.map((item) => item.type)).toContain('reauthenticated');
    });

    it('returns a bearer session its new token in the body, and no cookie', async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const response = await request(http)
        .post('/api/auth/reauthenticate')
        .set('Authorization', `Bearer ${token}`)
        .send({ password: user.password })
        .expect(200);
      expect(response.headers['set-cookie']).toBeUndefined();
      expect(response.body.token).toMatch(/^cr1\./);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${token}`)
        .expect(401);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${response.body.token}`)
        .expect(200);
    });

    it('answers a wrong password with the login 401 body, keeps the session, records the failure', async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const wrongLogin = await request(http)
        .post('/api/auth/login')
        .send({ username: user.username, password: 'not the password', transport: 'bearer' })
        .expect(401);
      const response = await request(http)
        .post('/api/auth/reauthenticate')
        .set('Authorization', `Bearer ${token}`)
        .send({ password: 'not the password' })
        .expect(401);
      expect(response.body).toEqual(wrongLogin.body);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
      const activity = await auth.app.get(SecurityActivityService).list(user.id, null);
      const failed = activity.items.filter((item) => item.type === 'login.failed');
      expect(failed).toHaveLength(2);
    });

    it('is throttled like a login: 429 with Retry-After once the failures reach the limit', async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      for (let attempt = 0; attempt < 12; attempt++) {
        const response = await request(http)
          .post('/api/auth/reauthenticate')
          .set('Authorization', `Bearer ${token}`)
          .send({ password: `wrong ${attempt}` });
        statuses.push(response.status);
        retryAfter ??= response.headers['retry-after'];
      }
      expect(statuses).toContain(429);
      expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(5);
      expect(Number(retryAfter)).toBeGreaterThan(0);
      const activity = await auth.app.get(SecurityActivityService).list(user.id, null);
      const types = activity.items.map((item) => item.type);
      // Seven refusals, one row: a flood of 429s must not flood the activity log.
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(7);
      expect(types.filter((type) => type === 'login.throttled')).toHaveLength(1);
    });

    it('needs a session and a password', async () => {
      await request(http)
        .post('/api/auth/reauthenticate')
        .send({ password: 'whatever' })
        .expect(401);
      const { token } = await loginWithBearer(http, 'bob', 'bob-password');
      for (const body of [{}, { password: 42 }, { password: 'x', extra: 1 }]) {
        await request(http)
          .post('/api/auth/reauthenticate')
          .set('Authorization', `Bearer ${token}`)
          .send(body)
          .expect(400);
      }
    });
  });

  describe('failed logins in the activity log', () => {
    it('records a failure under the account when the username exists, with address and device', async () => {
      const user = await createUser(http, adminCookie);
      await request(http)
        .post('/api/auth/login')
        .set('User-Agent', CHROME_ON_WINDOWS)
        .send({ username: user.username, password: 'nope nope nope', transport: 'bearer' })
        .expect(401);
      const activity = await auth.app.get(SecurityActivityService).list(user.id, null);
      expect(activity.items).toEqual([
        expect.objectContaining({
          type: 'login.failed',
          userId: user.id,
          device: 'Chrome 131 on Windows',
          ip: expect.any(String),
        }),
      ]);
    });

    it("shows the owner no text a stranger's user agent chose, only the names of known systems", async () => {
      const user = await createUser(http, adminCookie);
      await request(http)
        .post('/api/auth/login')
        .set('User-Agent', 'Visit evil.example to secure your account/1.0 (X11; Linux x86_64)')
        .send({ username: user.username, password: 'nope nope nope', transport: 'bearer' })
        .expect(401);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const own = await request(http)
        .get('/api/auth/activity')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
      const failed = own.body.items.filter(
        (item: { type: string }) => item.type === 'login.failed',
      );
      expect(failed).toEqual([expect.objectContaining({ userId: user.id, device: 'Linux' })]);
    });
  });

  describe('password policy', () => {
    const create = (username: string, password: string) =>
      asAdmin(request(http).post('/api/auth/users')).send({
        username,
        password,
        roles: ['customer'],
      });

    it.each([
      ['too short (11 characters)', 'Zq8!fjw-27L', /at least 12 characters/],
      ['too long (129 characters)', 'Zq8!fjw-27Lm'.repeat(11).slice(0, 129), /at most 128/],
      ['common', 'password1234', /too easy to guess/],
      ['derived from the username', 'policy-victim2024', /too easy to guess/],
      ['a keyboard walk', 'qwertyuiop123', /too easy to guess/],
    ])('refuses a password that is %s, with the reason', async (_case, password, reason) => {
      const response = await create('policy-victim', password).expect(400);
      expect(response.body.message).toMatch(reason);
    });

    it('accepts 128 characters of any script and signs in with another Unicode form of it', async () => {
      const composed = 'Grüße aus Köln — 雪の朝 ☃ café';
      await create('policy-unicode', composed).expect(201);
      // The same password typed with combining accents (NFD) is the same password (NFKC).
      await loginWithBearer(http, 'policy-unicode', composed.normalize('NFD'));
      const longest = [...'Zq8!fjw-27Lm_x🐢'.repeat(9)].slice(0, 128).join('');
      expect([...longest]).toHaveLength(128);
      await create('policy-longest', longest).expect(201);
      await loginWithBearer(http, 'policy-longest', longest);
    });

    it('takes every Unicode form of a 128-character password at login, re-authentication and change, however long that form is', async () => {
      const composed = [...'Über Köln fährt én Zug, ça évolue! ÄÖÜäöüéèêàçñ'.repeat(3)]
        .slice(0, 128)
        .join('');
      // Typed with combining accents (NFD), as some systems send it: 170 code points.
      const decomposed = composed.normalize('NFD');
      expect([...decomposed].length).toBeGreaterThan(128);
      await create('policy-decomposed', composed).expect(201);
      const { token } = await loginWithBearer(http, 'policy-decomposed', decomposed);
      const reauthenticated = await request(http)
        .post('/api/auth/reauthenticate')
        .set('Authorization', `Bearer ${token}`)
        .send({ password: decomposed })
        .expect(200);
      await request(http)
        .post('/api/auth/password')
        .set('Authorization', `Bearer ${reauthenticated.body.token}`)
        .send({ currentPassword: decomposed, newPassword: strongPassword() })
        .expect(200);
      // What no accepted password can be, in any form, is refused before any work.
      const tooLong = await request(http)
        .post('/api/auth/login')
        .send({ username: 'policy-decomposed', password: 'Zq8!fjw-27Lm'.repeat(11).slice(0, 129) })
        .expect(400);
      expect(tooLong.body.message).toBe('password must be at most 128 characters long');
    });

    it('keeps the demo users, seeded without the policy, working', async () => {
      await loginWithBearer(http, 'alice', 'alice-password');
    });

    it('refuses a new password equal to the current one, or weak, and keeps the old one', async () => {
      const user = await createUser(http, adminCookie);
      const { token } = await loginWithBearer(http, user.username, user.password);
      const change = (newPassword: string) =>
        request(http)
          .post('/api/auth/password')
          .set('Authorization', `Bearer ${token}`)
          .send({ currentPassword: user.password, newPassword });
      const same = await change(user.password).expect(400);
      expect(same.body.message).toBe('the new password must differ from the current one');
      expect((await change('short').expect(400)).body.message).toMatch(/at least 12/);
      expect((await change('password12345').expect(400)).body.message).toMatch(/easy to guess/);
      expect((await change('x'.repeat(129)).expect(400)).body.message).toMatch(/at most 128/);
      await loginWithBearer(http, user.username, user.password);
      const changed = await change('pebble lantern orbit 77').expect(200);
      const activity = await auth.app.get(SecurityActivityService).list(user.id, null);
      expect(activity.items.map((item) => item.type)).toContain('password.changed');
      expect(changed.body.session.authenticatedAt).toBeDefined();
    });
  });

  describe('admin console: GET /api/auth/users', () => {
    const list = (query: Record<string, string>) =>
      asAdmin(request(http).get('/api/auth/users')).query(query);

    /** Walks every page of a listing; fails on a page larger than the page size. */
    async function walk(query: Record<string, string>) {
      const seen: { username: string; id: string; sessionCount: number }[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const response: request.Response = await list({
          ...query,
          ...(cursor ? { cursor } : {}),
        }).expect(200);
        expect(response.body.items.length).toBeLessThanOrEqual(USERS_PAGE_SIZE);
        seen.push(...response.body.items);
        cursor = response.body.next;
        pages++;
        expect(pages).toBeLessThan(100);
      } while (cursor);
      return { seen, pages };
    }

    let created: string[];

    beforeAll(async () => {
      created = [];
      // Shuffled creation order: the list must come out in username order anyway.
      const names = Array.from({ length: 60 }, (_, i) => `pg-${String(i).padStart(2, '0')}`);
      names.sort(() => Math.random() - 0.5);
      for (const name of names) {
        await asAdmin(request(http).post('/api/auth/users'))
          .send({ username: name, password: strongPassword(), roles: ['customer'] })
          .expect(201);
        created.push(name);
      }
      // `%` cannot be in a username, but the search must take it literally all the same.
      for (const name of ['lk-ab_cd', 'lk-abxcd', 'lk-abzzcd']) {
        await asAdmin(request(http).post('/api/auth/users'))
          .send({ username: name, password: strongPassword(), roles: [] })
          .expect(201);
      }
    }, 120_000);

    it('walks all pages of a search in username order, each user once', async () => {
      const { seen, pages } = await walk({ search: 'pg-' });
      expect(pages).toBe(3);
      const usernames = seen.map((user) => user.username);
      expect(usernames).toEqual([...created].sort());
    });

    it('walks the whole list without a search: sorted, no duplicates, no gaps', async () => {
      const { seen } = await walk({});
      const usernames = seen.map((user) => user.username);
      expect(new Set(usernames).size).toBe(usernames.length);
      expect(usernames).toEqual([...usernames].sort());
      expect(usernames).toEqual(expect.arrayContaining([...created, 'admin', 'alice', 'bob']));
    });

    it('shows roles, disabled, creation time and the live session count', async () => {
      const user = await createUser(http, adminCookie);
      await loginWithBearer(http, user.username, user.password);
      await loginWithBearer(http, user.username, user.password);
      const response = await list({ search: user.username }).expect(200);
      expect(response.body).toEqual({
        items: [
          {
            id: user.id,
            username: user.username,
            roles: ['customer'],
            disabled: false,
            createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
            sessionCount: 2,
          },
        ],
        next: null,
      });
    });

    it('searches case-insensitively and takes % and _ literally', async () => {
      const upper = await list({ search: 'PG-0' }).expect(200);
      expect(upper.body.items).toHaveLength(10);
      const underscore = await list({ search: 'ab_cd' }).expect(200);
      expect(underscore.body.items.map((user: { username: string }) => user.username)).toEqual([
        'lk-ab_cd',
      ]);
      expect((await list({ search: '%' }).expect(200)).body.items).toEqual([]);
      expect((await list({ search: 'ab%cd' }).expect(200)).body.items).toEqual([]);
      expect((await list({ search: '_' }).expect(200)).body.items).toHaveLength(1);
      expect((await list({ search: '\\' }).expect(200)).body.items).toEqual([]);
    });

    it.each([
      ['a NUL', '\0'],
      ['a NUL inside', 'pg\u00000'],
      ['a line feed', 'pg-\n'],
      ['an escape', '\u001b[0m'],
    ])('answers 400 to a search with %s, not a 500 or every user', async (_case, search) => {
      const response = await list({ search }).expect(400);
      expect(response.body).toEqual({
        statusCode: 400,
        message: expect.stringMatching(/control characters/),
      });
    });

    it.each([
      ['garbage', '!!!'],
      ['not base64 of a username', Buffer.from('<script>').toString('base64url')],
      ['empty', ''],
      ['too long', 'a'.repeat(300)],
    ])('answers 400 for a %s cursor', async (_case, cursor) => {
      await list({ cursor }).expect(400);
    });

    it('answers 400 for repeated or unknown query parameters, 403 for a customer', async () => {
      await asAdmin(request(http).get('/api/auth/users?search=a&search=b')).expect(400);
      await list({ page: '2' }).expect(400);
      const customer = await loginWithBearer(http, 'alice', 'alice-password');
      await request(http)
        .get('/api/auth/users')
        .set('Authorization', `Bearer ${customer.token}`)
        .expect(403);
    });
  });

  describe("admin console: a user's sessions", () => {
    it('lists them without `current`, revokes one by id, 404 for another user’s', async () => {
      const user = await createUser(http, adminCookie);
      const first = await loginWithBearer(http, user.username, user.password);
      const second = await loginWithBearer(http, user.username, user.password);
      const bob = await loginWithBearer(http, 'bob', 'bob-password');
      const listed = await asAdmin(request(http).get(`/api/auth/users/${user.id}/sessions`)).expect(
        200,
      );
      expect(listed.body).toHaveLength(2);
      for (const session of listed.body) {
        expect(session).not.toHaveProperty('current');
        expect(session).toMatchObject({ persistent: false, device: expect.any(String) });
      }
      await asAdmin(
        request(http).delete(`/api/auth/users/${user.id}/sessions/${bob.body.session.id}`),
      ).expect(404);
      await asAdmin(request(http).delete(`/api/auth/users/${user.id}/sessions/garbage`)).expect(
        404,
      );
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${bob.token}`)
        .expect(200);
      await asAdmin(
        request(http).delete(`/api/auth/users/${user.id}/sessions/${first.body.session.id}`),
      ).expect(204);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${first.token}`)
        .expect(401);
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${second.token}`)
        .expect(200);
      await asAdmin(
        request(http).get('/api/auth/users/00000000-0000-4000-8000-000000000000/sessions'),
      ).expect(404);
    });

    it('refuses a body on revoking one (an option it would not honour) and revokes nothing', async () => {
      const user = await createUser(http, adminCookie);
      const first = await loginWithBearer(http, user.username, user.password);
      const second = await loginWithBearer(http, user.username, user.password);
      await expectBodiesRefused({ alsoRevoke: [second.body.session.id] }, (type, body) =>
        asAdmin(
          request(http).delete(`/api/auth/users/${user.id}/sessions/${first.body.session.id}`),
        )
          .set('Content-Type', type)
          .send(body),
      );
      await expectAlive(http, [first.token, second.token]);
    });
  });

  describe('disable and enable', () => {
    it('records user.disabled and user.enabled, once per change', async () => {
      const user = await createUser(http, adminCookie);
      const set = (disabled: boolean) =>
        asAdmin(request(http).put(`/api/auth/users/${user.id}/disabled`))
          .send({ disabled })
          .expect(200);
      await set(true);
      await set(true);
      await set(false);
      const activity = await auth.app.get(SecurityActivityService).list(user.id, null);
      const types = activity.items.map((item) => item.type);
      expect(types.filter((type) => type === 'user.disabled')).toHaveLength(1);
      expect(types.filter((type) => type === 'user.enabled')).toHaveLength(1);
    });
  });
});

describe('recent authentication (a 3-second window)', () => {
  let auth: AuthApp;
  let http: App;

  beforeAll(async () => {
    auth = await startAuthApp('accounts-reauth', { SESSION_REAUTH_WINDOW: '3' });
    http = auth.http;
  });

  afterAll(async () => {
    await auth?.close();
  });

  it('answers 401 reauthentication_required on every recent-auth route once the window has passed, and lets the admin through after /reauthenticate', async () => {
    const admin = await loginWithCookie(http, 'admin', 'admin-password');
    const victim = await createUser(http, admin.cookie);
    const victimLogin = await loginWithBearer(http, victim.username, victim.password);
    await sleep(3_500);
    const answers: object[] = [];
    for (const [method, path, body] of recentAuthRoutes(victim.id, victimLogin.body.session.id)) {
      const response = await request(http)
        [method as 'post'](path)
        .set('Cookie', admin.cookie)
        .set('Origin', ORIGIN)
        .send(body);
      answers.push({ method, path, status: response.status, body: response.body });
    }
    expect(answers).toEqual(
      recentAuthRoutes(victim.id, victimLogin.body.session.id).map(([method, path]) => ({
        method,
        path,
        status: 401,
        body: {
          statusCode: 401,
          message: 'Recent authentication required',
          error: 'reauthentication_required',
        },
      })),
    );
    // Routes that are not sensitive still work with the old authentication.
    await request(http).get('/api/auth/users').set('Cookie', admin.cookie).expect(200);
    await request(http)
      .get('/api/auth/session')
      .set('Authorization', `Bearer ${victimLogin.token}`)
      .expect(200);

    const reauth = await request(http)
      .post('/api/auth/reauthenticate')
      .set('Cookie', admin.cookie)
      .set('Origin', ORIGIN)
      .send({ password: 'admin-password' })
      .expect(200);
    const fresh = sessionCookie(reauth);
    await request(http)
      .delete(`/api/auth/users/${victim.id}/sessions/${victimLogin.body.session.id}`)
      .set('Cookie', fresh)
      .set('Origin', ORIGIN)
      .expect(204);
    // The old token died with the rotation, even for routes without recent auth.
    await request(http).get('/api/auth/users').set('Cookie', admin.cookie).expect(401);
  });

  it("asks recent auth to end another of one's sessions, never to end the current one", async () => {
    const user = await createUser(
      http,
      (await loginWithCookie(http, 'admin', 'admin-password')).cookie,
    );
    const [stolen, phone] = await Promise.all([
      loginWithBearer(http, user.username, user.password),
      loginWithBearer(http, user.username, user.password),
    ]);
    const as = (token: string) => (test: request.Test) =>
      test.set('Authorization', `Bearer ${token}`);
    await sleep(3_500);
    // A stolen session cannot sign its owner out elsewhere, one session id at a time...
    const refused = await as(stolen.token)(
      request(http).delete(`/api/auth/sessions/${phone.body.session.id}`),
    ).expect(401);
    expect(refused.body.error).toBe('reauthentication_required');
    await as(phone.token)(request(http).get('/api/auth/session')).expect(200);
    // ...nor hide that it tried: an unknown id is refused the same way, before any lookup.
    await as(stolen.token)(request(http).delete('/api/auth/sessions/not-an-id')).expect(401);
    // Ending one's own session needs no password.
    await as(phone.token)(
      request(http).delete(`/api/auth/sessions/${phone.body.session.id}`),
    ).expect(204);
    await as(phone.token)(request(http).get('/api/auth/session')).expect(401);
    // After /reauthenticate, another session can be ended.
    const reauth = await as(stolen.token)(request(http).post('/api/auth/reauthenticate'))
      .send({ password: user.password })
      .expect(200);
    const other = await loginWithBearer(http, user.username, user.password);
    await as(reauth.body.token)(
      request(http).delete(`/api/auth/sessions/${other.body.session.id}`),
    ).expect(204);
    await as(other.token)(request(http).get('/api/auth/session')).expect(401);
  });

  it('counts a fresh login as recent', async () => {
    const { token } = await loginWithBearer(http, 'admin', 'admin-password');
    await request(http)
      .post('/api/auth/users')
      .set('Authorization', `Bearer ${token}`)
      .send({ username: 'fresh-login-made', password: strongPassword(), roles: [] })
      .expect(201);
  });
});

describe('administrators cannot lock administration out', () => {
  let auth: AuthApp;
  let http: App;

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  beforeAll(async () => {
    auth = await startAuthApp('accounts-admins');
    http = auth.http;
  });

  afterAll(async () => {
    await auth?.close();
  });

  /** Two fresh administrators, and the demo admin disabled: they are the only enabled ones. */
  async function twoAdmins() {
    const demo = await loginWithBearer(http, 'admin', 'admin-password');
    const make = async (name: string) => {
      const password = strongPassword();
      const created = await request(http)
        .post('/api/auth/users')
        .set(bearer(demo.token))
        .send({ username: name, password, roles: ['admin'] })
        .expect(201);
      return { id: created.body.id as string, username: name, password };
    };
    const a = await make('admin-a');
    const b = await make('admin-b');
    const aToken = (await loginWithBearer(http, a.username, a.password)).token;
    await request(http)
      .put(`/api/auth/users/${demo.body.user.id}/disabled`)
      .set(bearer(aToken))
      .send({ disabled: true })
      .expect(200);
    return { a, b, demoId: demo.body.user.id as string };
  }

  async function enabledAdmins(token: string): Promise<string[]> {
    const response = await request(http).get('/api/auth/users').set(bearer(token)).expect(200);
    return response.body.items
      .filter((user: { roles: string[]; disabled: boolean }) => {
        return user.roles.includes('admin') && !user.disabled;
      })
      .map((user: { username: string }) => user.username);
  }

  it('refuses to remove your own admin role or disable yourself (409), and allows keeping it', async () => {
    const demo = await loginWithBearer(http, 'admin', 'admin-password');
    const id = demo.body.user.id;
    const own = await request(http)
      .put(`/api/auth/users/${id}/roles`)
      .set(bearer(demo.token))
      .send({ roles: ['customer'] })
      .expect(409);
    expect(own.body).toEqual({ statusCode: 409, message: 'You cannot remove your own admin role' });
    await request(http)
      .put(`/api/auth/users/${id}/disabled`)
      .set(bearer(demo.token))
      .send({ disabled: true })
      .expect(409);
    await request(http)
      .put(`/api/auth/users/${id}/roles`)
      .set(bearer(demo.token))
      .send({ roles: ['admin', 'customer'] })
      .expect(200);
    await request(http)
      .put(`/api/auth/users/${id}/roles`)
      .set(bearer(demo.token))
      .send({ roles: ['admin'] })
      .expect(200);
  });

  it('never leaves zero enabled administrators when two demote or disable each other at once', async () => {
    const { a, b } = await twoAdmins();
    const login = async (user: { username: string; password: string }) =>
      (await loginWithBearer(http, user.username, user.password)).token;
    let aToken = await login(a);
    let bToken = await login(b);
    for (let round = 0; round < 30; round++) {
      const mode = round % 3;
      const attack = (token: string, target: string) => {
        const test =
          mode === 2
            ? request(http).put(`/api/auth/users/${target}/disabled`).send({ disabled: true })
            : request(http)
                .put(`/api/auth/users/${target}/roles`)
                .send({ roles: ['customer'] });
        return test.set(bearer(token));
      };
      // Mode 1 disables one side and demotes the other: mixed changes share the lock too.
      const [fromA, fromB] = await Promise.all([
        attack(aToken, b.id),
        mode === 1
          ? request(http)
              .put(`/api/auth/users/${a.id}/disabled`)
              .set(bearer(bToken))
              .send({ disabled: true })
          : attack(bToken, a.id),
      ]);
      const statuses = [fromA.status, fromB.status];
      // Exactly one change won; the other was refused (403: no longer an admin; 409: the last).
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
      expect(statuses.every((status) => [200, 401, 403, 409].includes(status))).toBe(true);
      const winner = fromA.status === 200 ? { user: a, token: aToken } : { user: b, token: bToken };
      const loser = winner.user === a ? b : a;
      expect(await enabledAdmins(winner.token)).toEqual([winner.user.username]);
      // Restore the loser: roles and account back, a new session if the old one was revoked.
      await request(http)
        .put(`/api/auth/users/${loser.id}/disabled`)
        .set(bearer(winner.token))
        .send({ disabled: false })
        .expect(200);
      await request(http)
        .put(`/api/auth/users/${loser.id}/roles`)
        .set(bearer(winner.token))
        .send({ roles: ['admin'] })
        .expect(200);
      const loserToken = await login(loser);
      if (loser === a) aToken = loserToken;
      else bToken = loserToken;
    }
  }, 180_000);
});

describe('SESSION_CAP_POLICY=refuse', () => {
  let auth: AuthApp;
  let http: App;

  beforeAll(async () => {
    auth = await startAuthApp('accounts-cap', {
      SESSION_CAP_POLICY: 'refuse',
      SESSION_MAX_PER_USER: '2',
    });
    http = auth.http;
  });

  afterAll(async () => {
    await auth?.close();
  });

  const login = (body: object) =>
    request(http)
      .post('/api/auth/login')
      .set('User-Agent', CHROME_ON_WINDOWS)
      .send({ transport: 'bearer', ...body });

  it('answers 409 listing the sessions at the cap, and replaces the one named after the password is verified', async () => {
    const credentials = { username: 'bob', password: 'bob-password' };
    const first = await login(credentials).expect(200);
    const second = await login(credentials).expect(200);
    const refused = await login(credentials).expect(409);
    expect(refused.body).toEqual({
      statusCode: 409,
      message: expect.any(String),
      sessions: [first, second].map(({ body }) => ({
        id: body.session.id,
        createdAt: body.session.createdAt,
        lastSeenAt: expect.any(String),
        device: 'Chrome 131 on Windows',
      })),
    });
    expect(JSON.stringify(refused.body)).not.toMatch(/cr1\.|127\.0\.0\.1|::1/);

    // A wrong password ends nothing.
    await login({
      ...credentials,
      password: 'wrong password',
      replaceSession: first.body.session.id,
    }).expect(401);
    // Another user's session cannot be ended this way: still at the cap, still refused.
    const alice = await login({ username: 'alice', password: 'alice-password' }).expect(200);
    await login({ ...credentials, replaceSession: alice.body.session.id }).expect(409);
    for (const token of [first.body.token, second.body.token, alice.body.token]) {
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
    }

    const replaced = await login({ ...credentials, replaceSession: first.body.session.id }).expect(
      200,
    );
    await request(http)
      .get('/api/auth/session')
      .set('Authorization', `Bearer ${first.body.token}`)
      .expect(401);
    for (const token of [second.body.token, replaced.body.token]) {
      await request(http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
    }
  });
});
