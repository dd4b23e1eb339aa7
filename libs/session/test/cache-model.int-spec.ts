import { rmSync } from 'node:fs';
import { join } from 'node:path';

import fc from 'fast-check';
import { Redis } from 'ioredis';

import { Session, SessionService } from '../src';
import { UNFOUND_REVOCATIONS_PER_SECOND } from '../src/lib/events/session-events.publisher';
import { freePort, RedisServerProcess } from '../src/testing';
import { cachedServicesAndTruth, sessionKey, sleep, uniquePrefix } from './store-contract';

jest.setTimeout(180_000);

/**
 * A differential model of the local cache and revocation across services, on a Redis of its own
 * that it restarts (with its data, or without) and whose event streams are kept so short that
 * bursts trim them before the caches read them. Three services share it: two cache (`caches[1]`
 * holds at most 3 entries), the third does not and is the truth. Each write goes through any of
 * them while a validation through a cached service is in flight, started a random number of
 * event-loop turns before it; some writes revoke a session Redis has already lost. After each
 * command, once every cache has seen the events published so far, every cache must answer
 * every token as the truth does.
 */
const USERS = 2;
const ROLE_SETS = [['customer'], ['admin'], []];

interface Issued {
  token: string;
  id: string;
  user: number;
}

interface Model {
  issued: Issued[];
}

/** A service by index: 0 and 1 cache, 2 is the truth. */
type Via = 0 | 1 | 2;

type WriteKind = 'revoke' | 'rotate' | 'revoke-all' | 'roles' | 'patch' | 'lost-logout';

class World {
  constructor(
    readonly server: RedisServerProcess,
    readonly admin: Redis,
    readonly keyPrefix: string,
    readonly caches: SessionService[],
    readonly truth: SessionService,
    readonly run: string,
    /**
     * When each service's revocations that found nothing returned (each announced, if its
     * rate allowed), across runs: the services outlive them.
     */
    private readonly unfound: number[][],
  ) {}

  service(via: Via): SessionService {
    return via === 2 ? this.truth : this.caches[via];
  }

  /** Notes a revocation through `via` that found nothing: it spent its announcement budget. */
  spentUnfound(via: Via): void {
    this.unfound[via].push(performance.now());
  }

  /**
   * Waits until a revocation that finds nothing through `via` is surely announced: its
   * publisher allows `UNFOUND_REVOCATIONS_PER_SECOND` a second (a bucket of as many, refilled at
   * that rate), so it holds two or more while fewer than that less two were spent in the last
   * second.
   */
  async untilUnfoundAnnounced(via: Via): Promise<void> {
    for (;;) {
      const since = performance.now() - 1_000;
      const spent = this.unfound[via].filter((at) => at > since);
      this.unfound[via] = spent;
      if (spent.length <= UNFOUND_REVOCATIONS_PER_SECOND - 2) return;
      await sleep(spent[0] - since + 1);
    }
  }

  userId(user: number): string {
    return `u-model-${this.run}-${user}`;
  }

  user(user: number) {
    return { id: this.userId(user), username: `user${user}`, roles: ['customer'] };
  }

  /**
   * Returns once every cache has handled the events published so far: a marker session each
   * cache holds is revoked after them, and each forgets it in stream order (or at a gap, which
   * flushes everything). Store calls that fail while Redis comes back are tried again.
   */
  async caughtUp(): Promise<void> {
    await eventually(async () => {
      const marker = await this.truth.create({ id: 'u-model-marker', username: 'm', roles: [] });
      for (const cache of this.caches) {
        await polled(
          async () => !!(await cache.validate(marker.token)) && !!cache.cached(marker.token),
        );
      }
      await this.truth.revoke(marker.session.id);
      for (const cache of this.caches) {
        await polled(() => cache.cached(marker.token) === undefined);
      }
    });
  }

  /** Every cache answers every token as the truth does (nothing is written meanwhile). */
  async agree(model: Model, services: SessionService[] = this.caches): Promise<void> {
    for (const issued of model.issued) {
      for (const service of services) {
        const held = service.cached(issued.token);
        const answer = await service.validate(issued.token);
        const truth = await this.truth.validate(issued.token);
        for (const session of [held, answer]) {
          if (session === undefined) continue;
          if (session && !truth) {
            throw new Error(`a cache served ${issued.id}, which the store refuses`);
          }
          if (!session && truth) {
            throw new Error(`a cache refused ${issued.id}, which the store serves`);
          }
          if (session && truth) expect(pick(session)).toEqual(pick(truth));
        }
      }
    }
  }
}

function pick(session: Session) {
  const { id, userId, roles, createdAt, authenticatedAt, absoluteExpiresAt, attributes } = session;
  return { id, userId, roles, createdAt, authenticatedAt, absoluteExpiresAt, attributes };
}

/** Polls `condition` every millisecond or so, for at most 5 s. */
async function polled(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('a cache did not catch up with the events in time');
    await sleep(1);
  }
}

/** Runs `step` until it does not throw, for at most 20 s (Redis coming back). */
async function eventually(step: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

/** Lets `count` turns of the event loop go by. */
async function ticks(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

type Command = fc.AsyncCommand<Model, World>;

const at = (model: Model, index: number) => model.issued[index % model.issued.length];
const some = (model: Model) => model.issued.length > 0;

class Create implements Command {
  constructor(
    readonly user: number,
    readonly via: Via,
  ) {}
  check = () => true;
  async run(model: Model, world: World) {
    const { token, session } = await world.service(this.via).create(world.user(this.user));
    model.issued.push({ token, id: session.id, user: this.user });
    // Read into both caches, so that later writes have something to make stale.
    for (const cache of world.caches) await cache.validate(token);
  }
  toString = () => `create(user ${this.user}, via ${this.via})`;
}

class Write implements Command {
  constructor(
    readonly kind: WriteKind,
    readonly index: number,
    readonly via: Via,
    /** The validation in flight: through which cache, of which token, how many turns before. */
    readonly inFlight: { cache: 0 | 1; index: number; offset: number },
    readonly choice: number,
  ) {}
  check = some;
  async run(model: Model, world: World) {
    const target = at(model, this.index);
    const service = world.service(this.via);
    if (this.kind === 'lost-logout') {
      // Past the announcements' rate limit the caches' ttl is the bound: kept within it here.
      await world.untilUnfoundAnnounced(this.via);
    }
    const inFlight = world.caches[this.inFlight.cache]
      .validate(at(model, this.inFlight.index).token)
      .catch(() => null);
    await ticks(this.inFlight.offset);
    switch (this.kind) {
      case 'revoke':
        if (!(await service.revoke(target.id))) world.spentUnfound(this.via);
        break;
      case 'rotate': {
        const rotated = await service.rotate(target.token, {
          revokeOthersOf: this.choice % 2 ? world.userId(target.user) : undefined,
        });
        if (rotated) {
          model.issued.push({ token: rotated.token, id: rotated.session.id, user: target.user });
        } else if (this.choice % 2 === 0) {
          world.spentUnfound(this.via);
        }
        break;
      }
      case 'revoke-all':
        await service.revokeAllForUser(world.userId(target.user), {
          except: this.choice % 2 ? target.id : undefined,
        });
        break;
      case 'roles':
        await service.setRolesForUser(
          world.userId(target.user),
          ROLE_SETS[this.choice % ROLE_SETS.length],
        );
        break;
      case 'patch':
        await service.patch(target.token, { step: this.choice });
        break;
      case 'lost-logout':
        // Redis lost the session (evicted, a failover) before its holder logs out.
        await world.admin.del(sessionKey(world.keyPrefix, target.id));
        if (!(await service.revoke(target.id))) world.spentUnfound(this.via);
        break;
    }
    if (this.via !== 2) {
      // What the writer answers at once, before any event comes back to it.
      await world.agree(model, [service]);
    }
    await inFlight;
    await world.caughtUp();
    await world.agree(model);
  }
  toString = () =>
    `${this.kind}(${this.index}, via ${this.via}, choice ${this.choice}, ` +
    `in flight ${JSON.stringify(this.inFlight)})`;
}

class Validate implements Command {
  constructor(readonly index: number) {}
  check = some;
  async run(model: Model, world: World) {
    await world.agree({ issued: [at(model, this.index)] });
  }
  toString = () => `validate(${this.index})`;
}

/** Many revocations at once through the truth: the short streams trim what the caches read. */
class Burst implements Command {
  constructor(readonly count: number) {}
  check = () => true;
  async run(model: Model, world: World) {
    const issued = await Promise.all(
      Array.from({ length: this.count }, (_, i) => world.truth.create(world.user(i % USERS))),
    );
    for (const cache of world.caches) {
      await Promise.all(issued.map(({ token }) => cache.validate(token)));
    }
    model.issued.push(
      ...issued.map(({ token, session }, i) => ({ token, id: session.id, user: i % USERS })),
    );
    await Promise.all(issued.map(({ session }) => world.truth.revoke(session.id)));
    await world.caughtUp();
    await world.agree(model);
  }
  toString = () => `burst(${this.count})`;
}

/** Redis killed and started again: from a snapshot taken just before, or empty. */
class Restart implements Command {
  constructor(readonly keepData: boolean) {}
  check = () => true;
  async run(model: Model, world: World) {
    if (this.keepData) await world.admin.save();
    else rmSync(join(world.server.dir, 'dump.rdb'), { force: true });
    await world.server.stop();
    await world.server.start();
    await world.caughtUp();
    await world.agree(model);
  }
  toString = () => `restart(${this.keepData ? 'with its data' : 'empty'})`;
}

function commands(): Array<fc.Arbitrary<Command>> {
  const via = fc.constantFrom<Via>(0, 1, 2);
  const index = fc.nat(40);
  const inFlight = fc.record({
    cache: fc.constantFrom<0 | 1>(0, 1),
    index,
    offset: fc.nat(12),
  });
  const kind = fc.constantFrom<WriteKind>(
    'revoke',
    'rotate',
    'revoke-all',
    'roles',
    'patch',
    'lost-logout',
  );
  const create = fc.tuple(fc.nat(USERS - 1), via).map(([u, v]) => new Create(u, v));
  const write = fc
    .tuple(kind, index, via, inFlight, fc.nat(5))
    .map(([k, i, v, f, c]) => new Write(k, i, v, f, c));
  const common = [create, create, write, write, write, index.map((i) => new Validate(i))];
  const rare = [
    fc.integer({ min: 5, max: 20 }).map((n) => new Burst(n)),
    fc.boolean().map((keep) => new Restart(keep)),
  ];
  // fc.commands picks among its arbitraries evenly: the common ones are listed several times.
  return [...common, ...common, ...common, ...rare];
}

describe('the local cache and revocation across services, Redis restarted and streams trimmed', () => {
  it('every cache agrees with the store after every write, whatever is in flight', async () => {
    const server = new RedisServerProcess(await freePort(), ['--stream-node-max-entries', '2']);
    const closers: Array<() => Promise<void>> = [];
    try {
      await server.start();
      const admin = new Redis(server.url);
      admin.on('error', () => undefined);
      closers.push(async () => admin.disconnect());
      const keyPrefix = uniquePrefix();
      const shared = {
        redis: { url: server.url },
        keyPrefix,
        maxSessionsPerUser: 3,
        storeTimeout: 1,
        events: { maxLength: 4 },
      };
      const { caches, truth } = await cachedServicesAndTruth(shared, closers);
      let runs = 0;
      const unfound: number[][] = [[], [], []];
      await fc.assert(
        fc.asyncProperty(fc.commands(commands(), { maxCommands: 20, size: 'max' }), (cmds) =>
          fc.asyncModelRun(async () => {
            const world = new World(
              server,
              admin,
              keyPrefix,
              caches,
              truth,
              `${process.pid}x${++runs}`,
              unfound,
            );
            await world.caughtUp();
            return { model: { issued: [] }, real: world };
          }, cmds),
        ),
        { numRuns: 100, interruptAfterTimeLimit: 120_000 },
      );
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      await server.dispose();
    }
  });
});
