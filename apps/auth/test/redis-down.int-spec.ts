import request from 'supertest';
import type { App } from 'supertest/types';

import { RedisServerProcess, startRedisServer } from '@cloakroom/session/testing';

import { AuthApp, ORIGIN, startAuthApp } from './auth-app';

describe('auth with Redis down', () => {
  let redis: RedisServerProcess;
  let auth: AuthApp;
  let http: App;

  beforeAll(async () => {
    redis = await startRedisServer();
    auth = await startAuthApp('redis-down', {
      REDIS_URL: redis.url,
      SESSION_STORE_TIMEOUT: '0.5',
    });
    http = auth.http;
  });

  afterAll(async () => {
    await auth?.close();
    await redis?.dispose();
  });

  it('answers 503, never 500 and never a pass, and recovers when Redis returns', async () => {
    const login = await request(http)
      .post('/api/auth/login')
      .send({ username: 'alice', password: 'alice-password', transport: 'bearer' })
      .expect(200);
    const bearer = `Bearer ${login.body.token}`;

    await redis.stop();

    // Answered while Redis is still stopped (it starts again only below): no wait for it.
    const session = await request(http).get('/api/auth/session').set('Authorization', bearer);
    expect(session.status).toBe(503);
    expect(session.body).toEqual({ statusCode: 503, message: 'Session store unavailable' });

    const relogin = await request(http)
      .post('/api/auth/login')
      .set('Origin', ORIGIN)
      .send({ username: 'alice', password: 'alice-password' });
    expect(relogin.status).toBe(503);
    expect(relogin.headers['set-cookie']).toBeUndefined();

    const health = await request(http).get('/api/auth/health').expect(503);
    expect(health.body).toMatchObject({
      statusCode: 503,
      details: { sessions: { status: 'down' }, database: { status: 'up' } },
    });

    await redis.start();
    const deadline = Date.now() + 5000;
    let status = 503;
    while (Date.now() < deadline && status === 503) {
      status = (await request(http).get('/api/auth/session').set('Authorization', bearer)).status;
      if (status === 503) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The test Redis restarts empty (no persistence): the old session is gone, hence 401.
    expect(status).toBe(401);
    await request(http).get('/api/auth/health').expect(200);
    await request(http)
      .post('/api/auth/login')
      .send({ username: 'alice', password: 'alice-password', transport: 'bearer' })
      .expect(200);
  });
});
