import request from 'supertest';

import { AuthApp, startAuthApp } from './auth-app';

/**
 * A caller that is not the trusted proxy: none at all, or a peer of the gateway on its network
 * (compose trusts only the gateway's address) calling auth directly.
 */
describe.each([
  ['no trusted proxy', 'false'],
  ["only the gateway's address, called from another", '172.30.42.10'],
])('auth behind %s (TRUST_PROXY=%s)', (_what, trustProxy) => {
  let auth: AuthApp;

  beforeAll(async () => {
    auth = await startAuthApp('trust-proxy', {
      TRUST_PROXY: trustProxy,
      LOGIN_MAX_FAILURES_PER_IP: '3',
    });
  });

  afterAll(async () => {
    await auth?.close();
  });

  const login = (username: string, password: string, forwardedFor: string) =>
    request(auth.http)
      .post('/api/auth/login')
      .set('X-Forwarded-For', forwardedFor)
      .send({ username, password, transport: 'bearer' });

  it('records the socket address, not a client-supplied X-Forwarded-For', async () => {
    const response = await login('alice', 'alice-password', '203.0.113.9').expect(200);
    const list = await request(auth.http)
      .get('/api/auth/sessions')
      .set('Authorization', `Bearer ${response.body.token}`)
      .expect(200);
    expect(list.body[0].ip).not.toBe('203.0.113.9');
    // The socket address, shown without the IPv4-mapped IPv6 prefix.
    expect(list.body[0].ip).toMatch(/^(127\.0\.0\.1|::1)$/);
  });

  it('does not let a client dodge the per-address limit by forging X-Forwarded-For', async () => {
    for (let i = 0; i < 3; i++) {
      await login(`nobody-${i}`, 'wrong-password', `198.51.100.${i}`).expect(401);
    }
    await login('bob', 'bob-password', '198.51.100.200').expect(429);
  });
});
