import { Redis } from 'ioredis';

import { SessionService, SessionStoreUnavailableError } from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { sessionService, sleep } from './store-contract';

/**
 * A create whose answer does not come within `storeTimeout` is answered "store unavailable",
 * but a stalled Redis still runs the script once it resumes. Without an undo, that session
 * (whose token nobody was given) stays listed among the user's devices and counts against
 * their cap until its idle timeout.
 */
describe('a create that timed out while Redis stalled', () => {
  const PAUSE_MS = 600;
  let server: RedisServerProcess;
  let admin: Redis;
  let sessions: SessionService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
    ({ sessions, close } = await sessionService({
      redis: { url: server.url },
      keyPrefix: 'stall:',
      storeTimeout: 0.2,
      // The event stream would be one more stalled writer; this is about the store alone.
      events: false,
    }));
  });

  afterAll(async () => {
    await close?.();
    admin?.disconnect();
    await server?.dispose();
  });

  /** Session hashes in Redis, whatever the index says. */
  async function storedSessions(): Promise<string[]> {
    return admin.keys('stall:*:s:*');
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
    await admin.client('PAUSE', PAUSE_MS, 'WRITE');
    await expect(sessions.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    await sleep(PAUSE_MS);
    await admin.set('stall:resumed', '1'); // a write: served once the paused ones have run
    await sleep(50);
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
    await admin.client('PAUSE', PAUSE_MS, 'WRITE');
    const attempts = await Promise.allSettled([
      sessions.create(users[0]),
      sessions.create(users[0]),
      sessions.create(users[1]),
      sessions.create(users[2]),
    ]);
    expect(attempts.map((attempt) => attempt.status)).toEqual(Array(4).fill('rejected'));
    await sleep(PAUSE_MS);
    await admin.set('stall:resumed', '2');
    await sleep(50);
    expect(await storedSessions()).toHaveLength(stored);
    for (const user of users) {
      const listed = (await sessions.listForUser(user.id)).map((session) => session.id);
      expect(listed).toEqual(user === users[0] ? [kept.session.id] : []);
    }
  });
});
