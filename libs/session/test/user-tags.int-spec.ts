import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import { SessionStoreUnavailableError, SessionUserChangedError } from '../src';
import { deriveUserTag, newUserTag, newUserTagKey } from '../src/lib/token/session.token';
import { REDIS_URL as url, sessionService, sleep, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

const tagOf = (token: string) => token.split('.')[1];

/**
 * A user's tag (the Redis Cluster hash slot of their sessions and index) is derived from their
 * id with one secret key, instead of being looked up in a key per user; users tagged by an
 * earlier release keep their random tag.
 */
describe('User tags (real Redis)', () => {
  const inspect = new Redis(url);
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });
  afterAll(() => inspect.disconnect());

  async function service(prefix: string, userTagKey?: string) {
    const made = await sessionService({
      redis: { url },
      keyPrefix: prefix,
      maxSessionsPerUser: 0,
      userTagKey,
    });
    closers.push(made.close);
    return made.sessions;
  }

  /** Redis loses the key while every process that read it restarts; then a revoke-all. */
  async function loseKeyAcrossRestarts(userTagKey?: string) {
    const prefix = uniquePrefix();
    const user = { id: 'u-restarted', username: 'rhea', roles: ['customer'] };
    const first = await service(prefix, userTagKey);
    const before = [await first.create(user), await first.create(user)];
    for (const close of closers.splice(0)) await close();
    await inspect.del(`${prefix}user-tag-key`);
    const restarted = await service(prefix, userTagKey);
    const after = await restarted.create(user);
    const revoked = await restarted.revokeAllForUser(user.id);
    const alive = [];
    for (const { token } of [...before, after]) {
      if (await restarted.validate(token)) alive.push(token);
    }
    return { before, after, revoked, alive };
  }

  it('with a configured key, misses no session of a user after Redis lost the key across restarts', async () => {
    const key = newUserTagKey();
    const { before, after, revoked, alive } = await loseKeyAcrossRestarts(key);
    expect(tagOf(after.token)).toBe(tagOf(before[0].token));
    expect(tagOf(after.token)).toBe(deriveUserTag(key, 'u-restarted'));
    expect(revoked).toBe(3);
    expect(alive).toEqual([]);
  });

  it('without one, orphans the sessions made before (what the configured key is for)', async () => {
    const { before, revoked, alive } = await loseKeyAcrossRestarts();
    expect(revoked).toBe(1);
    expect(alive).toEqual(before.map(({ token }) => token));
  });

  it("logs an error, and keeps Redis's key, when the configured key is another", async () => {
    const prefix = uniquePrefix();
    const user = { id: 'u-other-key', username: 'omar', roles: ['customer'] };
    const made = await (await service(prefix)).create(user);
    const stored = await inspect.get(`${prefix}user-tag-key`);
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const configured = await service(prefix, newUserTagKey());
      const next = await configured.create(user);
      expect(tagOf(next.token)).toBe(tagOf(made.token));
      expect(await inspect.get(`${prefix}user-tag-key`)).toBe(stored);
      expect(errors.mock.calls.map(([message]) => String(message))).toEqual([
        expect.stringContaining('is not the configured userTagKey'),
      ]);
      expect(await configured.revokeAllForUser(user.id)).toBe(2);
    } finally {
      errors.mockRestore();
    }
  });

  it('gives every session of a user one tag, whichever instance created the key first', async () => {
    const prefix = uniquePrefix();
    const [a, b] = [await service(prefix), await service(prefix)];
    const users = Array.from({ length: 6 }, (_, i) => ({
      id: `u${i}`,
      username: `user${i}`,
      roles: ['customer'],
    }));
    // Both instances race to create the key on the first logins.
    const issued = await Promise.all(
      users.flatMap((user, i) => [a.create(user), b.create(user), (i % 2 ? a : b).create(user)]),
    );
    const key = await inspect.get(`${prefix}user-tag-key`);
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const [i, user] of users.entries()) {
      const tags = new Set(issued.slice(i * 3, i * 3 + 3).map(({ token }) => tagOf(token)));
      expect([...tags]).toEqual([deriveUserTag(key as string, user.id)]);
      expect(await a.listForUser(user.id)).toHaveLength(3);
    }
    expect(new Set(issued.map(({ token }) => tagOf(token))).size).toBe(users.length);
    expect(await inspect.keys(`${prefix}ut:*`)).toEqual([]);
  });

  it('keeps using the random tag an earlier release stored for a user', async () => {
    const prefix = uniquePrefix();
    const sessions = await service(prefix);
    await inspect.set(`${prefix}ut:u-old`, 'legacyT1');
    const user = { id: 'u-old', username: 'olga', roles: ['customer'] };
    const first = await sessions.create(user);
    expect(tagOf(first.token)).toBe('legacyT1');
    expect((await sessions.listForUser(user.id)).map((s) => s.id)).toEqual([first.session.id]);
    expect(await sessions.revokeAllForUser(user.id)).toBe(1);
    expect(await sessions.validate(first.token)).toBeNull();
  });

  it('lists, demotes and revokes sessions under both tags while releases are mixed', async () => {
    const prefix = uniquePrefix();
    const sessions = await service(prefix);
    const user = { id: 'u-mixed', username: 'mia', roles: ['admin'] };
    const derived = await sessions.create(user);
    // Listed oldest first by creation time in ms: two sessions made in one ms (one per tag)
    // could come in either order.
    await sleep(2);
    // An instance of the earlier release now logs the same user in under a random tag.
    await inspect.set(`${prefix}ut:${user.id}`, 'legacyT2');
    const legacy = await sessions.create(user);
    expect(tagOf(legacy.token)).toBe('legacyT2');
    expect(tagOf(derived.token)).not.toBe('legacyT2');

    const listed = (await sessions.listForUser(user.id)).map((s) => s.id);
    expect(listed).toEqual([derived.session.id, legacy.session.id]);
    expect(await sessions.setRolesForUser(user.id, ['customer'])).toBe(2);
    expect((await sessions.validate(derived.token))?.roles).toEqual(['customer']);
    expect((await sessions.validate(legacy.token))?.roles).toEqual(['customer']);

    // A login that read the user before the role change is refused under either tag.
    const generation = await sessions.generationOf(user.id);
    await sessions.setRolesForUser(user.id, ['customer', 'auditor']);
    await expect(sessions.create(user, {}, { generation })).rejects.toThrow();

    expect(await sessions.revokeAllForUser(user.id, { except: legacy.session.id })).toBe(1);
    expect(await sessions.validate(derived.token)).toBeNull();
    expect(await sessions.validate(legacy.token)).not.toBeNull();
    expect(await sessions.revokeAllForUser(user.id)).toBe(1);
    expect(await sessions.validate(legacy.token)).toBeNull();
  });

  it('refuses a login that read the user before a change, whenever an earlier release tags them', async () => {
    const prefix = uniquePrefix();
    const sessions = await service(prefix);
    const changes = {
      'a role change': (userId: string) => sessions.setRolesForUser(userId, ['customer']),
      'a revoke-all': (userId: string) => sessions.revokeAllForUser(userId),
    };
    const moments = ['before the read', 'before the change', 'before the create'] as const;
    const slipped: string[] = [];
    let users = 0;
    for (const earlier of [0, 1, 2]) {
      for (const [kind, change] of Object.entries(changes)) {
        for (const tagged of moments) {
          const user = { id: `u-raced-${users++}`, username: 'rae', roles: ['admin'] };
          // What an instance of the earlier release writes as it logs the user in.
          const earlierRelease = () => inspect.set(`${prefix}ut:${user.id}`, newUserTag(), 'NX');
          for (let each = 0; each < earlier; each++) await change(user.id);
          if (tagged === 'before the read') await earlierRelease();
          const generation = await sessions.generationOf(user.id);
          if (tagged === 'before the change') await earlierRelease();
          await change(user.id);
          if (tagged === 'before the create') await earlierRelease();
          const login = await sessions.create(user, {}, { generation }).catch((error) => error);
          if (!(login instanceof SessionUserChangedError)) {
            slipped.push(`${kind} after ${earlier} others, the user tagged ${tagged}`);
          }
        }
      }
    }
    expect(slipped).toEqual([]);
  });

  it('creates the login read again once an earlier release tagged the user after the read', async () => {
    const prefix = uniquePrefix();
    const sessions = await service(prefix);
    const user = { id: 'u-retagged', username: 'rita', roles: ['customer'] };
    await sessions.create(user);
    const generation = await sessions.generationOf(user.id);
    await inspect.set(`${prefix}ut:${user.id}`, 'legacyT5', 'NX');
    // Refused or not (the store cannot tell that nothing changed), never under a stale read.
    await sessions.create(user, {}, { generation }).catch((error: unknown) => {
      expect(error).toBeInstanceOf(SessionUserChangedError);
    });
    const fresh = await sessions.generationOf(user.id);
    const created = await sessions.create(user, {}, { generation: fresh });
    expect(tagOf(created.token)).toBe('legacyT5');
  });

  it("revokes the user's sessions under both tags when a rotation revokes the others", async () => {
    const prefix = uniquePrefix();
    const sessions = await service(prefix);
    const user = { id: 'u-rotating', username: 'rosa', roles: ['customer'] };
    const derived = await sessions.create(user);
    await inspect.set(`${prefix}ut:${user.id}`, 'legacyT3');
    const legacy = await sessions.create(user);
    const other = await sessions.create(user);
    // A login that read the user before the change, under the tag logins now take.
    const generation = await sessions.generationOf(user.id);

    // The change comes from the derived tag: the earlier release's sessions end too.
    const rotated = await sessions.rotate(derived.token, { revokeOthersOf: user.id });
    expect(rotated).not.toBeNull();
    expect(await sessions.validate(legacy.token)).toBeNull();
    expect(await sessions.validate(other.token)).toBeNull();
    expect((await sessions.listForUser(user.id)).map((s) => s.id)).toEqual([rotated?.session.id]);
    await expect(sessions.create(user, {}, { generation })).rejects.toThrow();

    // And from the earlier release's tag: the derived sessions end.
    const again = await sessions.create(user);
    await inspect.del(`${prefix}ut:${user.id}`);
    const fresh = await sessions.create(user);
    expect(tagOf(fresh.token)).toBe(tagOf(derived.token));
    await inspect.set(`${prefix}ut:${user.id}`, 'legacyT3');
    const moved = await sessions.rotate(again.token, { revokeOthersOf: user.id });
    expect(moved).not.toBeNull();
    expect(await sessions.validate(fresh.token)).toBeNull();
    expect(await sessions.validate(rotated?.token ?? '')).toBeNull();
    expect((await sessions.listForUser(user.id)).map((s) => s.id)).toEqual([moved?.session.id]);
  });

  it("leaves the user's other tag alone when the session to rotate is someone else's", async () => {
    const prefix = uniquePrefix();
    const sessions = await service(prefix);
    const user = { id: 'u-target', username: 'tara', roles: ['customer'] };
    const stranger = { id: 'u-stranger', username: 'stan', roles: ['customer'] };
    const kept = await sessions.create(user);
    await inspect.set(`${prefix}ut:${user.id}`, 'legacyT4');
    await inspect.set(`${prefix}ut:${stranger.id}`, 'legacyT4');
    const theirs = await sessions.create(stranger);
    expect(await sessions.rotate(theirs.token, { revokeOthersOf: user.id })).toBeNull();
    expect(await sessions.validate(kept.token)).not.toBeNull();
    expect(await sessions.validate(theirs.token)).not.toBeNull();
  });

  it('writes back the key it knew when Redis lost it, and misses no session of a user', async () => {
    // On a Cluster the key lives on one master: restarted empty, the others keep the sessions.
    const prefix = uniquePrefix();
    const [a, b] = [await service(prefix), await service(prefix)];
    const user = { id: 'u-lost', username: 'luz', roles: ['customer'] };
    const before = [await a.create(user), await b.create(user)];
    const key = `${prefix}user-tag-key`;
    const original = await inspect.get(key);
    await inspect.del(key);
    expect(await a.listForUser(user.id)).toHaveLength(2);
    expect(await inspect.get(key)).toBe(original);
    await inspect.del(key);
    const after = await b.create(user);
    expect(tagOf(after.token)).toBe(tagOf(before[0].token));
    expect(await inspect.get(key)).toBe(original);
    // Another process made a new key meanwhile: both keys' sessions are reached.
    await inspect.del(key);
    const fresh = await service(prefix);
    const other = await fresh.create(user);
    expect(tagOf(other.token)).not.toBe(tagOf(before[0].token));
    expect(await a.setRolesForUser(user.id, ['auditor'])).toBe(4);
    expect(await a.revokeAllForUser(user.id)).toBe(4);
    for (const { token } of [...before, after, other]) {
      expect(await a.validate(token)).toBeNull();
    }
  });

  it('refuses to create sessions, and overwrites nothing, when the key holds something else', async () => {
    const prefix = uniquePrefix();
    const sessions = await service(prefix);
    await inspect.set(`${prefix}user-tag-key`, 'not a key');
    const user = { id: 'u-x', username: 'xavier', roles: ['customer'] };
    await expect(sessions.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    expect(await inspect.get(`${prefix}user-tag-key`)).toBe('not a key');
    expect(await inspect.keys(`${prefix}{*`)).toEqual([]);
  });

  it('refuses to list, revoke or demote a user when the key holds something else, and loses nothing', async () => {
    const prefix = uniquePrefix();
    const sessions = await service(prefix);
    const user = { id: 'u-y', username: 'yvonne', roles: ['customer'] };
    const { token, session } = await sessions.create(user);
    const key = `${prefix}user-tag-key`;
    const good = (await inspect.get(key)) as string;
    await inspect.set(key, 'not a key');
    // With the key unreadable the user's sessions cannot be found: a 503, never "0 revoked".
    await expect(sessions.listForUser(user.id)).rejects.toBeInstanceOf(
      SessionStoreUnavailableError,
    );
    await expect(sessions.revokeAllForUser(user.id)).rejects.toBeInstanceOf(
      SessionStoreUnavailableError,
    );
    await expect(sessions.setRolesForUser(user.id, ['auditor'])).rejects.toBeInstanceOf(
      SessionStoreUnavailableError,
    );
    expect(await inspect.get(key)).toBe('not a key');
    await inspect.set(key, good);
    expect(await sessions.validate(token)).toMatchObject({ id: session.id, roles: ['customer'] });
    expect(await sessions.revokeAllForUser(user.id)).toBe(1);
  });
});
