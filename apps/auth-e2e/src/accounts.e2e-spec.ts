import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BuiltApp, RunningApp, waitForStatus } from '@cloakroom/e2e-support';
import {
  DevCertificates,
  freePort,
  makeDevCertificates,
  testKeyPrefix,
} from '@cloakroom/session/testing';

const ORIGIN = 'http://localhost:3000';
const auth = new BuiltApp('auth');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A parsed JSON body: the assertions say what shape they expect. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Answer {
  status: number;
  body: Json;
  headers: Headers;
}

/** How a request authenticates: a cookie (sent with the allowed Origin) or a bearer token. */
type Credential = { cookie: string } | { token: string } | null;

/** The built auth service, started in its own directory with its own SQLite file. */
class AuthProcess {
  private running?: RunningApp;
  private cwd = mkdtempSync(join(tmpdir(), 'auth-e2e-accounts-'));
  base = '';

  constructor(private readonly certificates: DevCertificates) {}

  async start(extra: Record<string, string> = {}): Promise<void> {
    const port = await freePort();
    this.running = auth.start(
      {
        AUTH_PORT: String(port),
        AUTH_RPC_PORT: String(await freePort()),
        SESSION_KEY_PREFIX: testKeyPrefix('auth-e2e-accounts'),
        AUTH_RPC_CLIENT_CA: this.certificates.ca,
        AUTH_RPC_SERVER_CERT: this.certificates.server.cert,
        AUTH_RPC_SERVER_KEY: this.certificates.server.key,
        SESSION_ALLOWED_ORIGINS: ORIGIN,
        SEED_DEMO_USERS: 'true',
        ...extra,
      },
      this.cwd,
    );
    this.base = `http://127.0.0.1:${port}/api/auth`;
    await waitForStatus(`${this.base}/health`);
  }

  async stop(): Promise<void> {
    await this.running?.stop();
    rmSync(this.cwd, { recursive: true, force: true });
  }

  async call(
    method: string,
    path: string,
    credential: Credential,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const auth: Record<string, string> =
      credential === null
        ? {}
        : 'cookie' in credential
          ? { cookie: credential.cookie, origin: ORIGIN }
          : { authorization: `Bearer ${credential.token}` };
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...auth,
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text ? JSON.parse(text) : null,
      headers: response.headers,
    };
  }

  async login(username: string, password: string, extra: object = {}): Promise<Answer> {
    return this.call('POST', '/login', null, { username, password, ...extra }, { origin: ORIGIN });
  }

  /** Logs in in cookie mode; the `name=value` of the session cookie. */
  async cookieOf(username: string, password: string, extra: object = {}): Promise<string> {
    const answer = await this.login(username, password, extra);
    expect(answer.status).toBe(200);
    return (answer.headers.get('set-cookie') ?? '').split(';')[0];
  }

  async tokenOf(username: string, password: string): Promise<{ token: string; body: Json }> {
    const answer = await this.login(username, password, { transport: 'bearer' });
    expect(answer.status).toBe(200);
    return { token: answer.body.token, body: answer.body };
  }
}

const strongPassword = () => `Pw-${randomBytes(12).toString('base64url')}`;

describe('accounts in the built auth service', () => {
  let certsDir: string;
  let certificates: DevCertificates;

  beforeAll(() => {
    certsDir = mkdtempSync(join(tmpdir(), 'auth-e2e-accounts-certs-'));
    certificates = makeDevCertificates(certsDir, ['catalog']);
  });

  afterAll(() => {
    rmSync(certsDir, { recursive: true, force: true });
  });

  describe('with the default settings (SQLite)', () => {
    const app = () => server;
    let server: AuthProcess;
    let admin: { cookie: string };

    beforeAll(async () => {
      server = new AuthProcess(certificates);
      await server.start();
      admin = { cookie: await server.cookieOf('admin', 'admin-password') };
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
    });

    async function createUser(roles: string[] = ['customer']) {
      const username = `u-${randomBytes(5).toString('hex')}`;
      const password = strongPassword();
      const answer = await app().call('POST', '/users', admin, { username, password, roles });
      expect(answer.status).toBe(201);
      return { id: answer.body.id as string, username, password };
    }

    it('sets a browser-session cookie without rememberMe, a persistent one with it', async () => {
      const plain = await app().login('alice', 'alice-password');
      const sessionCookieOf = (answer: { headers: Headers }) =>
        answer.headers.getSetCookie().find((cookie) => cookie.startsWith('cr_session=')) ?? '';
      const plainCookie = sessionCookieOf(plain);
      expect(plainCookie).toMatch(/^cr_session=cr1\./);
      expect(plainCookie).toMatch(/HttpOnly/i);
      expect(plainCookie).toMatch(/SameSite=(Lax|Strict)/i);
      expect(plainCookie).not.toMatch(/Expires=|Max-Age=/i);

      const remembered = await app().login('alice', 'alice-password', { rememberMe: true });
      const rememberedCookie = sessionCookieOf(remembered);
      expect(rememberedCookie).toMatch(/HttpOnly/i);
      expect(rememberedCookie).toMatch(/SameSite=(Lax|Strict)/i);
      const expires = Date.parse(/Expires=([^;]+)/i.exec(rememberedCookie)?.[1] ?? '');
      // SESSION_REMEMBER_ABSOLUTE_TIMEOUT defaults to 30 days.
      expect(expires).toBeGreaterThan(Date.now() + 29 * 86_400_000);
      expect(remembered.body.session.persistent).toBe(true);
      expect(plain.body.session.persistent).toBe(false);
    });

    it('logs out with 204, a cleared cookie and Clear-Site-Data, even with a dead or no session', async () => {
      const cookie = await app().cookieOf('bob', 'bob-password');
      for (const credential of [{ cookie }, { cookie }, null]) {
        const answer = await app().call('POST', '/logout', credential, undefined, {
          origin: ORIGIN,
        });
        expect(answer.status).toBe(204);
        expect(answer.headers.get('clear-site-data')).toBe('"cache", "cookies", "storage"');
        expect(answer.headers.get('set-cookie')).toMatch(/^cr_session=;.*Expires=Thu, 01 Jan 1970/);
      }
      expect((await app().call('GET', '/session', { cookie })).status).toBe(401);
    });

    it('refuses a cross-site logout that carries the cookie, and the session lives on', async () => {
      const cookie = await app().cookieOf('bob', 'bob-password');
      const answer = await app().call('POST', '/logout', null, undefined, {
        cookie,
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
      });
      expect(answer.status).toBe(403);
      expect(answer.headers.get('set-cookie')).toBeNull();
      expect((await app().call('GET', '/session', { cookie })).status).toBe(200);
    });

    it('refuses weak passwords with a reason and accepts a strong Unicode one', async () => {
      const create = (username: string, password: string) =>
        app().call('POST', '/users', admin, { username, password, roles: [] });
      const refused: [string, RegExp][] = [
        ['Zq8!fjw-27L', /at least 12/],
        ['Zq8!fjw-27Lm'.repeat(11).slice(0, 129), /at most 128/],
        ['password1234', /easy to guess/],
        ['weak-victim2024', /easy to guess/],
        ['1qaz2wsx3edc', /easy to guess/],
      ];
      for (const [password, reason] of refused) {
        const answer = await create('weak-victim', password);
        expect(answer.status).toBe(400);
        expect(answer.body.message).toMatch(reason);
      }
      const unicode = 'Ünïcödé pässwörd — 雪の朝 ☃';
      expect((await create('unicode-user', unicode)).status).toBe(201);
      expect((await app().login('unicode-user', unicode.normalize('NFD'))).status).toBe(200);

      const { token } = await app().tokenOf('unicode-user', unicode);
      const same = await app().call(
        'POST',
        '/password',
        { token },
        {
          currentPassword: unicode,
          newPassword: unicode,
        },
      );
      expect(same.status).toBe(400);
      expect(same.body.message).toBe('the new password must differ from the current one');
    });

    it('answers 409 to an admin removing their own admin role', async () => {
      const me = await app().call('GET', '/session', admin);
      const answer = await app().call('PUT', `/users/${me.body.user.id}/roles`, admin, {
        roles: ['customer'],
      });
      expect(answer).toMatchObject({
        status: 409,
        body: { statusCode: 409, message: 'You cannot remove your own admin role' },
      });
    });

    it('pages through the user list (search, cursor) without duplicates or gaps', async () => {
      const names: string[] = [];
      for (let i = 0; i < 60; i++) {
        const username = `list-${String(i).padStart(2, '0')}`;
        const answer = await app().call('POST', '/users', admin, {
          username,
          password: strongPassword(),
          roles: ['customer'],
        });
        expect(answer.status).toBe(201);
        names.push(username);
      }
      await createUser();
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query = `?search=LIST-${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await app().call('GET', `/users${query}`, admin);
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(25);
        seen.push(...page.body.items.map((user: { username: string }) => user.username));
        cursor = page.body.next;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(names);
      for (const search of ['%', '_', 'list_0', '%25']) {
        const page = await app().call('GET', `/users?search=${encodeURIComponent(search)}`, admin);
        expect({ search, items: page.body.items }).toEqual({ search, items: [] });
      }
      expect((await app().call('GET', '/users?cursor=%21%21', admin)).status).toBe(400);
    }, 120_000);

    it("shows a user's sessions to an admin and revokes one of them", async () => {
      const user = await createUser();
      const first = await app().tokenOf(user.username, user.password);
      const second = await app().tokenOf(user.username, user.password);
      const listed = await app().call('GET', `/users/${user.id}/sessions`, admin);
      expect(listed.status).toBe(200);
      expect(listed.body.map((session: { id: string }) => session.id).sort()).toEqual(
        [first.body.session.id, second.body.session.id].sort(),
      );
      const page = await app().call('GET', `/users?search=${user.username}`, admin);
      expect(page.body.items[0]).toMatchObject({ username: user.username, sessionCount: 2 });
      const revoked = await app().call(
        'DELETE',
        `/users/${user.id}/sessions/${first.body.session.id}`,
        admin,
      );
      expect(revoked.status).toBe(204);
      expect((await app().call('GET', '/session', { token: first.token })).status).toBe(401);
      expect((await app().call('GET', '/session', { token: second.token })).status).toBe(200);
    });

    it('never leaves zero enabled admins when two admins demote each other at once (SQLite)', async () => {
      const a = await createUser(['admin']);
      const b = await createUser(['admin']);
      const me = await app().call('GET', '/session', admin);
      // The demo admin steps aside: a and b are the only enabled administrators.
      const aToken = (await app().tokenOf(a.username, a.password)).token;
      const demoted = await app().call(
        'PUT',
        `/users/${me.body.user.id}/roles`,
        { token: aToken },
        {
          roles: ['customer'],
        },
      );
      expect(demoted.status).toBe(200);
      const tokens = new Map([
        [a.id, aToken],
        [b.id, (await app().tokenOf(b.username, b.password)).token],
      ]);
      for (let round = 0; round < 25; round++) {
        const [fromA, fromB] = await Promise.all([
          app().call(
            'PUT',
            `/users/${b.id}/roles`,
            { token: tokens.get(a.id) ?? '' },
            {
              roles: ['customer'],
            },
          ),
          app().call(
            'PUT',
            `/users/${a.id}/roles`,
            { token: tokens.get(b.id) ?? '' },
            {
              roles: ['customer'],
            },
          ),
        ]);
        const statuses = [fromA.status, fromB.status];
        expect(statuses.filter((status) => status === 200)).toHaveLength(1);
        expect(statuses.every((status) => [200, 403, 409].includes(status))).toBe(true);
        const [winner, loser] = fromA.status === 200 ? [a, b] : [b, a];
        const winnerToken = { token: tokens.get(winner.id) ?? '' };
        const list = await app().call('GET', '/users?search=u-', winnerToken);
        const admins = list.body.items
          .filter((user: { roles: string[] }) => user.roles.includes('admin'))
          .map((user: { id: string }) => user.id);
        expect(admins).toEqual([winner.id]);
        const restored = await app().call('PUT', `/users/${loser.id}/roles`, winnerToken, {
          roles: ['admin'],
        });
        expect(restored.status).toBe(200);
      }
    }, 120_000);
  });

  describe('with a 2-second re-authentication window', () => {
    let server: AuthProcess;

    beforeAll(async () => {
      server = new AuthProcess(certificates);
      await server.start({ SESSION_REAUTH_WINDOW: '2' });
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
    });

    it('requires a recent authentication, which /reauthenticate gives with a new token', async () => {
      const cookie = await server.cookieOf('admin', 'admin-password');
      const create = (credential: Credential) =>
        server.call('POST', '/users', credential, {
          username: `r-${randomBytes(4).toString('hex')}`,
          password: strongPassword(),
          roles: [],
        });
      expect((await create({ cookie })).status).toBe(201);
      await sleep(2_500);
      const stale = await create({ cookie });
      expect(stale).toMatchObject({
        status: 401,
        body: {
          statusCode: 401,
          message: 'Recent authentication required',
          error: 'reauthentication_required',
        },
      });
      expect((await server.call('GET', '/users', { cookie })).status).toBe(200);

      const wrong = await server.call('POST', '/reauthenticate', { cookie }, { password: 'nope' });
      expect(wrong).toMatchObject({
        status: 401,
        body: { message: 'Invalid username or password' },
      });
      const reauth = await server.call(
        'POST',
        '/reauthenticate',
        { cookie },
        { password: 'admin-password' },
      );
      expect(reauth.status).toBe(200);
      const fresh = (reauth.headers.get('set-cookie') ?? '').split(';')[0];
      expect(fresh).toMatch(/^cr_session=cr1\./);
      expect(fresh).not.toBe(cookie);
      expect((await create({ cookie: fresh })).status).toBe(201);
      expect((await server.call('GET', '/session', { cookie })).status).toBe(401);
    });
  });

  describe('with SESSION_CAP_POLICY=refuse', () => {
    let server: AuthProcess;

    beforeAll(async () => {
      server = new AuthProcess(certificates);
      await server.start({ SESSION_CAP_POLICY: 'refuse', SESSION_MAX_PER_USER: '2' });
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
    });

    it('answers 409 with the sessions at the cap, and replaceSession ends one in the same login', async () => {
      const first = await server.tokenOf('bob', 'bob-password');
      const second = await server.tokenOf('bob', 'bob-password');
      const refused = await server.login('bob', 'bob-password', { transport: 'bearer' });
      expect(refused.status).toBe(409);
      expect(refused.body.sessions.map((session: { id: string }) => session.id)).toEqual([
        first.body.session.id,
        second.body.session.id,
      ]);
      for (const session of refused.body.sessions) {
        expect(Object.keys(session).sort()).toEqual(['createdAt', 'device', 'id', 'lastSeenAt']);
      }
      const replaced = await server.login('bob', 'bob-password', {
        transport: 'bearer',
        replaceSession: first.body.session.id,
      });
      expect(replaced.status).toBe(200);
      expect((await server.call('GET', '/session', { token: first.token })).status).toBe(401);
      expect((await server.call('GET', '/session', { token: second.token })).status).toBe(200);
    });
  });
});
