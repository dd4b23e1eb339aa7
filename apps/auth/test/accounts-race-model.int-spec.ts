import { randomUUID } from 'node:crypto';

import { getRepositoryToken } from '@nestjs/typeorm';
import fc from 'fast-check';
import request from 'supertest';
import type { App } from 'supertest/types';
import { Repository } from 'typeorm';

import { Session, SessionService } from '@cloakroom/session';

import { User } from '../src/app/users/entities/user.entity';
import { PasswordService } from '../src/app/users/password.service';
import { UsersService } from '../src/app/users/users.service';
import { AuthApp, ORIGIN, startAuthApp, strongPassword } from './auth-app';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The per-user cap (`evict-oldest`), small so that logins racing the rest reach it. */
const CAP = 3;
/** Clients (browsers or API clients) per user, each holding at most one token. */
const SLOTS = 3;
const USERS = 2;
/** Runs per test: about a second each on two busy cores (argon2 dominates). */
const RUNS = 20;
const ROLE_SETS: string[][] = [['customer'], ['customer', 'support'], ['auditor'], []];
const INVALID_CREDENTIALS = 'Invalid username or password';

type Transport = 'cookie' | 'bearer';
type Password = 'current' | 'old' | 'wrong';

/** One operation of a batch; `delay` spreads the launches (ms after its turn comes). */
type Op = { delay: number } & (
  | {
      kind: 'login';
      user: number;
      slot: number;
      transport: Transport;
      rememberMe: boolean;
      pw: Password;
    }
  | { kind: 'logout'; user: number; slot: number }
  | { kind: 'validate'; user: number; slot: number }
  | { kind: 'reauth'; user: number; slot: number; pw: Password }
  | { kind: 'password'; user: number; slot: number; pw: Password }
  | { kind: 'roles'; user: number; roles: number }
  | { kind: 'disable'; user: number; disabled: boolean }
  | { kind: 'revokeUser'; user: number }
  | { kind: 'revokeOne'; user: number; slot: number }
  | { kind: 'revokeOwn'; user: number; slot: number; target: number }
  | { kind: 'revokeOthers'; user: number; slot: number }
  | { kind: 'revokeAll' }
);

/**
 * A session and every id it was rotated to: a login starts one, a re-authentication or
 * password change continues it. `epoch` is the password it stands for (the one given at login,
 * or the new one of the change that rotated it).
 */
interface Lineage {
  user: number;
  ids: string[];
  /** When the login that started it was answered (ms, test clock). */
  originAt: number;
  epoch: string;
  persistent: boolean;
}

interface Held {
  token: string;
  transport: Transport;
  lineage: Lineage;
}

interface UserModel {
  id: string;
  username: string;
  password: string;
  oldPasswords: string[];
  slots: Array<Held | null>;
  lineages: Lineage[];
  /** The password changed in the last batch: the next refill tries the old one. */
  passwordChanged: boolean;
  /** Token of every session id handed out, to ask the API about it afterwards. */
  tokens: Map<string, { token: string; transport: Transport }>;
}

/** What one operation was answered, with when it was sent and answered. */
interface Outcome {
  op: Op;
  status: number;
  /** The answer's JSON, read back only as a 200 of a login or rotation, or a 401's message. */
  body: { session: { id: string; persistent: boolean }; message?: string };
  sentAt: number;
  answeredAt: number;
  presented: Held | null;
  /** The new password a change sent. */
  newPassword?: string;
  /** The password a login, re-authentication or change sent. */
  password?: string;
  /** The session id a revocation of one session named. */
  targetId?: string;
}

const slot = fc.integer({ min: 0, max: SLOTS - 1 });
const user = fc.integer({ min: 0, max: USERS - 1 });
const password = fc.constantFrom<Password>('current', 'current', 'current', 'old', 'wrong');
const delay = fc.integer({ min: 0, max: 30 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('login' as const),
      user,
      slot,
      transport: fc.constantFrom<Transport>('cookie', 'bearer'),
      rememberMe: fc.boolean(),
      pw: password,
      delay,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('logout' as const), user, slot, delay }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('validate' as const), user, slot, delay }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('reauth' as const), user, slot, pw: password, delay }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('password' as const),
      user,
      slot,
      pw: password,
      delay,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('roles' as const),
      user,
      roles: fc.integer({ min: 0, max: ROLE_SETS.length - 1 }),
      delay,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('disable' as const),
      user,
      disabled: fc.boolean(),
      delay,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revokeUser' as const), user, delay }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('revokeOne' as const), user, slot, delay }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('revokeOwn' as const),
      user,
      slot,
      target: slot,
      delay,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('revokeOthers' as const), user, slot, delay }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revokeAll' as const), delay }) },
);

/** Statuses each operation may answer under any interleaving; anything else is a defect. */
const ALLOWED: Record<Op['kind'], number[]> = {
  // 503: a login refused at each of its tries by a moving revocation generation (AuthService).
  login: [200, 401, 503],
  logout: [204],
  validate: [200, 401],
  reauth: [200, 401],
  password: [200, 401, 403],
  roles: [200],
  disable: [200],
  revokeUser: [204],
  revokeOne: [204, 404],
  revokeOwn: [204, 401, 404],
  revokeOthers: [204, 401],
  revokeAll: [204],
};

const describeOutcome = (o: Outcome) =>
  `${JSON.stringify(o.op)} -> ${o.status} [${o.sentAt % 100_000}..${o.answeredAt % 100_000}]`;

const sortedRoles = (roles: string[]) => [...roles].sort().join('+');

/** `value`, which the model knows is there: a missing one is a broken test, said so. */
function known<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`the model lost ${what}`);
  return value;
}

/**
 * A model-based race test of the accounts layer through auth's HTTP API. Each run creates its
 * own users, then plays batches of operations concurrently (fast-check's scheduler picks the
 * launch order, generated delays spread the launches over the argon2 work and the Redis and
 * PostgreSQL round trips), and once a batch has settled checks what must hold whatever the
 * interleaving against a plain model built from the answers.
 */
describe('accounts under concurrent, interleaved operations (model-based)', () => {
  let auth: AuthApp;
  let http: App;
  let sessions: SessionService;
  let users: UsersService;
  let passwords: PasswordService;
  let adminToken: string;
  /** Every run's users start with this password: hashed once, not twice a run. */
  const initialPassword = strongPassword();
  let initialHash: string;
  let runs = 0;

  beforeAll(async () => {
    auth = await startAuthApp('accounts-race-model', {
      SESSION_MAX_PER_USER: String(CAP),
      SESSION_CAP_POLICY: 'evict-oldest',
      LOGIN_MAX_FAILURES_PER_USER: '100000',
      LOGIN_MAX_FAILURES_PER_IP: '100000',
      LOGIN_USER_CEILING: '100000',
      PASSWORD_HASH_QUEUE: '1000',
    });
    http = auth.http;
    sessions = auth.app.get(SessionService);
    users = auth.app.get(UsersService);
    passwords = auth.app.get(PasswordService);
    initialHash = await passwords.hash(initialPassword);
    // Revoke-all keeps the caller's session: one administrator session serves every run.
    const admin = await request(http)
      .post('/api/auth/login')
      .send({ username: 'admin', password: 'admin-password', transport: 'bearer' })
      .expect(200);
    adminToken = admin.body.token;
  }, 30_000);

  afterAll(async () => {
    await auth?.close();
  });

  function withToken(
    test: request.Test,
    held: Pick<Held, 'token' | 'transport'> | null,
  ): request.Test {
    test.set('Origin', ORIGIN);
    if (!held) return test;
    return held.transport === 'cookie'
      ? test.set('Cookie', `cr_session=${held.token}`)
      : test.set('Authorization', `Bearer ${held.token}`);
  }

  /** The token a login or rotation handed out, in the transport it came by. */
  function issuedToken(response: request.Response, transport: Transport): string {
    if (transport === 'bearer') return response.body.token as string;
    const cookies = ([] as string[]).concat(response.headers['set-cookie'] ?? []);
    const cookie = cookies.find((value) => value.startsWith('cr_session='));
    if (!cookie) throw new Error('no session cookie in a 200 that rotated or logged in');
    return cookie.split(';')[0].slice('cr_session='.length);
  }

  /** Fresh users for a run, written straight to the database (creating them is not raced). */
  async function setUp(): Promise<UserModel[]> {
    const run = ++runs;
    const rows = auth.app.get<Repository<User>>(getRepositoryToken(User));
    const model: UserModel[] = [];
    for (let i = 0; i < USERS; i++) {
      const id = randomUUID();
      const username = `race-${process.pid}-${run}-${i}`;
      await rows.insert({ id, username, passwordHash: initialHash, roles: ['customer'] });
      model.push({
        id,
        username,
        password: initialPassword,
        oldPasswords: [],
        slots: Array.from({ length: SLOTS }, () => null),
        lineages: [],
        passwordChanged: false,
        tokens: new Map(),
      });
    }
    return model;
  }

  function passwordFor(u: UserModel, choice: Password): string {
    if (choice === 'old' && u.oldPasswords.length) return u.oldPasswords[u.oldPasswords.length - 1];
    if (choice === 'current') return u.password;
    return `${u.password}-wrong`;
  }

  /** Runs one operation against the API and updates the model's clients from its answer. */
  async function execute(op: Op, model: UserModel[]): Promise<Outcome> {
    const asAdmin = (test: request.Test) => test.set('Authorization', `Bearer ${adminToken}`);
    // Revoke-all concerns no user in particular: the first one stands in.
    const u = model['user' in op ? op.user : 0];
    const presented = 'slot' in op ? u.slots[op.slot] : null;
    const sentAt = Date.now();
    let response: request.Response;
    let pw: string | undefined;
    let newPassword: string | undefined;
    let targetId: string | undefined;
    switch (op.kind) {
      case 'login':
        pw = passwordFor(u, op.pw);
        response = await withToken(request(http).post('/api/auth/login'), presented).send({
          username: u.username,
          password: pw,
          transport: op.transport,
          rememberMe: op.rememberMe,
        });
        break;
      case 'logout':
        response = await withToken(request(http).post('/api/auth/logout'), presented);
        break;
      case 'validate':
        response = await withToken(request(http).get('/api/auth/session'), presented);
        break;
      case 'reauth':
        pw = passwordFor(u, op.pw);
        response = await withToken(request(http).post('/api/auth/reauthenticate'), presented).send({
          password: pw,
        });
        break;
      case 'password':
        pw = passwordFor(u, op.pw);
        newPassword = strongPassword();
        response = await withToken(request(http).post('/api/auth/password'), presented).send({
          currentPassword: pw,
          newPassword,
        });
        break;
      case 'roles':
        response = await asAdmin(request(http).put(`/api/auth/users/${u.id}/roles`)).send({
          roles: ROLE_SETS[op.roles],
        });
        break;
      case 'disable':
        response = await asAdmin(request(http).put(`/api/auth/users/${u.id}/disabled`)).send({
          disabled: op.disabled,
        });
        break;
      case 'revokeUser':
        response = await asAdmin(request(http).delete(`/api/auth/users/${u.id}/sessions`));
        break;
      case 'revokeOne': {
        targetId = presented?.lineage.ids.at(-1) ?? 'none';
        response = await asAdmin(
          request(http).delete(`/api/auth/users/${u.id}/sessions/${encodeURIComponent(targetId)}`),
        );
        break;
      }
      case 'revokeOwn': {
        targetId = u.slots[op.target]?.lineage.ids.at(-1) ?? 'none';
        response = await withToken(
          request(http).delete(`/api/auth/sessions/${encodeURIComponent(targetId)}`),
          presented,
        );
        break;
      }
      case 'revokeOthers':
        response = await withToken(request(http).delete('/api/auth/sessions'), presented);
        break;
      case 'revokeAll':
        response = await asAdmin(request(http).post('/api/auth/revoke-all')).send({});
        break;
    }
    const answeredAt = Date.now();
    const outcome: Outcome = {
      op,
      status: response.status,
      body: response.body,
      sentAt,
      answeredAt,
      presented,
      password: pw,
      newPassword,
      targetId,
    };
    if ('slot' in op) {
      const transport: Transport =
        op.kind === 'login' ? op.transport : (presented?.transport ?? 'bearer');
      if (
        response.status === 200 &&
        (op.kind === 'login' || op.kind === 'reauth' || op.kind === 'password')
      ) {
        const token = issuedToken(response, transport);
        const id = response.body.session.id as string;
        let lineage: Lineage;
        if (op.kind === 'login') {
          lineage = {
            user: op.user,
            ids: [id],
            originAt: answeredAt,
            epoch: known(pw, 'the password a login sent'),
            persistent: op.rememberMe,
          };
          u.lineages.push(lineage);
        } else {
          lineage = known(presented, 'the session a rotation presented').lineage;
          lineage.ids.push(id);
          if (op.kind === 'password') lineage.epoch = known(newPassword, 'the new password');
        }
        u.tokens.set(id, { token, transport });
        u.slots[op.slot] = { token, transport, lineage };
      } else if (op.kind === 'logout' && u.slots[op.slot] === presented) {
        u.slots[op.slot] = null;
      }
    }
    return outcome;
  }

  /**
   * Logs every enabled user in on each of their empty clients (half of them cookie, half
   * "remember me"), so that each batch starts with the user at the cap and races real sessions.
   */
  async function refill(model: UserModel[]): Promise<Outcome[]> {
    const logins: Array<Promise<Outcome>> = [];
    const refused: Array<Promise<Outcome>> = [];
    const login = (user: number, slot: number, pw: Password): Op => ({
      kind: 'login',
      user,
      slot,
      transport: slot % 2 ? 'bearer' : 'cookie',
      rememberMe: slot === 1,
      pw,
      delay: 0,
    });
    for (let i = 0; i < model.length; i++) {
      const u = model[i];
      if (u.passwordChanged) {
        // The password it replaced no longer signs in.
        u.passwordChanged = false;
        refused.push(execute(login(i, 0, 'old'), model));
      }
      if (known(await users.findById(u.id), 'a user row').disabled) {
        // Nor does a disabled account's right password.
        refused.push(execute(login(i, 0, 'current'), model));
        continue;
      }
      model[i].slots.forEach((held, slot) => {
        if (!held) logins.push(execute(login(i, slot, 'current'), model));
      });
    }
    const [refusals, outcomes] = await Promise.all([Promise.all(refused), Promise.all(logins)]);
    for (const o of refusals) {
      if (o.status !== 401) {
        throw new Error(`${describeOutcome(o)}: an old password, or a disabled account, signed in`);
      }
    }
    for (const o of outcomes) {
      if (o.status !== 200)
        throw new Error(`${describeOutcome(o)}: the right password was refused`);
    }
    return [...refusals, ...outcomes];
  }

  /**
   * A change answered 401 (its session was revoked meanwhile) may still have changed the
   * password (see AuthService.changePassword): the stored hash says which password stands.
   */
  async function learnPassword(u: UserModel, candidates: string[]): Promise<void> {
    const row = known(await users.findById(u.id), 'a user row');
    for (const candidate of [u.password, ...candidates]) {
      if (await passwords.verify(row.passwordHash, candidate)) {
        if (candidate !== u.password) {
          u.oldPasswords.push(u.password);
          u.password = candidate;
        }
        return;
      }
    }
    throw new Error(`user ${u.username}: no known password is the stored one`);
  }

  /** Every event of a user's activity log, walking all its pages as an administrator. */
  async function activityOf(u: UserModel) {
    const items: Array<{ type: string; userId: string | null; sessionId?: string }> = [];
    let cursor: string | null = null;
    do {
      const page: request.Response = await request(http)
        .get(`/api/auth/users/${u.id}/activity`)
        .query(cursor ? { cursor } : {})
        .set('Authorization', `Bearer ${adminToken}`)
        .expect(200);
      items.push(...page.body.items);
      cursor = page.body.next;
    } while (cursor);
    return items;
  }

  /** What each answered operation of a run owes the activity log of the user it concerns. */
  function missingActivity(
    u: UserModel,
    index: number,
    outcomes: Outcome[],
    items: Array<{ type: string; userId: string | null; sessionId?: string }>,
  ): string[] {
    const missing: string[] = [];
    const mine = outcomes.filter((o) => 'user' in o.op && o.op.user === index);
    const count = (type: string, userId: string | null = u.id) =>
      items.filter((item) => item.type === type && item.userId === userId).length;
    const has = (type: string, ids: string[]) =>
      items.some((item) => item.type === type && ids.includes(item.sessionId ?? ''));
    const answered = (
      kind: Op['kind'],
      status: number,
      extra: (o: Outcome) => boolean = () => true,
    ) => mine.filter((o) => o.op.kind === kind && o.status === status && extra(o));
    const lineageOf = (id: string) => u.lineages.find((l) => l.ids.includes(id));
    const expectAtLeast = (type: string, wanted: number, userId: string | null = u.id) => {
      if (count(type, userId) < wanted)
        missing.push(`${wanted} ${type}, ${count(type, userId)} recorded`);
    };
    for (const o of answered('login', 200)) {
      if (!has('login', [o.body.session.id])) missing.push(`login of ${o.body.session.id}`);
    }
    for (const o of answered('reauth', 200)) {
      if (!has('reauthenticated', [o.body.session.id]))
        missing.push(`reauthenticated ${o.body.session.id}`);
    }
    for (const o of answered('password', 200)) {
      if (!has('password.changed', [o.body.session.id]))
        missing.push(`password.changed ${o.body.session.id}`);
    }
    const wrong = (o: Outcome) => o.body?.message === INVALID_CREDENTIALS;
    expectAtLeast(
      'login.failed',
      answered('login', 401).length + answered('reauth', 401, wrong).length,
    );
    expectAtLeast('roles.changed', answered('roles', 200).length);
    expectAtLeast(
      'sessions.revoked-all',
      answered('revokeUser', 204).length +
        answered('revokeOthers', 204).length +
        answered('password', 200).length +
        answered('disable', 200, (o) => o.op.kind === 'disable' && o.op.disabled).length,
    );
    expectAtLeast(
      'sessions.revoked-all',
      outcomes.filter((o) => o.op.kind === 'revokeAll' && o.status === 204).length,
      null,
    );
    for (const o of [...answered('revokeOne', 204), ...answered('revokeOwn', 204)]) {
      const targetId = known(o.targetId, 'a revoked session id');
      const ids = lineageOf(targetId)?.ids ?? [targetId];
      if (!has('session.revoked', ids)) missing.push(`session.revoked of ${o.targetId}`);
    }
    if (answered('disable', 200, (o) => o.op.kind === 'disable' && o.op.disabled).length) {
      expectAtLeast('user.disabled', 1);
    }
    return missing;
  }

  /** GET /api/auth/session with a session's token. */
  function ask(u: UserModel, id: string) {
    return withToken(request(http).get('/api/auth/session'), u.tokens.get(id) ?? null);
  }

  /** Every invariant that must hold once a batch has settled, whatever its interleaving. */
  async function checkBatch(model: UserModel[], outcomes: Outcome[], startDisabled: boolean[]) {
    const failures: string[] = [];
    const fail = (message: string) => failures.push(message);
    const describeOp = (o: Outcome) => `${JSON.stringify(o.op)} -> ${o.status}`;

    for (const o of outcomes) {
      if (!ALLOWED[o.op.kind].includes(o.status)) {
        fail(`unexpected status: ${describeOp(o)} ${JSON.stringify(o.body)}`);
      }
    }

    for (let i = 0; i < model.length; i++) {
      const u = model[i];
      const mine = outcomes.filter((o) => 'user' in o.op && o.op.user === i);
      const previous = u.password;
      const changes = mine.filter((o) => o.op.kind === 'password' && o.status === 200);
      if (changes.length > 1) {
        fail(`user ${i}: ${changes.length} password changes from one password all succeeded`);
      }
      const changed = changes.at(-1);
      if (changed) {
        u.oldPasswords.push(u.password);
        u.password = known(changed.newPassword, 'the new password');
      } else {
        const maybe = mine.filter((o) => o.op.kind === 'password' && o.status === 401);
        if (maybe.length)
          await learnPassword(
            u,
            maybe.map((o) => known(o.newPassword, 'the new password')),
          );
      }
      u.passwordChanged ||= u.oldPasswords.includes(previous);
      const row = await users.findById(u.id);
      if (!row) throw new Error('user row vanished');
      const dbRoles = sortedRoles(row.roles);
      const live: Session[] = await sessions.listForUser(u.id);
      const liveIds = new Set(live.map((s) => s.id));
      const lineageOf = (id: string) => u.lineages.find((l) => l.ids.includes(id));

      if (live.length > CAP) fail(`user ${i}: ${live.length} live sessions over the cap ${CAP}`);
      if (row.disabled && live.length)
        fail(`user ${i}: disabled yet ${live.length} live session(s)`);
      for (const s of live) {
        const lineage = lineageOf(s.id);
        if (!lineage) {
          fail(`user ${i}: live session ${s.id} no answered operation handed out`);
          continue;
        }
        if (sortedRoles(s.roles) !== dbRoles) {
          fail(
            `user ${i}: session ${s.id} carries [${sortedRoles(s.roles)}], database [${dbRoles}]`,
          );
        }
        if (lineage.epoch !== u.password) {
          fail(`user ${i}: session ${s.id} stands for a password that is no longer the user's`);
        }
        if (s.persistent !== lineage.persistent) {
          fail(
            `user ${i}: session ${s.id} persistent=${s.persistent}, logged in with ${lineage.persistent}`,
          );
        }
      }
      for (const lineage of u.lineages) {
        const alive = lineage.ids.filter((id) => liveIds.has(id));
        if (alive.length > 1) fail(`user ${i}: one session forked into ${alive.join(', ')}`);
      }
      // What the store holds is what the API answers: each live session validates with its
      // roles, every other session handed out is refused.
      for (const [id] of u.tokens) {
        const seen = await ask(u, id);
        if (liveIds.has(id)) {
          if (seen.status !== 200 || seen.body.session?.id !== id) {
            fail(`user ${i}: live session ${id} answered ${seen.status} to GET /session`);
          } else if (sortedRoles(seen.body.user.roles) !== dbRoles) {
            fail(`user ${i}: GET /session of ${id} shows [${sortedRoles(seen.body.user.roles)}]`);
          }
        } else if (seen.status !== 401) {
          fail(
            `user ${i}: session ${id}, not in the store, answered ${seen.status} to GET /session`,
          );
        }
      }

      // Revocations answered 204 (or a disable, or a password change) ended every session
      // that existed when they were sent, except the one they keep.
      const mustBeDead = (o: Outcome, what: string, keep?: Lineage) => {
        for (const lineage of u.lineages) {
          if (lineage === keep || lineage.originAt >= o.sentAt) continue;
          const alive = lineage.ids.filter((id) => liveIds.has(id));
          if (alive.length)
            fail(`user ${i}: session ${alive[0]} survived ${what} (${describeOp(o)})`);
        }
      };
      const deadLineage = (lineage: Lineage | undefined, o: Outcome, what: string) => {
        const alive = lineage?.ids.filter((id) => liveIds.has(id)) ?? [];
        if (alive.length)
          fail(`user ${i}: session ${alive[0]} survived ${what} (${describeOp(o)})`);
      };
      for (const o of mine) {
        const op = o.op;
        if (op.kind === 'revokeUser' && o.status === 204) mustBeDead(o, "the admin's revocation");
        if (op.kind === 'disable' && op.disabled && o.status === 200) mustBeDead(o, 'a disable');
        if (op.kind === 'revokeOthers' && o.status === 204) {
          mustBeDead(o, 'revoke others', o.presented?.lineage);
        }
        if (op.kind === 'password' && o.status === 200) {
          mustBeDead(o, 'a password change', o.presented?.lineage);
          const old = o.presented?.lineage.ids.at(-2);
          if (old && liveIds.has(old))
            fail(`user ${i}: the token a password change replaced lives`);
        }
        if (op.kind === 'logout' && o.status === 204 && o.presented) {
          deadLineage(o.presented.lineage, o, 'a logout');
        }
        if (op.kind === 'login' && o.status === 200 && o.presented) {
          deadLineage(o.presented.lineage, o, 'a login that held it');
        }
        if ((op.kind === 'revokeOne' || op.kind === 'revokeOwn') && o.status === 204) {
          const target = lineageOf(known(o.targetId, 'a revoked session id'));
          if (!target)
            fail(`user ${i}: a session no one was handed out was revoked: ${describeOp(o)}`);
          deadLineage(target, o, 'its revocation');
        }
      }
      for (const o of outcomes) {
        if (o.op.kind === 'revokeAll' && o.status === 204) mustBeDead(o, 'revoke-all');
      }

      // Answers that no interleaving excuses.
      const touched = (kinds: Op['kind'][]) => mine.some((o) => kinds.includes(o.op.kind));
      for (const o of mine) {
        const op = o.op;
        if (op.kind === 'login' && o.status === 200) {
          if (o.body.session.persistent !== op.rememberMe)
            fail(`login persistent: ${describeOp(o)}`);
        }
        if (op.kind === 'validate' && o.status === 200) {
          if (!o.presented?.lineage.ids.includes(o.body.session.id)) {
            fail(`GET /session answered another session: ${describeOp(o)}`);
          }
        }
        if (op.kind === 'login' && op.pw === 'wrong' && o.status === 200) {
          fail(`a wrong password logged in: ${describeOp(o)}`);
        }
        if (
          op.kind === 'login' &&
          op.pw === 'current' &&
          !startDisabled[i] &&
          !touched(['disable', 'password']) &&
          o.status === 401
        ) {
          fail(`the right password was refused: ${describeOp(o)} ${JSON.stringify(o.body)}`);
        }
        if (
          (op.kind === 'reauth' || op.kind === 'password') &&
          o.status === 200 &&
          op.pw === 'wrong'
        ) {
          fail(`a wrong password was accepted: ${describeOp(o)}`);
        }
      }
    }
    return failures;
  }

  it('keeps sessions, roles, passwords, revocations and the cap consistent under races', async () => {
    const batchArb = fc.array(opArb, { minLength: 2, maxLength: 8 });
    const answers = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(batchArb, { minLength: 1, maxLength: 3 }),
        async (s, batches) => {
          const model = await setUp();
          const all: Outcome[] = [];
          for (const ops of batches) {
            all.push(...(await refill(model)));
            const startDisabled = await Promise.all(
              model.map(async (u) => known(await users.findById(u.id), 'a user row').disabled),
            );
            const running = ops.map((op) =>
              s
                .schedule(Promise.resolve(op.kind))
                .then(() => sleep(op.delay))
                .then(() => execute(op, model)),
            );
            await s.waitAll();
            const outcomes = await Promise.all(running);
            all.push(...outcomes);
            for (const o of outcomes) {
              const seen = `${o.op.kind}:${o.status}`;
              answers.set(seen, (answers.get(seen) ?? 0) + 1);
            }
            const failures = await checkBatch(model, outcomes, startDisabled);
            if (failures.length) {
              const played = outcomes.map(describeOutcome).join('\n');
              throw new Error(`${failures.join('\n')}\n\nbatch:\n${played}`);
            }
          }
          // The activity log: the lifecycle events come through the event stream, a moment later.
          let missing: string[] = [];
          for (const deadline = Date.now() + 10_000; ; await sleep(100)) {
            missing = [];
            for (let i = 0; i < model.length; i++) {
              const items = await activityOf(model[i]);
              missing.push(
                ...missingActivity(model[i], i, all, items).map((m) => `user ${i}: ${m}`),
              );
            }
            if (!missing.length || Date.now() > deadline) break;
          }
          if (missing.length) throw new Error(`activity log lacks:\n${missing.join('\n')}`);
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
    // The races were really run: sessions were issued, changed and ended while others ran.
    const expected = ['login:200', 'login:401', 'roles:200', 'disable:200', 'validate:200'];
    expect(expected.filter((seen) => !answers.get(seen))).toEqual([]);
  }, 240_000);
});
