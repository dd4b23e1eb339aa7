import { Redis } from 'ioredis';

import { SessionRedisConnection, SessionService, SessionStoreUnavailableError } from '../src';
import {
  RedisClusterProcess,
  RedisServerProcess,
  startRedisCluster,
  startRedisServer,
} from '../src/testing';
import { sessionService, sleep } from './store-contract';

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
  dispose(): Promise<void>;
}

async function singleServer(): Promise<Stallable> {
  const server: RedisServerProcess = await startRedisServer();
  return {
    options: { url: server.url },
    admins: [new Redis(server.url)],
    dispose: () => server.dispose(),
  };
}

/** On a cluster the user's keys share one slot: the create and its undo go to one master. */
async function cluster(): Promise<Stallable> {
  const process: RedisClusterProcess = await startRedisCluster();
  return {
    options: { cluster: process.addresses },
    admins: process.nodes.map((node) => new Redis(node.port, '127.0.0.1')),
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

  beforeAll(async () => {
    redis = await start();
    ({ sessions, close } = await sessionService({
      redis: redis.options,
      keyPrefix: 'stall:',
      storeTimeout: 0.2,
      // The event stream would be one more stalled writer; this is about the store alone.
      events: false,
    }));
  });

  afterAll(async () => {
    await close?.();
    redis?.admins.forEach((admin) => admin.disconnect());
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
});
