import fc from 'fast-check';

import {
  IssuedSession,
  Session,
  SessionCapPolicy,
  SessionLimitReachedError,
  SessionService,
  SessionUserChangedError,
} from '../src';

/**
 * A plain model of the session store, for the model-based test (store-model.int-spec.ts):
 * fast-check generates sequences of commands, runs each on a real `SessionService` and on this
 * model, and every command checks the store's answer against the model's prediction.
 */

export const USERS = ['alice', 'bob', 'carol'] as const;
export type UserName = (typeof USERS)[number];

const INITIAL_ROLES: Record<UserName, string[]> = {
  alice: ['customer'],
  bob: ['admin'],
  carol: ['customer', 'support'],
};

/** The store's limits in the model test, in seconds as SessionModule takes them. */
export const MODEL_LIMITS = {
  idleTimeout: 1,
  absoluteTimeout: 2,
  touchInterval: 0.05,
  maxSessionsPerUser: 3,
  remember: { idleTimeout: 1.5, absoluteTimeout: 3 },
};
/** Idle and absolute timeouts (ms) of ordinary and of remembered sessions. */
const TIMEOUTS = {
  plain: { idle: MODEL_LIMITS.idleTimeout * 1000, absolute: MODEL_LIMITS.absoluteTimeout * 1000 },
  remembered: {
    idle: MODEL_LIMITS.remember.idleTimeout * 1000,
    absolute: MODEL_LIMITS.remember.absoluteTimeout * 1000,
  },
};
const CAP = MODEL_LIMITS.maxSessionsPerUser;

/** Device labels a login may give: none, short, and one cut to 64 bytes by the library. */
const DEVICES = [undefined, 'Firefox 133 on Linux', 'é'.repeat(40)] as const;
const stored = (device: string | undefined) => device && device.slice(0, 32);

/** Time steps sleep this long at most, in all, per sequence: it bounds a run's duration. */
const MAX_SLEEP_MS = 4000;

/**
 * Timing: the store decides with its own clock (Redis's), the model with the test's clock,
 * and a command runs at some unknown instant between the moment it was sent and the moment it
 * answered. The model therefore knows every instant as an interval, and a session is predicted
 * live only when the command answered more than MARGIN_MS before the earliest possible
 * deadline, dead only when it was sent more than MARGIN_MS after the latest possible one. In
 * between lies an ambiguous band where the model accepts either answer and learns from the one
 * it got (a session answered dead stays dead: no resurrection). The margin covers the clock
 * difference between Redis and Node on one host (both read the system clock; Redis rounds to
 * the millisecond and freezes time within a script) with plenty to spare; a slow machine only
 * widens the intervals, never the margin. It assumes Redis runs on this host (or in a
 * container sharing its clock), as in CI.
 */
const MARGIN_MS = 50;

/** Milliseconds on the test's clock, as the interval in which something happened. */
interface Interval {
  lo: number;
  hi: number;
}

type Fate = 'live' | 'revoked' | 'evicted' | 'rotated' | 'expired';

/** What the model knows of the session one issued token names. */
interface ModelSession {
  user: UserName;
  id: string;
  roles: string[];
  /** As the store reported them at creation (store clock): they must never change. */
  createdAt: number;
  absoluteExpiresAt: number;
  persistent: boolean;
  device: string | undefined;
  /** As the store reported it (store clock): moved only by a rotation with `reauthenticated`. */
  authenticatedAt: number;
  /** The session's own timeouts (ms), by `persistent`. */
  idleMs: number;
  lastSeen: Interval;
  /**
   * A touch may have slid the TTL onto the absolute deadline: Redis then knows the last use only
   * as "at or after deadline - idle", and `evict-idlest` may take it for idler than it is.
   */
  cappedTouch: boolean;
  idleDeadline: Interval;
  absoluteDeadline: Interval;
  fate: Fate;
}

interface PendingLogin {
  user: UserName;
  /** The generation the store answered, the model's count of changes then, the roles read. */
  generation: string;
  epoch: number;
  roles: string[];
}

type Liveness = 'alive' | 'dead' | 'unknown';

/** The store's state as the model sees it: sessions per user, roles, generations, a clock. */
export class StoreModel {
  readonly tokens: ModelSession[] = [];
  /** Token indices of each user's sessions not yet known dead, oldest first (index order). */
  readonly order: Record<UserName, number[]> = { alice: [], bob: [], carol: [] };
  readonly roles: Record<UserName, string[]> = structuredClone(INITIAL_ROLES);
  /** How many times each user's generation moved (role change, revoke-all, password change). */
  readonly epoch: Record<UserName, number> = { alice: 0, bob: 0, carol: 0 };
  /** The last generation read per user, and the epoch it was read in. */
  readonly generationSeen: Partial<Record<UserName, { value: string; epoch: number }>> = {};
  readonly pending: PendingLogin[] = [];
  /** Token index of a rotated session → the index of the session it became. */
  readonly movedTo: Record<number, number> = {};
  slept = 0;
  /** When the current command ran, on the test clock (ms since the sequence started). */
  now: Interval = { lo: 0, hi: 0 };
  /** The test clock's zero, epoch ms. */
  readonly started = Date.now();

  constructor(
    private readonly run: string,
    /** The cap policy of the service under test. */
    readonly policy: SessionCapPolicy = 'evict-oldest',
  ) {}

  userId(user: UserName): string {
    return `u-${user}-${this.run}`;
  }

  /** Runs one store call and records the interval in which it ran. */
  async timed<T>(call: () => Promise<T>): Promise<T> {
    const lo = Date.now() - this.started;
    try {
      return await call();
    } finally {
      this.now = { lo, hi: Date.now() - this.started };
    }
  }

  liveness(index: number): Liveness {
    const session = this.tokens[index];
    if (session.fate !== 'live') return 'dead';
    const deadline = {
      lo: Math.min(session.idleDeadline.lo, session.absoluteDeadline.lo),
      hi: Math.min(session.idleDeadline.hi, session.absoluteDeadline.hi),
    };
    if (this.now.hi + MARGIN_MS < deadline.lo) return 'alive';
    if (this.now.lo - MARGIN_MS >= deadline.hi) return 'dead';
    return 'unknown';
  }

  /** Records whether the store found a session live, failing if the model forbids it. */
  observe(index: number, alive: boolean, command: string): void {
    const predicted = this.liveness(index);
    if (alive && predicted === 'dead') {
      this.fail(command, `#${index} should be dead (${this.fateOf(index)}) but the store has it`);
    }
    if (!alive && predicted === 'alive') {
      this.fail(command, `#${index} should be live but the store has lost it`);
    }
    if (!alive) this.end(index, 'expired');
  }

  /** A session ends; a known end (revoked, evicted, rotated) is kept over a guessed expiry. */
  end(index: number, fate: Exclude<Fate, 'live'>): void {
    const session = this.tokens[index];
    if (session.fate !== 'live') return;
    session.fate = this.liveness(index) === 'dead' ? 'expired' : fate;
    const order = this.order[session.user];
    order.splice(order.indexOf(index), 1);
  }

  /** Checks a session the store answered against the one the model holds. */
  checkSession(index: number, actual: Session, command: string): void {
    const session = this.tokens[index];
    const expected: Partial<Session> = {
      id: session.id,
      userId: this.userId(session.user),
      username: session.user,
      roles: session.roles,
      createdAt: session.createdAt,
      authenticatedAt: session.authenticatedAt,
      absoluteExpiresAt: session.absoluteExpiresAt,
      persistent: session.persistent,
      device: session.device,
    };
    const wrong = Object.entries(expected)
      .map(([field, value]) => [field, JSON.stringify(actual[field as keyof Session]), value])
      .filter(([, got, value]) => got !== JSON.stringify(value))
      .map(([field, got, value]) => `${field} ${got}, expected ${JSON.stringify(value)}`);
    if (wrong.length) this.fail(command, `#${index} has ${wrong.join('; ')}`);
  }

  /** A session the store just issued (created or rotated) joins the model. */
  issue(session: Session, user: UserName, lastSeen: Interval, absolute?: Interval): number {
    const timeouts = session.persistent ? TIMEOUTS.remembered : TIMEOUTS.plain;
    this.tokens.push({
      user,
      id: session.id,
      roles: [...session.roles],
      createdAt: session.createdAt,
      absoluteExpiresAt: session.absoluteExpiresAt,
      persistent: session.persistent,
      device: session.device,
      authenticatedAt: session.authenticatedAt,
      idleMs: timeouts.idle,
      lastSeen,
      cappedTouch: false,
      idleDeadline: shift(lastSeen, timeouts.idle),
      absoluteDeadline: absolute ?? shift(lastSeen, timeouts.absolute),
      fate: 'live',
    });
    return this.tokens.length - 1;
  }

  /** Validation slides the idle deadline when the touch interval has passed (maybe: both). */
  touch(index: number): void {
    const session = this.tokens[index];
    const touchMs = Math.min(MODEL_LIMITS.touchInterval * 1000, session.idleMs / 10);
    const since = { lo: this.now.lo - session.lastSeen.hi, hi: this.now.hi - session.lastSeen.lo };
    if (since.hi < touchMs - MARGIN_MS) return;
    const touched = { lastSeen: this.now, idleDeadline: shift(this.now, session.idleMs) };
    if (touched.idleDeadline.hi + MARGIN_MS >= session.absoluteDeadline.lo) {
      session.cappedTouch = true;
    }
    if (since.lo >= touchMs + MARGIN_MS) {
      Object.assign(session, touched);
    } else {
      session.lastSeen = hull(session.lastSeen, touched.lastSeen);
      session.idleDeadline = hull(session.idleDeadline, touched.idleDeadline);
    }
  }

  /** Moves a user's generation; a login that read the old one must now be refused. */
  bump(user: UserName): void {
    this.epoch[user]++;
  }

  fail(command: string, problem: string): never {
    throw new Error(`${command}: ${problem}\n  model: ${this.describe()}`);
  }

  /** The model in one line, e.g. `alice g1 [admin]: #0 #3 | … | gone: #1 revoked`. */
  describe(): string {
    const timed = this.slept > 0;
    const token = (i: number) => {
      if (!timed) return `#${i}`;
      const { idleDeadline: idle, absoluteDeadline: absolute } = this.tokens[i];
      return `#${i}<${seconds(Math.min(idle.lo, absolute.lo))}s`;
    };
    const users = USERS.map(
      (user) =>
        `${user} g${this.epoch[user]} [${this.roles[user].join(',')}]: ` +
        (this.order[user].map(token).join(' ') || '-'),
    );
    const gone = this.tokens
      .map((session, i) => (session.fate === 'live' ? '' : `#${i} ${session.fate}`))
      .filter(Boolean);
    const pending = this.pending.map((p, i) => `P${i}=${p.user}@g${p.epoch}`);
    return [
      ...(timed ? [`t=${seconds(this.now.hi)}s`] : []),
      ...users,
      `gone: ${gone.join(', ') || '-'}`,
      ...(pending.length ? [`pending: ${pending.join(' ')}`] : []),
    ].join(' | ');
  }

  private fateOf(index: number): string {
    const fate = this.tokens[index].fate;
    return fate === 'live' ? 'past its deadline' : fate;
  }
}

const shift = (interval: Interval, ms: number): Interval => ({
  lo: interval.lo + ms,
  hi: interval.hi + ms,
});
const hull = (a: Interval, b: Interval): Interval => ({
  lo: Math.min(a.lo, b.lo),
  hi: Math.max(a.hi, b.hi),
});
const seconds = (ms: number) => (ms / 1000).toFixed(2);

/** The real side of a run: the service under test and the tokens it issued, by model index. */
export interface RealStore {
  sessions: SessionService;
  tokens: string[];
}

type StoreCommand = fc.AsyncCommand<StoreModel, RealStore>;

/** A fresh model and real side for one sequence; fresh user ids keep sequences apart. */
export function newRun(
  sessions: SessionService,
  policy: SessionCapPolicy = 'evict-oldest',
): { model: StoreModel; real: RealStore } {
  const run = Math.random().toString(36).slice(2, 10);
  return { model: new StoreModel(run, policy), real: { sessions, tokens: [] } };
}

/**
 * After a change the model cannot predict (a foreign password change whose token sits in the
 * ambiguous band), it takes the user's state from the store: live sessions it no longer lists
 * were revoked, and the generation moved if it reads differently.
 */
async function resync(m: StoreModel, r: RealStore, user: UserName): Promise<void> {
  const listed = new Set(
    (await r.sessions.listForUser(m.userId(user))).map((session) => session.id),
  );
  for (const index of [...m.order[user]]) {
    if (!listed.has(m.tokens[index].id)) m.end(index, 'revoked');
  }
  const seen = m.generationSeen[user];
  if (seen && seen.value !== (await r.sessions.generationOf(m.userId(user)))) m.bump(user);
}

/**
 * Commands name a token (or a pending login) by a generated number taken modulo the ones that
 * exist when the command runs, so few generated commands are skipped; they print the index
 * they resolved to: `#2` is the third token issued in the sequence, `P0` the first login.
 */
const resolve = (pick: number, count: number) => pick % count;
const hasToken = (m: Readonly<StoreModel>) => m.tokens.length > 0;

/** What a login asks for besides its user and roles. */
interface LoginOptions {
  persistent: boolean;
  device: string | undefined;
}

/**
 * Issues a session, refused (SessionUserChangedError) when the login's generation moved, or
 * (SessionLimitReachedError) at the cap under the `refuse` policy.
 */
async function createSession(
  m: StoreModel,
  r: RealStore,
  command: string,
  user: UserName,
  roles: string[],
  login?: PendingLogin,
  options: LoginOptions = { persistent: false, device: undefined },
): Promise<void> {
  const changed = login !== undefined && login.epoch !== m.epoch[user];
  let issued: IssuedSession;
  try {
    issued = await m.timed(() =>
      r.sessions.create(
        { id: m.userId(user), username: user, roles },
        { device: options.device },
        { ...(login ? { generation: login.generation } : {}), persistent: options.persistent },
      ),
    );
  } catch (error) {
    if (changed && error instanceof SessionUserChangedError) return;
    if (!changed && m.policy === 'refuse' && error instanceof SessionLimitReachedError) {
      checkRefusal(m, command, user, error.sessions);
      return;
    }
    throw error;
  }
  if (changed) m.fail(command, 'the generation moved since the login read it, yet it succeeded');
  const { token, session, evicted } = issued;
  if (session.id !== r.sessions.idOf(token) || session.roles.join() !== roles.join()) {
    m.fail(command, `issued ${JSON.stringify(session)}`);
  }
  const timeouts = options.persistent ? TIMEOUTS.remembered : TIMEOUTS.plain;
  if (session.absoluteExpiresAt - session.createdAt !== timeouts.absolute) {
    m.fail(command, `absolute deadline ${session.absoluteExpiresAt - session.createdAt} ms away`);
  }
  if (
    session.persistent !== options.persistent ||
    session.authenticatedAt !== session.createdAt ||
    session.device !== stored(options.device)
  ) {
    m.fail(command, `issued ${JSON.stringify(session)}`);
  }
  checkEvictions(m, command, user, evicted);
  const index = m.issue(session, user, m.now);
  m.order[user].push(index);
  r.tokens[index] = token;
}

/**
 * Under `refuse`, a login at the cap writes nothing and lists the user's live sessions, oldest
 * first: exactly the cap's worth, each one the model does not know dead.
 */
function checkRefusal(m: StoreModel, command: string, user: UserName, listed: Session[]): void {
  if (listed.length !== CAP) {
    m.fail(command, `refused with ${listed.length} live sessions listed, not ${CAP}`);
  }
  const order = [...m.order[user]];
  let next = 0;
  for (const session of listed) {
    const at = order.findIndex((index, p) => p >= next && m.tokens[index].id === session.id);
    if (at < 0) m.fail(command, `refused listing ${session.id}: unknown, dead or out of order`);
    for (; next < at; next++) m.observe(order[next], false, command);
    m.observe(order[at], true, command);
    m.checkSession(order[at], session, command);
    next = at + 1;
  }
  for (; next < order.length; next++) m.observe(order[next], false, command);
}

/**
 * The store prunes dead sessions, then, at the cap, evicts one live session: the oldest
 * (`evict-oldest`) or the least recently used (`evict-idlest`); under `refuse` it never evicts.
 * Sessions in the ambiguous band may have been pruned or not; the evictions tell which.
 */
function checkEvictions(m: StoreModel, command: string, user: UserName, evicted: string[]) {
  const order = [...m.order[user]];
  const positions = evicted.map((id) => order.findIndex((i) => m.tokens[i].id === id));
  if (positions.some((p, k) => p < 0 || (k > 0 && p <= positions[k - 1]))) {
    m.fail(command, `evicted ${evicted.join(',')}: not the user's live sessions, oldest first`);
  }
  if (m.policy === 'refuse' && evicted.length) {
    m.fail(command, `evicted ${evicted.join(',')} under the refuse policy`);
  }
  if (m.policy === 'evict-idlest') {
    for (const p of positions) {
      const victim = m.tokens[order[p]];
      for (const [q, other] of order.entries()) {
        // A session surely live and surely used less recently should have gone instead.
        if (q !== p && !victim.cappedTouch && m.liveness(other) === 'alive') {
          // Both times are the store's clock: only its millisecond rounding separates them.
          if (victim.lastSeen.lo > m.tokens[other].lastSeen.hi + 3) {
            m.fail(command, `evicted #${order[p]}, used more recently than #${other}`);
          }
        }
      }
    }
  }
  // Evicting the oldest skips nothing live: a session before the last evicted one was dead.
  const last =
    m.policy === 'evict-oldest' && positions.length ? positions[positions.length - 1] : -1;
  for (const [p, index] of order.entries()) {
    if (positions.includes(p)) {
      m.observe(index, true, command);
      m.end(index, 'evicted');
    } else if (p < last) {
      m.observe(index, false, command);
    }
  }
  const rest = order
    .filter((index, p) => p > last && !positions.includes(p))
    .filter((index) => m.liveness(index) !== 'dead');
  const sure = rest.filter((index) => m.liveness(index) === 'alive');
  const left = CAP - 1;
  if (sure.length > left || (evicted.length > 0 && rest.length < left)) {
    m.fail(command, `evicted ${evicted.length} with ${sure.length}–${rest.length} others live`);
  }
  if (sure.length === left) {
    for (const index of rest) if (!sure.includes(index)) m.observe(index, false, command);
  }
}

class Create implements StoreCommand {
  constructor(
    readonly user: UserName,
    readonly options: LoginOptions = { persistent: false, device: undefined },
  ) {}
  check = () => true;
  async run(m: StoreModel, r: RealStore) {
    const roles = [...m.roles[this.user]];
    await createSession(m, r, this.toString(), this.user, roles, undefined, this.options);
  }
  toString = () =>
    `create(${this.user}${this.options.persistent ? ', persistent' : ''}` +
    `${this.options.device ? `, device=${this.options.device.slice(0, 8)}…` : ''})`;
}

/** The first half of a login: reads the generation, then (the model says) the user's roles. */
class BeginLogin implements StoreCommand {
  constructor(readonly user: UserName) {}
  check = () => true;
  async run(m: StoreModel, r: RealStore) {
    const generation = await m.timed(() => r.sessions.generationOf(m.userId(this.user)));
    const seen = m.generationSeen[this.user];
    const moved = seen && seen.epoch !== m.epoch[this.user];
    if (seen && moved !== (seen.value !== generation)) {
      const expected = moved ? 'a new one' : 'the same';
      m.fail(this.toString(), `generation ${seen.value} then ${generation}, expected ${expected}`);
    }
    m.generationSeen[this.user] = { value: generation, epoch: m.epoch[this.user] };
    const roles = [...m.roles[this.user]];
    m.pending.push({ user: this.user, generation, epoch: m.epoch[this.user], roles });
  }
  toString = () => `beginLogin(${this.user})`;
}

/** The second half: creates the session with the roles and generation read earlier. */
class FinishLogin implements StoreCommand {
  private login = -1;
  constructor(readonly pick: number) {}
  check = (m: Readonly<StoreModel>) => m.pending.length > 0;
  async run(m: StoreModel, r: RealStore) {
    this.login = resolve(this.pick, m.pending.length);
    const login = m.pending[this.login];
    await createSession(m, r, this.toString(), login.user, login.roles, login);
  }
  toString = () => `finishLogin(P${this.login})`;
}

class Validate implements StoreCommand {
  private token = -1;
  constructor(readonly pick: number) {}
  check = hasToken;
  async run(m: StoreModel, r: RealStore) {
    this.token = resolve(this.pick, m.tokens.length);
    const session = await m.timed(() => r.sessions.validate(r.tokens[this.token]));
    m.observe(this.token, session !== null, this.toString());
    if (session) {
      m.checkSession(this.token, session, this.toString());
      m.touch(this.token);
    }
  }
  toString = () => `validate(#${this.token})`;
}

class List implements StoreCommand {
  constructor(readonly user: UserName) {}
  check = () => true;
  async run(m: StoreModel, r: RealStore) {
    const listed = await m.timed(() => r.sessions.listForUser(m.userId(this.user)));
    const command = this.toString();
    const order = [...m.order[this.user]];
    let next = 0;
    for (const session of listed) {
      const at = order.findIndex((index, p) => p >= next && m.tokens[index].id === session.id);
      if (at < 0) m.fail(command, `listed ${session.id}: unknown, dead or out of order`);
      for (; next < at; next++) m.observe(order[next], false, command);
      m.observe(order[at], true, command);
      m.checkSession(order[at], session, command);
      next = at + 1;
    }
    for (; next < order.length; next++) m.observe(order[next], false, command);
  }
  toString = () => `list(${this.user})`;
}

/** Rotation; with `revokeOthersOf`, a password change (null: the token's owner). */
class Rotate implements StoreCommand {
  private token = -1;
  constructor(
    readonly pick: number,
    readonly passwordChange: boolean,
    readonly revokeOthersOf: UserName | null = null,
    readonly reauthenticated = false,
  ) {}
  check = hasToken;
  async run(m: StoreModel, r: RealStore) {
    this.token = resolve(this.pick, m.tokens.length);
    const command = this.toString();
    const old = m.tokens[this.token];
    const target = this.passwordChange ? (this.revokeOthersOf ?? old.user) : null;
    const rotated = await m.timed(() =>
      r.sessions.rotate(r.tokens[this.token], {
        ...(target ? { revokeOthersOf: m.userId(target) } : {}),
        reauthenticated: this.reauthenticated,
      }),
    );
    if (target && target !== old.user) {
      // Someone else's token, live or gone: nothing changes, for either user (a user's
      // sessions live under their own tag, which the token does not name).
      if (rotated) m.fail(command, 'rotated another user’s session');
      if (m.liveness(this.token) === 'unknown') {
        await resync(m, r, target);
      }
      return;
    }
    m.observe(this.token, rotated !== null, command);
    let fresh: number | null = null;
    if (rotated) {
      const at = rotated.session.authenticatedAt;
      if (this.reauthenticated) {
        // Stamped by the store's clock while the call ran.
        const ran = shift(m.now, m.started);
        if (at < ran.lo - MARGIN_MS || at > ran.hi + MARGIN_MS || at < old.authenticatedAt) {
          m.fail(command, `authenticatedAt ${at}, outside the call's ${ran.lo}–${ran.hi}`);
        }
      }
      m.checkSession(
        this.token,
        {
          ...rotated.session,
          id: old.id,
          authenticatedAt: this.reauthenticated ? old.authenticatedAt : at,
        },
        command,
      );
      if (rotated.session.id !== r.sessions.idOf(rotated.token)) {
        m.fail(command, 'the new session’s id is not its token’s');
      }
      fresh = m.issue(rotated.session, old.user, m.now, old.absoluteDeadline);
      m.tokens[fresh].cappedTouch = old.cappedTouch;
      const order = m.order[old.user];
      order.splice(order.indexOf(this.token), 0, fresh);
      m.end(this.token, 'rotated');
      m.movedTo[this.token] = fresh;
      r.tokens[fresh] = rotated.token;
    }
    if (target) {
      for (const index of [...m.order[target]]) if (index !== fresh) m.end(index, 'revoked');
      m.bump(target);
    }
  }
  toString = () =>
    (this.passwordChange
      ? `passwordChange(#${this.token}${this.revokeOthersOf ? `, revokeOthersOf=${this.revokeOthersOf}` : ''}`
      : `rotate(#${this.token}`) + `${this.reauthenticated ? ', reauthenticated' : ''})`;
}

class Revoke implements StoreCommand {
  private token = -1;
  constructor(
    readonly pick: number,
    readonly byId: boolean,
    readonly owner: UserName | null,
  ) {}
  check = hasToken;
  async run(m: StoreModel, r: RealStore) {
    this.token = resolve(this.pick, m.tokens.length);
    const command = this.toString();
    const session = m.tokens[this.token];
    const which = this.byId ? session.id : r.tokens[this.token];
    const owner = this.owner ? m.userId(this.owner) : undefined;
    const revoked = await m.timed(() => r.sessions.revoke(which, owner));
    if (this.owner && this.owner !== session.user) {
      if (revoked) m.fail(command, `revoked ${session.user}’s session for ${this.owner}`);
      return;
    }
    // A rotated session is revoked under the id it moved to (three rotations at most, and a
    // sequence lasts far less than the forward's minute).
    let target = this.token;
    for (let hop = 0; hop < 3 && m.tokens[target].fate === 'rotated'; hop++) {
      if (m.movedTo[target] === undefined) break;
      target = m.movedTo[target];
    }
    m.observe(target, revoked, command);
    m.end(target, 'revoked');
  }
  toString = () =>
    `revoke(#${this.token} by ${this.byId ? 'id' : 'token'}${this.owner ? `, owner=${this.owner}` : ''})`;
}

class RevokeAll implements StoreCommand {
  private except: number | null = null;
  constructor(
    readonly user: UserName,
    readonly pick: number | null,
  ) {}
  check = (m: Readonly<StoreModel>) => this.pick === null || hasToken(m);
  async run(m: StoreModel, r: RealStore) {
    this.except = this.pick === null ? null : resolve(this.pick, m.tokens.length);
    const except = this.except === null ? undefined : m.tokens[this.except].id;
    const count = await m.timed(() => r.sessions.revokeAllForUser(m.userId(this.user), { except }));
    // The session kept is kept under the ids it was rotated to too (four hops, within the
    // forward's minute): the caller read its id before a rotation of the same session.
    const kept = new Set<number>();
    for (let index = this.except, hop = 0; index !== null && hop <= 4; hop++) {
      kept.add(index);
      index = m.tokens[index].fate === 'rotated' ? (m.movedTo[index] ?? null) : null;
    }
    const doomed = m.order[this.user].filter((index) => !kept.has(index));
    const sure = doomed.filter((index) => m.liveness(index) === 'alive').length;
    const maybe = doomed.filter((index) => m.liveness(index) === 'unknown').length;
    if (count < sure || count > sure + maybe) {
      m.fail(
        this.toString(),
        `answered ${count}, expected ${sure}${maybe ? `–${sure + maybe}` : ''}`,
      );
    }
    for (const index of doomed) m.end(index, 'revoked');
    m.bump(this.user);
  }
  toString = () =>
    `revokeAll(${this.user}${this.except === null ? '' : `, except #${this.except}`})`;
}

/**
 * "Revoke every session but mine" (a global revocation), sparing nobody or the session a token
 * named — under the id a rotation moved it to meanwhile (four hops), as the store follows it.
 */
class RevokeEverything implements StoreCommand {
  private except: number | null = null;
  constructor(readonly pick: number | null) {}
  check = (m: Readonly<StoreModel>) => this.pick === null || hasToken(m);
  async run(m: StoreModel, r: RealStore) {
    this.except = this.pick === null ? null : resolve(this.pick, m.tokens.length);
    let kept = this.except;
    for (let hop = 0; kept !== null && hop < 4 && m.tokens[kept].fate === 'rotated'; hop++) {
      kept = m.movedTo[kept] ?? null;
    }
    const except = this.except === null ? undefined : m.tokens[this.except].id;
    const count = await m.timed(() => r.sessions.revokeEverything({ except }));
    try {
      await this.verify(m, r, kept, count);
    } finally {
      // Logins from now on are created after the watermark: the store's clock (this host's)
      // has passed the millisecond it was read in. One in that millisecond would be outdated.
      const answered = m.started + m.now.hi;
      while (Date.now() <= answered + 1) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Checks the answer, then the session kept: its creation time moved to the watermark. */
  private async verify(m: StoreModel, r: RealStore, kept: number | null, count: number) {
    const command = this.toString();
    const ran = shift(m.now, m.started);
    // Other sequences' sessions, still live under the same prefix, may be counted too.
    const doomed = USERS.flatMap((user) => m.order[user]).filter((index) => index !== kept);
    const sure = doomed.filter((index) => m.liveness(index) === 'alive').length;
    if (count < sure) m.fail(command, `answered ${count}, expected at least ${sure}`);
    for (const index of doomed) m.end(index, 'revoked');
    if (kept !== null && m.liveness(kept) !== 'dead') {
      const survivor = await m.timed(() => r.sessions.get(m.tokens[kept].id));
      m.observe(kept, survivor !== null, command);
      if (survivor) {
        // The watermark is a millisecond past the store's clock as the call ran.
        const at = survivor.createdAt;
        if (at <= m.tokens[kept].createdAt || at < ran.lo - MARGIN_MS || at > ran.hi + MARGIN_MS) {
          m.fail(command, `#${kept} created at ${at}, outside the call's ${ran.lo}–${ran.hi}`);
        }
        m.tokens[kept].createdAt = at;
        m.checkSession(kept, survivor, command);
      }
    }
  }
  toString = () => `revokeEverything(${this.except === null ? '' : `except #${this.except}`})`;
}

class SetRoles implements StoreCommand {
  constructor(
    readonly user: UserName,
    readonly roles: string[],
  ) {}
  check = () => true;
  async run(m: StoreModel, r: RealStore) {
    const command = this.toString();
    const count = await m.timed(() =>
      r.sessions.setRolesForUser(m.userId(this.user), [...this.roles]),
    );
    const live = [...m.order[this.user]].filter((index) => m.liveness(index) !== 'dead');
    const sure = live.filter((index) => m.liveness(index) === 'alive');
    if (count < sure.length || count > live.length) {
      m.fail(command, `answered ${count}, expected ${sure.length}–${live.length}`);
    }
    for (const index of live) {
      if (count === sure.length && !sure.includes(index)) m.observe(index, false, command);
      else m.tokens[index].roles = [...this.roles];
    }
    m.roles[this.user] = [...this.roles];
    m.bump(this.user);
  }
  toString = () => `setRoles(${this.user}, [${this.roles.join(',')}])`;
}

/** Time passes: real sleeping, since Redis keeps its own clock. */
class Wait implements StoreCommand {
  constructor(readonly ms: number) {}
  check = (m: Readonly<StoreModel>) => m.slept + this.ms <= MAX_SLEEP_MS;
  async run(m: StoreModel) {
    m.slept += this.ms;
    await new Promise((resolve) => setTimeout(resolve, this.ms));
  }
  toString = () => `wait(${this.ms}ms)`;
}

/**
 * The commands of a sequence, some listed twice to come up more often. `timeSteps` adds
 * `wait`, one command in five: a sequence sleeps one to two seconds (at most MAX_SLEEP_MS).
 */
export function storeCommands({
  timeSteps,
  pauses = false,
  capHeavy = false,
}: {
  timeSteps: boolean;
  /** Adds short waits (60–150 ms): sessions then differ in when they were last used. */
  pauses?: boolean;
  /** More logins of alice, so that she often reaches the cap (for policies other than the default). */
  capHeavy?: boolean;
}): fc.Arbitrary<StoreCommand>[] {
  // Alice comes up most, so that her sessions reach the cap and get evicted.
  const user = fc.constantFrom<UserName>('alice', 'alice', 'alice', 'bob', 'bob', 'carol');
  const token = fc.nat({ max: 19 });
  const login = fc.record({ persistent: fc.boolean(), device: fc.constantFrom(...DEVICES) });
  const commands: fc.Arbitrary<StoreCommand>[] = [
    fc.tuple(user, login).map(([u, options]) => new Create(u, options)),
    user.map((u) => new Create(u)),
    user.map((u) => new BeginLogin(u)),
    fc.nat({ max: 3 }).map((p) => new FinishLogin(p)),
    token.map((t) => new Validate(t)),
    token.map((t) => new Validate(t)),
    fc.tuple(token, fc.boolean()).map(([t, again]) => new Rotate(t, false, null, again)),
    fc
      .tuple(token, fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, user), fc.boolean())
      .map(([t, of, again]) => new Rotate(t, true, of, again)),
    fc
      .tuple(token, fc.boolean(), fc.option(user, { freq: 2 }))
      .map(([t, byId, owner]) => new Revoke(t, byId, owner)),
    fc.tuple(user, fc.option(token, { freq: 2 })).map(([u, except]) => new RevokeAll(u, except)),
    fc.option(token, { freq: 3 }).map((except) => new RevokeEverything(except)),
    fc
      .tuple(user, fc.subarray(['customer', 'admin', 'support']))
      .map(([u, roles]) => new SetRoles(u, roles)),
    user.map((u) => new List(u)),
  ];
  if (capHeavy) {
    const alice = login.map((options) => new Create('alice', options));
    commands.push(alice, alice, alice);
  }
  if (pauses) {
    commands.push(fc.integer({ min: 60, max: 150 }).map((ms) => new Wait(ms)));
  }
  if (timeSteps) {
    const wait = fc.integer({ min: 300, max: 1200 }).map((ms) => new Wait(ms));
    commands.push(wait, wait, wait);
  }
  return commands;
}
