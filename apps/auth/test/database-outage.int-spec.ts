import { Logger } from '@nestjs/common';
import request from 'supertest';

import { HttpErrorFilter } from '@cloakroom/service-kit';
import { startTcpRelay, TcpRelay } from '@cloakroom/session/testing';

import { AuthApp, freshSchema, ORIGIN, startAuthApp } from './auth-app';

jest.setTimeout(60_000);

/**
 * PostgreSQL behind a relay the test can strand (nothing passes, nothing closes: its host died,
 * or a partition cut it off; a new connection gets through, to a server that took over) or
 * sever (connections refused). Sessions live in Redis: they go on working all the while.
 */
describe('auth while PostgreSQL is out of reach', () => {
  let relay: TcpRelay;
  let auth: AuthApp;
  let warnings: jest.SpyInstance;
  let outages: jest.SpyInstance;

  const login = () =>
    request(auth.http)
      .post('/api/auth/login')
      .set('Origin', ORIGIN)
      .send({ username: 'alice', password: 'alice-password' });

  beforeAll(async () => {
    const url = await freshSchema('auth_database_outage');
    relay = await startTcpRelay(5432);
    auth = await startAuthApp('database-outage', {
      AUTH_DATABASE_URL: url.replace('127.0.0.1:5432', `127.0.0.1:${relay.port}`),
    });
  });

  afterAll(async () => {
    await auth?.close().catch(() => undefined);
    await relay?.sever().catch(() => undefined);
  });

  beforeEach(() => {
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    // Every outage the error filter answers (it logs only one line a minute of them).
    outages = jest.spyOn(
      HttpErrorFilter.prototype as unknown as { reportDatabaseOutage(error: unknown): void },
      'reportDatabaseOutage',
    );
  });

  afterEach(() => {
    warnings.mockRestore();
    outages.mockRestore();
  });

  /** The cause of the last 503 answered for an unavailable database, as the filter saw it. */
  const lastOutage = () => String((outages.mock.calls.at(-1)?.[0] as Error | undefined)?.message);

  it('answers 503 by its query timeout while it does not answer, then logs in on new connections', async () => {
    const before = await login().expect(200);
    const cookie = String(before.headers['set-cookie']).split(';')[0];
    relay.strand();

    const started = Date.now();
    const stalled = await login();
    expect(stalled.status).toBe(503);
    expect(stalled.body).toEqual({
      statusCode: 503,
      message: 'Database unavailable',
      error: 'database_unavailable',
    });
    // Ended by the app's own query timeout: the server never answered nor closed.
    expect(lastOutage()).toMatch(/timeout/i);

    // Sessions are in Redis: the one made before goes on working.
    await request(auth.http).get('/api/auth/session').set('Cookie', cookie).expect(200);

    // Each stranded connection is dropped when its query times out; new ones get through.
    let status = 0;
    while (status !== 200 && Date.now() - started < 40_000) {
      status = (await login()).status;
      expect([200, 503]).toContain(status);
    }
    expect(status).toBe(200);
    // Logged as warnings without a stack, not as errors.
    const messages = warnings.mock.calls.map(([message]) => String(message));
    expect(messages.some((message) => message.startsWith('Database unavailable'))).toBe(true);
  });

  it('does not count a login it could not check toward a lockout', async () => {
    // Everything held: no query is answered, on old connections or new ones.
    relay.hold();
    // Five attempts at once, twice (at most five per user count at a time,
    // LOGIN_MAX_FAILURES_PER_USER): had the first five counted, the next five would be 429.
    for (let wave = 0; wave < 2; wave++) {
      const held = await Promise.all(Array.from({ length: 5 }, () => login()));
      expect(held.map(({ status }) => status)).toEqual(Array(5).fill(503));
    }
    relay.release();
    const started = Date.now();
    let status = 0;
    while (status !== 200 && Date.now() - started < 20_000) {
      status = (await login()).status;
      expect([200, 503]).toContain(status);
    }
    expect(status).toBe(200);
  });

  it('answers 503 at once while it refuses connections', async () => {
    await relay.sever();
    const refused = await login();
    expect(refused.status).toBe(503);
    expect(refused.body.error).toBe('database_unavailable');
    // Answered on the refusal itself, not after waiting out a timeout.
    expect(lastOutage()).toMatch(/ECONNREFUSED/);
  });
});
