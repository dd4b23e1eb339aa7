import { createHash } from 'node:crypto';

import fc from 'fast-check';
import { Redis } from 'ioredis';

import {
  Session,
  SessionModuleOptions,
  SessionService,
  SessionStoreUnavailableError,
} from '../src';
import { freePort, RedisServerProcess } from '../src/testing';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import { relayedRedis } from './relayed-redis';
import { buildSkewedClock } from './skewed-clock';
import {
  cachedServicesAndTruth,
  REDIS_URL as url,
  sessionService,
  sleep,
  uniquePrefix,
  until,
} from './store-contract';

jest.setTimeout(60_000);

const probeUser = { id: 'u-exact-probe', username: 'probe', roles: ['customer'] };

/** Waits until the service's local cache serves (its event feed has started). */
async function untilCaching(sessions: SessionService): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const { token, session } = await sessions.create(probeUser);
    await sessions.validate(token);
    const serving = sessions.cached(token) !== undefined;
    await sessions.revoke(session.id);
    if (serving) return;
    await sleep(50);
  }
  throw new Error('the cache never started serving');
}

/**
 * Returns once every cache has handled the events published so far: a marker session, held by
 * each cache, is revoked through `writer` after them, and each forgets it in stream order (or
 * at a gap, which flushes everything).
 */
async function untilCaughtUp(caches: SessionService[], writer: SessionService): Promise<void> {
  const marker = await writer.create({ id: 'u-exact-marker', username: 'marker', roles: [] });
  for (const cache of caches) {
    // Not cached while a gap is being handled, or when an event overtook the read: again.
    await polled(
      async () => !!(await cache.validate(marker.token)) && !!cache.cached(marker.token),
    );
  }
  await writer.revoke(marker.session.id);
  for (const cache of caches) {
    await polled(() => cache.cached(marker.token) === undefined);
  }
}

/** Polls `condition` every millisecond or so, for at most 5 s. */
async function polled(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('a cache did not catch up with the events in time');
    await sleep(1);
  }
}

async function cachedService(options: Partial<SessionModuleOptions>) {
  const keyPrefix = uniquePrefix();
  const service = await sessionService({
    redis: { url },
    keyPrefix,
    localCache: { ttl: 60 },
    ...options,
  } as SessionModuleOptions);
  await untilCaching(service.sessions);
  return { ...service, keyPrefix };
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

describe('the local cache, after a write this service acknowledged', () => {
  const carol = { id: 'u-exact-carol', username: 'carol', roles: ['customer'] };

  it.each([
    ['with events on', {}],
    ['with events off', { events: false as const }],
  ])(
    'refuses at once the session its own login evicted at the per-user cap (%s)',
    async (_, options) => {
      const { sessions, close, keyPrefix } = await cachedService({
        maxSessionsPerUser: 1,
        ...options,
      });
      try {
        for (let trial = 0; trial < 10; trial++) {
          const older = await sessions.create(carol);
          expect(await sessions.validate(older.token)).not.toBeNull();
          const newer = await sessions.create(carol);
          expect(newer.evicted).toEqual([older.session.id]);
          // The caller was told the older session is gone: no validation may answer it now.
          expect(sessions.cached(older.token)).toBeUndefined();
          expect(await sessions.validate(older.token)).toBeNull();
          await sessions.revoke(newer.session.id);
        }
      } finally {
        await close();
        await deleteKeys(keyPrefix);
      }
    },
  );
});

/**
 * A login whose answer came too late (the caller was answered 503): the store's undo deletes the
 * session it made and puts back the one it evicted at the cap — unless the user's generation
 * moved in between (another service's revoke-all or role change), when the evicted session stays
 * gone. No `create` answered that eviction here; the undo's answer reports it, and this
 * service's cache must not wait for that report to come back through the events (if at all).
 */
describe('the local cache, after a login whose answer came too late', () => {
  const UNDO_SHA = createHash('sha1').update(SESSION_SCRIPTS.cloakroomUndoCreate.lua).digest('hex');
  const redis = relayedRedis();

  it.each([
    ['with events off', { events: false as const }],
    ['with events on', {}],
  ])(
    'refuses the session its undo could not put back (%s)',
    async (_, options) => {
      const keyPrefix = uniquePrefix();
      const { sessions, close } = await sessionService({
        redis: { url: `redis://127.0.0.1:${redis.relay.port}` },
        keyPrefix,
        // The undo must be answered before it times out: the test has a second to let it through.
        storeTimeout: 1,
        maxSessionsPerUser: 2,
        localCache: { ttl: 60 },
        ...options,
      });
      try {
        await untilCaching(sessions);
        const user = { id: 'u-exact-late-login', username: 'latelogin', roles: ['customer'] };
        const first = await sessions.create(user);
        await sleep(5);
        await sessions.create(user);
        expect(await sessions.validate(first.token)).not.toBeNull();
        expect(sessions.cached(first.token)).toBeDefined();

        // The create waits in a paused Redis past the store timeout; the undo sent then waits in
        // the relay, and so does everything on that connection after it.
        redis.relay.delayFrom((bytes) => bytes.includes(UNDO_SHA));
        await redis.admin.client('PAUSE', 5000, 'WRITE');
        await expect(sessions.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
        await until(() => redis.relay.heldBytes().length > 0, 2000);
        await redis.admin.call('CLIENT', 'UNPAUSE');
        // The create runs: the first session is set aside for the undo.
        await until(async () => (await redis.admin.keys(`${keyPrefix}*:e:*`)).length > 0, 2000);
        const tag = first.session.id.split('.')[0];
        await redis.admin.incr(`${keyPrefix}{${tag}}:g:${user.id}`);
        redis.relay.release();

        await until(() => sessions.cached(first.token) === undefined, 3000).catch(() => undefined);
        expect(sessions.cached(first.token)).toBeUndefined();
        expect(await sessions.validate(first.token)).toBeNull();
      } finally {
        await close();
      }
    },
    30_000,
  );
});

/** Lets `ticks` turns of the event loop go by (each a round of I/O and its callbacks). */
async function ticks(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('the local cache, with a validation in flight when a write lands', () => {
  const erin = { id: 'u-exact-erin', username: 'erin', roles: ['customer'] };
  let cached: SessionService;
  let other: SessionService;
  let keyPrefix: string;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    const service = await cachedService({});
    keyPrefix = service.keyPrefix;
    closers.push(service.close);
    const plain = await sessionService({ redis: { url }, keyPrefix });
    closers.push(plain.close);
    cached = service.sessions;
    other = plain.sessions;
  });

  afterAll(async () => {
    for (const close of closers) await close();
    await deleteKeys(keyPrefix);
  });

  type Write = (service: SessionService, session: Session, token: string) => Promise<unknown>;
  /** Each write, and what it leaves: the session dead, or with the roles `['viewer']`. */
  const writes: Array<[string, Write, 'dead' | 'demoted']> = [
    ['revoke', (service, session) => service.revoke(session.id), 'dead'],
    ['rotate', (service, _, token) => service.rotate(token), 'dead'],
    ['revoke-all', (service, session) => service.revokeAllForUser(session.userId), 'dead'],
    [
      'role change',
      (service, session) => service.setRolesForUser(session.userId, ['viewer']),
      'demoted',
    ],
  ];

  it.each(writes)(
    'never keeps what a %s made stale, whatever the offset (here, and elsewhere)',
    async (_, write, outcome) => {
      for (const where of ['here', 'elsewhere'] as const) {
        for (let offset = 0; offset < 12; offset++) {
          const { token, session } = await cached.create(erin);
          // In flight: a miss that reads the store while the write is sent, `offset` turns later.
          const inFlight = cached.validate(token);
          await ticks(offset);
          await write(where === 'here' ? cached : other, session, token);
          if (where === 'elsewhere') {
            await untilCaughtUp([cached], other);
          } else {
            const held = cached.cached(token);
            if (outcome === 'dead') expect(held).toBeUndefined();
            else expect(held?.roles ?? ['viewer']).toEqual(['viewer']);
          }
          await inFlight;
          const after = await cached.validate(token);
          if (outcome === 'dead') expect(after).toBeNull();
          else expect(after?.roles).toEqual(['viewer']);
          await cached.revokeAllForUser(erin.id);
        }
      }
    },
  );
});

/**
 * Events trimmed away before the cache read them (a small `events.maxLength`, a burst of
 * revocations elsewhere, stream nodes of two entries so that `MAXLEN ~` trims nearly exactly):
 * the cache must notice and flush, never keep what the lost events revoked.
 */
describe('the local cache, when events are trimmed before it reads them', () => {
  it('refuses every session a burst of revocations elsewhere ended', async () => {
    const port = await freePort();
    const server = new RedisServerProcess(port, ['--stream-node-max-entries', '2']);
    const closers: Array<() => Promise<void>> = [];
    try {
      await server.start();
      const keyPrefix = uniquePrefix();
      const options = { redis: { url: server.url }, keyPrefix, events: { maxLength: 2 } };
      const started = await Promise.all([
        sessionService({ ...options, localCache: { ttl: 60 } }),
        sessionService(options),
      ]);
      closers.push(...started.map((service) => service.close));
      const [cached, other] = started.map((service) => service.sessions);
      await untilCaching(cached);
      for (let round = 0; round < 3; round++) {
        const issued = await Promise.all(
          Array.from({ length: 150 }, (_, i) =>
            cached.create({ id: `u-exact-burst-${i % 30}`, username: 'b', roles: [] }),
          ),
        );
        await Promise.all(issued.map(({ token }) => cached.validate(token)));
        await Promise.all(issued.map(({ session }) => other.revoke(session.id)));
        await untilCaughtUp([cached], other);
        expect(issued.filter(({ token }) => cached.cached(token))).toEqual([]);
        for (const { token } of issued) expect(await cached.validate(token)).toBeNull();
      }
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      await server.dispose();
    }
  });
});

/**
 * The stream's ids come from the Redis clock. A Redis that comes back without its data on a host
 * whose clock is behind the old one's (a restart elsewhere, a failover) numbers its new events
 * below the id the cache last read: reading on from that id, the cache would see none of them
 * until that clock caught up, and serve whatever they revoke meanwhile.
 */
describe('the local cache, when Redis comes back without its data and with a clock behind', () => {
  it('sees the revocations made after it is back', async () => {
    const clock = buildSkewedClock();
    const port = await freePort();
    const ahead = new RedisServerProcess(port, [], clock.env(30_000));
    const behind = new RedisServerProcess(port);
    const closers: Array<() => Promise<void>> = [];
    try {
      await ahead.start();
      const serverUrl = ahead.url;
      const keyPrefix = uniquePrefix();
      const started = await Promise.all([
        sessionService({ redis: { url: serverUrl }, keyPrefix, localCache: { ttl: 60 } }),
        sessionService({ redis: { url: serverUrl }, keyPrefix }),
      ]);
      closers.push(...started.map((service) => service.close));
      const [cached, other] = started.map((service) => service.sessions);
      await untilCaching(cached);

      await ahead.stop();
      await behind.start();
      await until(async () => {
        try {
          await untilCaching(cached);
          return true;
        } catch {
          return false;
        }
      }, 20_000);

      for (let trial = 0; trial < 3; trial++) {
        const { token, session } = await other.create({
          id: 'u-exact-dave',
          username: 'dave',
          roles: ['customer'],
        });
        await until(async () => (await cached.validate(token)) !== null && !!cached.cached(token));
        expect(await other.revoke(session.id)).toBe(true);
        await until(() => cached.cached(token) === undefined, 5_000);
        expect(await cached.validate(token)).toBeNull();
      }
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      await ahead.dispose();
      await behind.dispose();
      clock.dispose();
    }
  });
});

/**
 * A differential model: the same random sequence of writes goes to three services on one
 * Redis and key prefix — two with a local cache (`caches[1]` holding at most 3 entries, so
 * that it evicts under churn) and one without — and every validation is answered by all three.
 * The service without a cache is the truth. A cached service must agree with it at once after
 * its own writes, and after another service's as soon as that write's events reached it (a
 * marker session revoked after the write, which it forgets in stream order, says when).
 */
const USERS = 2;
const ROLE_SETS = [['customer'], ['admin'], [], ['customer', 'support']];
/** How far apart the services' reading of the store clock and the store's own may be. */
const MARGIN_MS = 50;

interface Issued {
  token: string;
  id: string;
  user: number;
}

interface Answer {
  session: Session | null | undefined;
  /** The store clock, as the cache read it, before it answered. */
  before: number;
}

interface Model {
  issued: Issued[];
}

/** Which service a write goes through: a cached one (0, 1) or the one without a cache (2). */
type Via = 0 | 1 | 2;

class Run {
  constructor(
    readonly caches: SessionService[],
    readonly truth: SessionService,
    readonly run: string,
  ) {}

  service(via: Via): SessionService {
    return via === 2 ? this.truth : this.caches[via];
  }

  userId(user: number): string {
    return `u-exact-${this.run}-${user}`;
  }

  user(user: number) {
    return { id: this.userId(user), username: `user${user}`, roles: ['customer'] };
  }

  /**
   * After a write through `via`: the writer, if it caches, must agree at once on every token;
   * then every cache is brought up to the write's events.
   */
  async written(model: Model, via: Via): Promise<void> {
    if (via !== 2) {
      const writer = this.caches[via];
      // What it would answer at once, without a promise (the guard's hot path): taken before
      // the events of the write can come back to it.
      const before = writer.now();
      const held = model.issued.map((issued) => ({
        issued,
        session: writer.cached(issued.token),
      }));
      for (const { issued, session } of held) {
        if (session) await this.check(issued, [{ session, before }]);
      }
      for (const issued of model.issued) {
        await this.compare(issued, [writer]);
      }
    }
    await untilCaughtUp(this.caches, this.truth);
  }

  /** Validates a token through `services`, then through the truth, and checks they agree. */
  async compare(issued: Issued, services: SessionService[] = this.caches): Promise<void> {
    const answers: Answer[] = [];
    for (const service of services) {
      const before = service.now();
      answers.push({ session: await service.validate(issued.token), before });
    }
    await this.check(issued, answers);
  }

  /** Checks what caches answered for a token against what the truth answers now. */
  private async check(issued: Issued, answers: Answer[]): Promise<void> {
    const truth = await this.truth.validate(issued.token);
    const after = this.truth.now();
    for (const { session, before } of answers) {
      if (session) {
        const end = Math.min(session.expiresAt, session.absoluteExpiresAt);
        // Never served past its end, as the session itself reported it.
        expect(end).toBeGreaterThan(before - MARGIN_MS);
      }
      if (session && truth) {
        expect(pick(session)).toEqual(pick(truth));
      } else if (session && !truth) {
        // Dead in the store: only expiry between the two answers excuses it (a cached copy's
        // expiry is never later than the session's real one).
        const end = Math.min(session.expiresAt, session.absoluteExpiresAt);
        if (end > after + MARGIN_MS) {
          throw new Error(`a cache served ${issued.id}, which the store refuses`);
        }
      } else {
        // Refused by a cache but live in the store, later: a session comes back from nothing.
        expect(truth).toBeNull();
      }
    }
  }
}

function pick(session: Session) {
  const { id, userId, username, roles, createdAt, authenticatedAt, absoluteExpiresAt } = session;
  return {
    id,
    userId,
    username,
    roles,
    createdAt,
    authenticatedAt,
    absoluteExpiresAt,
    persistent: session.persistent,
    attributes: session.attributes,
  };
}

type Command = fc.AsyncCommand<Model, Run>;

const at = (model: Model, index: number) => model.issued[index % model.issued.length];
const some = (model: Model) => model.issued.length > 0;

class Create implements Command {
  constructor(
    readonly user: number,
    readonly via: Via,
    readonly persistent: boolean,
    readonly step: number | undefined,
  ) {}
  check = () => true;
  async run(model: Model, real: Run) {
    const attributes = this.step === undefined ? {} : { step: this.step };
    const { token, session } = await real
      .service(this.via)
      .create(real.user(this.user), { attributes }, { persistent: this.persistent });
    model.issued.push({ token, id: session.id, user: this.user });
    await real.written(model, this.via);
  }
  toString = () => `create(user ${this.user}, via ${this.via}, ${this.persistent}, ${this.step})`;
}

class Validate implements Command {
  constructor(readonly index: number) {}
  check = some;
  async run(model: Model, real: Run) {
    await real.compare(at(model, this.index));
  }
  toString = () => `validate(${this.index})`;
}

class Revoke implements Command {
  constructor(
    readonly index: number,
    readonly via: Via,
  ) {}
  check = some;
  async run(model: Model, real: Run) {
    await real.service(this.via).revoke(at(model, this.index).id);
    await real.written(model, this.via);
  }
  toString = () => `revoke(${this.index}, via ${this.via})`;
}

class Rotate implements Command {
  constructor(
    readonly index: number,
    readonly via: Via,
    readonly revokeOthers: boolean,
    readonly reauthenticated: boolean,
  ) {}
  check = some;
  async run(model: Model, real: Run) {
    const from = at(model, this.index);
    const rotated = await real.service(this.via).rotate(from.token, {
      revokeOthersOf: this.revokeOthers ? real.userId(from.user) : undefined,
      reauthenticated: this.reauthenticated,
    });
    if (rotated) {
      model.issued.push({ token: rotated.token, id: rotated.session.id, user: from.user });
    }
    await real.written(model, this.via);
  }
  toString = () =>
    `rotate(${this.index}, via ${this.via}, others ${this.revokeOthers}, reauth ${this.reauthenticated})`;
}

class SetRoles implements Command {
  constructor(
    readonly user: number,
    readonly roles: number,
    readonly via: Via,
  ) {}
  check = () => true;
  async run(model: Model, real: Run) {
    await real.service(this.via).setRolesForUser(real.userId(this.user), ROLE_SETS[this.roles]);
    await real.written(model, this.via);
  }
  toString = () => `setRoles(user ${this.user}, ${ROLE_SETS[this.roles]}, via ${this.via})`;
}

class RevokeAll implements Command {
  constructor(
    readonly user: number,
    readonly except: number | null,
    readonly via: Via,
  ) {}
  check = () => true;
  async run(model: Model, real: Run) {
    const except = this.except === null || !some(model) ? undefined : at(model, this.except).id;
    await real.service(this.via).revokeAllForUser(real.userId(this.user), { except });
    await real.written(model, this.via);
  }
  toString = () => `revokeAll(user ${this.user}, except ${this.except}, via ${this.via})`;
}

class Patch implements Command {
  constructor(
    readonly index: number,
    readonly step: number | undefined,
    readonly via: Via,
    readonly byToken: boolean,
  ) {}
  check = some;
  async run(model: Model, real: Run) {
    const issued = at(model, this.index);
    await real
      .service(this.via)
      .patch(this.byToken ? issued.token : issued.id, { step: this.step, at: this.index });
    await real.written(model, this.via);
  }
  toString = () => `patch(${this.index}, step ${this.step}, via ${this.via})`;
}

class RevokeEverything implements Command {
  constructor(
    readonly except: number | null,
    readonly via: Via,
  ) {}
  check = () => true;
  async run(model: Model, real: Run) {
    const except = this.except === null || !some(model) ? undefined : at(model, this.except).id;
    await real.service(this.via).revokeEverything({ except });
    // A login in the millisecond of a global revocation is outdated by it (its user signs in
    // again, by design: the watermark is that millisecond plus one): the marker that
    // `written` logs in must come after it.
    await sleep(2);
    await real.written(model, this.via);
  }
  toString = () => `revokeEverything(except ${this.except}, via ${this.via})`;
}

class Sleep implements Command {
  constructor(readonly ms: number) {}
  check = () => true;
  async run() {
    await sleep(this.ms);
  }
  toString = () => `sleep(${this.ms})`;
}

function differentialCommands({ timeSteps }: { timeSteps: boolean }) {
  const via = fc.constantFrom<Via>(0, 1, 2);
  const user = fc.nat(USERS - 1);
  const index = fc.nat(40);
  const step = fc.option(fc.nat(3), { nil: undefined });
  const create = fc
    .tuple(user, via, timeSteps ? fc.boolean() : fc.constant(false), step)
    .map(([u, v, p, s]) => new Create(u, v, p, s));
  const list: Array<fc.Arbitrary<Command>> = [
    create,
    create,
    index.map((i) => new Validate(i)),
    index.map((i) => new Validate(i)),
    fc.tuple(index, via).map(([i, v]) => new Revoke(i, v)),
    fc.tuple(index, via, fc.boolean(), fc.boolean()).map(([i, v, o, r]) => new Rotate(i, v, o, r)),
    fc.tuple(user, fc.nat(ROLE_SETS.length - 1), via).map(([u, r, v]) => new SetRoles(u, r, v)),
    fc.tuple(user, fc.option(index, { nil: null }), via).map(([u, e, v]) => new RevokeAll(u, e, v)),
    fc.tuple(index, step, via, fc.boolean()).map(([i, s, v, t]) => new Patch(i, s, v, t)),
  ];
  const rare: Array<fc.Arbitrary<Command>> = [
    fc.tuple(fc.option(index, { nil: null }), via).map(([e, v]) => new RevokeEverything(e, v)),
  ];
  if (timeSteps) {
    rare.push(fc.constantFrom(20, 120, 350, 700).map((ms) => new Sleep(ms)));
  }
  // fc.commands picks among its arbitraries evenly: the common ones are listed four times.
  return [...list, ...list, ...list, ...list, ...rare, ...(timeSteps ? rare : [])];
}

describe('the local cache against a service without one, on random sequences of writes', () => {
  let runs = 0;
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (closers.length) await closers.pop()?.();
  });

  async function services(options: Partial<SessionModuleOptions>) {
    const keyPrefix = uniquePrefix();
    const shared = { redis: { url }, keyPrefix, maxSessionsPerUser: 2, ...options };
    const { caches, truth } = await cachedServicesAndTruth(shared, closers);
    for (const cache of caches) await untilCaching(cache);
    closers.unshift(() => deleteKeys(keyPrefix));
    return { caches, truth };
  }

  function agree(
    { caches, truth }: { caches: SessionService[]; truth: SessionService },
    numRuns: number,
    timeSteps: boolean,
  ) {
    return fc.assert(
      fc.asyncProperty(
        fc.commands(differentialCommands({ timeSteps }), { maxCommands: 25, size: 'max' }),
        (commands) =>
          fc.asyncModelRun(
            () => ({
              model: { issued: [] },
              real: new Run(caches, truth, `${process.pid}x${++runs}`),
            }),
            commands,
          ),
      ),
      { numRuns, interruptAfterTimeLimit: 60_000 },
    );
  }

  it('agrees after every acknowledged write, with long timeouts', async () => {
    await agree(await services({}), 50, false);
  });

  it('agrees through idle and absolute expiry, with short timeouts', async () => {
    const limits = {
      idleTimeout: 0.6,
      absoluteTimeout: 1.5,
      touchInterval: 0.05,
      remember: { idleTimeout: 0.9, absoluteTimeout: 2 },
    };
    await agree(await services(limits), 10, true);
  });
});
