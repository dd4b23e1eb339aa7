import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { Redis } from 'ioredis';

import { Session, SessionService, SessionStoreUnavailableError } from '../src';
import { RedisClusterProcess, RedisServerProcess, startRedisCluster } from '../src/testing';
import { sessionKey, sessionService, sleep, uniquePrefix } from './store-contract';

/** Failovers in this file: each kills a master (SIGKILL) amid a round of parallel operations. */
const ROUNDS = 5;
const USERS = 6;
const ROLES = [['customer'], ['customer', 'admin'], ['staff']];

jest.setTimeout(180_000);

type OpKind =
  | 'create'
  | 'rotate'
  | 'password-change'
  | 'revoke'
  | 'revoke-all'
  | 'set-roles'
  | 'validate'
  | 'validate-dead'
  | 'list';

interface Op {
  kind: OpKind;
  /** Chooses the device, the roles, whether to keep one session: taken modulo what exists. */
  pick: number;
  /** Waited before the operation, so that a user's operations straddle the failover. */
  pause: number;
}

interface Round {
  /** The user whose master dies. */
  victim: number;
  /** When it dies, in ms after the round's operations start. */
  killAfter: number;
  /**
   * When it comes back (empty: no persistence), in ms after its replica was promoted: it
   * rejoins as that replica's replica while the operations go on.
   */
  restartAfter: number;
  /**
   * Whether its replica hangs (SIGSTOP), its link cut, from the start of the round until the
   * master dies: what the master acknowledged meanwhile without waiting is lost in the failover.
   */
  laggingReplica: boolean;
  /** Each user's operations, run in order; the users' run in parallel. */
  chains: Op[][];
}

/**
 * What the model knows of one session a user holds a token for:
 * - `kept`: the replica holds it, and nothing acknowledged or unanswered ended it: alive;
 * - `maybe`: alive or gone (a create acknowledged but not waited for, a revocation answered 503);
 *   one a revocation answered 503 may still reach is never kept again (`exposed`);
 * - `unsure`: a rotation answered 503: its undo moves it back, so, once it settles, the token
 *   works or the session is gone; until then, the session may sit under a token nobody holds.
 */
interface Device {
  token: string;
  id: string;
  status: 'kept' | 'maybe' | 'unsure';
  /**
   * A revoke of it was answered 503: revocations carry no deadline (the README's Revocation),
   * so one still on its way (in a client's queue for a node that comes back) may end it however
   * late, a round later too, and under the id a rotation gave it.
   */
  exposed?: boolean;
  /** The roles it may carry (joined by commas), given what was acknowledged or not. */
  roles: Set<string>;
  history: string[];
}

interface User {
  user: { id: string; username: string; roles: string[] };
  devices: Device[];
  /** Tokens answered dead (revoked, rotated away) by an acknowledged call: never alive again. */
  dead: Array<{ token: string; id: string; why: string }>;
  /**
   * Roles of role changes answered 503 this round: on a Cluster such a change has no deadline
   * (see the README's Revocation), and one still on its way may reach sessions created since.
   */
  unanswered: Set<string>;
  /**
   * A revoke-all or password change of the user was answered 503: landing late, it ends every
   * session of the user, those created since too. None of them is kept again.
   */
  exposed: boolean;
  /** Odd while one of the user's operations is under way; moved by each start and end. */
  turn: number;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<OpKind>(
    'create',
    'create',
    'rotate',
    'rotate',
    'password-change',
    'revoke',
    'revoke',
    'revoke-all',
    'set-roles',
    'set-roles',
    'validate',
    'validate',
    'validate-dead',
    'list',
  ),
  pick: fc.nat(),
  pause: fc.integer({ min: 0, max: 600 }),
});

const roundArb: fc.Arbitrary<Round> = fc.record({
  victim: fc.nat({ max: USERS - 1 }),
  killAfter: fc.integer({ min: 0, max: 1500 }),
  restartAfter: fc.integer({ min: 0, max: 2000 }),
  laggingReplica: fc.boolean(),
  chains: fc.array(fc.array(opArb, { minLength: 4, maxLength: 9 }), {
    minLength: USERS,
    maxLength: USERS,
  }),
});

/**
 * A Redis Cluster of three masters with a replica each, killed one master at a time (SIGKILL)
 * while users log in, rotate, revoke, change roles, validate and list in parallel; the replica
 * is promoted, the killed node comes back (empty) as its replica while they go on, and the next
 * round kills another. Meanwhile every session known alive is validated again and again. In
 * some rounds the replica lags (hung, its link cut) until the master dies: it is promoted
 * without what the master acknowledged meanwhile, which is where waiting for it counts (without
 * `WAIT`, revocations answered success come back).
 * After each failover, what the service ACKNOWLEDGED holds (`durability: { replicas: 1 }`):
 * - every failure is a `SessionStoreUnavailableError` (503), never another error;
 * - a revocation, revoke-all, rotation (its old token) answered success stays dead; a role
 *   change answered success is what every surviving session of the user carries;
 * - a session the replica held (checked before the round) and no call ended, nor left unanswered,
 *   is never lost; a create acknowledged in the round may be (creates do not wait);
 * - a rotation answered 503 leaves the old token working or the session gone, never the
 *   session alive under a token nobody holds; a create answered 503 leaves nothing;
 * - each user's list is exactly the sessions whose tokens work.
 */
describe('a Redis Cluster whose masters are killed amid parallel session operations', () => {
  const prefix = uniquePrefix();
  let cluster: RedisClusterProcess;
  let sessions: SessionService;
  let close: () => Promise<void>;
  const users: User[] = [];
  /** The round under way, for the devices' histories. */
  let round = 0;
  const inRound = (what: string) => `${what} (round ${round})`;

  beforeAll(async () => {
    cluster = await startRedisCluster(undefined, { replicas: 1 });
    ({ sessions, close } = await sessionService({
      redis: { cluster: cluster.addresses },
      keyPrefix: prefix,
      storeTimeout: 1,
      maxSessionsPerUser: 0,
      durability: { replicas: 1, timeout: 0.5 },
    }));
    await untilReplicated(cluster);
  });

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await close?.();
    cluster?.nodes.forEach((node) => node.thaw());
    await cluster?.dispose();
  });

  it(`keeps what it acknowledged through ${ROUNDS} master kills`, async () => {
    for (let n = 0; n < USERS; n++) {
      const user = { id: `u-kill-${n}`, username: `kill${n}`, roles: ROLES[n % ROLES.length] };
      users.push({ user, devices: [], dead: [], unanswered: new Set(), exposed: false, turn: 0 });
    }
    const stats = { ops: 0, unavailable: 0, lost: 0, undone: 0 };
    const startedAt = Date.now();
    await fc.assert(
      fc.asyncProperty(roundArb, async (plan) => {
        round++;
        await playRound(plan, round, stats);
      }),
      // A failure reports its seed: FUZZ_SEED=<seed> plays the same rounds again.
      { numRuns: ROUNDS, endOnFailure: true, ...seed() },
    );
    console.info(
      `${ROUNDS} master kills in ${Date.now() - startedAt} ms: ${stats.ops} operations, ` +
        `${stats.unavailable} answered 503, ${stats.lost} acknowledged creates lost, ` +
        `${stats.undone} rotations answered 503 whose session survived under its old token`,
    );
  });

  async function playRound(
    plan: Round,
    round: number,
    stats: { ops: number; unavailable: number; lost: number; undone: number },
  ): Promise<void> {
    for (const entry of users) {
      entry.unanswered.clear();
      while (entry.devices.length < 2) {
        const { token, session } = await sessions.create(entry.user);
        entry.devices.push({
          token,
          id: session.id,
          status: entry.exposed ? 'maybe' : 'kept',
          roles: new Set([entry.user.roles.join()]),
          history: [`created before round ${round}`],
        });
      }
    }
    await untilReplicated(cluster);
    // Everything alive now is on a replica: it must survive the failover unless ended.
    for (const entry of users) {
      for (const device of entry.devices) device.status = keptUnlessExposed(entry, device);
    }
    const victimSlot = await slotOf(cluster, sessionKey(prefix, users[plan.victim].devices[0].id));
    const victimPort = await masterOfSlot(cluster, victimSlot);
    const victim = cluster.nodes.find((node) => node.port === victimPort);
    if (!victim) throw new Error(`round ${round}: no node on port ${victimPort}`);

    const replica = plan.laggingReplica ? await replicaOf(cluster, victimPort) : undefined;
    if (replica) {
      replica.freeze();
      // A hung process's kernel would still take in what the master sends: cut the link.
      await withNode(victimPort, (client) => client.call('CLIENT', 'KILL', 'TYPE', 'replica'));
    }
    const violations: string[] = [];
    if (replica) {
      // On the lagging master: a login acknowledged (then lost), a logout answered 503.
      for (const kind of ['create', 'revoke'] as const) {
        await play(users[plan.victim], { kind, pick: 0, pause: 0 }, violations, stats);
      }
    }
    const killed = (async () => {
      await sleep(plan.killAfter);
      await victim.stop();
      replica?.thaw();
      await untilPromoted(cluster, victimSlot, victimPort);
      // Not before: a master that restarts empty before the failover is followed by its replica.
      await sleep(plan.restartAfter);
      await victim.start();
    })();
    let watching = true;
    const watched = watch(() => watching, violations);
    await Promise.all(
      plan.chains.map(async (chain, n) => {
        for (const op of chain) {
          await sleep(op.pause);
          users[n].turn++;
          await play(users[n], op, violations, stats);
          users[n].turn++;
        }
      }),
    );
    await killed.finally(() => (watching = false));
    await watched;
    await settle(round, violations, stats);
    if (!violations.length) await untilOnlyHeldSessions(violations);
    if (violations.length) {
      const distinct = [...new Set(violations)];
      throw new Error(`round ${round} (victim ${victimPort}):\n${distinct.join('\n')}`);
    }
  }

  /**
   * Until `going` says stop, validates every session the model holds alive and every token it
   * holds dead, between the user's own operations (whose answers change what is known).
   */
  async function watch(going: () => boolean, violations: string[]): Promise<void> {
    while (going()) {
      await Promise.all(
        users.map(async (entry) => {
          const turn = entry.turn;
          if (turn % 2) return;
          const kept = entry.devices.filter(({ status }) => status === 'kept');
          const dead = [...entry.dead];
          await Promise.all([
            ...kept.map(async (device) => {
              const session = await sessions.validate(device.token).catch(expectUnavailable);
              if (session === undefined || entry.turn !== turn) return;
              if (!session) {
                violations.push(`${entry.user.id}: kept ${device.id} validated null (watch)`);
              } else {
                checkSession(device, session, (message) =>
                  violations.push(`${entry.user.id} (watch): ${message}`),
                );
              }
            }),
            ...dead.map(async (gone) => {
              const session = await sessions.validate(gone.token).catch(expectUnavailable);
              if (session) {
                violations.push(`${entry.user.id}: dead token (${gone.why}) alive (watch)`);
              }
            }),
          ]);
        }),
      );
      await sleep(100);
    }

    function expectUnavailable(error: unknown): undefined {
      if (!(error instanceof SessionStoreUnavailableError)) {
        violations.push(`watch: ${(error as Error)?.name}: ${(error as Error)?.message}`);
      }
      return undefined;
    }
  }

  /** Runs one operation and checks its answer against the model, which it then updates. */
  async function play(
    entry: User,
    op: Op,
    violations: string[],
    stats: { ops: number; unavailable: number },
  ): Promise<void> {
    const { user } = entry;
    const active = entry.devices.filter((device) => device.status !== 'unsure');
    const device = active.length ? active[op.pick % active.length] : undefined;
    const roles = ROLES[op.pick % ROLES.length];
    const fail = (message: string) =>
      violations.push(`${user.id} ${op.kind}: ${message}${device ? ` (${device.history})` : ''}`);
    const unavailable = (error: unknown): boolean => {
      if (error instanceof SessionStoreUnavailableError) {
        stats.unavailable++;
        return true;
      }
      fail(`failed with ${(error as Error)?.name}: ${(error as Error)?.message}`);
      return false;
    };
    const kill = (target: Device, why: string) => {
      entry.dead.push({ token: target.token, id: target.id, why });
      entry.devices = entry.devices.filter((each) => each !== target);
    };
    stats.ops++;
    switch (op.kind) {
      case 'create': {
        try {
          const { token, session } = await sessions.create({ ...user, roles });
          entry.devices.push({
            token,
            id: session.id,
            status: 'maybe',
            roles: new Set([roles.join(), ...entry.unanswered]),
            history: [inRound('created')],
          });
        } catch (error) {
          unavailable(error);
        }
        return;
      }
      case 'rotate':
      case 'password-change': {
        if (!device) return;
        const others = op.kind === 'password-change' ? { revokeOthersOf: user.id } : {};
        try {
          const rotated = await sessions.rotate(device.token, others);
          if (rotated) {
            entry.dead.push({ token: device.token, id: device.id, why: `${op.kind} acknowledged` });
            device.token = rotated.token;
            device.id = rotated.session.id;
            device.status = keptUnlessExposed(entry, device);
            device.history.push(inRound(op.kind));
          } else if (device.status === 'kept') {
            fail('found no session where one was kept');
          } else {
            device.history.push(inRound(`${op.kind}: null`));
          }
          if (op.kind === 'password-change') {
            for (const other of entry.devices.filter((each) => each !== device)) {
              kill(other, 'revoked by an acknowledged password change');
            }
            if (!rotated) kill(device, 'password change found it gone');
          }
        } catch (error) {
          if (!unavailable(error)) return;
          device.status = 'unsure';
          device.history.push(inRound(`${op.kind}: 503`));
          if (op.kind === 'password-change') {
            entry.exposed = true;
            for (const other of entry.devices.filter((each) => each !== device)) {
              if (other.status === 'kept') other.status = 'maybe';
              other.history.push(inRound('password change of another: 503'));
            }
          }
        }
        return;
      }
      case 'revoke': {
        if (!device) return;
        try {
          const revoked = await sessions.revoke(
            device.token,
            op.pick % 2 ? user.id : { reason: 'logout' },
          );
          if (!revoked && device.status === 'kept') fail('found no session where one was kept');
          kill(device, `revoke acknowledged (${revoked})`);
        } catch (error) {
          if (!unavailable(error)) return;
          device.status = 'maybe';
          device.exposed = true;
          device.history.push(inRound('revoke: 503'));
        }
        return;
      }
      case 'revoke-all': {
        const except = op.pick % 3 === 0 ? device : undefined;
        try {
          await sessions.revokeAllForUser(user.id, { except: except?.id });
          for (const other of entry.devices.filter((each) => each !== except)) {
            kill(other, 'revoke-all acknowledged');
          }
        } catch (error) {
          if (!unavailable(error)) return;
          entry.exposed = true;
          for (const other of entry.devices.filter((each) => each !== except)) {
            if (other.status === 'kept') other.status = 'maybe';
            other.history.push(inRound('revoke-all: 503'));
          }
        }
        return;
      }
      case 'set-roles': {
        try {
          await sessions.setRolesForUser(user.id, roles);
          for (const each of entry.devices) each.roles = new Set([roles.join()]);
        } catch (error) {
          if (!unavailable(error)) return;
          for (const each of entry.devices) each.roles.add(roles.join());
          entry.unanswered.add(roles.join());
        }
        return;
      }
      case 'validate': {
        if (!device) return;
        try {
          const session = await sessions.validate(device.token);
          if (session) checkSession(device, session, fail);
          else if (device.status === 'kept') fail('a kept session validated null');
        } catch (error) {
          unavailable(error);
        }
        return;
      }
      case 'validate-dead': {
        const gone = entry.dead[op.pick % Math.max(entry.dead.length, 1)];
        if (!gone) return;
        try {
          const session = await sessions.validate(gone.token);
          if (session) fail(`a dead token (${gone.why}) validated as ${session.id}`);
        } catch (error) {
          unavailable(error);
        }
        return;
      }
      case 'list': {
        try {
          const listed = new Set((await sessions.listForUser(user.id)).map(({ id }) => id));
          for (const each of entry.devices.filter(({ status }) => status === 'kept')) {
            if (!listed.has(each.id)) fail(`kept session ${each.id} missing from the list`);
          }
          for (const gone of entry.dead) {
            if (listed.has(gone.id)) fail(`dead session ${gone.id} (${gone.why}) listed`);
          }
        } catch (error) {
          unavailable(error);
        }
        return;
      }
    }
  }

  /**
   * Once the replica serves: waits until each user's list is exactly the sessions whose tokens
   * work (undos of unanswered creates and rotations land, backing off), checking meanwhile that
   * no kept session is lost and no dead token lives. The model then takes what it finds.
   */
  async function settle(
    round: number,
    violations: string[],
    stats: { lost: number; undone: number },
  ): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (const entry of users) {
      let last = '';
      for (;;) {
        const seen = await observe(entry, violations);
        if (violations.length) return;
        if (seen) {
          const alive = new Set(seen.alive.map(({ device }) => device.id));
          const extra = [...seen.listed].filter((id) => !alive.has(id));
          const missing = [...alive].filter((id) => !seen.listed.has(id));
          if (!extra.length && !missing.length) {
            for (const device of entry.devices) {
              if (alive.has(device.id)) {
                // What survived the failover is all there is: a role change answered 503 that
                // it lost cannot arrive later (the master that had it is dead).
                const found = seen.alive.find((each) => each.device === device);
                device.roles = new Set([found?.roles ?? '']);
                if (device.status === 'unsure') stats.undone++;
                continue;
              }
              const createdNow = device.history.join() === inRound('created');
              if (device.status === 'maybe' && createdNow) stats.lost++;
              entry.dead.push({
                token: device.token,
                id: device.id,
                why: `gone after round ${round}`,
              });
            }
            entry.devices = entry.devices.filter((device) => alive.has(device.id));
            break;
          }
          last =
            `listed but no held token works: ${extra.join(' ') || '-'}; ` +
            `working but not listed: ${missing.join(' ') || '-'}; ` +
            entry.devices.map((device) => `${device.id}: ${device.history}`).join('; ');
        }
        if (Date.now() > deadline) {
          violations.push(`${entry.user.id} never settled: ${last || 'store unavailable'}`);
          return;
        }
        await sleep(250);
      }
    }
  }

  /**
   * Waits until the session hashes on the masters are exactly those of the tokens that work:
   * none lives on under a token nobody holds, listed or not. A `maybe` session that a
   * revocation answered 503 may still reach (`mayStillBeRevoked`) may be gone by now although
   * `settle` saw it alive: revocations carry no deadline (the README's Revocation), so one may
   * land after that. It stays `maybe`: the next `settle` finds out. A kept one is never excused.
   */
  async function untilOnlyHeldSessions(violations: string[]): Promise<void> {
    const held = new Map(
      users.flatMap((entry) =>
        entry.devices.map((device) => [sessionKey(prefix, device.id), { entry, device }]),
      ),
    );
    const ended = new Map(
      users.flatMap(({ user, dead }) =>
        dead.map(({ id, why }) => [sessionKey(prefix, id), `${user.id} dead (${why})`]),
      ),
    );
    const deadline = Date.now() + 15_000;
    let stray: string[] = [];
    let missing: string[] = [];
    do {
      const found = new Set<string>();
      for (const node of cluster.nodes) {
        await withNode(node.port, async (client) => {
          if ((await client.info('replication')).includes('role:master')) {
            (await client.keys(`${prefix}{*}:s:*`)).forEach((key) => found.add(key));
          }
        });
      }
      const gone = [...held].filter(([key]) => !found.has(key));
      const late = gone.filter(
        ([, { entry, device }]) => device.status !== 'kept' && mayStillBeRevoked(entry, device),
      );
      stray = [...found].filter((key) => !held.has(key));
      missing = gone.filter((each) => !late.includes(each)).map(([key]) => key);
      if (!stray.length && !missing.length) {
        for (const [, { device }] of late) device.history.push(inRound('gone after settling'));
        return;
      }
      await sleep(250);
    } while (Date.now() < deadline);
    const strays = stray.map((key) => `${key} [${ended.get(key) ?? 'never held'}]`);
    const lost = missing.map((key) => {
      const { entry, device } = held.get(key) as { entry: User; device: Device };
      return `${key} [${whatIsKnown(entry, device)}]`;
    });
    violations.push(
      `session hashes no held token names: ${strays.join(' ') || '-'}; ` +
        `held sessions without a hash: ${lost.join(' ') || '-'}`,
    );
  }

  /** The user's list and the devices whose tokens work; null while the store answers 503. */
  async function observe(
    entry: User,
    violations: string[],
  ): Promise<{ listed: Set<string>; alive: Array<{ device: Device; roles: string }> } | null> {
    try {
      const listed = new Set((await sessions.listForUser(entry.user.id)).map(({ id }) => id));
      const alive: Array<{ device: Device; roles: string }> = [];
      for (const device of entry.devices) {
        const session = await sessions.validate(device.token);
        if (session) {
          checkSession(device, session, (message) =>
            violations.push(`${entry.user.id} after the failover: ${message} (${device.history})`),
          );
          alive.push({ device, roles: session.roles.join() });
        } else if (device.status === 'kept') {
          violations.push(
            `${entry.user.id} after the failover: kept session ${device.id} lost (${device.history})`,
          );
        }
      }
      for (const gone of entry.dead) {
        const session = await sessions.validate(gone.token);
        if (session) {
          violations.push(`${entry.user.id}: dead token (${gone.why}) validated as ${session.id}`);
        }
      }
      return { listed, alive };
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableError)) {
        violations.push(`${entry.user.id} after the failover: ${(error as Error)?.name} ${error}`);
      }
      return null;
    }
  }
});

/** The user, what the model knows of the device and how it got there, for failure messages. */
function whatIsKnown(entry: User, device: Device): string {
  const exposed = [device.exposed && 'its revoke answered 503', entry.exposed && 'user exposed'];
  return (
    `${entry.user.id} ${device.status}` +
    `${exposed.some(Boolean) ? ` exposed (${exposed.filter(Boolean).join(', ')})` : ''}: ` +
    device.history.join(', ')
  );
}

/** `kept`, unless a revocation answered 503 may still reach the device (then `maybe`). */
function keptUnlessExposed(entry: User, device: Device): 'kept' | 'maybe' {
  return mayStillBeRevoked(entry, device) ? 'maybe' : 'kept';
}

/** Whether a revocation answered 503 (of the device, or of all the user's) may still end it. */
function mayStillBeRevoked(entry: User, device: Device): boolean {
  return entry.exposed || !!device.exposed;
}

function seed(): { seed?: number } {
  const given = process.env['FUZZ_SEED'];
  return given ? { seed: Number(given) } : {};
}

function checkSession(device: Device, session: Session, fail: (message: string) => void): void {
  if (session.id !== device.id) fail(`token of ${device.id} validated as ${session.id}`);
  if (!device.roles.has(session.roles.join())) {
    fail(`roles ${session.roles} where ${[...device.roles].join(' or ')} were possible`);
  }
}

/** A client on a node still running (not `except`), for reading the cluster's state. */
function withLiveNode<T>(
  cluster: RedisClusterProcess,
  read: (client: Redis) => Promise<T>,
  except?: number,
): Promise<T> {
  const node = cluster.nodes.find(({ port }) => port !== except) as RedisServerProcess;
  return withNode(node.port, read);
}

function slotOf(cluster: RedisClusterProcess, key: string): Promise<number> {
  return withLiveNode(
    cluster,
    (client) => client.call('CLUSTER', 'KEYSLOT', key) as Promise<number>,
  );
}

/** The port of the master serving `slot`, as a node other than `except` sees it. */
function masterOfSlot(cluster: RedisClusterProcess, slot: number, except?: number) {
  return withLiveNode(
    cluster,
    async (client) => {
      const ranges = (await client.call('CLUSTER', 'SLOTS')) as Array<
        [number, number, [string, number, ...unknown[]], ...unknown[]]
      >;
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      return Number(range?.[2][1]);
    },
    except,
  );
}

async function withNode<T>(port: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0 });
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** The node replicating the master on `port`. */
async function replicaOf(cluster: RedisClusterProcess, port: number): Promise<RedisServerProcess> {
  for (const node of cluster.nodes) {
    const info = await withNode(node.port, (client) => client.info('replication'));
    if (info.includes('role:slave') && info.includes(`master_port:${port}\r\n`)) return node;
  }
  throw new Error(`no replica of ${port}`);
}

/** Waits until a replica of the killed master serves its slot and the cluster is whole again. */
async function untilPromoted(cluster: RedisClusterProcess, slot: number, killed: number) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const master = await masterOfSlot(cluster, slot, killed);
    if (master !== killed) {
      const ok = await withLiveNode(
        cluster,
        async (client) => (await client.cluster('INFO')).includes('cluster_state:ok'),
        killed,
      );
      if (ok) return;
    }
    if (Date.now() > deadline) throw new Error(`no replica promoted for slot ${slot}`);
    await sleep(100);
  }
}

/**
 * Waits until every master has a replica linked to it that has processed all it was sent: what
 * the masters hold now survives the death of any one of them.
 */
async function untilReplicated(cluster: RedisClusterProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  const info = (port: number) =>
    withNode(
      port,
      async (client) =>
        Object.fromEntries(
          (await client.info('replication'))
            .split('\r\n')
            .filter((line) => line.includes(':'))
            .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]),
        ) as Record<string, string>,
    );
  for (;;) {
    const nodes = await Promise.all(
      cluster.nodes.map(async ({ port }) => ({ port, info: await info(port) })),
    );
    const masters = nodes.filter(({ info }) => info['role'] === 'master');
    const synced = masters.every((master) => {
      const replica = nodes.find(
        ({ info }) =>
          info['role'] === 'slave' &&
          Number(info['master_port']) === master.port &&
          info['master_link_status'] === 'up',
      );
      return (
        replica &&
        Number(replica.info['slave_repl_offset']) >= Number(master.info['master_repl_offset'])
      );
    });
    if (masters.length === 3 && synced) return;
    if (Date.now() > deadline) {
      throw new Error(
        `replicas never in sync: ${nodes.map(({ port, info }) => `${port} ${info['role']}`)}`,
      );
    }
    await sleep(100);
  }
}
