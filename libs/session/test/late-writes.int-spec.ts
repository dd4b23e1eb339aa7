import { SessionStoreUnavailableError } from '../src';
import { relayedRedis } from './relayed-redis';
import { sessionService, sleep, uniquePrefix } from './store-contract';

const alice = { id: 'u-late-alice', username: 'alice', roles: ['customer'] };

/**
 * A role change whose call failed must not be made later by Redis. A partition that begins as
 * the command is sent holds it; the call times out (503: the caller puts the roles back in its
 * database) and the service drops the silent connection; the partition heals and the TCP stack
 * delivers what it had sent, and Redis runs it — a promotion nobody holds any more, which
 * nothing would ever undo. The script carries the moment its caller gives up, by Redis's clock,
 * and does nothing after it.
 */
describe('a role change that reaches Redis after its caller gave up', () => {
  const STORE_TIMEOUT_S = 0.3;
  const redis = relayedRedis();

  /** Scripts (EVALSHA) that Redis has answered with an error so far. */
  async function refusals(): Promise<number> {
    const stats = await redis.admin.info('commandstats');
    return Number(/cmdstat_evalsha:.*failed_calls=(\d+)/.exec(stats)?.[1] ?? 0);
  }

  async function start() {
    const keyPrefix = uniquePrefix();
    const service = await sessionService({
      redis: { url: `redis://127.0.0.1:${redis.relay.port}` },
      keyPrefix,
      storeTimeout: STORE_TIMEOUT_S,
    });
    const { token } = await service.sessions.create(alice);
    // The store has read Redis's clock by now (at connection): the deadline can be set.
    await sleep(100);
    return { ...service, token, keyPrefix };
  }

  it('changes nothing when it arrives late on its own connection', async () => {
    const { sessions, close, token } = await start();
    try {
      redis.relay.delayFrom((bytes) => bytes.includes('"late-admin"'));
      await expect(sessions.setRolesForUser(alice.id, ['late-admin'])).rejects.toBeInstanceOf(
        SessionStoreUnavailableError,
      );
      const refusedBefore = await refusals();
      await sleep(500);
      redis.relay.release();
      await sleep(200);
      expect((await sessions.validate(token))?.roles).toEqual(['customer']);
      expect(await refusals()).toBe(refusedBefore + 1);
    } finally {
      await close();
    }
  });

  it('changes nothing when it arrives after its connection was dropped as silent', async () => {
    const { sessions, close, token } = await start();
    try {
      const refusedBefore = await refusals();
      redis.relay.delayFrom((bytes) => bytes.includes('"late-admin"'));
      await expect(sessions.setRolesForUser(alice.id, ['late-admin'])).rejects.toBeInstanceOf(
        SessionStoreUnavailableError,
      );
      // A call that times out on a connection silent for 2 × 0.3 s: the store drops it.
      await sleep(700);
      await expect(sessions.validate(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await sleep(200);
      redis.relay.release();
      await sleep(300);
      // Redis got the script (its connection closed only after it), ran it, and it refused.
      expect((await sessions.validate(token))?.roles).toEqual(['customer']);
      expect(await refusals()).toBe(refusedBefore + 1);
    } finally {
      await close();
    }
  });

  it('is made when Redis answers in time', async () => {
    const { sessions, close, token } = await start();
    try {
      expect(await sessions.setRolesForUser(alice.id, ['clerk'])).toBe(1);
      expect((await sessions.validate(token))?.roles).toEqual(['clerk']);
    } finally {
      await close();
    }
  });
});

/**
 * A patch whose call failed must not be made later either: the caller was told nothing was
 * written (503), may have written the attribute again since — acknowledged — and the late one
 * would then overwrite it with the value it gave up on. Held by a relay from the moment it is
 * sent, the patch reaches Redis on release, at several delays past its deadline: on its own
 * connection (Redis stalled), or after the store dropped that connection as silent and wrote the
 * attribute again on a new one.
 */
describe('a patch that reaches Redis after its caller gave up', () => {
  const STORE_TIMEOUT_S = 0.3;
  const redis = relayedRedis();

  async function start() {
    const service = await sessionService({
      redis: { url: `redis://127.0.0.1:${redis.relay.port}` },
      keyPrefix: uniquePrefix(),
      storeTimeout: STORE_TIMEOUT_S,
    });
    const { token } = await service.sessions.create(alice, { attributes: { cart: 'first' } });
    await service.sessions.patch(token, { step: 'checkout' });
    // The store has read Redis's clock by now (at connection): the deadline can be set.
    await sleep(100);
    return { ...service, token };
  }

  it.each([0, 150, 600])(
    'changes nothing when it arrives late on its own connection (held %i ms more)',
    async (heldMs) => {
      const { sessions, close, token } = await start();
      try {
        redis.relay.delayFrom((bytes) => bytes.includes('"late-cart"'));
        await expect(
          sessions.patch(token, { cart: 'late-cart', step: undefined }),
        ).rejects.toBeInstanceOf(SessionStoreUnavailableError);
        await sleep(heldMs);
        redis.relay.release();
        await sleep(200);
        const session = await sessions.validate(token);
        expect(session?.attributes).toEqual({ cart: 'first', step: 'checkout' });
      } finally {
        await close();
      }
    },
  );

  it.each([0, 300])(
    'never overwrites an attribute written since, on the connection that replaced a silent one (held %i ms more)',
    async (heldMs) => {
      const { sessions, close, token } = await start();
      try {
        redis.relay.delayFrom((bytes) => bytes.includes('"late-cart"'));
        await expect(sessions.patch(token, { cart: 'late-cart' })).rejects.toBeInstanceOf(
          SessionStoreUnavailableError,
        );
        // A call that times out on a connection silent for 2 × 0.3 s: the store drops it.
        await sleep(700);
        await expect(sessions.validate(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
        await sleep(200);
        expect(await sessions.patch(token, { cart: 'second' })).toBe(true);
        await sleep(heldMs);
        redis.relay.release();
        await sleep(300);
        const session = await sessions.validate(token);
        expect(session?.attributes).toEqual({ cart: 'second', step: 'checkout' });
      } finally {
        await close();
      }
    },
  );
});
