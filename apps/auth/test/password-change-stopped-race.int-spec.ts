import fc from 'fast-check';
import request from 'supertest';
import type { App } from 'supertest/types';

import { SessionService } from '@cloakroom/session';

import { AccessSync } from '../src/app/users/access-sync.service';
import { UsersService } from '../src/app/users/users.service';
import {
  AuthApp,
  createUser,
  loginWithBearer,
  loginWithCookie,
  signal,
  startAuthApp,
  strongPassword,
} from './auth-app';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What checks the old password against the change: a login, or another session's step-up. */
type Raced = 'login' | 'reauthenticate';

/** How the change ends: answered, or its instance stopped before the rotation revoked anything. */
type Ending = 'rotation runs' | 'stopped before rotation';

/** When the raced request, held just before it writes its session, is let go. */
interface Release {
  /** `look done`: the change stopped, another instance's look has run and cleared its mark. */
  after: 'instant read' | 'hash written' | 'look done';
  ms: number;
}

/**
 * A login or re-authentication that checked the old password a moment before a password change
 * landed writes its session after the change's instant: its `createdAt` or `authenticatedAt`
 * says nothing of the password it proved. Whether the change's rotation runs or its instance
 * stops before it (the mark left for a look), no such session may survive, and the look must
 * still keep the sessions of the new password and the one that made the change. The raced
 * request is held just before it writes its session and let go at offsets from the change's
 * instant and from its write; then both run with real concurrency at generated offsets.
 */
describe('a password change whose instance stops, racing a check of the old password', () => {
  let auth: AuthApp;
  let http: App;
  let sessions: SessionService;
  let users: UsersService;
  let accessSync: AccessSync;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await startAuthApp('password-change-stopped-race', {
      // Only the looks a case runs.
      ACCESS_SYNC_INTERVAL: '3600',
      SESSION_MAX_PER_USER: '0',
      LOGIN_MAX_FAILURES_PER_USER: '100000',
      LOGIN_MAX_FAILURES_PER_IP: '100000',
      LOGIN_USER_CEILING: '100000',
      PASSWORD_HASH_QUEUE: '1000',
    });
    http = auth.http;
    sessions = auth.app.get(SessionService);
    users = auth.app.get(UsersService);
    accessSync = auth.app.get(AccessSync);
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
  }, 30_000);

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await auth?.close();
  });

  const bearer = (test: request.Test, token: string) =>
    test.set('Authorization', `Bearer ${token}`);
  const change = (token: string, currentPassword: string, newPassword: string) =>
    bearer(request(http).post('/api/auth/password'), token).send({ currentPassword, newPassword });
  const alive = async (token: string) =>
    (await sessions.validate(token).catch(() => null)) !== null;

  /** A user, the session that changes the password, and one that may re-authenticate. */
  async function setUp() {
    const user = await createUser(http, adminCookie);
    const changer = (await loginWithBearer(http, user.username, user.password)).token;
    const other = (await loginWithBearer(http, user.username, user.password)).token;
    return { user, changer, other };
  }

  /** The raced request, with the old password. */
  function send(raced: Raced, user: { username: string; password: string }, other: string) {
    return raced === 'login'
      ? request(http)
          .post('/api/auth/login')
          .send({ username: user.username, password: user.password, transport: 'bearer' })
      : bearer(request(http).post('/api/auth/reauthenticate'), other).send({
          password: user.password,
        });
  }

  /**
   * Runs the raced request against a change. With `release`, the raced request is held just
   * before its session is written (a login's create, a re-authentication's rotation) and the
   * change sent then; without, both are sent after their delays. A change `stopped before
   * rotation` never gets its rotation's answer: the look of `AccessSync` is all that revokes.
   */
  async function race(
    raced: Raced,
    ending: Ending,
    timing: { release: Release } | { racedDelay: number; changeDelay: number },
  ) {
    const { user, changer, other } = await setUp();
    const newPassword = strongPassword();
    const instantRead = signal();
    const hashWritten = signal();
    const rotationReached = signal();
    let stop!: (error: Error) => void;
    const stopped = new Promise<never>((_resolve, reject) => (stop = reject));
    // Rejected at the end whether or not the change got to it.
    stopped.catch(() => undefined);
    let changing: Promise<request.Response> | undefined;
    const sendChange = () => {
      changing ??= change(changer, user.password, newPassword).then((response) => response);
    };

    const originals = {
      now: sessions.now.bind(sessions),
      replacePassword: users.replacePassword.bind(users),
      create: sessions.create.bind(sessions),
      rotate: sessions.rotate.bind(sessions),
    };
    jest.spyOn(sessions, 'now').mockImplementation(() => {
      instantRead.fire();
      return originals.now();
    });
    jest.spyOn(users, 'replacePassword').mockImplementation(async (...args) => {
      try {
        return await originals.replacePassword(...args);
      } finally {
        hashWritten.fire();
      }
    });
    const hold = async () => {
      if (!('release' in timing)) return;
      sendChange();
      const { after, ms } = timing.release;
      if (after === 'look done') {
        await rotationReached.done;
        await accessSync.applyPending();
      } else {
        await (after === 'instant read' ? instantRead.done : hashWritten.done);
      }
      await sleep(ms);
    };
    jest.spyOn(sessions, 'create').mockImplementation(async (...args) => {
      if (args[0].id === user.id) await hold();
      return originals.create(...args);
    });
    jest.spyOn(sessions, 'rotate').mockImplementation(async (token, options) => {
      if (options?.revokeOthersOf) {
        rotationReached.fire();
        return ending === 'stopped before rotation' ? stopped : originals.rotate(token, options);
      }
      await hold();
      return originals.rotate(token, options);
    });

    let racedAnswer: request.Response;
    if ('release' in timing) {
      racedAnswer = await send(raced, user, other);
    } else {
      [racedAnswer] = await Promise.all([
        sleep(timing.racedDelay).then(() => send(raced, user, other)),
        sleep(timing.changeDelay).then(sendChange),
      ]);
    }
    const context = { raced, ending, timing };
    try {
      await hashWritten.done;
      if (ending === 'rotation runs') {
        expect({ ...context, change: (await changing)?.status }).toEqual({
          ...context,
          change: 200,
        });
      } else {
        // Another instance's look, or this one's after a restart: the mark is all there is.
        await rotationReached.done;
        const looked = 'release' in timing && timing.release.after === 'look done';
        expect({
          ...context,
          marked: (await users.findById(user.id))?.sessionsRevokePending,
        }).toEqual({ ...context, marked: !looked });
        jest.restoreAllMocks();
        // Signed in with the new password while the mark stays: the look must keep it.
        const fresh = await loginWithBearer(http, user.username, newPassword);
        await accessSync.applyPending();
        expect({ ...context, freshAlive: await alive(fresh.token) }).toEqual({
          ...context,
          freshAlive: true,
        });
        expect({ ...context, changerAlive: await alive(changer) }).toEqual({
          ...context,
          changerAlive: true,
        });
      }
      expect({ ...context, racedAnswer: [200, 401].includes(racedAnswer.status) }).toEqual({
        ...context,
        racedAnswer: true,
      });
      if (racedAnswer.status === 200) {
        expect({ ...context, racedAlive: await alive(racedAnswer.body.token) }).toEqual({
          ...context,
          racedAlive: false,
        });
      }
      if (raced === 'reauthenticate') {
        expect({ ...context, otherAlive: await alive(other) }).toEqual({
          ...context,
          otherAlive: false,
        });
      }
      return racedAnswer.status === 200;
    } finally {
      stop(new Error('the instance stopped'));
      await changing;
      jest.restoreAllMocks();
    }
  }

  const releases: Release[] = [
    ...[0, 1, 2, 4].map((ms) => ({ after: 'instant read' as const, ms })),
    ...[0, 1, 3, 10].map((ms) => ({ after: 'hash written' as const, ms })),
  ];
  const cases: Array<[Raced, Ending, string, Release]> = [];
  for (const ending of ['stopped before rotation', 'rotation runs'] as Ending[]) {
    for (const raced of ['login', 'reauthenticate'] as Raced[]) {
      for (const release of releases) {
        cases.push([raced, ending, `${release.ms} ms after the ${release.after}`, release]);
      }
    }
  }
  // Written after the look that was to end it: only a check after the write can.
  for (const raced of ['login', 'reauthenticate'] as Raced[]) {
    cases.push([
      raced,
      'stopped before rotation',
      'once the look is done',
      { after: 'look done', ms: 0 },
    ]);
  }

  it.each(cases)(
    'leaves no session of the old password: a %s (change: %s) let go %s',
    async (raced, ending, _when, release) => {
      await race(raced, ending, { release });
    },
    30_000,
  );

  it('leaves no session of the old password at generated offsets, the change stopped', async () => {
    let letIn = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Raced>('login', 'reauthenticate'),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 60 }),
        async (raced, racedDelay, changeDelay) => {
          if (await race(raced, 'stopped before rotation', { racedDelay, changeDelay })) letIn++;
        },
      ),
      { numRuns: 30, endOnFailure: true },
    );
    // The race was run: some raced requests proved the old password and were let in.
    expect(letIn).toBeGreaterThan(0);
  }, 180_000);
});
