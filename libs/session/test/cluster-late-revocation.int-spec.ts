import { Logger } from '@nestjs/common';
import { Cluster } from 'ioredis';

import { SessionStoreUnavailableError } from '../src';
import type { Session, SessionService, SessionUser } from '../src';
import { RedisClusterProcess, startRedisCluster, startTcpRelay, TcpRelay } from '../src/testing';
import { sessionKey, sessionService, sleep, uniquePrefix, until } from './store-contract';

// Starting a cluster can take more than the default 5 s on a busy machine.
jest.setTimeout(120_000);

/**
 * On Redis Cluster a session's revocation and its event go to different nodes (the user's slot,
 * the stream's). A logout that timed out (503) is announced all the same, and its event may
 * arrive before the revocation itself, still on its way: a cache elsewhere that reads the
 * session again in between reads it alive, and must not keep serving it once the late
 * revocation lands.
 */
describe('the local cache, when a revocation or a per-user change lands after its event (Redis Cluster)', () => {
  let cluster: RedisClusterProcess;
  let relays: TcpRelay[];
  let admin: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    relays = await Promise.all(cluster.nodes.map((node) => startTcpRelay(node.port)));
    admin = new Cluster(cluster.addresses);
  });

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    admin?.disconnect();
    await Promise.all((relays ?? []).map((relay) => relay.sever()));
    await cluster?.dispose();
  });

  /** The port of the master that holds `key`. */
  async function portOf(key: string): Promise<number | undefined> {
    const slot = Number(await admin.cluster('KEYSLOT', key));
    const slots = (await admin.cluster('SLOTS')) as unknown as Array<
      [number, number, [string, number]]
    >;
    return slots.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
  }

  type Service = Awaited<ReturnType<typeof sessionService>>;

  /**
   * Two services on the Cluster under `keyPrefix`: `revoker` reaches the nodes through the
   * relays, which can hold a command past its 0.5 s store timeout; `elsewhere` goes straight to
   * them and keeps a local cache.
   */
  async function servicesOf(keyPrefix: string): Promise<{ revoker: Service; elsewhere: Service }> {
    const natMap = Object.fromEntries(
      relays.map((relay) => [
        `127.0.0.1:${relay.targetPort}`,
        { host: '127.0.0.1', port: relay.port },
      ]),
    );
    const revoker = await sessionService({
      redis: {
        cluster: relays.map((relay) => ({ host: '127.0.0.1', port: relay.port })),
        options: { natMap },
      },
      keyPrefix,
      storeTimeout: 0.5,
    });
    const elsewhere = await sessionService({
      redis: { cluster: cluster.addresses },
      keyPrefix,
      localCache: { ttl: 60 },
    });
    return { revoker, elsewhere };
  }

  it('refuses the session once the late revocation lands, though it read it alive after the event', async () => {
    const keyPrefix = uniquePrefix();
    const { revoker, elsewhere } = await servicesOf(keyPrefix);
    try {
      // A session whose slot is on another master than the stream's.
      const streamPort = await portOf(`${keyPrefix}events:redacted`);
      let found: { token: string; id: string; userId: string; key: string } | null = null;
      for (let n = 0; !found; n++) {
        const user = { id: `u-${keyPrefix}-${n}`, username: 'alice', roles: ['customer'] };
        const { token, session } = await revoker.sessions.create(user);
        const key = sessionKey(keyPrefix, session.id);
        if ((await portOf(key)) !== streamPort)
          found = { token, id: session.id, userId: user.id, key };
      }
      const { token, id, userId, key } = found;
      await until(async () => {
        await elsewhere.sessions.validate(token);
        return elsewhere.sessions.cached(token) !== undefined;
      }, 15_000);

      const port = await portOf(key);
      const relay = relays.find((candidate) => candidate.targetPort === port);
      const digest = key.slice(key.lastIndexOf(':') + 1);
      relay?.delayFrom((bytes) => bytes.includes(digest));
      const outcome = await revoker.sessions
        .revoke(id, { ownerId: userId })
        .catch((error: unknown) => error);
      expect(outcome).toBeInstanceOf(SessionStoreUnavailableError);
      // The event came first: the session is read again from the store, alive.
      await until(() => elsewhere.sessions.cached(token) === undefined, 10_000);
      expect(await elsewhere.sessions.validate(token)).not.toBeNull();

      relay?.release();
      await until(async () => (await admin.exists(key)) === 0, 10_000);
      let seen = await elsewhere.sessions.validate(token);
      for (let i = 0; seen !== null && i < 30; i++) {
        await sleep(100);
        seen = await elsewhere.sessions.validate(token);
      }
      expect(seen).toBeNull();
    } finally {
      await revoker.close();
      await elsewhere.close();
    }
  });

  /**
   * The same for a user's sessions: a revoke-all or a role change answered 503 is announced at
   * once, and its write may land on the user's node after the event reached the caches. A copy
   * read alive in between must not be served once the write lands; the user's sessions read after
   * it (a new login) are cached as before.
   */
  type Late = {
    /** The change, made by `revoker` while the user's node is held. */
    change: (revoker: SessionService, userId: string) => Promise<unknown>;
    /** Whether the change has landed on the session's key. */
    landed: (key: string) => Promise<boolean>;
    /** Whether `elsewhere`'s answer reflects the change. */
    seen: (session: Session | null) => boolean;
  };

  const cases: Array<[string, Late]> = [
    [
      'a revoke-all',
      {
        change: (revoker, userId) => revoker.revokeAllForUser(userId),
        landed: async (key) => (await admin.exists(key)) === 0,
        seen: (session) => session === null,
      },
    ],
    [
      'a role change',
      {
        change: (revoker, userId) => revoker.setRolesForUser(userId, ['demoted']),
        landed: async (key) => (await admin.hget(key, 'r')) === '["demoted"]',
        seen: (session) => session !== null && session.roles.join() === 'demoted',
      },
    ],
  ];

  it.each(cases)(
    'serves no copy read before %s landed, and caches the sessions read after it',
    async (_, late) => {
      const keyPrefix = uniquePrefix();
      const { revoker, elsewhere } = await servicesOf(keyPrefix);
      try {
        // A user whose slot is on another master than the stream's.
        const streamPort = await portOf(`${keyPrefix}events:redacted`);
        let found: { token: string; user: SessionUser; key: string } | null = null;
        for (let n = 0; !found; n++) {
          const user = { id: `u-${keyPrefix}-${n}`, username: 'alice', roles: ['customer'] };
          const { token, session } = await revoker.sessions.create(user);
          const key = sessionKey(keyPrefix, session.id);
          if ((await portOf(key)) !== streamPort) found = { token, user, key };
        }
        const { token, user, key } = found;
        await until(async () => {
          await elsewhere.sessions.validate(token);
          return elsewhere.sessions.cached(token) !== undefined;
        }, 15_000);

        const port = await portOf(key);
        const held = relays.find((candidate) => candidate.targetPort === port);
        expect(held).toBeDefined();
        held?.delayFrom((bytes) => bytes.includes(`:u:${user.id}`));
        const outcome = await late
          .change(revoker.sessions, user.id)
          .catch((error: unknown) => error);
        expect(outcome).toBeInstanceOf(SessionStoreUnavailableError);
        // The event came first: the session is read again from the store, as it was.
        await until(() => elsewhere.sessions.cached(token) === undefined, 10_000);
        const before = await elsewhere.sessions.validate(token);
        expect(before).not.toBeNull();
        expect(late.seen(before)).toBe(false);
        await elsewhere.sessions.validate(token);

        held?.release();
        await until(() => late.landed(key), 10_000);
        let after = await elsewhere.sessions.validate(token);
        for (let i = 0; !late.seen(after) && i < 30; i++) {
          await sleep(100);
          after = await elsewhere.sessions.validate(token);
        }
        expect(late.seen(after)).toBe(true);

        // A login after the change is cached, as any session is.
        const again = await revoker.sessions.create({ ...user, roles: ['demoted'] });
        await until(async () => {
          await elsewhere.sessions.validate(again.token);
          return elsewhere.sessions.cached(again.token) !== undefined;
        }, 10_000);
      } finally {
        await revoker.close();
        await elsewhere.close();
      }
    },
  );
});
