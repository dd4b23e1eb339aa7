import { createHash } from 'node:crypto';

import { Redis } from 'ioredis';

import { IssuedSession, SessionService, SessionStoreUnavailableError } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import { newSecret, parseSessionId, SessionRef, sessionRef } from '../src/lib/token/session.token';
import { relayedRedis } from './relayed-redis';
import {
  dump,
  REDIS_URL as url,
  sessionService,
  answersTo,
  sleep,
  uniquePrefix,
  until,
} from './store-contract';

jest.setTimeout(60_000);

const STORE_TIMEOUT_S = 0.3;
/** What the store's rotation sends: the EVALSHA of rotate.lua, prelude included. */
const ROTATE_SHA = createHash('sha1').update(SESSION_SCRIPTS.cloakroomRotate.lua).digest('hex');

let users = 0;
const newUser = () => {
  const id = `u-rotate-${process.pid}-${users++}`;
  return { id, username: id, roles: ['customer'] };
};

const ref = (issued: IssuedSession) => parseSessionId(issued.session.id) as SessionRef;

/**
 * A rotation (a re-authentication, a password change) whose answer does not come within
 * `storeTimeout` is answered 503 — which means nothing changed: the caller keeps the token it
 * has and is given no other. A stalled or partitioned Redis may still run the rotation later:
 * without an undo the caller's token dies and the session lives on under a token nobody was
 * given, listed among the user's devices and counted against the cap. A relay holds the
 * rotation's bytes on its connection (and what the store sends after it there) and delivers
 * them at a chosen moment, or drops them.
 */
describe('a rotation answered 503 while Redis did not answer', () => {
  const redis = relayedRedis();

  async function start() {
    const keyPrefix = uniquePrefix();
    const service = await sessionService({
      redis: { url: `redis://127.0.0.1:${redis.relay.port}` },
      keyPrefix,
      storeTimeout: STORE_TIMEOUT_S,
      // The event stream would be one more writer on the held connection; this is the store.
      events: false,
    });
    return { ...service, keys: new RedisKeys(keyPrefix), keyPrefix };
  }

  /** A user's sessions: `count` of them, the first the caller's. */
  async function loggedIn(sessions: SessionService, count: number) {
    const user = newUser();
    const made: IssuedSession[] = [];
    for (let n = 0; n < count; n++) {
      made.push(await sessions.create(user));
      await sleep(2);
    }
    return { user, made, tag: ref(made[0]).tag };
  }

  /**
   * The session hashes under the tag, whatever the index says, and where each rotation
   * forward under it leads (forward key → digest).
   */
  async function stored(keys: RedisKeys, tag: string) {
    const [sessions, forwards] = await Promise.all([
      redis.admin.keys(`${keys.sessionPrefix(tag)}*`),
      redis.admin.keys(`${keys.forwardPrefix(tag)}*`),
    ]);
    const leads = await Promise.all(forwards.map((key) => redis.admin.get(key)));
    return {
      sessions: sessions.sort(),
      forwards: Object.fromEntries(forwards.map((key, i) => [key, leads[i]])),
    };
  }

  /**
   * Waits for the caller's token to work again (the undo is retried, backing off up to 5 s),
   * then checks that the session is exactly where it was: its id, its creation, its place in
   * the user's list, no other hash (the rotation's, whose token nobody holds), and no forward
   * from its digest — only, if the rotation ran, one from the rotation's digest back to it.
   */
  async function expectPutBack(
    sessions: SessionService,
    keys: RedisKeys,
    caller: IssuedSession,
    listed: IssuedSession[],
  ) {
    await until(
      async () => (await sessions.validate(caller.token).catch(() => null)) !== null,
      12_000,
    ).catch(() => undefined);
    const session = await sessions.validate(caller.token);
    expect(session?.id).toBe(caller.session.id);
    expect(session?.createdAt).toBe(caller.session.createdAt);
    expect((await sessions.listForUser(caller.session.userId)).map(({ id }) => id)).toEqual(
      listed.map(({ session: { id } }) => id),
    );
    const { tag, digest } = ref(caller);
    const { sessions: hashes, forwards } = await stored(keys, tag);
    expect(hashes).toEqual(listed.map((each) => keys.session(ref(each))).sort());
    expect(forwards[keys.forwardPrefix(tag) + digest]).toBeUndefined();
    expect(Object.values(forwards).filter((to) => to !== digest)).toEqual([]);
  }

  /** A rotation of `token` that the relay holds from its EVALSHA on: rejected as unavailable. */
  async function heldRotation(
    sessions: SessionService,
    token: string,
    options: { revokeOthersOf?: string } = {},
  ): Promise<number> {
    redis.relay.delayFrom((bytes) => bytes.includes(ROTATE_SHA));
    const sentAt = Date.now();
    await expect(
      sessions.rotate(token, { ...options, reauthenticated: true }),
    ).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    return sentAt;
  }

  it.each([
    ['just after its timeout', 350],
    ['a second after', 1300],
    ['seconds after', 4000],
  ])(
    'puts the session back under its old token when the rotation reaches Redis %s',
    async (_when, releaseAtMs) => {
      const { sessions, close, keys } = await start();
      try {
        const { made } = await loggedIn(sessions, 2);
        const [caller] = made;
        const sentAt = await heldRotation(sessions, caller.token);
        await sleep(releaseAtMs - (Date.now() - sentAt));
        redis.relay.release();
        await expectPutBack(sessions, keys, caller, made);
      } finally {
        await close();
      }
    },
  );

  /**
   * A call made on the held connection times out too, on a connection silent for over a second:
   * the store drops it and connects again. The held bytes (the rotation, the undo behind it)
   * still reach Redis when the partition heals.
   */
  it('puts the session back when the held connection was dropped as silent', async () => {
    const { sessions, close, keys } = await start();
    try {
      const { made } = await loggedIn(sessions, 2);
      const [caller] = made;
      await heldRotation(sessions, caller.token);
      await sleep(800);
      await expect(sessions.validate(caller.token)).rejects.toBeInstanceOf(
        SessionStoreUnavailableError,
      );
      await sleep(500);
      redis.relay.release();
      await expectPutBack(sessions, keys, caller, made);
    } finally {
      await close();
    }
  });

  /**
   * The connection had been silent for over a second when the rotation timed out: the store
   * drops it at once, so the undo cannot follow the rotation on it. The undo sent on the new
   * connection reaches Redis first and finds nothing; the rotation arrives after it when the
   * partition heals. The undo must not take that first "nothing" for the last word.
   */
  it('puts the session back when the rotation reaches Redis after an undo sent on a new connection', async () => {
    const { sessions, close, keys } = await start();
    try {
      const { made } = await loggedIn(sessions, 2);
      const [caller] = made;
      await sleep(1200);
      await heldRotation(sessions, caller.token);
      // The store has connected again; its undo finds nothing there: the rotation has not run.
      await until(async () => (await sessions.validate(made[1].token).catch(() => null)) !== null);
      await sleep(500);
      expect(await sessions.validate(caller.token)).not.toBeNull();
      redis.relay.release();
      // The rotation runs now, behind the undo: the caller's token is dead until the next undo.
      // Seen by its forward (unless an undo was quicker than this look): then put back.
      const { tag, digest } = ref(caller);
      await until(
        async () => (await redis.admin.exists(keys.forwardPrefix(tag) + digest)) === 1,
        3000,
      ).catch(() => undefined);
      await expectPutBack(sessions, keys, caller, made);
    } finally {
      await close();
    }
  });

  it.each([
    ['just after its timeout', 350],
    ['seconds after', 3000],
  ])(
    'puts the session back, the others staying revoked, when a password change reaches Redis %s',
    async (_when, releaseAtMs) => {
      const { sessions, close, keys, keyPrefix } = await start();
      try {
        const { user, made, tag } = await loggedIn(sessions, 3);
        const [caller, ...others] = made;
        const generation = `${keyPrefix}{${tag}}:g:${user.id}`;
        const generationBefore = Number(await redis.admin.get(generation));
        const sentAt = await heldRotation(sessions, caller.token, { revokeOthersOf: user.id });
        await sleep(releaseAtMs - (Date.now() - sentAt));
        redis.relay.release();
        await expectPutBack(sessions, keys, caller, [caller]);
        for (const other of others) {
          expect(await sessions.validate(other.token)).toBeNull();
        }
        // Revocation is the safe direction: what the password change revoked stays revoked.
        expect(Number(await redis.admin.get(generation))).toBe(generationBefore + 1);
      } finally {
        await close();
      }
    },
  );

  /**
   * Redis ran the rotation, and its answer was lost with the connection, and with it the undo
   * the store had sent behind it: the undo goes again on the next connection.
   */
  it('puts the session back when Redis ran the rotation and the answer was lost', async () => {
    const { sessions, close, keys } = await start();
    try {
      const { made } = await loggedIn(sessions, 2);
      const [caller] = made;
      await redis.admin.client('PAUSE', 3000, 'WRITE');
      const rotation = sessions.rotate(caller.token, { reauthenticated: true });
      await sleep(100); // the rotation reached Redis, which holds it
      redis.relay.hold(); // its answer, and the undo sent at the timeout, wait in the relay
      await expect(rotation).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await sleep(50);
      await redis.admin.call('CLIENT', 'UNPAUSE');
      await sleep(50); // Redis ran the rotation: the caller's token is dead
      expect(await redis.admin.exists(keys.session(ref(caller)))).toBe(0);
      redis.relay.cut(); // the answer and the undo are lost with the connection
      await expectPutBack(sessions, keys, caller, made);
    } finally {
      await close();
    }
  });

  /**
   * The same lost answer, watched from the caller's side: answered 503, it keeps its token, so
   * once the store is connected again that token must never be refused (401: "log in again")
   * while the undo waits for its next try. Cut at several moments, so that the reconnection
   * falls at different points of the undo's back-off.
   */
  it.each([0, 150, 400, 900])(
    'never refuses the old token once connected again, the answer lost (cut %i ms later)',
    async (cutAfterMs) => {
      const { sessions, close } = await start();
      try {
        const { made } = await loggedIn(sessions, 2);
        const [caller] = made;
        await redis.admin.client('PAUSE', 3000, 'WRITE');
        const rotation = sessions.rotate(caller.token, { reauthenticated: true });
        await sleep(100); // the rotation reached Redis, which holds it
        redis.relay.hold();
        await expect(rotation).rejects.toBeInstanceOf(SessionStoreUnavailableError);
        await sleep(50);
        await redis.admin.call('CLIENT', 'UNPAUSE');
        await sleep(50 + cutAfterMs); // Redis ran the rotation; its answer waits in the relay
        redis.relay.cut();
        const answers = await answersTo(sessions, caller.token, 2500);
        expect(answers).not.toContain('refused');
        expect(answers[answers.length - 1]).toBe('live');
      } finally {
        await close();
      }
    },
  );

  it.each([
    ['a rotation', false],
    ['a password change', true],
  ])('leaves everything as it was when %s never reached Redis', async (_what, revokeOthers) => {
    const { sessions, close, keys, keyPrefix } = await start();
    try {
      const { user, made, tag } = await loggedIn(sessions, 2);
      const [caller] = made;
      const before = await dump(redis.admin, keyPrefix);
      await heldRotation(sessions, caller.token, revokeOthers ? { revokeOthersOf: user.id } : {});
      redis.relay.cut(); // dropped, with whatever followed it on that connection
      // Long enough for the undo to be sent again on the next connection, more than once.
      await sleep(1500);
      expect(await dump(redis.admin, keyPrefix)).toBe(before);
      await expectPutBack(sessions, keys, caller, made);
      expect(await sessions.validate(made[1].token)).not.toBeNull();
      expect((await stored(keys, tag)).sessions).toHaveLength(2);
    } finally {
      await close();
    }
  });

  /**
   * With `durability`, a rotation that Redis ran and answered fails when no replica confirms
   * it in time: a 503 all the same, and undone all the same.
   */
  it('puts the session back when the replicas did not confirm the rotation', async () => {
    const keyPrefix = uniquePrefix();
    const { sessions, close } = await sessionService({
      redis: { url: redis.server.url },
      keyPrefix,
      storeTimeout: STORE_TIMEOUT_S,
      events: false,
      durability: { replicas: 1, timeout: 0.1 },
    });
    try {
      const { made } = await loggedIn(sessions, 2);
      const [caller] = made;
      await expect(sessions.rotate(caller.token, { reauthenticated: true })).rejects.toBeInstanceOf(
        SessionStoreUnavailableError,
      );
      await expectPutBack(sessions, new RedisKeys(keyPrefix), caller, made);
    } finally {
      await close();
    }
  });

  /**
   * The rotation's outcome unknown, its 503 announces the old id as revoked; once the undo has
   * put it back, a service whose local cache follows the events serves it again (it only
   * forgot it).
   */
  it('lets a service with a local cache serve the old token again', async () => {
    const keyPrefix = uniquePrefix();
    const common = {
      redis: { url: `redis://127.0.0.1:${redis.relay.port}` },
      keyPrefix,
      storeTimeout: STORE_TIMEOUT_S,
    };
    const owner = await sessionService(common);
    const reader = await sessionService({ ...common, localCache: { ttl: 30 } });
    try {
      const { made } = await loggedIn(owner.sessions, 1);
      const [caller] = made;
      expect(await reader.sessions.validate(caller.token)).not.toBeNull(); // cached
      await heldRotation(owner.sessions, caller.token);
      await sleep(400);
      redis.relay.release();
      await expectPutBack(owner.sessions, new RedisKeys(keyPrefix), caller, made);
      await until(async () => {
        const session = await reader.sessions.validate(caller.token).catch(() => null);
        return session?.id === caller.session.id;
      });
    } finally {
      await reader.close();
      await owner.close();
    }
  });
});

/**
 * undo-rotate.lua itself, with what may reach Redis between the late rotation and its undo
 * played in a fixed order: both are sent by hand, in the store's words, around the store's
 * own operations.
 */
describe('the undo of a late rotation', () => {
  type Call = (...args: Array<string | number>) => Promise<unknown>;
  const prefix = uniquePrefix();
  const keys = new RedisKeys(prefix);
  let client: Redis & Record<string, Call>;
  let sessions: SessionService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    client = new Redis(url) as Redis & Record<string, Call>;
    for (const [name, script] of Object.entries(SESSION_SCRIPTS)) {
      client.defineCommand(name, script);
    }
    ({ sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: prefix,
      events: false,
    }));
  });

  afterAll(async () => {
    await close?.();
    const leftovers = await client.keys(`${prefix}*`);
    if (leftovers.length) await client.del(...leftovers);
    client.disconnect();
  });

  async function twoSessions() {
    const user = newUser();
    const caller = await sessions.create(user);
    await sleep(2);
    const other = await sessions.create(user);
    return { user, caller, other, from: ref(caller) };
  }

  /** rotate.lua as the store sends it: `from` moves to a new digest, answered. */
  async function lateRotation(from: SessionRef, revokeOthersOf = ''): Promise<SessionRef> {
    const to = sessionRef(from.tag, newSecret().digest);
    const reply = await client['cloakroomRotate'](
      keys.session(from),
      keys.session(to),
      60_000,
      keys.indexPrefix(from.tag),
      keys.generationPrefix(from.tag),
      keys.sessionPrefix(from.tag),
      from.digest,
      to.digest,
      revokeOthersOf,
      '1',
      keys.forwardPrefix(from.tag),
      60_000,
    );
    expect(reply).toBeTruthy();
    return to;
  }

  function undo(from: SessionRef, to: SessionRef, owner = ''): Promise<unknown> {
    return client['cloakroomUndoRotate'](
      keys.session(from),
      keys.session(to),
      keys.indexPrefix(from.tag),
      keys.forwardPrefix(from.tag),
      from.digest,
      to.digest,
      60_000,
      owner,
    );
  }

  const listed = async (userId: string) => (await sessions.listForUser(userId)).map(({ id }) => id);

  it('moves the session back to its old digest, its place and deadline kept; twice is once', async () => {
    const { user, caller, other, from } = await twoSessions();
    const ttl = await client.pttl(keys.session(from));
    const to = await lateRotation(from);
    expect(await sessions.validate(caller.token)).toBeNull();
    expect(await undo(from, to, user.id)).toBe(1);
    const back = await sessions.get(caller.session.id);
    expect(back?.createdAt).toBe(caller.session.createdAt);
    expect(back?.absoluteExpiresAt).toBe(caller.session.absoluteExpiresAt);
    // Kept from the rotation: the user did give the password again.
    expect(back?.authenticatedAt).toBeGreaterThanOrEqual(caller.session.createdAt);
    expect(await client.pttl(keys.session(from))).toBeGreaterThan(ttl - 5000);
    expect(await listed(user.id)).toEqual([caller.session.id, other.session.id]);
    expect(await client.exists(keys.session(to), keys.forwardPrefix(from.tag) + from.digest)).toBe(
      0,
    );
    const after = await dump(client, prefix);
    expect(await undo(from, to, user.id)).toBe(0);
    expect(await dump(client, prefix)).toBe(after);
    expect(await sessions.validate(caller.token)).not.toBeNull();
  });

  it('finds nothing, and writes nothing, when the rotation never ran', async () => {
    const { user, from } = await twoSessions();
    const before = await dump(client, prefix);
    expect(await undo(from, sessionRef(from.tag, newSecret().digest), user.id)).toBe(0);
    expect(await dump(client, prefix)).toBe(before);
  });

  it('keeps the others revoked after a password change', async () => {
    const { user, caller, other, from } = await twoSessions();
    const to = await lateRotation(from, user.id);
    expect(await undo(from, to, user.id)).toBe(1);
    expect(await listed(user.id)).toEqual([caller.session.id]);
    expect(await sessions.validate(other.token)).toBeNull();
    expect(await sessions.validate(caller.token)).not.toBeNull();
  });

  it.each([
    ['a logout of the old id (it follows the rotation)', 'logout'],
    ["a revocation of all the user's sessions", 'revoke-all'],
    ['a password change on another device', 'password'],
  ] as const)('brings back nothing ended by %s in between', async (_what, change) => {
    const { user, caller, other, from } = await twoSessions();
    const to = await lateRotation(from);
    if (change === 'logout') {
      expect(await sessions.revoke(caller.session.id, user.id)).toBe(true);
    } else if (change === 'revoke-all') {
      expect(await sessions.revokeAllForUser(user.id)).toBe(2);
    } else {
      expect(await sessions.rotate(other.token, { revokeOthersOf: user.id })).not.toBeNull();
    }
    expect(await undo(from, to, user.id)).toBe(0);
    expect(await sessions.validate(caller.token)).toBeNull();
    expect(await listed(user.id)).toHaveLength(change === 'revoke-all' ? 0 : 1);
  });

  it("never moves another user's session, nor a rotation it did not make", async () => {
    const { user, from } = await twoSessions();
    const to = await lateRotation(from);
    expect(await undo(from, to, 'someone-else')).toBe(0);
    expect(await undo(from, sessionRef(from.tag, newSecret().digest), user.id)).toBe(0);
    expect(await client.exists(keys.session(to))).toBe(1);
    expect(await client.get(keys.forwardPrefix(from.tag) + from.digest)).toBe(to.digest);
    expect(await undo(from, to, user.id)).toBe(1);
  });

  it('lets a revocation of the new id, read while the rotation stood, end the session', async () => {
    const { user, caller, other, from } = await twoSessions();
    const to = await lateRotation(from);
    const seen = await listed(user.id);
    expect(seen).toContain(to.id);
    expect(await undo(from, to, user.id)).toBe(1);
    expect(await sessions.revoke(to.id, user.id)).toBe(true);
    expect(await sessions.validate(caller.token)).toBeNull();
    expect(await listed(user.id)).toEqual([other.session.id]);
  });

  it('refuses keys that are not the two digests’ session hashes, before it writes', async () => {
    const { user, from } = await twoSessions();
    const to = await lateRotation(from);
    const before = await dump(client, prefix);
    const elsewhere = `${prefix}{${from.tag}}:u:${user.id}`;
    await expect(
      client['cloakroomUndoRotate'](
        elsewhere,
        keys.session(to),
        keys.indexPrefix(from.tag),
        keys.forwardPrefix(from.tag),
        from.digest,
        to.digest,
        60_000,
        '',
      ),
    ).rejects.toThrow(/session hashes/);
    await expect(undo(from, from)).rejects.toThrow(/differ/);
    expect(await dump(client, prefix)).toBe(before);
  });
});
