import { randomBytes } from 'node:crypto';

import fc from 'fast-check';

import { Stack } from './support/stack';

/**
 * Access changes take effect at once, on every service, played against a plain model: users log
 * in on several devices (cookie and bearer), log out, log out their other devices, change their
 * password, re-authenticate (the token rotates); an administrator revokes one session (also by
 * the id of a token a rotation replaced), all of a user's sessions or everyone's, disables and
 * enables accounts and changes roles. After every step, each token ever handed out is tried on
 * auth (`GET /api/auth/session`, with its roles), on orders, which reads Redis
 * (`GET /api/orders`, `customer` or `admin`), and on catalog, which asks auth over its session
 * RPC (`POST /api/catalog/products` with an empty body: 400 past the guard, `admin` only).
 *
 * Some steps send two or three of these at once; the answers and the tokens must then be those
 * of one interleaving of their atomic parts. A login checks the password, revokes what the
 * client presented, then reads the password again as it makes the session. A password change
 * passes the guard, checks and replaces the password, then rotates its session and revokes the
 * user's others (200) or, its session having ended since, revokes every session of the user and
 * puts the old password back (401). Only a login may have been refused by a new password that
 * did not stand.
 */

const USERS = 3;
const DEVICES = 2;
const RUNS = 100;
const MAX_COMMANDS = 14;
/** No run starts after this long; a failure found is still shrunk until then. */
const TIME_LIMIT_MS = 55_000;
/** `ACCESS_MODEL_SEED` replays a failure, whose message names its seed. */
const SEED = Number(process.env['ACCESS_MODEL_SEED'] ?? Date.now() % 2 ** 31);
const ROLE_SETS: string[][] = [['customer'], ['admin'], ['customer', 'admin'], [], ['support']];

type Transport = 'cookie' | 'bearer';
type Service = 'auth' | 'orders' | 'catalog';

interface TokenState {
  token: string;
  transport: Transport;
  sessionId: string;
  user: number;
  alive: boolean;
  /** The token a re-authentication or password change replaced this one with. */
  rotatedTo: number | null;
}

interface UserState {
  id: string;
  username: string;
  password: string;
  roles: string[];
  disabled: boolean;
  /**
   * A password change between its replace and its rotation: the password it replaced, and
   * whether a check other than a login's was refused by the new one meanwhile.
   */
  changing: { previous: string } | null;
}

interface Model {
  users: UserState[];
  tokens: TokenState[];
  /** The tokens each device held, in order; the last is the one it holds now. */
  devices: number[][][];
}

interface Real {
  stack: Stack;
  adminToken: string;
}

/** What an operation sent, fixed when it was sent (the model may move on before it is judged). */
interface Sent {
  token: number | null;
  password?: string;
  newPassword?: string;
}

interface Answer {
  status: number;
  token?: string;
  sessionId?: string;
}

/**
 * One atomic part of an operation, run on the model at its place in an interleaving: the
 * operation's answer when it ends there, else null (its next part comes later).
 */
type Phase = (model: Model, sent: Sent, answer: Answer, raced: boolean) => number | null;

const strongPassword = () => `Pw-${randomBytes(12).toString('base64url')}`;
const sortedRoles = (roles: string[]) => [...roles].sort().join('+') || '-';
const current = (model: Model, user: number, device: number): number | null =>
  model.devices[user][device].at(-1) ?? null;
const alive = (model: Model, token: number | null) => token !== null && model.tokens[token].alive;

/** Where a revocation naming `token` lands: a token rotated away forwards to its successor. */
function chainEnd(model: Model, token: number): number {
  let at = token;
  for (
    let hop = 0;
    hop < 4 && !model.tokens[at].alive && model.tokens[at].rotatedTo !== null;
    hop++
  ) {
    at = model.tokens[at].rotatedTo as number;
  }
  return at;
}

/** Revokes what `token` names (following rotations); answers whether a live session ended. */
function revokeByRef(model: Model, token: number | null, owner?: number): boolean {
  if (token === null) return false;
  const end = chainEnd(model, token);
  const state = model.tokens[end];
  if (!state.alive || (owner !== undefined && state.user !== owner)) return false;
  state.alive = false;
  return true;
}

function killUser(model: Model, user: number, except?: number | null): void {
  for (const [index, state] of model.tokens.entries()) {
    if (state.user === user && index !== except) state.alive = false;
  }
}

/**
 * Whether `password` is the user's as a check reads it now. A password change in progress has
 * already written the new one: a check it refuses stays refused should the change be undone
 * (its session ended before its rotation), a password that stood for a moment — what a
 * check racing a change may see, logins, re-authentications and other changes alike.
 */
function passwordHolds(model: Model, user: number, password: string | undefined) {
  return password === model.users[user].password;
}

function rotate(model: Model, from: number, answer: Answer, user: number): number {
  const state = model.tokens[from];
  model.tokens.push({
    token: answer.token as string,
    transport: state.transport,
    sessionId: answer.sessionId as string,
    user,
    alive: true,
    rotatedTo: null,
  });
  const to = model.tokens.length - 1;
  state.alive = false;
  state.rotatedTo = to;
  for (const device of model.devices[user]) {
    if (device.at(-1) === from) device.push(to);
  }
  return to;
}

/** One request to a service, as a client of the stack sends it. */
async function call(
  real: Real,
  service: Service,
  held: { token: string; transport: Transport } | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  const headers: Record<string, string> = { Origin: real.stack.baseUrl };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (held?.transport === 'cookie') headers['Cookie'] = `cr_session=${held.token}`;
  if (held?.transport === 'bearer') headers['Authorization'] = `Bearer ${held.token}`;
  return fetch(`${real.stack.url(service)}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const asAdmin = (real: Real, method: string, path: string, body?: unknown) =>
  call(real, 'auth', { token: real.adminToken, transport: 'bearer' }, method, path, body);

/** The token a login or rotation answered, in the transport it came by. */
async function issued(response: Response, transport: Transport): Promise<Answer> {
  const body = (await response.json()) as { token?: string; session: { id: string } };
  if (transport === 'bearer') {
    return { status: response.status, token: body.token, sessionId: body.session.id };
  }
  const cookie = response.headers.getSetCookie().find((value) => value.startsWith('cr_session='));
  if (!cookie) throw new Error('a 200 that logged in or rotated set no session cookie');
  const token = cookie.split(';')[0].slice('cr_session='.length);
  return { status: response.status, token, sessionId: body.session.id };
}

const tokenOf = (model: Model, token: number | null) =>
  token === null ? null : model.tokens[token];

/**
 * An operation: `prepare` reads what it sends from the model as it stands, `send` sends it;
 * `phases` are its atomic parts, in the order it runs them, the last of which always answers.
 */
interface Op {
  prepare(model: Model): Sent;
  send(model: Model, real: Real, sent: Sent): Promise<Answer>;
  readonly phases: Phase[];
  toString(): string;
}

class Login implements Op {
  constructor(
    readonly user: number,
    readonly device: number,
    readonly transport: Transport,
    /** Whether the device sends the token it holds along (it is revoked: no fixation). */
    readonly presents: boolean,
  ) {}
  prepare(model: Model): Sent {
    const token = this.presents ? current(model, this.user, this.device) : null;
    return { token, password: model.users[this.user].password };
  }
  async send(model: Model, real: Real, sent: Sent): Promise<Answer> {
    const response = await call(
      real,
      'auth',
      tokenOf(model, sent.token),
      'POST',
      '/api/auth/login',
      {
        username: model.users[this.user].username,
        password: sent.password,
        transport: this.transport,
      },
    );
    return response.status === 200 ? issued(response, this.transport) : { status: response.status };
  }
  readonly phases: Phase[] = [
    (model, sent) => {
      if (model.users[this.user].disabled) return 401;
      return passwordHolds(model, this.user, sent.password) ? null : 401;
    },
    // What the client presented is revoked once the password has been verified, which takes a
    // while: a rotation of it meanwhile is followed, and the session it moved to ends.
    (model, sent) => {
      revokeByRef(model, sent.token);
      return null;
    },
    // A login refused at each try by a revocation racing it (503) happens only when raced and
    // makes no session; what it presented was revoked first.
    (model, sent, answer, raced) => {
      if (raced && answer.status === 503) return 503;
      if (model.users[this.user].disabled) return 401;
      if (!passwordHolds(model, this.user, sent.password)) return 401;
      model.tokens.push({
        token: answer.token as string,
        transport: this.transport,
        sessionId: answer.sessionId as string,
        user: this.user,
        alive: true,
        rotatedTo: null,
      });
      model.devices[this.user][this.device].push(model.tokens.length - 1);
      return 200;
    },
  ];
  toString = () =>
    `login(u${this.user}, d${this.device}, ${this.transport}${this.presents ? ', presenting' : ''})`;
}

abstract class DeviceOp implements Op {
  constructor(
    readonly user: number,
    readonly device: number,
  ) {}
  prepare(model: Model): Sent {
    return { token: current(model, this.user, this.device) };
  }
  abstract send(model: Model, real: Real, sent: Sent): Promise<Answer>;
  abstract readonly phases: Phase[];
}

class Logout extends DeviceOp {
  async send(model: Model, real: Real, sent: Sent): Promise<Answer> {
    const response = await call(
      real,
      'auth',
      tokenOf(model, sent.token),
      'POST',
      '/api/auth/logout',
    );
    return { status: response.status };
  }
  readonly phases: Phase[] = [
    (model, sent) => {
      revokeByRef(model, sent.token);
      return 204;
    },
  ];
  override toString = () => `logout(u${this.user}, d${this.device})`;
}

class LogoutOthers extends DeviceOp {
  async send(model: Model, real: Real, sent: Sent): Promise<Answer> {
    const response = await call(
      real,
      'auth',
      tokenOf(model, sent.token),
      'DELETE',
      '/api/auth/sessions',
    );
    return { status: response.status };
  }
  readonly phases: Phase[] = [
    (model, sent) => (alive(model, sent.token) ? null : 401),
    // Past the guard, the caller's session is kept, where a rotation meanwhile moved it; the
    // others end (of two devices logging each other out at once, both may answer 204).
    (model, sent) => {
      killUser(model, this.user, chainEnd(model, sent.token as number));
      return 204;
    },
  ];
  override toString = () => `logoutOthers(u${this.user}, d${this.device})`;
}

class ChangePassword extends DeviceOp {
  override prepare(model: Model): Sent {
    return {
      token: current(model, this.user, this.device),
      password: model.users[this.user].password,
      newPassword: strongPassword(),
    };
  }
  async send(model: Model, real: Real, sent: Sent): Promise<Answer> {
    const held = tokenOf(model, sent.token);
    const response = await call(real, 'auth', held, 'POST', '/api/auth/password', {
      currentPassword: sent.password,
      newPassword: sent.newPassword,
    });
    return response.status === 200 && held
      ? issued(response, held.transport)
      : { status: response.status };
  }
  readonly phases: Phase[] = [
    (model, sent) => (alive(model, sent.token) ? null : 401),
    // Of two changes that checked the same password only the first replaces it.
    (model, sent) => {
      const user = model.users[this.user];
      if (user.disabled) return 401;
      if (!passwordHolds(model, this.user, sent.password)) return 403;
      user.changing = { previous: user.password };
      user.password = sent.newPassword as string;
      return null;
    },
    // The rotation revokes every other session of the user whether or not its own is alive.
    (model, sent, answer) => {
      const user = model.users[this.user];
      const changing = user.changing as NonNullable<UserState['changing']>;
      user.changing = null;
      const from = sent.token as number;
      if (alive(model, from)) {
        killUser(model, this.user, from);
        rotate(model, from, answer, this.user);
        return 200;
      }
      killUser(model, this.user);
      user.password = changing.previous;
      return 401;
    },
  ];
  override toString = () => `changePassword(u${this.user}, d${this.device})`;
}

class Reauthenticate extends DeviceOp {
  override prepare(model: Model): Sent {
    return {
      token: current(model, this.user, this.device),
      password: model.users[this.user].password,
    };
  }
  async send(model: Model, real: Real, sent: Sent): Promise<Answer> {
    const held = tokenOf(model, sent.token);
    const response = await call(real, 'auth', held, 'POST', '/api/auth/reauthenticate', {
      password: sent.password,
    });
    return response.status === 200 && held
      ? issued(response, held.transport)
      : { status: response.status };
  }
  readonly phases: Phase[] = [
    (model, sent, answer) => {
      if (!alive(model, sent.token)) return 401;
      if (!passwordHolds(model, this.user, sent.password)) return 401;
      rotate(model, sent.token as number, answer, this.user);
      return 200;
    },
  ];
  override toString = () => `reauthenticate(u${this.user}, d${this.device})`;
}

/** The administrator revokes the session of a device's token, or of the one before it. */
class AdminRevokeSession extends DeviceOp {
  constructor(
    user: number,
    device: number,
    readonly previous: boolean,
  ) {
    super(user, device);
  }
  override prepare(model: Model): Sent {
    const held = model.devices[this.user][this.device];
    return { token: held.at(this.previous ? -2 : -1) ?? null };
  }
  async send(model: Model, real: Real, sent: Sent): Promise<Answer> {
    const sessionId = tokenOf(model, sent.token)?.sessionId ?? 'no-such-session';
    const response = await asAdmin(
      real,
      'DELETE',
      `/api/auth/users/${model.users[this.user].id}/sessions/${sessionId}`,
    );
    return { status: response.status };
  }
  readonly phases: Phase[] = [
    (model, sent) => (revokeByRef(model, sent.token, this.user) ? 204 : 404),
  ];
  override toString = () =>
    `adminRevokeSession(u${this.user}, d${this.device}${this.previous ? ', previous' : ''})`;
}

class AdminRevokeUser implements Op {
  constructor(readonly user: number) {}
  prepare = (): Sent => ({ token: null });
  async send(model: Model, real: Real): Promise<Answer> {
    const response = await asAdmin(
      real,
      'DELETE',
      `/api/auth/users/${model.users[this.user].id}/sessions`,
    );
    return { status: response.status };
  }
  readonly phases: Phase[] = [
    (model) => {
      killUser(model, this.user);
      return 204;
    },
  ];
  toString = () => `adminRevokeUser(u${this.user})`;
}

class SetDisabled implements Op {
  constructor(
    readonly user: number,
    readonly disabled: boolean,
  ) {}
  prepare = (): Sent => ({ token: null });
  async send(model: Model, real: Real): Promise<Answer> {
    const response = await asAdmin(
      real,
      'PUT',
      `/api/auth/users/${model.users[this.user].id}/disabled`,
      {
        disabled: this.disabled,
      },
    );
    return { status: response.status };
  }
  readonly phases: Phase[] = [
    (model) => {
      model.users[this.user].disabled = this.disabled;
      if (this.disabled) killUser(model, this.user);
      return 200;
    },
  ];
  toString = () => `setDisabled(u${this.user}, ${this.disabled})`;
}

class SetRoles implements Op {
  constructor(
    readonly user: number,
    readonly roles: string[],
  ) {}
  prepare = (): Sent => ({ token: null });
  async send(model: Model, real: Real): Promise<Answer> {
    const response = await asAdmin(
      real,
      'PUT',
      `/api/auth/users/${model.users[this.user].id}/roles`,
      {
        roles: this.roles,
      },
    );
    return { status: response.status };
  }
  readonly phases: Phase[] = [
    (model) => {
      model.users[this.user].roles = [...this.roles];
      return 200;
    },
  ];
  toString = () => `setRoles(u${this.user}, [${this.roles.join(',')}])`;
}

class RevokeAll implements Op {
  prepare = (): Sent => ({ token: null });
  async send(_model: Model, real: Real): Promise<Answer> {
    return { status: (await asAdmin(real, 'POST', '/api/auth/revoke-all')).status };
  }
  readonly phases: Phase[] = [
    (model) => {
      for (const state of model.tokens) state.alive = false;
      return 204;
    },
  ];
  toString = () => 'revokeAll()';
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

const describeToken = (state: TokenState, answers: unknown) =>
  `u${state.user} ${state.transport}: ${JSON.stringify(answers)}`;

/** What every token answers on every service, by token. */
function expectedAnswers(model: Model): Map<string, string> {
  return new Map(
    model.tokens.map((state) => {
      const roles = model.users[state.user].roles;
      const answers = state.alive
        ? {
            auth: `200 ${sortedRoles(roles)}`,
            orders: roles.includes('customer') || roles.includes('admin') ? 200 : 403,
            catalog: roles.includes('admin') ? 400 : 403,
          }
        : { auth: '401', orders: 401, catalog: 401 };
      return [state.token, describeToken(state, answers)];
    }),
  );
}

async function observedAnswers(model: Model, real: Real): Promise<Map<string, string>> {
  const entries = await Promise.all(
    model.tokens.map(async (state): Promise<[string, string]> => {
      const [auth, orders, catalog] = await Promise.all([
        call(real, 'auth', state, 'GET', '/api/auth/session'),
        call(real, 'orders', state, 'GET', '/api/orders?limit=1'),
        call(real, 'catalog', state, 'POST', '/api/catalog/products', {}),
      ]);
      const body = (await auth.json()) as { user?: { roles: string[] } };
      const answers = {
        auth: auth.status === 200 ? `200 ${sortedRoles(body.user?.roles ?? [])}` : `${auth.status}`,
        orders: orders.status,
        catalog: catalog.status,
      };
      await Promise.all([orders.arrayBuffer(), catalog.arrayBuffer()]);
      return [state.token, describeToken(state, answers)];
    }),
  );
  return new Map(entries);
}

/** The answers of `model`'s tokens, one line each, numbered as `model` numbers them. */
const listed = (model: Model, answers: Map<string, string>) =>
  model.tokens.map((state, index) => `t${index} ${answers.get(state.token)}`);

/**
 * One step: its operations sent at once (one alone most of the time). Its answers must be those
 * of some interleaving of their phases; every token must then answer, on every service, as the
 * model left by one such interleaving says.
 */
class Step implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ops: Op[]) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const sent = this.ops.map((op) => op.prepare(model));
    const answers = await Promise.all(this.ops.map((op, i) => op.send(model, real, sent[i])));
    const got = answers.map((answer) => answer.status);
    const raced = this.ops.length > 1;
    const start: Model = structuredClone({
      users: model.users,
      tokens: model.tokens,
      devices: model.devices,
    });
    const candidates = new Map<string, Model>();
    // `next[i]`: the phase of operation i to run next, or -1 once it answered.
    const explore = (state: Model, next: number[]): void => {
      if (next.every((phase) => phase < 0)) {
        candidates.set(JSON.stringify(state), state);
        return;
      }
      for (const [i, op] of this.ops.entries()) {
        if (next[i] < 0) continue;
        const branch = structuredClone(state);
        const status = op.phases[next[i]](branch, sent[i], answers[i], raced);
        if (status === null && next[i] === op.phases.length - 1) {
          throw new Error(`${op}'s last phase gave no answer`);
        }
        if (status !== null && status !== got[i]) continue;
        explore(
          branch,
          next.map((phase, j) => (j !== i ? phase : status === null ? phase + 1 : -1)),
        );
      }
    };
    explore(
      start,
      this.ops.map(() => 0),
    );
    if (!candidates.size) {
      const oneAtATime = permutations(this.ops.map((_, i) => i)).map((order) => {
        const state = structuredClone(start);
        const expected: number[] = [];
        for (const i of order) {
          for (const phase of this.ops[i].phases) {
            const status = phase(state, sent[i], answers[i], raced);
            if (status !== null) {
              expected[i] = status;
              break;
            }
          }
        }
        return `${order.join('')}: ${JSON.stringify(expected)}`;
      });
      throw new Error(
        `${this} answered ${JSON.stringify(got)}; no interleaving fits ` +
          `(one at a time: ${oneAtATime.join('; ')})`,
      );
    }
    const [first, ...others] = candidates.values();
    const observed = await observedAnswers(first, real);
    const fits = (candidate: Model) =>
      [...expectedAnswers(candidate)].every(([token, line]) => observed.get(token) === line);
    const fitting = [first, ...others].find(fits);
    if (!fitting) {
      expect({ step: this.toString(), answered: got, tokens: listed(first, observed) }).toEqual({
        step: this.toString(),
        answered: got,
        tokens: listed(first, expectedAnswers(first)),
      });
    }
    const chosen = fitting ?? first;
    model.users = chosen.users;
    model.tokens = chosen.tokens;
    model.devices = chosen.devices;
    await this.passwordsStand(model, real);
  }

  /**
   * The password the model holds is the one that stands, for each enabled user whose password
   * a change of this step tried to change: a login with it succeeds (its session then ends; the
   * model never holds it).
   */
  private async passwordsStand(model: Model, real: Real): Promise<void> {
    const changed = new Set(
      this.ops.filter((op) => op instanceof ChangePassword).map((op) => op.user),
    );
    for (const user of changed) {
      const state = model.users[user];
      if (state.disabled) continue;
      const login = await call(real, 'auth', null, 'POST', '/api/auth/login', {
        username: state.username,
        password: state.password,
        transport: 'bearer',
      });
      expect({ step: this.toString(), user, login: login.status }).toEqual({
        step: this.toString(),
        user,
        login: 200,
      });
      const { token } = (await login.json()) as { token: string };
      const logout = await call(
        real,
        'auth',
        { token, transport: 'bearer' },
        'POST',
        '/api/auth/logout',
      );
      expect(logout.status).toBe(204);
    }
  }
  toString = () =>
    this.ops.length === 1 ? this.ops[0].toString() : `parallel(${this.ops.join(' | ')})`;
}

const userArb = fc.integer({ min: 0, max: USERS - 1 });
const deviceArb = fc.integer({ min: 0, max: DEVICES - 1 });
/** An operation on one of the users, and devices, the arbitraries draw (or on everyone). */
const opOf = (userArb: fc.Arbitrary<number>, deviceArb: fc.Arbitrary<number>): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .tuple(userArb, deviceArb, fc.constantFrom<Transport>('cookie', 'bearer'), fc.boolean())
        .map(([u, d, transport, presents]) => new Login(u, d, transport, presents)),
    },
    { weight: 2, arbitrary: fc.tuple(userArb, deviceArb).map(([u, d]) => new Logout(u, d)) },
    { weight: 2, arbitrary: fc.tuple(userArb, deviceArb).map(([u, d]) => new LogoutOthers(u, d)) },
    {
      weight: 2,
      arbitrary: fc.tuple(userArb, deviceArb).map(([u, d]) => new ChangePassword(u, d)),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(userArb, deviceArb).map(([u, d]) => new Reauthenticate(u, d)),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(userArb, deviceArb, fc.boolean())
        .map(([u, d, previous]) => new AdminRevokeSession(u, d, previous)),
    },
    { weight: 1, arbitrary: userArb.map((u) => new AdminRevokeUser(u)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(userArb, fc.boolean())
        .map(([u, disabled]) => new SetDisabled(u, disabled)),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(userArb, fc.integer({ min: 0, max: ROLE_SETS.length - 1 }))
        .map(([u, r]) => new SetRoles(u, ROLE_SETS[r])),
    },
    { weight: 1, arbitrary: fc.constant(new RevokeAll()) },
  );

describe('access changes on every service at once (model-based, built stack)', () => {
  const stack = new Stack('access-model', {
    SESSION_MAX_PER_USER: '0',
    LOGIN_MAX_FAILURES_PER_USER: '100000',
    LOGIN_MAX_FAILURES_PER_IP: '100000',
  });
  let adminToken: string;
  let runs = 0;

  beforeAll(async () => {
    await stack.start();
    adminToken = await stack.login('admin', 'admin-password');
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
  });

  async function setUp(real: Real): Promise<Model> {
    const run = ++runs;
    const users: UserState[] = [];
    for (let i = 0; i < USERS; i++) {
      const username = `model-${process.pid}-${run}-${i}`;
      const password = strongPassword();
      const created = await asAdmin(real, 'POST', '/api/auth/users', {
        username,
        password,
        roles: ['customer'],
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      users.push({
        id,
        username,
        password,
        roles: ['customer'],
        disabled: false,
        changing: null,
      });
    }
    return {
      users,
      tokens: [],
      devices: users.map(() => Array.from({ length: DEVICES }, () => [])),
    };
  }

  it('answers every token on auth, orders and catalog as the model does after each step', async () => {
    const steps = [
      opOf(userArb, deviceArb).map((op) => new Step([op])),
      opOf(userArb, deviceArb).map((op) => new Step([op])),
      fc
        .array(opOf(userArb, deviceArb), { minLength: 2, maxLength: 3 })
        .map((ops) => new Step(ops)),
      // Races between the operations of one user, and of one device (one session), where most
      // of the interleavings are.
      userArb
        .chain((user) =>
          fc.array(opOf(fc.constant(user), deviceArb), { minLength: 2, maxLength: 3 }),
        )
        .map((ops) => new Step(ops)),
      fc
        .tuple(userArb, deviceArb)
        .chain(([user, device]) =>
          fc.array(opOf(fc.constant(user), fc.constant(device)), { minLength: 2, maxLength: 3 }),
        )
        .map((ops) => new Step(ops)),
    ];
    const property = fc.asyncProperty(
      fc.commands(steps, { maxCommands: MAX_COMMANDS }),
      async (commands) => {
        const real = { stack, adminToken };
        const model = await setUp(real);
        await fc.asyncModelRun(() => ({ model, real }), commands);
      },
    );
    await fc
      .assert(property, {
        numRuns: RUNS,
        seed: SEED,
        interruptAfterTimeLimit: TIME_LIMIT_MS,
        markInterruptAsFailure: false,
      })
      .catch((error: Error) => {
        error.message = `ACCESS_MODEL_SEED=${SEED} replays this. ${error.message}`;
        throw error;
      });
  }, 100_000);
});
