import { Logger } from '@nestjs/common';
import request from 'supertest';

import {
  RedisServerProcess,
  startRedisServer,
  startTcpRelay,
  TcpRelay,
} from '@cloakroom/session/testing';

import { AuthApp, createUser, loginWithBearer, loginWithCookie, startAuthApp } from './auth-app';

/**
 * A re-authentication answered 503 must change nothing: the client keeps the token it has (it
 * was given no other). Redis may still run the rotation once the partition or stall that held
 * it ends; without an undo the token then answers 401, the user is logged out, and their
 * session lives on under a token nobody holds — one more device listed, counted against the
 * cap until its idle timeout.
 */
describe('a re-authentication whose rotation reaches Redis after the 503', () => {
  const STORE_TIMEOUT_S = 0.3;
  let redis: RedisServerProcess;
  let relay: TcpRelay;
  let auth: AuthApp;
  let user: { id: string; username: string; password: string };

  beforeAll(async () => {
    redis = await startRedisServer();
    relay = await startTcpRelay(redis.port);
    auth = await startAuthApp('reauth-stall', {
      REDIS_URL: `redis://127.0.0.1:${relay.port}`,
      SESSION_STORE_TIMEOUT: String(STORE_TIMEOUT_S),
    });
    const administrator = await loginWithCookie(auth.http, 'admin', 'admin-password');
    user = await createUser(auth.http, administrator.cookie, ['customer']);
  });

  beforeEach(() => {
    // The store warns of a connection it drops as silent: expected here.
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    relay.release();
    jest.restoreAllMocks();
    // Each case starts from no session of the user.
    const { token } = await loginWithBearer(auth.http, user.username, user.password);
    await request(auth.http).delete('/api/auth/sessions').set('Authorization', `Bearer ${token}`);
    await request(auth.http).post('/api/auth/logout').set('Authorization', `Bearer ${token}`);
  });

  afterAll(async () => {
    await auth?.close();
    await relay?.sever();
    await redis?.dispose();
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /**
   * The chunk that carries rotate.lua's EVALSHA: the only script sent with both a generation
   * prefix (`{tag}:g:`) and a rotation-forward prefix (`{tag}:m:`) among its arguments.
   */
  const isRotation = (bytes: Buffer) => {
    const text = bytes.toString('latin1');
    return text.includes(`${auth.keyPrefix}{`) && text.includes('}:g:') && text.includes('}:m:');
  };

  const bearer = (token: string) => `Bearer ${token}`;

  it.each([
    ['just after the 503', 50],
    ['seconds after the 503', 2500],
  ])(
    'keeps the old token working and no orphan session when it arrives %s',
    async (_when, releaseAfterMs) => {
      const { token, body } = await loginWithBearer(auth.http, user.username, user.password);
      relay.delayFrom(isRotation);
      const answer = await request(auth.http)
        .post('/api/auth/reauthenticate')
        .set('Authorization', bearer(token))
        .send({ password: user.password });
      expect(answer.status).toBe(503);
      expect(answer.body).toEqual({ statusCode: 503, message: 'Session store unavailable' });
      await sleep(releaseAfterMs);
      relay.release(); // the rotation runs now
      await sleep(1500);

      const current = await request(auth.http)
        .get('/api/auth/session')
        .set('Authorization', bearer(token));
      expect(current.status).toBe(200);
      expect(current.body.session.id).toBe(body.session.id);
      const listed = await request(auth.http)
        .get('/api/auth/sessions')
        .set('Authorization', bearer(token))
        .expect(200);
      expect(listed.body.map((session: { id: string }) => session.id)).toEqual([body.session.id]);

      // One more login: two devices, both held by the user.
      const again = await loginWithBearer(auth.http, user.username, user.password);
      const both = await request(auth.http)
        .get('/api/auth/sessions')
        .set('Authorization', bearer(again.token))
        .expect(200);
      expect(both.body.map((session: { id: string }) => session.id).sort()).toEqual(
        [body.session.id, again.body.session.id].sort(),
      );
    },
    30_000,
  );
});
