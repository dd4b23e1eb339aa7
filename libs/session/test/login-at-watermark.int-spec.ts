import { Redis } from 'ioredis';

import { IssuedSession, SessionService, SessionStoreUnavailableError } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { parseSessionId, SessionRef } from '../src/lib/token/session.token';
import {
  REDIS_URL as url,
  sessionKey,
  sessionService,
  uniquePrefix,
  until,
} from './store-contract';

jest.setTimeout(60_000);

/** How far ahead of this Redis the clock a global revocation reads runs (another master's). */
const AHEAD_MS = 300;

/**
 * A global revocation's watermark is the latest master clock plus one millisecond. A login that
 * Redis stamps before it — in the watermark's own millisecond, or on a Cluster master whose
 * clock runs behind the one read — but that runs after the sweep went past its key, was stored
 * dead on arrival: refused by every service, yet listed among the user's devices and counted at
 * the cap, where it evicted a live session. Here the revocation reads a clock `AHEAD_MS` ahead
 * of the Redis that stamps the logins (as a Cluster's other master would): every login made
 * right after it is stamped before its watermark, deterministically.
 */
describe('a login stamped before the watermark of a global revocation it follows', () => {
  /** A prefix of each test's own: the watermark one test leaves would outdate the next's. */
  let keyPrefix: string;
  let client: Redis;
  let admin: Redis;
  let sessions: SessionService;
  let close: () => Promise<void>;
  /** Added to what TIME answers the store while set: the revocation reads a clock ahead. */
  let aheadMs = 0;
  let users = 0;
  const newUser = () => {
    const id = `u-at-watermark-${users++}`;
    return { id, username: id, roles: ['customer'] };
  };

  beforeAll(() => {
    admin = new Redis(url);
  });

  beforeEach(async () => {
    keyPrefix = uniquePrefix();
    client = new Redis(url, { maxRetriesPerRequest: 0 });
    const time = client.time.bind(client);
    client.time = (async () => {
      const [seconds, micros] = await time();
      const us = Number(seconds) * 1_000_000 + Number(micros) + aheadMs * 1000;
      return [String(Math.floor(us / 1_000_000)), String(us % 1_000_000)];
    }) as unknown as typeof client.time;
    ({ sessions, close } = await sessionService({
      redis: { client },
      keyPrefix,
      maxSessionsPerUser: 2,
      capPolicy: 'evict-oldest',
      events: false,
    }));
  });

  afterEach(async () => {
    await close?.();
    const leftovers = await admin.keys(`${keyPrefix}*`);
    if (leftovers.length) await admin.del(...leftovers);
    client?.disconnect();
  });

  afterAll(() => admin?.disconnect());

  /** Revokes everything but `except`, reading a clock `ahead` ms ahead of Redis's. */
  async function revokeEverythingAhead(ahead: number, except?: string): Promise<void> {
    aheadMs = ahead;
    await sessions.revokeEverything({ except, onWatermark: () => (aheadMs = 0) });
    aheadMs = 0;
  }

  /** Each listed session and whether this service accepts its token. */
  async function devices(userId: string, tokens: Map<string, string>) {
    const listed = await sessions.listForUser(userId);
    return Promise.all(
      listed.map(async ({ id }) => ({
        id,
        accepted: (await sessions.validate(tokens.get(id))) !== null,
      })),
    );
  }

  it('stores it live, and lets it evict no live session for a dead one', async () => {
    const user = newUser();
    const kept = await sessions.create(user);
    await revokeEverythingAhead(AHEAD_MS, kept.session.id);
    expect(await sessions.validate(kept.token)).not.toBeNull();

    const first = await sessions.create(user);
    const second = await sessions.create(user);
    const tokens = new Map([first, second, kept].map((each) => [each.session.id, each.token]));
    // Both logins live; the cap of 2 evicted the oldest: the kept session.
    expect(await sessions.validate(first.token)).not.toBeNull();
    expect(await sessions.validate(second.token)).not.toBeNull();
    expect(await devices(user.id, tokens)).toEqual([
      { id: first.session.id, accepted: true },
      { id: second.session.id, accepted: true },
    ]);
  });

  it('stores it live however far behind the watermark Redis runs', async () => {
    const user = newUser();
    const kept = await sessions.create(user);
    await revokeEverythingAhead(5_000, kept.session.id);

    const login = await sessions.create(user);
    expect(await sessions.validate(login.token)).not.toBeNull();
    const tokens = new Map([login, kept].map((each) => [each.session.id, each.token]));
    expect(await devices(user.id, tokens)).toEqual([
      { id: kept.session.id, accepted: true },
      { id: login.session.id, accepted: true },
    ]);
  });

  it('makes it again, live, when the sweep deleted it first', async () => {
    const user = newUser();
    const kept = await sessions.create(user);
    await revokeEverythingAhead(AHEAD_MS, kept.session.id);
    const keys = new RedisKeys(keyPrefix);
    const { tag } = parseSessionId(kept.session.id) as SessionRef;
    const keptKey = sessionKey(keyPrefix, kept.session.id);
    // The sweep reaches the new session before the login reads the watermark (once).
    const get = client.get.bind(client);
    let swept = 0;
    client.get = (async (key: string) => {
      if (key === keys.notBefore() && swept === 0) {
        for (const found of await admin.keys(`${keys.sessionPrefix(tag)}*`)) {
          if (found === keptKey) continue;
          swept += await admin.del(found);
          await admin.zrem(keys.index(tag, user.id), found.slice(keys.sessionPrefix(tag).length));
        }
      }
      return get(key);
    }) as typeof client.get;
    let login: IssuedSession;
    try {
      login = await sessions.create(user);
    } finally {
      client.get = get;
    }
    expect(swept).toBe(1);
    expect(await sessions.validate(login.token)).not.toBeNull();
    const tokens = new Map([login, kept].map((each) => [each.session.id, each.token]));
    expect(await devices(user.id, tokens)).toEqual([
      { id: kept.session.id, accepted: true },
      { id: login.session.id, accepted: true },
    ]);
  });

  it('answers 503 and keeps nothing when every reading finds a later watermark', async () => {
    const user = newUser();
    const kept = await sessions.create(user);
    await revokeEverythingAhead(AHEAD_MS, kept.session.id);
    // Global revocations in a loop: each reading of the watermark finds a later one.
    const notBefore = new RedisKeys(keyPrefix).notBefore();
    const get = client.get.bind(client);
    let raised = Date.now() + 60_000;
    client.get = ((key: string) =>
      key === notBefore ? Promise.resolve(String(raised++)) : get(key)) as typeof client.get;
    try {
      await expect(sessions.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    } finally {
      client.get = get;
    }
    // The session nobody was given goes (the undo of a create, sent in the background).
    const { tag } = parseSessionId(kept.session.id) as SessionRef;
    const sessionsOf = () => admin.keys(`${new RedisKeys(keyPrefix).sessionPrefix(tag)}*`);
    await until(async () => (await sessionsOf()).length === 1);
    expect(await sessionsOf()).toEqual([sessionKey(keyPrefix, kept.session.id)]);
    expect((await sessions.listForUser(user.id)).map(({ id }) => id)).toEqual([kept.session.id]);
  });
});
