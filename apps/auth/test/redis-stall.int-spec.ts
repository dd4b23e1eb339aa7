import { Redis } from 'ioredis';
import request from 'supertest';
import type { App } from 'supertest/types';

import { SessionService } from '@cloakroom/session';
import { RedisServerProcess, startRedisServer } from '@cloakroom/session/testing';

import { AuthApp, ORIGIN, startAuthApp } from './auth-app';

/**
 * A Redis that accepts connections but answers nothing (`CLIENT PAUSE`: every command waits
 * in its queue) is not a Redis that is down: the connection stays up, so only the store's
 * timeout can end a request. Each must end in a 503 JSON answer, bounded by that timeout, and
 * what a 503 answered must leave nothing behind once Redis answers again.
 */
describe('auth with Redis stalled', () => {
  const STORE_TIMEOUT_S = 0.3;
  /** Far above the timeout (a request makes at most a few store calls), far below a hang. */
  const BOUND_MS = 3000;
  const PAUSE_MS = 4000;
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

  async function expect503Within(send: () => request.Test): Promise<void> {
    const started = Date.now();
    const response = await send();
    const elapsed = Date.now() - started;
    expect(response.status).toBe(503);
    expect(response.body).toEqual({ statusCode: 503, message: 'Session store unavailable' });
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(elapsed).toBeLessThan(BOUND_MS);
  }

  it('answers 503 within the store timeout, and a login answered 503 leaves no session', async () => {
    const login = await bearerLogin().expect(200);
    const bearer = `Bearer ${login.body.token}`;

    await admin.client('PAUSE', PAUSE_MS, 'ALL');
    const paused = Date.now();
    await expect503Within(() =>
      request(http).get('/api/auth/session').set('Authorization', bearer),
    );
    await expect503Within(() =>
      request(http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .send({ username: 'alice', password: 'alice-password' }),
    );
    await expect503Within(() => bearerLogin());
    await expect503Within(() =>
      request(http).get('/api/auth/sessions').set('Authorization', bearer),
    );
    // The pause was still on for every request above: none was answered by a resumed Redis.
    expect(Date.now() - paused).toBeLessThan(PAUSE_MS);

    await admin.ping(); // answered once the pause is over, after what waited before it
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
   * A login reads Redis (throttle, user tag, generation), checks the password, then writes the
   * session: a stall that starts between the reads and the write used to leave a session
   * behind a 503 (at one or two offsets of 31 here). The pause starts at offsets spread over a login's
   * whole duration.
   */
  it('leaves no session behind a login answered 503, wherever in the login the stall starts', async () => {
    const sessions = auth.app.get(SessionService);
    const first = await bearerLogin().expect(200);
    const userId: string = first.body.user.id;
    const durations: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const response = await bearerLogin().expect(200);
      durations.push(Date.now() - started);
      await sessions.revoke(response.body.session.id);
    }
    const loginMs = durations.sort((a, b) => a - b)[1];
    // What the user holds before (this login, and those of the test above).
    const before = (await sessions.listForUser(userId)).map((session) => session.id);
    expect(before).toContain(first.body.session.id);
    const outcomes: number[] = [];
    const wrong: string[] = [];
    for (let step = 0; step <= 30; step++) {
      const offset = Math.round((step * 1.5 * loginMs) / 30);
      const pending = bearerLogin().then((response) => response);
      await new Promise((resolve) => setTimeout(resolve, offset));
      await admin.client('PAUSE', 2 * STORE_TIMEOUT_S * 1000, 'ALL');
      const response = await pending;
      outcomes.push(response.status);
      await admin.ping();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const answered = response.status === 200 ? [response.body.session.id] : [];
      const listed = (await sessions.listForUser(userId)).map((session) => session.id);
      const expected = [...before, ...answered];
      if (listed.sort().join() !== expected.sort().join()) {
        wrong.push(`${offset} ms: ${response.status}, ${listed.length} sessions`);
      }
      for (const id of answered) await sessions.revoke(id);
    }
    expect(wrong).toEqual([]);
    expect(outcomes.filter((status) => status !== 200 && status !== 503)).toEqual([]);
    // Both outcomes occurred: the offsets spanned the login.
    expect(outcomes).toContain(503);
    expect(outcomes).toContain(200);
  }, 120_000);
});
