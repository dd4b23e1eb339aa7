import { createHash } from 'node:crypto';

import { Redis } from 'ioredis';

import { SessionStoreUnavailableError } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import { parseSessionId, SessionRef } from '../src/lib/token/session.token';
import { forceFailover, linkedFailover, until } from './sentinel-failover';
import { sleep, uniquePrefix } from './store-contract';

/**
 * A login whose answer was lost (the client hears 503) is undone on the primary, under
 * `durability` — but the replica may hold the create and never receive the undo. Promoted by a
 * failover, it would keep the session whose token nobody was given (listed among the user's
 * devices, counted against their cap) and keep evicted the session that create evicted at the
 * cap: a device its user never logged out would be logged out.
 *
 * The durable service reaches the primary through a relay that loses the create's answer with
 * its connection, after the primary ran it. The replica replicates through a link that drops
 * what it sends (the primary's WAIT never counts it) and that is cut, for good and silently, at
 * the undo's first write in the replication stream (undo-create.lua puts the evicted session
 * back with a RENAMENX). The primary then dies and a Sentinel promotes the replica.
 */
const CREATE_SHA = createHash('sha1').update(SESSION_SCRIPTS.cloakroomCreate.lua).digest('hex');

jest.setTimeout(180_000);

describe('a login whose answer was lost, across a Sentinel failover', () => {
  const keyPrefix = uniquePrefix();
  const keys = new RedisKeys(keyPrefix);
  // The durable service finds the primary behind a relay; a promoted replica, directly.
  const failover = linkedFailover(
    { keyPrefix, storeTimeout: 1, events: false, maxSessionsPerUser: 2 },
    { durableThroughRelay: true },
  );

  it('keeps the evicted session and no orphan on the promoted replica', async () => {
    const { primary, replica, link, relay, sentinels, durable, plain, onPrimary, onReplica } =
      failover;
    const user = { id: 'u-abandoned', username: 'abandoned', roles: ['x'] };
    const oldest = await plain.create(user);
    await sleep(5);
    const newest = await plain.create(user);
    const { tag } = parseSessionId(oldest.session.id) as SessionRef;
    const keyOf = (id: string) => keys.session(parseSessionId(id) as SessionRef);
    const oldestDigest = (parseSessionId(oldest.session.id) as SessionRef).digest;
    const hashes = async (client: Redis) =>
      (await client.keys(`${keys.sessionPrefix(tag)}*`)).sort();
    const held = [keyOf(oldest.session.id), keyOf(newest.session.id)].sort();
    await until(async () => (await hashes(onReplica)).length === 2);

    // The replica still receives the primary's writes but no longer acknowledges them; the
    // link breaks at the undo. The login runs on the primary, its answer lost.
    link.deafen();
    link.cutFrom((bytes) => bytes.includes('RENAMENX') && bytes.includes(oldestDigest));
    relay.loseAnswer({ request: (bytes) => bytes.includes(CREATE_SHA) });
    await expect(durable.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    expect(relay.lost).toBe(1);

    // The primary ran the undo: the oldest session is back there, and the link broke at it…
    await until(async () => link.isCut && (await hashes(onPrimary)).join() === held.join(), 10_000);
    // …while the replica holds the login: the oldest session evicted, a new one in its place.
    const onReplicaBefore = await hashes(onReplica);
    expect(onReplicaBefore).toHaveLength(2);
    expect(onReplicaBefore).toContain(keyOf(newest.session.id));
    expect(onReplicaBefore).not.toContain(keyOf(oldest.session.id));

    // The primary's host dies; a Sentinel promotes the replica.
    await primary.stop();
    await forceFailover(sentinels[0], replica, failover.name);

    // Within the undo's grace (a minute, retried at most 5 s apart), the oldest session works
    // on the promoted replica, and no session nobody holds a token for is listed.
    await until(
      async () => (await plain.validate(oldest.token).catch(() => null)) !== null,
      30_000,
    ).catch(() => undefined);
    const after = {
      validates: (await plain.validate(oldest.token))?.id ?? null,
      listed: (await plain.listForUser(user.id)).map(({ id }) => id).sort(),
      hashes: await hashes(onReplica),
    };
    expect(after).toEqual({
      validates: oldest.session.id,
      listed: [oldest.session.id, newest.session.id].sort(),
      hashes: held,
    });
  });
});
