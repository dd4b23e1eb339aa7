import { createHash } from 'node:crypto';

import { Cluster, Redis } from 'ioredis';

import { SessionRedisConnection, SessionService, SessionStoreUnavailableError } from '../src';
import {
  RedisClusterProcess,
  RedisServerProcess,
  startRedisCluster,
  startRedisServer,
  startTcpRelay,
  TcpRelay,
} from '../src/testing';
import { decodeSessionEvent } from '../src/lib/events/session-event.interface';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import { relayedRedis } from './relayed-redis';
import { answersTo, sessionKey, sessionService, sleep, until } from './store-contract';

// Starting a cluster and three services can take more than the default 5 s on a busy machine.
jest.setTimeout(60_000);

/**
 * A create whose answer does not come within `storeTimeout` is answered "store unavailable",
 * but a stalled Redis still runs the script once it resumes. Without an undo, that session
 * (whose token nobody was given) stays listed among the user's devices and counts against
 * their cap until its idle timeout.
 */
interface Stallable {
  options: SessionRedisConnection;
  /** One admin connection per node: a pause, and a key listing, reach every master. */
  admins: Redis[];
  /** A client that finds any key, on whichever node holds it. */
  inspect: Redis | Cluster;
  dispose(): Promise<void>;
}

async function singleServer(): Promise<Stallable> {
  const server: RedisServerProcess = await startRedisServer();
  return {
    options: { url: server.url },
    admins: [new Redis(server.url)],
    inspect: new Redis(server.url),
    dispose: () => server.dispose(),
  };
}

/** On a cluster the user's keys share one slot: the create and its undo go to one master. */
async function cluster(): Promise<Stallable> {
  const process: RedisClusterProcess = await startRedisCluster();
  return {
    options: { cluster: process.addresses },
    admins: process.nodes.map((node) => new Redis(node.port, '127.0.0.1')),
    inspect: new Cluster(process.addresses),
    dispose: () => process.dispose(),
  };
}

describe.each([
  ['one Redis', singleServer],
  ['a Redis Cluster', cluster],
])('a create that timed out while %s stalled', (_name, start) => {
  const PAUSE_MS = 600;
  let redis: Stallable;
  let sessions: SessionService;
  let close: () => Promise<void>;
  /** Two sessions per user at most: a third login evicts one. */
  const capped: Partial<Record<'evict-oldest' | 'evict-idlest', SessionService>> = {};
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    redis = await start();
    const options = {
      redis: redis.options,
      keyPrefix: 'stall:',
      storeTimeout: 0.2,
      // The event stream would be one more stalled writer; this is about the store alone.
      events: false as const,
    };
    ({ sessions, close } = await sessionService(options));
    for (const capPolicy of ['evict-oldest', 'evict-idlest'] as const) {
      const service = await sessionService({ ...options, maxSessionsPerUser: 2, capPolicy });
      capped[capPolicy] = service.sessions;
      closers.push(service.close);
    }
  });

  afterAll(async () => {
    await close?.();
    for (const closeCapped of closers) await closeCapped();
    redis?.admins.forEach((admin) => admin.disconnect());
    redis?.inspect.disconnect();
    await redis?.dispose();
  });

  /** Session hashes in Redis, whatever the index says. */
  async function storedSessions(): Promise<string[]> {
    const perNode = await Promise.all(redis.admins.map((admin) => admin.keys('stall:*:s:*')));
    return perNode.flat();
  }

  async function pauseWrites(): Promise<void> {
    await Promise.all(redis.admins.map((admin) => admin.client('PAUSE', PAUSE_MS, 'WRITE')));
  }

  /** Waits out the pause, then until every node has run what it held. */
  async function resumed(): Promise<void> {
    await sleep(PAUSE_MS);
    // Ends what is left of the pause on every node; the held commands then run.
    await Promise.all(redis.admins.map((admin) => admin.call('CLIENT', 'UNPAUSE')));
    await sleep(50);
  }

  /**
   * `CLIENT PAUSE … WRITE` holds the create script but answers reads: the user's tag is looked
   * up, then the script is sent and waits, as when Redis stalls between a login's reads and its
   * write.
   */
  it('leaves no session once Redis resumes', async () => {
    const user = { id: 'stalled-user-1', username: 'stalled1', roles: ['customer'] };
    const kept = await sessions.create(user);
    const stored = (await storedSessions()).length;
    await pauseWrites();
    await expect(sessions.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    await resumed();
    const listed = await sessions.listForUser(user.id);
    expect(listed.map((session) => session.id)).toEqual([kept.session.id]);
    expect(await storedSessions()).toHaveLength(stored);
    expect(await sessions.validate(kept.token)).not.toBeNull();
  });

  it('leaves none of several creates at once, for one user and for several', async () => {
    const users = [1, 2, 3].map((n) => ({
      id: `stalled-many-${n}`,
      username: `stalledmany${n}`,
      roles: ['customer'],
    }));
    const kept = await sessions.create(users[0]);
    const stored = (await storedSessions()).length;
    await pauseWrites();
    const attempts = await Promise.allSettled([
      sessions.create(users[0]),
      sessions.create(users[0]),
      sessions.create(users[1]),
      sessions.create(users[2]),
    ]);
    expect(attempts.map((attempt) => attempt.status)).toEqual(Array(4).fill('rejected'));
    await resumed();
    expect(await storedSessions()).toHaveLength(stored);
    for (const user of users) {
      const listed = (await sessions.listForUser(user.id)).map((session) => session.id);
      expect(listed).toEqual(user === users[0] ? [kept.session.id] : []);
    }
  });
  /** What a user's devices look like: each session's id, roles and timestamps. */
  async function devices(user: string, service: SessionService) {
    return (await service.listForUser(user)).map(({ id, roles, createdAt, lastSeenAt }) => ({
      id,
      roles,
      createdAt,
      lastSeenAt,
    }));
  }

  /** A user holding two sessions, the cap: the first is the oldest. */
  async function atCap(policy: 'evict-oldest' | 'evict-idlest', userId: string) {
    const service = capped[policy] as SessionService;
    const user = { id: userId, username: userId, roles: ['customer'] };
    const first = await service.create(user);
    await sleep(5);
    const second = await service.create(user);
    return { service, user, first, second };
  }

  /** Keys a login kept for its undo, of the user whose session this is, on any node. */
  async function undoKeys(sessionId: string): Promise<string[]> {
    const tag = sessionId.split('.')[0];
    const perNode = await Promise.all(
      redis.admins.map((admin) => admin.keys(`stall:{${tag}}:e:*`)),
    );
    return perNode.flat();
  }

  /** Milliseconds left of each session's life in Redis. */
  function ttls(...ids: string[]): Promise<number[]> {
    return Promise.all(ids.map((id) => redis.inspect.pttl(sessionKey('stall:', id))));
  }

  it.each(['evict-oldest', 'evict-idlest'] as const)(
    'puts back the session a timed-out login evicted at the cap (%s)',
    async (policy) => {
      const { service, user, first, second } = await atCap(policy, `stalled-cap-${policy}`);
      const before = await devices(user.id, service);
      expect(before).toHaveLength(2);
      const ids = [first.session.id, second.session.id];
      const ttlsBefore = await ttls(...ids);
      const stored = (await storedSessions()).length;
      await pauseWrites();
      await expect(service.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await resumed();
      // The evicted session is back as it was, with its place in the index, and it works.
      const after = await devices(user.id, service);
      const withoutLastUse = (list: typeof before) =>
        list.map(({ id, roles, createdAt }) => ({ id, roles, createdAt }));
      expect(withoutLastUse(after)).toEqual(withoutLastUse(before));
      // A listing reads the last use from the TTL: to the millisecond, either way.
      after.forEach(({ lastSeenAt }, i) => {
        expect(Math.abs(lastSeenAt - before[i].lastSeenAt)).toBeLessThanOrEqual(1);
      });
      expect(await storedSessions()).toHaveLength(stored);
      for (const { token } of [first, second]) {
        expect(await service.validate(token)).not.toBeNull();
      }
      expect(await undoKeys(first.session.id)).toEqual([]);
      // The idle life of each went on through the stall: neither reset nor made endless.
      const ttlsAfter = await ttls(...ids);
      ttlsAfter.forEach((ttl, i) => {
        expect(ttl).toBeLessThanOrEqual(ttlsBefore[i]);
        expect(ttl).toBeGreaterThan(ttlsBefore[i] - 5000);
      });
    },
  );

  it('keeps an evicted session out of reach, and set aside only while an undo may come', async () => {
    const { service, user, first, second } = await atCap('evict-oldest', 'stalled-cap-ok');
    // A login that succeeds evicts the oldest: its token no longer works, nor is it listed.
    const third = await service.create(user);
    expect(third.evicted).toEqual([first.session.id]);
    expect(await service.validate(first.token)).toBeNull();
    expect((await devices(user.id, service)).map(({ id }) => id)).toEqual([
      second.session.id,
      third.session.id,
    ]);
    // The login was answered: nothing stays set aside for an undo that will not come.
    await until(async () => (await undoKeys(first.session.id)).length === 0);
    // Revoking it by id finds nothing live.
    expect(await service.revoke(first.session.id, user.id)).toBe(false);
    expect(await service.validate(first.token)).toBeNull();
  });

  /**
   * A logout of the evicted session that reached Redis between the late create and its undo:
   * sent after the create on the same connection (no durability: one connection for all, and
   * a revocation by id reads nothing first), so Redis runs it between the two.
   */
  it('does not put back an evicted session revoked in between', async () => {
    const { service, user, first, second } = await atCap('evict-oldest', 'stalled-cap-revoked');
    await pauseWrites();
    const login = service.create(user);
    await sleep(50);
    const logout = service.revoke(first.session.id, user.id);
    const outcomes = await Promise.allSettled([login, logout]);
    expect(outcomes.map(({ status }) => status)).toEqual(['rejected', 'rejected']);
    await resumed();
    expect(await service.validate(first.token)).toBeNull();
    expect((await devices(user.id, service)).map(({ id }) => id)).toEqual([second.session.id]);
    expect(await undoKeys(first.session.id)).toEqual([]);
  });
});

/**
 * A create that Redis ran while the connection broke: its answer is lost, and so is the undo
 * the store sent behind it. The store must send the undo again once it has reconnected.
 */
describe('a create whose answer was lost with its connection', () => {
  let server: RedisServerProcess;
  let relay: TcpRelay;
  let admin: Redis;
  let sessions: SessionService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    server = await startRedisServer();
    relay = await startTcpRelay(server.port);
    admin = new Redis(server.url);
    ({ sessions, close } = await sessionService({
      redis: { url: `redis://127.0.0.1:${relay.port}` },
      keyPrefix: 'lost:',
      storeTimeout: 0.2,
      events: false,
      maxSessionsPerUser: 2,
    }));
  });

  afterAll(async () => {
    await close?.();
    admin?.disconnect();
    await relay?.sever();
    await server?.dispose();
  });

  it('leaves no session and puts back the one it evicted, once reconnected', async () => {
    const user = { id: 'lost-answer', username: 'lostanswer', roles: ['customer'] };
    const first = await sessions.create(user);
    await sleep(5);
    const second = await sessions.create(user);
    const ids = () => sessions.listForUser(user.id).then((list) => list.map(({ id }) => id));
    const before = await ids();
    await admin.client('PAUSE', 2000, 'WRITE');
    const login = sessions.create(user);
    await sleep(50); // the create reached Redis, which holds it
    relay.hold(); // its answer, and what the store sends next, wait in the relay
    await expect(login).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    await sleep(50); // the undo, sent at the timeout, waits in the relay too
    await admin.call('CLIENT', 'UNPAUSE');
    await sleep(50); // Redis ran the create; its answer waits in the relay
    relay.cut(); // the answer and the undo are lost with the connection
    // Well within the time the store keeps an evicted session for the undo (60 s).
    await until(async () => (await ids().catch(() => [])).join() === before.join(), 8000).catch(
      async () => expect(await ids()).toEqual(before),
    );
    expect(await sessions.validate(first.token)).not.toBeNull();
    expect(await sessions.validate(second.token)).not.toBeNull();
  }, 20_000);

  /**
   * The same lost answer, watched from the evicted session's side: the login was answered 503,
   * so nothing changed for it, and once the store is connected again its token must never be
   * refused (401) while the undo waits for its next try. Cut at several moments, so that the
   * reconnection falls at different points of the undo's back-off.
   */
  it.each([0, 150, 400, 900])(
    'never refuses the session it evicted once connected again (cut %i ms later)',
    async (cutAfterMs) => {
      const user = { id: `lost-evicted-${cutAfterMs}`, username: 'evicted', roles: ['customer'] };
      const first = await sessions.create(user);
      await sleep(5);
      await sessions.create(user);
      await admin.client('PAUSE', 2000, 'WRITE');
      const login = sessions.create(user);
      await sleep(50); // the create reached Redis, which holds it
      relay.hold();
      await expect(login).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await sleep(50);
      await admin.call('CLIENT', 'UNPAUSE');
      await sleep(50 + cutAfterMs); // Redis ran the create, which set the first session aside
      relay.cut();
      const answers = await answersTo(sessions, first.token, 2500);
      expect(answers).not.toContain('refused');
      expect(answers[answers.length - 1]).toBe('live');
    },
    20_000,
  );

  /**
   * The same lost answer, and the user's generation moved before the undo comes again (a role
   * change, a revocation of all): the evicted session stays gone. Nobody announced its end —
   * the create's answer, which would have, was lost — so the undo's answer must.
   */
  it('announces the session it evicted when the undo cannot put it back', async () => {
    const prefix = 'lost-events:';
    const announcing = await sessionService({
      redis: { url: `redis://127.0.0.1:${relay.port}` },
      keyPrefix: prefix,
      storeTimeout: 0.2,
      maxSessionsPerUser: 2,
    });
    try {
      const service = announcing.sessions;
      const user = { id: 'lost-announced', username: 'lostannounced', roles: ['customer'] };
      const first = await service.create(user);
      await sleep(5);
      await service.create(user);
      await admin.client('PAUSE', 2000, 'WRITE');
      const login = service.create(user);
      await sleep(50);
      relay.hold();
      await expect(login).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await sleep(50);
      await admin.call('CLIENT', 'UNPAUSE');
      await sleep(50); // Redis ran the create, which set the first session aside
      const tag = first.session.id.split('.')[0];
      await admin.incr(`${prefix}{${tag}}:g:${user.id}`);
      relay.cut(); // the undo comes again after the reconnection, and finds the generation moved
      const evicted = async () => {
        const entries = (await admin.xrange(`${prefix}events`, '-', '+')) as Array<
          [string, string[]]
        >;
        return entries
          .map(([id, fields]) => decodeSessionEvent(id, fields))
          .filter((event) => event?.type === 'session.evicted')
          .map((event) => event?.sessionId);
      };
      await until(async () => (await evicted()).includes(first.session.id), 8000);
      expect(await evicted()).toEqual([first.session.id]);
      expect(await service.validate(first.token)).toBeNull();
    } finally {
      await announcing.close();
    }
  }, 20_000);
});

/**
 * A login whose create the network holds (a partition that begins as it is sent), on a
 * connection then dropped as silent, the create reaching Redis when the partition heals (the
 * sender's TCP stack delivers what it had sent). Its undo must run after it: an undo that went
 * on the next connection and found nothing there, taken for the last word, would leave a
 * session nobody holds the token of, listed among the user's devices, having evicted one of
 * theirs at the cap. (It fails so when the create is sent without the tag read just before it,
 * which keeps its connection from being dropped before the undo is written behind it: see
 * `RedisSessionStore.abandon`.)
 */
describe('a create that reaches Redis after a partition heals', () => {
  const CREATE_SHA = createHash('sha1').update(SESSION_SCRIPTS.cloakroomCreate.lua).digest('hex');
  const redis = relayedRedis();

  it('deletes the late session and puts back the one it evicted', async () => {
    const keyPrefix = 'late-create:';
    const { sessions, close } = await sessionService({
      redis: { url: `redis://127.0.0.1:${redis.relay.port}` },
      keyPrefix,
      storeTimeout: 0.3,
      events: false,
      maxSessionsPerUser: 2,
    });
    try {
      const user = { id: 'late-create', username: 'latecreate', roles: ['customer'] };
      const first = await sessions.create(user);
      await sleep(5);
      const second = await sessions.create(user);
      const ids = () => sessions.listForUser(user.id).then((list) => list.map(({ id }) => id));
      const before = await ids();
      const hashes = () => redis.admin.keys(`${keyPrefix}*:s:*`).then((keys) => keys.sort());
      const storedBefore = await hashes();
      redis.relay.delayFrom((bytes) => bytes.includes(CREATE_SHA));
      await expect(sessions.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      // A call waiting past a second of silence drops the connection; the store connects again.
      await until(async () => (await sessions.validate(second.token).catch(() => null)) !== null);
      await sleep(500);
      redis.relay.release();
      // The create runs now: a third session, the first one evicted. Seen (unless its undo was
      // quicker than this look), then undone.
      await until(async () => (await hashes()).join() !== storedBefore.join(), 2000).catch(
        () => undefined,
      );
      await until(async () => (await ids().catch(() => [])).join() === before.join(), 12_000).catch(
        () => undefined,
      );
      expect(await ids()).toEqual(before);
      expect(await hashes()).toEqual(storedBefore);
      expect(await sessions.validate(first.token)).not.toBeNull();
      expect(await sessions.validate(second.token)).not.toBeNull();
    } finally {
      await close();
    }
  }, 30_000);
});
