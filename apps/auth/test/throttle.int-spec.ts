import request from 'supertest';
import type { App } from 'supertest/types';

import { AuthApp, createUser, loginWithCookie, startAuthApp } from './auth-app';

describe('failed-login rate limit (counted in Redis)', () => {
  let auth: AuthApp;
  let http: App;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await startAuthApp('throttle', {
      LOGIN_MAX_FAILURES_PER_USER: '3',
      LOGIN_MAX_FAILURES_PER_IP: '5',
      LOGIN_FAILURE_WINDOW: '60',
    });
    http = auth.http;
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
  });

  afterAll(async () => {
    await auth?.close();
  });

  const login = (username: string, password: string, ip: string) =>
    request(http)
      .post('/api/auth/login')
      .set('X-Forwarded-For', ip)
      .send({ username, password, transport: 'bearer' });

  it('answers 429 with Retry-After once a username has too many failures, even with the right password', async () => {
    const user = await createUser(http, adminCookie);
    for (let i = 0; i < 3; i++) {
      await login(user.username, 'wrong-password', `198.51.100.${i + 1}`).expect(401);
    }
    const blocked = await login(user.username, user.password, '198.51.100.50').expect(429);
    expect(blocked.body).toEqual({ statusCode: 429, message: expect.any(String) });
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('counts failures per client address across usernames', async () => {
    const ip = '192.0.2.77';
    for (let i = 0; i < 5; i++) {
      await login(`guess-${i}`, 'wrong-password', ip).expect(401);
    }
    const blocked = await login('admin', 'admin-password', ip).expect(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected.
    await login('admin', 'admin-password', '192.0.2.78').expect(200);
  });

  it("forgets a username's failures after a successful login", async () => {
    const user = await createUser(http, adminCookie);
    await login(user.username, 'wrong-password', '203.0.113.10').expect(401);
    await login(user.username, 'wrong-password', '203.0.113.11').expect(401);
    await login(user.username, user.password, '203.0.113.12').expect(200);
    await login(user.username, 'wrong-password', '203.0.113.13').expect(401);
    await login(user.username, 'wrong-password', '203.0.113.14').expect(401);
    await login(user.username, user.password, '203.0.113.15').expect(200);
  });

  it('keeps the counters in Redis, where every instance sees them', async () => {
    // A second instance sharing the Redis key prefix (its database is its own: the limit is
    // checked before any password is).
    const second = await startAuthApp('throttle-peer', {
      SESSION_KEY_PREFIX: auth.keyPrefix,
      LOGIN_MAX_FAILURES_PER_USER: '3',
      LOGIN_MAX_FAILURES_PER_IP: '100',
    });
    try {
      const user = await createUser(http, adminCookie);
      for (let i = 0; i < 3; i++) {
        await login(user.username, 'wrong-password', `10.9.8.${i}`).expect(401);
      }
      await request(second.http)
        .post('/api/auth/login')
        .send({ username: user.username, password: user.password, transport: 'bearer' })
        .expect(429);
    } finally {
      await second.close();
    }
  });
});
