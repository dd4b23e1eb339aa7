import { SessionStoreUnavailableError } from '../src';
import type { SessionService } from '../src';
import { sessionEventRef } from '../src/lib/events/session-event.interface';
import { relayedRedis } from './relayed-redis';
import { sessionKey, sessionService, sleep, uniquePrefix, until } from './store-contract';

jest.setTimeout(30_000);

/**
 * A revocation whose answer is lost (the caller gets 503) is announced all the same, since it
 * may land. The script follows a rotation's forward, and with an owner ends the session only if
 * it is theirs: the announcement must name neither another user's live session (its sockets
 * close on the event, and the owner's activity log would list it) nor leave out the session the
 * forward led to (other services would serve it, dead, until their cache's ttl).
 */
describe('a revocation whose answer was lost', () => {
  const redis = relayedRedis();
  const alice = { id: 'u-lost-alice', username: 'alice', roles: ['customer'] };

  /**
   * `revoker` reaches Redis through the relay, with a 0.5 s store timeout; `elsewhere` goes
   * straight to it and caches sessions, as another service does.
   */
  async function start() {
    const keyPrefix = uniquePrefix();
    const revoker = await sessionService({
      redis: { url: `redis://127.0.0.1:${redis.relay.port}` },
      keyPrefix,
      storeTimeout: 0.5,
    });
    const elsewhere = await sessionService({
      redis: { url: redis.server.url },
      keyPrefix,
      localCache: { ttl: 60 },
    });
    const close = async () => {
      await revoker.close();
      await elsewhere.close();
      const keys = await redis.admin.keys(`${keyPrefix}*`);
      if (keys.length) await redis.admin.del(...keys);
    };
    return { keyPrefix, revoker: revoker.sessions, elsewhere: elsewhere.sessions, close };
  }

  async function cachedBy(sessions: SessionService, token: string): Promise<void> {
    await until(async () => {
      await sessions.validate(token);
      return sessions.cached(token) !== undefined;
    }, 10_000);
  }

  /** The revocations in both streams that name the session `id`, parsed. */
  async function revocationsOf(keyPrefix: string, id: string): Promise<Record<string, unknown>[]> {
    const entries = [
      ...(await redis.admin.xrange(`${keyPrefix}events`, '-', '+')),
      ...(await redis.admin.xrange(`${keyPrefix}events:redacted`, '-', '+')),
    ];
    return entries
      .map(([, [, body]]) => body)
      .map((body) => JSON.parse(body) as Record<string, unknown>)
      .filter(({ type }) => type === 'session.revoked')
      .filter(
        ({ sessionId, sessionRef }) => sessionId === id || sessionRef === sessionEventRef(id),
      );
  }

  /**
   * Revokes `tokenOrId` (the session `id`'s) with the script held on its way to Redis past the
   * timeout, then lets it land. Without an owner, the owner's read before it passes.
   */
  async function revokeWithLostAnswer(
    revoker: SessionService,
    id: string,
    ownerId?: string,
    tokenOrId = id,
  ): Promise<void> {
    const digest = id.slice(id.indexOf('.') + 1);
    redis.relay.delayFrom(
      (bytes) => bytes.includes(digest) && bytes.toString().toLowerCase().includes('evalsha'),
    );
    const outcome = await revoker
      .revoke(tokenOrId, ownerId ? { ownerId } : {})
      .catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(SessionStoreUnavailableError);
    redis.relay.release();
  }

  it("with an owner, announces nothing of another user's live session, which it did not end", async () => {
    const { keyPrefix, revoker, elsewhere, close } = await start();
    try {
      for (let trial = 0; trial < 3; trial++) {
        const { token, session } = await revoker.create(alice);
        await cachedBy(elsewhere, token);
        await revokeWithLostAnswer(revoker, session.id, 'u-lost-mallory');
        // The background announcement has had every chance to go out.
        const endAt = Date.now() + 2_000;
        while (Date.now() < endAt) {
          expect(await revocationsOf(keyPrefix, session.id)).toEqual([]);
          await sleep(100);
        }
        expect(await redis.admin.exists(sessionKey(keyPrefix, session.id))).toBe(1);
        expect(elsewhere.cached(token)).toMatchObject({ id: session.id, userId: alice.id });
      }
    } finally {
      await close();
    }
  });

  it.each([
    { by: 'with an owner, by id', owner: true, reason: 'self' },
    {
      by: 'without an owner, by the token moved away from (a logout)',
      owner: false,
      reason: 'logout',
    },
  ])(
    "$by: announces as the owner's the session a rotation moved it to, which it ended",
    async ({ owner, reason }) => {
      const { keyPrefix, revoker, elsewhere, close } = await start();
      try {
        for (let trial = 0; trial < 3; trial++) {
          const before = await revoker.create(alice);
          const rotated = await revoker.rotate(before.token, { reauthenticated: true });
          expect(rotated).not.toBeNull();
          const { token, session } = rotated as NonNullable<typeof rotated>;
          await cachedBy(elsewhere, token);
          await (owner
            ? revokeWithLostAnswer(revoker, before.session.id, alice.id)
            : revokeWithLostAnswer(revoker, before.session.id, undefined, before.token));
          await until(
            async () => (await redis.admin.exists(sessionKey(keyPrefix, session.id))) === 0,
          );
          await until(() => elsewhere.cached(token) === undefined, 10_000);
          expect(await elsewhere.validate(token)).toBeNull();
          // The event names the owner, in the full stream that the activity log keeps.
          await until(async () => (await revocationsOf(keyPrefix, session.id)).length >= 2, 10_000);
          expect(await revocationsOf(keyPrefix, session.id)).toContainEqual(
            expect.objectContaining({
              type: 'session.revoked',
              userId: alice.id,
              sessionId: session.id,
              reason,
            }),
          );
        }
      } finally {
        await close();
      }
    },
  );

  it("still announces the owner's own session as theirs", async () => {
    const { keyPrefix, revoker, elsewhere, close } = await start();
    try {
      const { token, session } = await revoker.create(alice);
      await cachedBy(elsewhere, token);
      await revokeWithLostAnswer(revoker, session.id, alice.id);
      await until(async () => (await redis.admin.exists(sessionKey(keyPrefix, session.id))) === 0);
      await until(() => elsewhere.cached(token) === undefined, 10_000);
      expect(await elsewhere.validate(token)).toBeNull();
      const events = await revocationsOf(keyPrefix, session.id);
      expect(events).toContainEqual(
        expect.objectContaining({
          type: 'session.revoked',
          userId: alice.id,
          sessionId: session.id,
        }),
      );
    } finally {
      await close();
    }
  });
});
