import { Redis } from 'ioredis';

import { SessionStoreUnavailableError } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { parseSessionId, SessionRef } from '../src/lib/token/session.token';
import { forceFailover, linkedFailover, until } from './sentinel-failover';
import { uniquePrefix } from './store-contract';

jest.setTimeout(180_000);

/**
 * A rotation refused with 503 under `durability` (its replica did not acknowledge it) is
 * undone on the primary — but the replica may hold the rotation and never receive the undo.
 * Promoted by a failover, it would keep the session under the rotation's token, which nobody
 * was given (listed among the user's devices, counted against their cap), and the token the
 * client still presents, told that nothing changed, would be dead.
 *
 * The replica replicates through a link that drops what it sends (the primary's WAIT never
 * counts it, while it still receives every write) and that is cut, for good and silently, at
 * the undo's first write in the replication stream. The primary then dies and a Sentinel
 * promotes the replica: it holds the rotation and not the undo.
 */
describe('a rotation refused for want of replicas, across a Sentinel failover', () => {
  const keyPrefix = uniquePrefix();
  const keys = new RedisKeys(keyPrefix);
  const failover = linkedFailover({ keyPrefix, storeTimeout: 1, events: false });

  it('keeps the session under the token its holder presents, with no orphan, on the promoted replica', async () => {
    const { primary, replica, link, sentinels, durable, plain, onPrimary, onReplica } = failover;
    const user = { id: 'u-rotating', username: 'rotating', roles: ['x'] };
    const caller = await plain.create(user);
    const other = await plain.create(user);
    const { tag } = parseSessionId(caller.session.id) as SessionRef;
    const callerKey = keys.session(parseSessionId(caller.session.id) as SessionRef);
    const otherKey = keys.session(parseSessionId(other.session.id) as SessionRef);
    const hashes = async (client: Redis) =>
      (await client.keys(`${keys.sessionPrefix(tag)}*`)).sort();
    await until(async () => (await hashes(onReplica)).length === 2);

    // The replica still receives the primary's writes but no longer acknowledges them; the
    // link breaks at the undo (undo-rotate.lua moves the session back with a RENAME).
    link.deafen();
    link.cutFrom((bytes) => bytes.includes('RENAME') && bytes.includes(callerKey));
    await expect(durable.rotate(caller.token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);

    // The primary ran the undo: the holder's token works there, and the link broke at it…
    await until(async () => link.isCut && (await onPrimary.exists(callerKey)) === 1, 10_000);
    expect(await hashes(onPrimary)).toEqual([callerKey, otherKey].sort());
    // …while the replica holds the rotation: the old hash gone, the session under a new one.
    const onReplicaBefore = await hashes(onReplica);
    expect(onReplicaBefore).toHaveLength(2);
    expect(onReplicaBefore).toContain(otherKey);
    expect(onReplicaBefore).not.toContain(callerKey);

    // The primary's host dies; a Sentinel promotes the replica.
    await primary.stop();
    await forceFailover(sentinels[0], replica, failover.name);

    // Within the undo's grace (a minute, retried at most 5 s apart), the holder's token works
    // on the promoted replica, and the session is not also listed under a token nobody holds.
    await until(
      async () => (await plain.validate(caller.token).catch(() => null)) !== null,
      30_000,
    ).catch(() => undefined);
    const after = {
      validates: (await plain.validate(caller.token))?.id ?? null,
      listed: (await plain.listForUser(user.id)).map(({ id }) => id).sort(),
      hashes: await hashes(onReplica),
    };
    expect(after).toEqual({
      validates: caller.session.id,
      listed: [caller.session.id, other.session.id].sort(),
      hashes: [callerKey, otherKey].sort(),
    });
  });
});
