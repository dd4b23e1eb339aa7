import request from 'supertest';
import type { App } from 'supertest/types';

import { RedisClusterProcess, startRedisCluster } from '@cloakroom/session/testing';

import { AuthApp, startAuthApp } from './auth-app';

describe('auth on Redis Cluster (REDIS_CLUSTER_NODES)', () => {
  let cluster: RedisClusterProcess;
  let auth: AuthApp;
  let http: App;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    auth = await startAuthApp('cluster', {
      REDIS_CLUSTER_NODES: cluster.addresses.map(({ host, port }) => `${host}:${port}`).join(','),
      LOGIN_MAX_FAILURES_PER_USER: '2',
    });
    http = auth.http;
  }, 30_000);

  afterAll(async () => {
    await auth?.close();
    await cluster?.dispose();
  });

  it('logs in, validates, lists, rotates and revokes sessions across the cluster', async () => {
    const login = await request(http)
      .post('/api/auth/login')
      .send({ username: 'bob', password: 'bob-password', transport: 'bearer' })
      .expect(200);
    const bearer = `Bearer ${login.body.token}`;
    await request(http).get('/api/auth/session').set('Authorization', bearer).expect(200);
    const list = await request(http).get('/api/auth/sessions').set('Authorization', bearer);
    expect(list.body).toEqual([expect.objectContaining({ current: true })]);
    const changed = await request(http)
      .post('/api/auth/password')
      .set('Authorization', bearer)
      .send({ currentPassword: 'bob-password', newPassword: 'bob-new-password' })
      .expect(200);
    await request(http).get('/api/auth/session').set('Authorization', bearer).expect(401);
    await request(http)
      .post('/api/auth/logout')
      .set('Authorization', `Bearer ${changed.body.token}`)
      .expect(204);
    await request(http)
      .get('/api/auth/session')
      .set('Authorization', `Bearer ${changed.body.token}`)
      .expect(401);
    await request(http).get('/api/auth/health').expect(200);
  });

  it('counts failed logins in the cluster', async () => {
    const attempt = () =>
      request(http)
        .post('/api/auth/login')
        .send({ username: 'alice', password: 'wrong-password', transport: 'bearer' });
    await attempt().expect(401);
    await attempt().expect(401);
    const blocked = await attempt().expect(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });
});
