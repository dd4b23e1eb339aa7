import { randomBytes } from 'node:crypto';

import fc from 'fast-check';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { App } from 'supertest/types';

import { SessionService } from '@cloakroom/session';

import { PasswordService } from '../src/app/users/password.service';
import { UsersService } from '../src/app/users/users.service';
import {
  AuthApp,
  createUser,
  loginWithBearer,
  loginWithCookie,
  REDIS_URL,
  signal,
  startAuthApp,
  strongPassword,
} from './auth-app';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What raced the change: a login, or a re-authentication of another session or of its own. */
type Raced = 'login' | 'reauth-other' | 'reauth-same';

/** Where the raced request is held while the change runs. */
type Stage =
  | 'after its password check'
  | 'after reading the generation'
  | 'after reading the user again'
  | 'before writing its session'
  | 'before its rotation';

/** How far the change goes while the raced request is held. */
type ChangeUntil = 'new hash written' | 'answered';

/** Where the user's sessions live: one tag, or also an earlier release's tag (mixed releases). */
type Tags = 'one tag' | 'two tags';

/**
 * A session authenticated with the old password must never survive a password change answered
 * 200: a login or a re-authentication that checked the old password just before the change
 * either fails or ends with the change. Each interleaving is forced with hooks (the raced
 * request held at each of its steps while the change writes its hash, or completes) and then
 * played with real concurrency at generated offsets; with the user's sessions under one tag,
 * and under two (an earlier release's random tag and the derived one, as while releases are
 * mixed: the change's session under one, the raced one under the other).
 */
describe('a password change racing a check of the old password', () => {
  let auth: AuthApp;
  let http: App;
  let sessions: SessionService;
  let users: UsersService;
  let passwords: PasswordService;
  let redis: Redis;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await startAuthApp('password-change-race', {
      SESSION_MAX_PER_USER: '0',
      LOGIN_MAX_FAILURES_PER_USER: '100000',
      LOGIN_MAX_FAILURES_PER_IP: '100000',
      LOGIN_USER_CEILING: '100000',
      PASSWORD_HASH_QUEUE: '1000',
    });
    http = auth.http;
    sessions = auth.app.get(SessionService);
    users = auth.app.get(UsersService);
    passwords = auth.app.get(PasswordService);
    redis = new Redis(REDIS_URL);
    adminCookie = (await loginWithCookie(http, 'admin', 'admin-password')).cookie;
  }, 30_000);

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    redis?.disconnect();
    await auth?.close();
  });

  const bearer = (test: request.Test, token: string) =>
    test.set('Authorization', `Bearer ${token}`);
  const login = (username: string, password: string) =>
    request(http).post('/api/auth/login').send({ username, password, transport: 'bearer' });
  const reauth = (token: string, password: string) =>
    bearer(request(http).post('/api/auth/reauthenticate'), token).send({ password });
  const change = (token: string, currentPassword: string, newPassword: string) =>
    bearer(request(http).post('/api/auth/password'), token).send({ currentPassword, newPassword });
  const whoami = async (token: string) =>
    (await bearer(request(http).get('/api/auth/session'), token)).status;

  /** What a scenario starts from: a user, the session that changes, the one raced (if any). */
  interface Setup {
    user: { id: string; username: string; password: string };
    changer: string;
    other?: string;
  }

  /**
   * A user with the session that will change the password, and for `reauth-other` a second
   * session. With two tags, an earlier release's tag is stored for the user after the changer
   * logged in: every later session of theirs (the raced login, the other session) lives there.
   */
  async function setUp(raced: Raced, tags: Tags): Promise<Setup> {
    const user = await createUser(http, adminCookie);
    const changer = (await loginWithBearer(http, user.username, user.password)).token;
    if (tags === 'two tags') {
      await redis.set(`${auth.keyPrefix}ut:${user.id}`, randomBytes(6).toString('base64url'));
    }
    const other =
      raced === 'reauth-other'
        ? (await loginWithBearer(http, user.username, user.password)).token
        : undefined;
    if (other && tags === 'two tags' && other.split('.')[1] === changer.split('.')[1]) {
      throw new Error('the second session did not land under the other tag');
    }
    return { user, changer, other };
  }

  /** The raced request, with the old password. */
  function send(raced: Raced, setup: Setup): request.Test {
    const { user, changer, other } = setup;
    if (raced === 'login') return login(user.username, user.password);
    return reauth(raced === 'reauth-same' ? changer : (other as string), user.password);
  }

  /**
   * What must hold once both answered, whatever the interleaving. Answers whether the raced
   * request was let in by the old password and the change was answered 200 as well (the race
   * the change must win by ending that session).
   */
  async function check(
    raced: Raced,
    setup: Setup,
    answers: { raced: request.Response; change: request.Response },
    newPassword: string,
    context: object,
  ): Promise<boolean> {
    const { user } = setup;
    const racedOk = answers.raced.status === 200;
    expect({ ...context, racedAnswered: [200, 401].includes(answers.raced.status) }).toEqual({
      ...context,
      racedAnswered: true,
    });
    const row = await users.findById(user.id);
    if (answers.change.status !== 200) {
      // Only its own session rotated away by the re-authentication refuses the change (401),
      // and a refused change leaves the old password standing.
      expect({ ...context, change: answers.change.status }).toEqual({
        ...context,
        change: raced === 'reauth-same' ? 401 : 200,
      });
      expect(await passwords.verify(row?.passwordHash, user.password)).toBe(true);
      return false;
    }
    expect(await passwords.verify(row?.passwordHash, newPassword)).toBe(true);
    // Acknowledged: the only session left is the one the change answered with.
    const live = (await sessions.listForUser(user.id)).map((session) => session.id);
    expect({ ...context, live }).toEqual({ ...context, live: [answers.change.body.session.id] });
    expect({ ...context, changed: await whoami(answers.change.body.token) }).toEqual({
      ...context,
      changed: 200,
    });
    if (racedOk) {
      expect({ ...context, racedToken: await whoami(answers.raced.body.token) }).toEqual({
        ...context,
        racedToken: 401,
      });
    }
    return racedOk;
  }

  /**
   * Holds the raced request at `stage` (the first time it gets there), runs the change until
   * `until` meanwhile, then lets the raced request answer before the change goes on.
   */
  async function interleave(raced: Raced, stage: Stage, until: ChangeUntil, tags: Tags) {
    const setup = await setUp(raced, tags);
    const newPassword = strongPassword();
    const hashWritten = signal();
    const racedAnswered = signal();
    let changing: Promise<request.Response> | undefined;
    let held = false;
    const runChange = async () => {
      if (held) return;
      held = true;
      changing = change(setup.changer, setup.user.password, newPassword).then((r) => r);
      await (until === 'answered' ? changing : Promise.race([hashWritten.done, changing]));
    };

    const replace = users.replacePassword.bind(users);
    jest.spyOn(users, 'replacePassword').mockImplementation(async (...args) => {
      const replaced = await replace(...args);
      hashWritten.fire();
      if (until === 'new hash written') await racedAnswered.done;
      return replaced;
    });
    const after =
      <A extends unknown[], R>(original: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        const result = await original(...args);
        await runChange();
        return result;
      };
    // The originals are taken before the spies replace them.
    const originals = {
      checkCredentials: users.checkCredentials.bind(users),
      generationOf: sessions.generationOf.bind(sessions),
      findById: users.findById.bind(users),
      create: sessions.create.bind(sessions),
      rotate: sessions.rotate.bind(sessions),
    };
    switch (stage) {
      case 'after its password check':
        jest.spyOn(users, 'checkCredentials').mockImplementation(after(originals.checkCredentials));
        break;
      case 'after reading the generation':
        jest.spyOn(sessions, 'generationOf').mockImplementation(after(originals.generationOf));
        break;
      case 'after reading the user again':
        jest.spyOn(users, 'findById').mockImplementation(after(originals.findById));
        break;
      case 'before writing its session':
        jest.spyOn(sessions, 'create').mockImplementation(async (...args) => {
          await runChange();
          return originals.create(...args);
        });
        break;
      case 'before its rotation':
        jest.spyOn(sessions, 'rotate').mockImplementation(async (token, options) => {
          if (!options?.revokeOthersOf) await runChange();
          return originals.rotate(token, options);
        });
        break;
    }
    const racedAnswer = await send(raced, setup);
    racedAnswered.fire();
    if (!changing) throw new Error(`the raced ${raced} never reached "${stage}"`);
    const changeAnswer = await changing;
    jest.restoreAllMocks();
    return check(raced, setup, { raced: racedAnswer, change: changeAnswer }, newPassword, {
      raced,
      stage,
      until,
      tags,
    });
  }

  const loginStages: Stage[] = [
    'after its password check',
    'after reading the generation',
    'after reading the user again',
    'before writing its session',
  ];
  const reauthStages: Stage[] = ['after its password check', 'before its rotation'];
  const untils: ChangeUntil[] = ['new hash written', 'answered'];
  const cases: Array<[Raced, Stage, ChangeUntil, Tags]> = [];
  for (const tags of ['one tag', 'two tags'] as Tags[]) {
    for (const until of untils) {
      for (const stage of loginStages) cases.push(['login', stage, until, tags]);
      for (const stage of reauthStages) {
        cases.push(['reauth-other', stage, until, tags]);
        if (tags === 'one tag') cases.push(['reauth-same', stage, until, tags]);
      }
    }
  }

  it.each(cases)(
    'leaves no session of the old password: %s held %s while the change is at "%s" (%s)',
    async (raced, stage, until, tags) => {
      await interleave(raced, stage, until, tags);
    },
    30_000,
  );

  it('ends sessions of the old password under every tag of the user, raced or not', async () => {
    const setup = await setUp('reauth-other', 'two tags');
    const newPassword = strongPassword();
    // The change comes from the earlier release's tag this time; the other session is derived.
    const derived = setup.changer;
    const changed = await change(setup.other as string, setup.user.password, newPassword);
    expect(changed.status).toBe(200);
    expect(await whoami(derived)).toBe(401);
    expect((await sessions.listForUser(setup.user.id)).map((s) => s.id)).toEqual([
      changed.body.session.id,
    ]);
  });

  it('never lets a session of the old password outlive a change, at generated offsets', async () => {
    let bothLetIn = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Raced>('login', 'reauth-other', 'reauth-same'),
        fc.constantFrom<Tags>('one tag', 'two tags'),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 60 }),
        async (raced, tags, racedDelay, changeDelay) => {
          const setup = await setUp(raced, raced === 'reauth-same' ? 'one tag' : tags);
          const newPassword = strongPassword();
          const [racedAnswer, changeAnswer] = await Promise.all([
            sleep(racedDelay).then(() => send(raced, setup)),
            sleep(changeDelay).then(() => change(setup.changer, setup.user.password, newPassword)),
          ]);
          const context = { raced, tags, racedDelay, changeDelay };
          if (
            await check(raced, setup, { raced: racedAnswer, change: changeAnswer }, newPassword, {
              ...context,
            })
          ) {
            bothLetIn++;
          }
        },
      ),
      { numRuns: 60, endOnFailure: true },
    );
    // The race was really run: some requests checked the old password and were let in, and
    // the change answered 200 after them.
    expect(bothLetIn).toBeGreaterThan(0);
  }, 180_000);
});
