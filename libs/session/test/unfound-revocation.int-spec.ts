import { Redis } from 'ioredis';

import { SessionService } from '../src';
import { UNFOUND_REVOCATIONS_PER_SECOND } from '../src/lib/events/session-events.publisher';
import { formatToken, newSecret } from '../src/lib/token/session.token';
import {
  REDIS_URL as url,
  sessionKey,
  sessionService,
  sleep,
  uniquePrefix,
  until,
} from './store-contract';

jest.setTimeout(30_000);

/**
 * A session Redis lost under the services that cache it (evicted under `volatile-lru`, a
 * failover to a replica it had not reached): its logout finds nothing to delete. Unless that is
 * announced, every other service's local cache (and its sockets) goes on serving the session
 * for up to its `ttl` after the user was told they were logged out.
 */
describe('a revocation that finds no session', () => {
  const keyPrefix = uniquePrefix();
  const alice = { id: 'u-unfound-alice', username: 'alice', roles: ['customer'] };
  let admin: Redis;
  /** The service that revokes (auth), and one that only validates (orders); both cache. */
  let auth: SessionService;
  let orders: SessionService;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    admin = new Redis(url);
    for (const name of ['auth', 'orders']) {
      const service = await sessionService({ redis: { url }, keyPrefix, localCache: { ttl: 60 } });
      closers.push(service.close);
      if (name === 'auth') auth = service.sessions;
      else orders = service.sessions;
    }
    // Both caches serve once their event feeds have started.
    const probe = await auth.create(alice);
    await until(async () => {
      await Promise.all([auth.validate(probe.token), orders.validate(probe.token)]);
      return !!auth.cached(probe.token) && !!orders.cached(probe.token);
    });
    await auth.revoke(probe.session.id);
  });

  afterAll(async () => {
    for (const close of closers) await close();
    const keys = await admin.keys(`${keyPrefix}*`);
    if (keys.length) await admin.del(...keys);
    admin.disconnect();
  });

  /** A live session that both services hold in their caches. */
  async function cachedEverywhere() {
    const issued = await auth.create(alice);
    await until(async () => {
      await Promise.all([auth.validate(issued.token), orders.validate(issued.token)]);
      return !!auth.cached(issued.token) && !!orders.cached(issued.token);
    });
    return issued;
  }

  /** Returns once `orders` has handled every event published so far (a marker revoked after). */
  async function ordersCaughtUp(): Promise<void> {
    const marker = await cachedEverywhere();
    await auth.revoke(marker.session.id);
    await until(() => orders.cached(marker.token) === undefined);
  }

  it.each([
    ['a logout with a token that no longer validates (no owner)', undefined],
    ['a logout of a session this service still had cached (its owner)', alice.id],
  ])('is announced, so every cache refuses the lost session: %s', async (_, ownerId) => {
    for (let trial = 0; trial < 3; trial++) {
      const { token, session } = await cachedEverywhere();
      // Redis loses the session: nothing announces that.
      expect(await admin.del(sessionKey(keyPrefix, session.id))).toBe(1);
      expect(await auth.revoke(session.id, { ownerId })).toBe(false);
      await until(() => orders.cached(token) === undefined, 3000).catch(() => undefined);
      expect(orders.cached(token)).toBeUndefined();
      expect(await orders.validate(token)).toBeNull();
      expect(auth.cached(token)).toBeUndefined();
    }
  });

  it('is announced when a rotation (a re-authentication) finds no session under the token', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const { token, session } = await cachedEverywhere();
      expect(await admin.del(sessionKey(keyPrefix, session.id))).toBe(1);
      expect(await auth.rotate(token, { reauthenticated: true })).toBeNull();
      await until(() => orders.cached(token) === undefined, 3000).catch(() => undefined);
      expect(orders.cached(token)).toBeUndefined();
      expect(await orders.validate(token)).toBeNull();
    }
  });

  it('is not announced when the owner given does not own the live session it names', async () => {
    const { token, session } = await cachedEverywhere();
    expect(await auth.revoke(session.id, { ownerId: 'u-unfound-mallory' })).toBe(false);
    await ordersCaughtUp();
    // Another user's live session: other services keep it (and its sockets stay open).
    expect(orders.cached(token)).toMatchObject({ id: session.id });
    await auth.revoke(session.id);
  });

  it('is announced at a bounded rate, and only to the redacted stream', async () => {
    await sleep(1_100); // a full budget
    const full = `${keyPrefix}events`;
    const redacted = `${keyPrefix}events:redacted`;
    const before = { full: await admin.xlen(full), redacted: await admin.xlen(redacted) };
    const started = performance.now();
    // Anyone may present tokens of the right form to a logout: 300 that name nothing.
    for (let i = 0; i < 300; i++) {
      const forged = formatToken('aaaaaaaa', newSecret().secret);
      const id = auth.idOf(forged) as string;
      expect(await auth.revoke(id)).toBe(false);
    }
    const seconds = (performance.now() - started) / 1000;
    const announced = (await admin.xlen(redacted)) - before.redacted;
    expect(announced).toBeGreaterThanOrEqual(UNFOUND_REVOCATIONS_PER_SECOND);
    expect(announced).toBeLessThanOrEqual(
      Math.ceil(UNFOUND_REVOCATIONS_PER_SECOND * (1 + seconds)),
    );
    // The full stream, which the activity log keeps, never hears of them.
    expect(await admin.xlen(full)).toBe(before.full);
  });
});
