import { Logger } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';

import { SessionService, SessionStoreUnavailableError } from '@cloakroom/session';

import {
  AuthApp,
  createUser,
  freshSchema,
  loginWithBearer,
  loginWithCookie,
  ORIGIN,
  startAuthApp,
} from './auth-app';
import { LossyRelay, startLossyRelay, underAdminLock } from './lossy-relay';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Two auth instances on one database and one Redis. The first loses PostgreSQL altogether
 * while it holds the admin lock, just after its write committed: the server never hears that
 * its client went (a partition, the host dying), so the backend sits idle, holding the lock.
 * The other instance must not be kept from changing access for longer than a few seconds, and
 * the change left marked must reach the sessions.
 */
describe('the admin lock of an auth instance that lost PostgreSQL', () => {
  let relay: LossyRelay;
  let lost: AuthApp;
  let peer: AuthApp;
  let postgres: DataSource;
  let warnings: jest.SpyInstance;
  let errors: jest.SpyInstance;

  beforeAll(async () => {
    const url = await freshSchema('auth_admin_lock_lost');
    relay = await startLossyRelay();
    lost = await startAuthApp('admin-lock-lost', {
      AUTH_DATABASE_URL: url.replace('127.0.0.1:5432', `127.0.0.1:${relay.port}`),
      ACCESS_SYNC_INTERVAL: '3600',
    });
    // Started last: passport's one strategy is this instance's, whose database stays reachable.
    peer = await startAuthApp('admin-lock-peer', {
      AUTH_DATABASE_URL: url,
      SESSION_KEY_PREFIX: lost.keyPrefix,
      ACCESS_SYNC_INTERVAL: '1',
    });
    postgres = await new DataSource({ type: 'postgres', url }).initialize();
  });

  afterAll(async () => {
    await postgres?.destroy();
    await relay?.close();
    await lost?.close().catch(() => undefined);
    await peer?.close().catch(() => undefined);
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

  const put = (app: AuthApp, cookie: string, path: string, body: object) =>
    request(app.http)
      .put(`/api/auth/users/${path}`)
      .set('Cookie', cookie)
      .set('Origin', ORIGIN)
      .send(body)
      .then((response) => response);

  it('is let go by the server within seconds, and the change it left reaches the sessions', async () => {
    const admin = await loginWithCookie(peer.http, 'admin', 'admin-password');
    const user = await createUser(peer.http, admin.cookie, ['customer']);
    const other = await createUser(peer.http, admin.cookie, ['customer']);
    const { token } = await loginWithBearer(peer.http, user.username, user.password);

    // The disable's write (one UPDATE) reaches the server; from then on the instance reaches
    // nothing.
    relay.arm(underAdminLock(['UPDATE', '"disabled"']), { mode: 'strand' }, { blackout: true });
    const disabling = put(lost, admin.cookie, `${user.id}/disabled`, { disabled: true });
    const cutAt = Date.now();
    while (!relay.fired && Date.now() - cutAt < 5000) await sleep(20);
    expect(relay.fired).toBe(true);

    // The other instance waits a while for the lock (503, never a 500), then gets it.
    let status = 0;
    while (status !== 200 && Date.now() - cutAt < 20_000) {
      status = (
        await put(peer, admin.cookie, `${other.id}/roles`, { roles: ['customer', 'support'] })
      ).status;
      expect([200, 503]).toContain(status);
    }
    expect(status).toBe(200);
    // The server itself ended the process of the lost holder (its idle limit), though its
    // connection stays up and silent: the lock did not wait for TCP keepalives, hours away.
    const [{ count }] = await postgres.query(
      'SELECT count(*)::int AS count FROM pg_stat_activity WHERE client_port = $1',
      [relay.lostPort],
    );
    expect({ lostPort: relay.lostPort, processes: count }).toEqual({
      lostPort: expect.any(Number),
      processes: 0,
    });

    // The row left marked is applied: the disabled user's session ends.
    const sessionStatus = async () =>
      (await request(peer.http).get('/api/auth/session').set('Authorization', `Bearer ${token}`))
        .status;
    const [row] = await postgres.query('SELECT disabled FROM auth_users WHERE id = $1', [user.id]);
    expect(row.disabled).toBe(true);
    while ((await sessionStatus()) !== 401 && Date.now() - cutAt < 20_000) await sleep(100);
    expect(await sessionStatus()).toBe(401);

    // The instance that lost the database could not learn whether its change stands: not a 503.
    const answer = await disabling;
    expect(answer.status).toBe(504);
    expect(answer.body.error).toBe('outcome_unknown');
  });

  it('answers a change whose put-back it could not write as of unknown outcome, not 503, and the change then reaches the sessions', async () => {
    const admin = await loginWithCookie(peer.http, 'admin', 'admin-password');
    const user = await createUser(peer.http, admin.cookie, ['customer']);
    const { token } = await loginWithBearer(peer.http, user.username, user.password);
    // The sessions' update fails (the session store timed out): the row must be put back…
    jest
      .spyOn(lost.app.get(SessionService), 'setRolesForUser')
      .mockRejectedValueOnce(new SessionStoreUnavailableError(new Error('injected')));
    // …but the put-back's write never reaches the server, and neither does anything after it.
    relay.arm(underAdminLock(['UPDATE', '"roles"'], 2), { mode: 'cut' }, { blackout: true });

    const answer = await put(lost, admin.cookie, `${user.id}/roles`, {
      roles: ['customer', 'admin'],
    });
    expect(relay.fired).toBe(true);
    expect(answer.status).toBe(504);
    expect(answer.body.error).toBe('outcome_unknown');

    // The row kept the promotion, marked: the other instance gives it to the sessions.
    const [row] = await postgres.query('SELECT roles FROM auth_users WHERE id = $1', [user.id]);
    expect(JSON.parse(row.roles).sort()).toEqual(['admin', 'customer']);
    const sessions = peer.app.get(SessionService);
    const liveRoles = async () =>
      ((await sessions.validate(token).catch(() => null))?.roles ?? []).slice().sort().join('+');
    const deadline = Date.now() + 5000;
    while ((await liveRoles()) !== 'admin+customer' && Date.now() < deadline) await sleep(100);
    expect(await liveRoles()).toBe('admin+customer');
  });
});
