import { Logger } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';

import { SessionService, SessionStoreUnavailableError } from '@cloakroom/session';
import { AccessSync } from '../src/app/users/access-sync.service';

import {
  AuthApp,
  createUser,
  freshSchema,
  loginWithBearer,
  loginWithCookie,
  ORIGIN,
  startAuthApp,
  strongPassword,
} from './auth-app';
import { containing, Loss, LossyRelay, startLossyRelay, underAdminLock } from './lossy-relay';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The admin lock's key (see `AdminLock`): its low 32 bits are `pg_locks.objid`. */
const ADMIN_CHANGE_LOCK = 0x61646d6e;

/** Names this suite's connections, so that only its own hold of the admin lock is looked at. */
const APPLICATION = 'auth-db-lost-answer';

/**
 * Long enough for `AccessSync` (every second here) to have applied whatever the database was
 * left holding: a change answered 503 must not be granted then either.
 */
const SYNC_SETTLES_MS = 2500;

/**
 * PostgreSQL behind a relay that loses one exchange: a write that reached the server (and
 * committed) but whose answer never came back, a write that never reached it, a connection
 * that went quiet without closing. Whatever the answer, it must be what the database and the
 * sessions then hold: 200 when the change stands, 503 when nothing changed (README, "A 503
 * means nothing changed") — never a 500 for an outage, never a change granted after a 503 —
 * and the admin lock must not outlive the connection that held it.
 */
describe('auth when PostgreSQL loses an answer', () => {
  let relay: LossyRelay;
  let auth: AuthApp;
  let postgres: DataSource;
  let warnings: jest.SpyInstance;
  let errors: jest.SpyInstance;

  beforeAll(async () => {
    const url = await freshSchema('auth_db_lost_answer');
    relay = await startLossyRelay();
    auth = await startAuthApp('db-lost-answer', {
      AUTH_DATABASE_URL: `${url.replace('127.0.0.1:5432', `127.0.0.1:${relay.port}`)}&application_name=${APPLICATION}`,
      ACCESS_SYNC_INTERVAL: '1',
    });
    postgres = await new DataSource({ type: 'postgres', url }).initialize();
  });

  afterAll(async () => {
    await postgres?.destroy();
    await relay?.close();
    await auth?.close().catch(() => undefined);
  });

  beforeEach(() => {
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => {
    relay.heal();
    warnings.mockRestore();
    errors.mockRestore();
    jest.restoreAllMocks();
  });

  async function row(id: string) {
    const [found] = await postgres.query(
      'SELECT roles, disabled, access_pending FROM auth_users WHERE id = $1',
      [id],
    );
    return {
      roles: (JSON.parse(found.roles) as string[]).sort().join('+'),
      disabled: found.disabled as boolean,
      pending: found.access_pending as boolean,
    };
  }

  const sessionStatus = async (token: string) =>
    (await request(auth.http).get('/api/auth/session').set('Authorization', `Bearer ${token}`))
      .status;

  const liveRoles = async (token: string) => {
    const session = await auth.app
      .get(SessionService)
      .validate(token)
      .catch(() => null);
    return session ? [...session.roles].sort().join('+') : 'none';
  };

  const adminList = async (token: string) =>
    (await request(auth.http).get('/api/auth/users').set('Authorization', `Bearer ${token}`))
      .status;

  const put = (cookie: string, path: string, body: object) =>
    request(auth.http)
      .put(`/api/auth/users/${path}`)
      .set('Cookie', cookie)
      .set('Origin', ORIGIN)
      .send(body);

  async function customerWithSession() {
    const admin = await loginWithCookie(auth.http, 'admin', 'admin-password');
    const user = await createUser(auth.http, admin.cookie, ['customer']);
    const { token } = await loginWithBearer(auth.http, user.username, user.password);
    return { admin: admin.cookie, user, token };
  }

  /** The server processes still serving the connection the relay's last loss struck. */
  const lostConnectionProcesses = async (): Promise<number> => {
    expect(relay.lostPort).toEqual(expect.any(Number));
    const [{ count }] = await postgres.query(
      `SELECT count(*)::int AS count FROM pg_stat_activity
        WHERE client_port = $1 AND application_name = $2`,
      [relay.lostPort, APPLICATION],
    );
    return count;
  };

  /** Whether the process of the connection the relay's last loss struck holds the admin lock. */
  const lostConnectionHoldsLock = async (): Promise<boolean> => {
    const rows = await postgres.query(
      `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.objid = $1 AND l.granted AND a.client_port = $2`,
      [ADMIN_CHANGE_LOCK, relay.lostPort],
    );
    return rows.length > 0;
  };

  it('answers a disable whose write went out on a connection that then went quiet as the database holds it, and frees the lock', async () => {
    const { admin, user, token } = await customerWithSession();
    // The write (one UPDATE, committed on its own) reaches the server; then neither its answer
    // nor the client's close gets through.
    relay.arm(underAdminLock(['UPDATE', '"disabled"']), { mode: 'strand' });

    const pending = put(admin, `${user.id}/disabled`, { disabled: true }).then((r) => r);
    // While the change waits for the quiet connection, its process holds the lock: the check
    // below, that it no longer does, could fail.
    while (!relay.fired) await sleep(20);
    expect(await lostConnectionHoldsLock()).toBe(true);
    const answer = await pending;
    expect(relay.fired).toBe(true);
    expect(answer.status).not.toBe(500);
    expect([200, 503]).toContain(answer.status);
    if (answer.status === 200) {
      expect(await row(user.id)).toEqual({ roles: 'customer', disabled: true, pending: false });
      expect(await sessionStatus(token)).toBe(401);
    } else {
      await sleep(SYNC_SETTLES_MS);
      expect((await row(user.id)).disabled).toBe(false);
      expect(await sessionStatus(token)).toBe(200);
    }
    // The lost connection's server process was ended before the change answered (it would
    // otherwise keep the lock until the server's idle limit, seconds away, past the lock wait
    // of the next change, which would answer 503): the next change goes through.
    expect(await lostConnectionProcesses()).toBe(0);
    await put(admin, `${user.id}/roles`, { roles: ['customer', 'support'] }).expect(200);
  });

  it('answers a promotion whose write answer was lost as the database holds it, and grants nothing after a 503', async () => {
    const { admin, user, token } = await customerWithSession();
    // The write reaches the server; its answer is dropped and the connection breaks 300 ms on.
    relay.arm(underAdminLock(['UPDATE', '"roles"']), { mode: 'lose-answer', closeAfterMs: 300 });

    const answer = await put(admin, `${user.id}/roles`, { roles: ['customer', 'admin'] });
    expect(relay.fired).toBe(true);
    expect(answer.status).not.toBe(500);
    expect([200, 503]).toContain(answer.status);
    await sleep(SYNC_SETTLES_MS);
    if (answer.status === 200) {
      expect(await row(user.id)).toEqual({
        roles: 'admin+customer',
        disabled: false,
        pending: false,
      });
      expect(await liveRoles(token)).toBe('admin+customer');
      expect(await adminList(token)).toBe(200);
    } else {
      expect((await row(user.id)).roles).toBe('customer');
      expect(await liveRoles(token)).toBe('customer');
      expect(await adminList(token)).toBe(403);
    }
  });

  it('answers 503 and changes nothing when the connection breaks before the write', async () => {
    const { admin, user, token } = await customerWithSession();
    // The first query after the lock is taken never reaches the server.
    relay.arm(underAdminLock([]), { mode: 'cut' });

    const answer = await put(admin, `${user.id}/roles`, { roles: ['customer', 'admin'] });
    expect(relay.fired).toBe(true);
    expect(answer.status).toBe(503);
    expect(answer.body.error).toBe('database_unavailable');
    await sleep(SYNC_SETTLES_MS);
    expect(await row(user.id)).toEqual({ roles: 'customer', disabled: false, pending: false });
    expect(await liveRoles(token)).toBe('customer');
    expect(await adminList(token)).toBe(403);
  });

  it('puts a promotion back though the put-back write is lost: 503, and never granted later', async () => {
    const { admin, user, token } = await customerWithSession();
    // The sessions' update fails (the session store timed out): the row must be put back…
    jest
      .spyOn(auth.app.get(SessionService), 'setRolesForUser')
      .mockRejectedValueOnce(new SessionStoreUnavailableError(new Error('injected')));
    // …and the put-back's write never reaches the server: the connection breaks as it is sent.
    relay.arm(underAdminLock(['UPDATE', '"roles"'], 2), { mode: 'cut' });

    const answer = await put(admin, `${user.id}/roles`, { roles: ['customer', 'admin'] });
    expect(relay.fired).toBe(true);
    expect(answer.status).toBe(503);
    await sleep(SYNC_SETTLES_MS);
    expect((await row(user.id)).roles).toBe('customer');
    expect(await liveRoles(token)).toBe('customer');
    expect(await adminList(token)).toBe(403);
  });

  describe('a password change whose UPDATE answer is lost', () => {
    const login = (username: string, password: string) =>
      request(auth.http)
        .post('/api/auth/login')
        .send({ username, password, transport: 'bearer' })
        .then((response) => response.status);

    // While the answer is being found out about, the row's mark is there for `AccessSync` to
    // see: it revokes every session of the user, the caller's too (which one that is, is not
    // recorded), before the rotation (a 401: the change is undone, the sessions stay revoked)
    // or just after it. The second case holds its looks off, so that the new token can be
    // checked.
    it.each<[string, Loss, boolean]>([
      ['on a connection that then went quiet', { mode: 'strand' }, false],
      ['with a connection that broke', { mode: 'lose-answer', closeAfterMs: 300 }, true],
    ])(
      '%s leaves the password and the sessions as the answer says',
      async (_name, loss, holdSync) => {
        if (holdSync) jest.spyOn(auth.app.get(AccessSync), 'applyPending').mockResolvedValue(0);
        const { admin } = await customerWithSession();
        const user = await createUser(auth.http, admin, ['customer']);
        const own = (await loginWithBearer(auth.http, user.username, user.password)).token;
        const thief = (await loginWithBearer(auth.http, user.username, user.password)).token;
        relay.arm(containing(['UPDATE', 'password_hash', 'sessions_revoke_pending']), loss);

        const newPassword = strongPassword();
        const answer = await request(auth.http)
          .post('/api/auth/password')
          .set('Authorization', `Bearer ${own}`)
          .send({ currentPassword: user.password, newPassword });
        expect(relay.fired).toBe(true);
        expect(answer.status).not.toBe(500);
        // 401: the caller's session was revoked meanwhile (the row's mark was seen while the
        // answer was awaited), so the change was undone; every session stays revoked.
        expect([200, 401, 503]).toContain(answer.status);
        await sleep(SYNC_SETTLES_MS);
        if (answer.status === 200) {
          expect(await sessionStatus(answer.body.token)).toBe(200);
          expect(await sessionStatus(own)).toBe(401);
          expect(await sessionStatus(thief)).toBe(401);
          expect(await login(user.username, newPassword)).toBe(200);
          expect(await login(user.username, user.password)).toBe(401);
        } else if (answer.status === 401) {
          expect(await sessionStatus(own)).toBe(401);
          expect(await sessionStatus(thief)).toBe(401);
          expect(await login(user.username, user.password)).toBe(200);
          expect(await login(user.username, newPassword)).toBe(401);
        } else {
          // Nothing changed: the old password is the one that works, and no session was ended.
          expect(await sessionStatus(own)).toBe(200);
          expect(await sessionStatus(thief)).toBe(200);
          expect(await login(user.username, user.password)).toBe(200);
          expect(await login(user.username, newPassword)).toBe(401);
        }
      },
    );

    it('answers a change whose old password could not be put back as of unknown outcome, not 503', async () => {
      const { admin } = await customerWithSession();
      const user = await createUser(auth.http, admin, ['customer']);
      const own = (await loginWithBearer(auth.http, user.username, user.password)).token;
      const thief = (await loginWithBearer(auth.http, user.username, user.password)).token;
      // The rotation fails (the session store timed out): the old password must go back…
      jest
        .spyOn(auth.app.get(SessionService), 'rotate')
        .mockRejectedValueOnce(new SessionStoreUnavailableError(new Error('injected')));
      // …but the write that puts it back never reaches the server, and nothing does after it.
      relay.arm(
        containing(['UPDATE', 'password_hash', 'sessions_revoke_pending'], 2),
        { mode: 'cut' },
        { blackout: true },
      );

      const newPassword = strongPassword();
      const answer = await request(auth.http)
        .post('/api/auth/password')
        .set('Authorization', `Bearer ${own}`)
        .send({ currentPassword: user.password, newPassword });
      expect(relay.fired).toBe(true);
      expect(answer.status).toBe(504);
      expect(answer.body.error).toBe('outcome_unknown');

      // The new password stood, marked: once the database is back, every other session of the
      // user ends (the one that made the change stays, its rotation undone), and the new
      // password is the one that works.
      relay.heal();
      const deadline = Date.now() + 10_000;
      while ((await sessionStatus(thief)) !== 401 && Date.now() < deadline) await sleep(100);
      expect(await sessionStatus(thief)).toBe(401);
      expect(await sessionStatus(own)).toBe(200);
      expect(await login(user.username, newPassword)).toBe(200);
      expect(await login(user.username, user.password)).toBe(401);
    });
  });
});
