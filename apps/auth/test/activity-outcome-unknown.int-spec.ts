import { Logger } from '@nestjs/common';
import request from 'supertest';

import {
  RedisServerProcess,
  startRedisServer,
  startTcpRelay,
  TcpRelay,
} from '@cloakroom/session/testing';

import { SecurityActivityService } from '../src/app/activity/security-activity.service';
import { UsersService } from '../src/app/users/users.service';
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

  describe('one disable made by two administrators while the answer of the first is lost', () => {
    // The first disable's write is lost on its way (`cut`: the others make the change) or after
    // it committed (`lose-answer`: the others find it made), with the database gone until its
    // 504; then both administrators send the same disable, several at once, at an offset. The
    // first one's look at the row (whether its change stands) comes when it comes, or is held
    // until the others are answered. The account was disabled once: the log says so once.
    const rounds = [
      ...[0, 15, 40, 80, 150, 300, 700, 1500].map((offsetMs) => ['cut', offsetMs, false] as const),
      ...[0, 40, 150, 700].map((offsetMs) => ['cut', offsetMs, true] as const),
      ...[0, 80, 700].map((offsetMs) => ['lose-answer', offsetMs, false] as const),
      ...[0, 150].map((offsetMs) => ['lose-answer', offsetMs, true] as const),
    ];
    let secondCookie: string;

    beforeAll(async () => {
      const second = await createUser(auth.http, adminCookie, ['admin']);
      secondCookie = (await loginWithCookie(auth.http, second.username, second.password)).cookie;
    });

    const disable = (cookie: string, userId: string) =>
      request(auth.http)
        .put(`/api/auth/users/${userId}/disabled`)
        .set('Cookie', cookie)
        .set('Origin', ORIGIN)
        .send({ disabled: true });

    /** Holds every look at whether a lost change stands until `open` is called. */
    const holdLooks = () => {
      let open = () => undefined as void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      const recordIfStands = SecurityActivityService.prototype.recordIfStands;
      jest.spyOn(SecurityActivityService.prototype, 'recordIfStands').mockImplementation(function (
        this: SecurityActivityService,
        event,
        stands,
        options,
      ) {
        const held = async () => {
          await opened;
          return stands();
        };
        return recordIfStands.call(this, event, held, options);
      });
      return open;
    };

    it.each(rounds)(
      'records one user.disabled (first write %s, the others %s ms after the database is back, its look held: %s)',
      async (mode, offsetMs, holdLook) => {
        const user = await createUser(auth.http, adminCookie);
        const openLooks = holdLook ? holdLooks() : () => undefined;
        postgres.arm(
          underAdminLock(['UPDATE', '"disabled"']),
          mode === 'cut' ? { mode } : { mode, closeAfterMs: 300 },
          { blackout: true },
        );
        const first = await setDisabled(user.id, true);
        expect(postgres.fired).toBe(true);
        expect(first.status).toBe(504);
        postgres.heal();
        await sleep(offsetMs);
        const others = await Promise.all([
          disable(secondCookie, user.id),
          disable(adminCookie, user.id),
          disable(secondCookie, user.id),
          disable(adminCookie, user.id),
        ]);
        openLooks();
        // A connection the loss broke may still fail one of them: the others make the change.
        expect(others.map((answer) => answer.status)).toContain(200);
        await sleep(SETTLES_MS);

        const types = await until(
          () => typesOf(user.id),
          (listed) => listed.includes('user.disabled'),
        );
        expect(types.filter((type) => type === 'user.disabled')).toHaveLength(1);
        expect((await auth.app.get(UsersService).findById(user.id))?.disabled).toBe(true);
      },
    );
  });

  describe('a re-authentication answered 503', () => {
    // Whether a 503 rotation ran cannot be learnt in time (it may arrive seconds later on a
    // connection the store gave up): it is recorded once the session carries what it did, and
    // never when it did not run.
    /** rotate.lua's EVALSHA: sent with a generation (`}:g:`) and a forward (`}:m:`) prefix. */
    const isRotation = (bytes: Buffer) => {
      const text = bytes.toString('latin1');
      return text.includes(`${auth.keyPrefix}{`) && text.includes('}:g:') && text.includes('}:m:');
    };

    const reauthenticate = (token: string, password: string) =>
      request(auth.http)
        .post('/api/auth/reauthenticate')
        .set('Authorization', `Bearer ${token}`)
        .send({ password });

    const sessionOf = async (token: string) =>
      (await request(auth.http).get('/api/auth/session').set('Authorization', `Bearer ${token}`))
        .body;

    it('records the re-authentication the session then carries', async () => {
      const user = await createUser(auth.http, adminCookie);
      const { token, body } = await loginWithBearer(auth.http, user.username, user.password);
      redisRelay.delayFrom(isRotation);
      const answer = await reauthenticate(token, user.password);
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

    it('records the re-authentication whose answer Redis lost after running it', async () => {
      const user = await createUser(auth.http, adminCookie);
      const { token, body } = await loginWithBearer(auth.http, user.username, user.password);
      redisRelay.loseAnswer({ request: isRotation });
      const answer = await reauthenticate(token, user.password);
      expect(answer.status).toBe(503);

      await until(
        () => typesOf(user.id),
        (listed) => listed.includes('reauthenticated'),
      );
      await sleep(SETTLES_MS);
      const types = await typesOf(user.id);
      expect(types.filter((type) => type === 'reauthenticated')).toHaveLength(1);
      const current = await sessionOf(token);
      expect(current.session.id).toBe(body.session.id);
      expect(Date.parse(current.session.authenticatedAt)).toBeGreaterThan(
        Date.parse(body.session.authenticatedAt),
      );
    });

    it('records the retry alone when the rotation of the 503 never reached Redis', async () => {
      const user = await createUser(auth.http, adminCookie);
      const { token, body } = await loginWithBearer(auth.http, user.username, user.password);
      redisRelay.delayFrom(isRotation);
      expect((await reauthenticate(token, user.password)).status).toBe(503);
      redisRelay.cut();
      // The store connects again; the client still holds its token (it was given no other).
      await until(
        async () =>
          (
            await request(auth.http)
              .get('/api/auth/session')
              .set('Authorization', `Bearer ${token}`)
          ).status,
        (status) => status === 200,
      );

      const retried = await reauthenticate(token, user.password);
      expect(retried.status).toBe(200);
      await until(
        () => typesOf(user.id),
        (listed) => listed.includes('reauthenticated'),
      );
      await sleep(SETTLES_MS);
      const events = (await auth.app.get(SecurityActivityService).list(user.id, null)).items;
      expect(events.filter((item) => item.type === 'reauthenticated')).toEqual([
        expect.objectContaining({ sessionId: retried.body.session.id }),
      ]);
      expect(retried.body.session.id).not.toBe(body.session.id);
    });

    it.each([
      ['as the 503 is answered', 0],
      ['a moment after the 503', 400],
      ['seconds after the 503', 2000],
    ])(
      'records none when the rotation is lost on its way to Redis %s',
      async (_when, lostAfterMs) => {
        const user = await createUser(auth.http, adminCookie);
        const { token, body } = await loginWithBearer(auth.http, user.username, user.password);
        redisRelay.delayFrom(isRotation);
        const answer = await reauthenticate(token, user.password);
        expect(answer.status).toBe(503);
        await sleep(lostAfterMs);
        // What was held (the rotation, and the undo behind it) never reaches Redis.
        redisRelay.cut();
        await sleep(SETTLES_MS);

        expect(await typesOf(user.id)).not.toContain('reauthenticated');
        const current = await sessionOf(token);
        expect(current.session).toMatchObject({
          id: body.session.id,
          authenticatedAt: body.session.authenticatedAt,
        });
      },
    );
  });
});
