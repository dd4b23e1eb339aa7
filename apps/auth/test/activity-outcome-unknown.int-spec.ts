import { Logger } from '@nestjs/common';
import request from 'supertest';

import {
  RedisServerProcess,
  startRedisServer,
  startTcpRelay,
  TcpRelay,
} from '@cloakroom/session/testing';

import { SecurityActivityService } from '../src/app/activity/security-activity.service';
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

jest.setTimeout(90_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `done` holds; the bound only turns a hang into a readable failure. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let attempt = 0; !done(value); attempt++) {
    if (attempt > 300) {
      throw new Error(`gave up waiting; last value: ${JSON.stringify(value).slice(0, 800)}`);
    }
    await sleep(50);
    value = await read();
  }
  return value;
}

/** Long enough for `AccessSync` (every second here) and the log's own retries to be done. */
const SETTLES_MS = 3000;

/**
 * Changes answered without saying they were made (a 504 `outcome_unknown`, or a 503 whose
 * write Redis ran late) but that stand: the user's activity log must show them as it shows the
 * same change answered 200, and must not show one that did not stand.
 */
describe('the activity log of changes whose answer did not say they were made', () => {
  const STORE_TIMEOUT_S = 0.3;
  let postgres: LossyRelay;
  let redis: RedisServerProcess;
  let redisRelay: TcpRelay;
  let auth: AuthApp;
  let adminCookie: string;

  beforeAll(async () => {
    const url = await freshSchema('auth_activity_outcome_unknown');
    postgres = await startLossyRelay();
    redis = await startRedisServer();
    redisRelay = await startTcpRelay(redis.port);
    auth = await startAuthApp('activity-outcome-unknown', {
      AUTH_DATABASE_URL: url.replace('127.0.0.1:5432', `127.0.0.1:${postgres.port}`),
      REDIS_URL: `redis://127.0.0.1:${redisRelay.port}`,
      SESSION_STORE_TIMEOUT: String(STORE_TIMEOUT_S),
      ACCESS_SYNC_INTERVAL: '1',
    });
    adminCookie = (await loginWithCookie(auth.http, 'admin', 'admin-password')).cookie;
  });

  beforeEach(() => {
    // Lost answers and dropped connections are warned and logged about: expected here.
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => {
    postgres.heal();
    redisRelay.release();
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await auth?.close();
    await postgres?.close();
    await redisRelay?.sever();
    await redis?.dispose();
  });

  /** The types of a user's events; none while the pool still drops connections a loss broke. */
  const typesOf = async (userId: string) =>
    (
      await auth.app
        .get(SecurityActivityService)
        .list(userId, null)
        .catch(() => ({ items: [] }))
    ).items.map((item) => item.type);

  const setDisabled = (userId: string, disabled: boolean) =>
    request(auth.http)
      .put(`/api/auth/users/${userId}/disabled`)
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .send({ disabled });

  describe('an access change whose answer PostgreSQL lost, with the database gone after it', () => {
    it.each([
      ['a disable', true, 'user.disabled'],
      ['an enable', false, 'user.enabled'],
    ])('records %s that the database kept, by the administrator', async (_name, disabled, type) => {
      const user = await createUser(auth.http, adminCookie);
      if (!disabled) await setDisabled(user.id, true).expect(200);
      const { token } = await loginWithBearer(auth.http, 'admin', 'admin-password');
      // The write reaches the server and commits; its answer never comes back, and no
      // connection gets through until healed: the outcome cannot be learnt in time.
      postgres.arm(
        underAdminLock(['UPDATE', '"disabled"']),
        { mode: 'lose-answer', closeAfterMs: 300 },
        { blackout: true },
      );

      const answer = await setDisabled(user.id, disabled);
      expect(postgres.fired).toBe(true);
      expect(answer.status).toBe(504);
      expect(answer.body.error).toBe('outcome_unknown');
      postgres.heal();

      const types = await until(
        () => typesOf(user.id),
        (listed) => listed.includes(type),
      );
      expect(types.filter((listed) => listed === type)).toHaveLength(1);
      const event = (await auth.app.get(SecurityActivityService).list(user.id, null)).items.find(
        (item) => item.type === type,
      );
      expect(event?.actor).toEqual({ id: expect.any(String), username: 'admin' });
      await request(auth.http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
    });

    it('records no disable that never reached the database', async () => {
      const user = await createUser(auth.http, adminCookie);
      const { token } = await loginWithBearer(auth.http, user.username, user.password);
      // The write is lost on its way: the row never holds it.
      postgres.arm(underAdminLock(['UPDATE', '"disabled"']), { mode: 'cut' }, { blackout: true });

      const answer = await setDisabled(user.id, true);
      expect(postgres.fired).toBe(true);
      expect(answer.status).toBe(504);
      postgres.heal();
      await sleep(SETTLES_MS);

      expect(await typesOf(user.id)).not.toContain('user.disabled');
      await request(auth.http)
        .get('/api/auth/session')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
    });
  });

  describe('a re-authentication answered 503 whose rotation Redis ran later', () => {
    // Whether a 503 rotation ran cannot be learnt in time (it may arrive seconds later on a
    // connection the store gave up): it is recorded whatever became of it.
    /** rotate.lua's EVALSHA: sent with a generation (`}:g:`) and a forward (`}:m:`) prefix. */
    const isRotation = (bytes: Buffer) => {
      const text = bytes.toString('latin1');
      return text.includes(`${auth.keyPrefix}{`) && text.includes('}:g:') && text.includes('}:m:');
    };

    it('records the re-authentication the session then carries', async () => {
      const user = await createUser(auth.http, adminCookie);
      const { token, body } = await loginWithBearer(auth.http, user.username, user.password);
      redisRelay.delayFrom(isRotation);
      const answer = await request(auth.http)
        .post('/api/auth/reauthenticate')
        .set('Authorization', `Bearer ${token}`)
        .send({ password: user.password });
      expect(answer.status).toBe(503);
      redisRelay.release(); // the rotation runs now, and its undo after it

      // The session keeps its token, and carries the refreshed `authenticatedAt`…
      const current = await until(
        async () =>
          (
            await request(auth.http)
              .get('/api/auth/session')
              .set('Authorization', `Bearer ${token}`)
          ).body,
        (read) => read.session?.authenticatedAt !== body.session.authenticatedAt,
      );
      expect(current.session.id).toBe(body.session.id);
      expect(Date.parse(current.session.authenticatedAt)).toBeGreaterThan(
        Date.parse(body.session.authenticatedAt),
      );
      // …so the log says it was re-authenticated, once.
      const types = await until(
        () => typesOf(user.id),
        (listed) => listed.includes('reauthenticated'),
      );
      expect(types.filter((type) => type === 'reauthenticated')).toHaveLength(1);
      const event = (await auth.app.get(SecurityActivityService).list(user.id, null)).items.find(
        (item) => item.type === 'reauthenticated',
      );
      expect(event).toMatchObject({
        sessionId: body.session.id,
        actor: { id: user.id, username: user.username },
      });
    });
  });
});
