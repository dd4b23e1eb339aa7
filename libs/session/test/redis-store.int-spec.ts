import fc from 'fast-check';
import { Redis } from 'ioredis';

import type { Session } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import { formatToken, newSecret, sessionRef } from '../src/lib/token/session.token';
import { alice, REDIS_URL as url, refOf, sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(60_000);

describe('RedisSessionStore encoding', () => {
  const userAgent =
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 ✓';

  it('keeps a session with a browser-length user agent in the compact listpack encoding', async () => {
    const prefix = uniquePrefix();
    const inspect = new Redis(url);
    const { sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: prefix,
      keepUserAgent: true,
    });
    try {
      const { token } = await sessions.create(alice, { userAgent, ip: '2001:db8::1' });
      expect((await sessions.validate(token))?.userAgent).toBe(userAgent);
      const [key] = await inspect.keys(`${prefix}{*}:s:*`);
      expect(await inspect.object('ENCODING', key)).toBe('listpack');
    } finally {
      inspect.disconnect();
      await close();
    }
  });
});

describe('validate.lua’s compact reply', () => {
  const prefix = uniquePrefix();
  let inspect: Redis;
  let service: Awaited<ReturnType<typeof sessionService>>;

  beforeAll(async () => {
    inspect = new Redis(url);
    service = await sessionService({ redis: { url }, keyPrefix: prefix, keepUserAgent: true });
  });

  afterAll(async () => {
    await service?.close();
    const keys = await inspect.keys(`${prefix}*`);
    if (keys.length) await inspect.del(...keys);
    inspect.disconnect();
  });

  /** A session without the two fields a validation moves (the last touch and what follows). */
  const settled = (session: Session): Session => ({ ...session, lastSeenAt: 0, expiresAt: 0 });

  /** Text that could trip a positional decoder: separators, prefixes, any code point. */
  const oddText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.constantFrom('\0', 'bob\0["admin"]', '\0\0', 'a:', 'ua1', '["admin"]', '🧥 ü', ''),
  );

  it('decodes any session as the whole hash decodes: odd usernames, roles and attributes', async () => {
    const { sessions } = service;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          userId: oddText,
          username: oddText,
          roles: fc.array(oddText, { maxLength: 4 }),
          attributes: fc.dictionary(
            // The names no store keeps (SessionAttributeNameError).
            oddText.filter((name) => !['__proto__', 'constructor', 'prototype'].includes(name)),
            fc.jsonValue({ maxDepth: 2 }),
            { maxKeys: 4 },
          ),
          ip: fc.option(oddText, { nil: undefined }),
          device: fc.option(oddText, { nil: undefined }),
          userAgent: fc.option(fc.string({ unit: 'binary', maxLength: 200 }), { nil: undefined }),
          persistent: fc.boolean(),
        }),
        async ({ userId, username, roles, attributes, ip, device, userAgent, persistent }) => {
          const user = { id: `u-${run++}-${userId}`, username, roles };
          const created = await sessions.create(
            user,
            { ip, device, userAgent, attributes },
            { persistent },
          );
          const valid = await sessions.validate(created.token);
          expect(valid).not.toBeNull();
          const session = valid as Session;
          // What create wrote and what the whole hash reads back are the reference.
          expect(settled(session)).toEqual(settled(created.session));
          expect(settled(session)).toEqual(
            settled((await sessions.get(created.session.id)) as Session),
          );
          expect(session).toMatchObject({ userId: user.id, username, roles, persistent });
          expect(session.attributes).toEqual(JSON.parse(JSON.stringify(attributes)));
          expect(session.expiresAt).toBeGreaterThan(session.lastSeenAt);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('never lets a username carrying a NUL byte pose as roles', async () => {
    const { sessions } = service;
    const { token } = await sessions.create(
      { id: 'u-nul', username: 'bob\0["admin"]', roles: ['customer'] },
      { device: 'x\0y', attributes: { 'n\0m': 'v\0w' } },
    );
    expect(await sessions.validate(token)).toMatchObject({
      userId: 'u-nul',
      username: 'bob\0["admin"]',
      roles: ['customer'],
      device: 'x\0y',
      attributes: { 'n\0m': 'v\0w' },
    });
  });

  it('reads sessions an earlier schema wrote, as the previous version of the script did', async () => {
    const { sessions } = service;
    const keys = new RedisKeys(prefix);
    const tag = 'LegacyAA';
    /** A hash as an earlier version wrote it, and a token that names it. */
    const legacy = async (fields: Record<string, string>) => {
      const { secret, digest } = newSecret();
      const key = keys.session(sessionRef(tag, digest));
      await inspect.hset(key, fields);
      await inspect.pexpire(key, 60_000);
      return { token: formatToken(tag, secret), id: `${tag}.${digest}` };
    };
    const now = Number((await inspect.time())[0]) * 1000;
    const base = {
      u: 'u-old',
      n: 'old',
      r: '["customer"]',
      c: String(now - 5_000),
      t: String(now - 1_000),
      x: String(now + 3_600_000),
      ip: '10.0.0.9',
      ua: 'A'.repeat(60),
      ua1: 'B'.repeat(10),
      'a:cart': '{"items":2}',
    };
    // Schema 1: no own idle timeout (slides by this service's, 30 min by default).
    const v1 = await legacy({ ...base, v: '1' });
    // Schema 2: its own idle timeout, no authenticatedAt, persistence or device.
    const v2 = await legacy({ ...base, v: '2', i: '120000' });
    for (const { token, id } of [v1, v2]) {
      const session = (await sessions.validate(token)) as Session;
      expect(settled(session)).toEqual(settled((await sessions.get(id)) as Session));
      expect(session).toMatchObject({
        userId: 'u-old',
        roles: ['customer'],
        createdAt: now - 5_000,
        authenticatedAt: now - 5_000,
        persistent: false,
        userAgent: 'A'.repeat(60) + 'B'.repeat(10),
        attributes: { cart: { items: 2 } },
      });
      expect(session).not.toHaveProperty('device');
    }
    const [first, second] = [
      (await sessions.validate(v1.token)) as Session,
      (await sessions.validate(v2.token)) as Session,
    ];
    expect(first.expiresAt - first.lastSeenAt).toBe(30 * 60_000);
    expect(second.expiresAt - second.lastSeenAt).toBe(120_000);
  });
});

describe('RedisSessionStore given a session hash damaged by hand', () => {
  const prefix = uniquePrefix();
  let inspect: Redis;
  let service: Awaited<ReturnType<typeof sessionService>>;

  beforeAll(async () => {
    inspect = new Redis(url);
    service = await sessionService({ redis: { url }, keyPrefix: prefix });
  });

  afterAll(async () => {
    await service?.close();
    const keys = await inspect.keys(`${prefix}*`);
    if (keys.length) await inspect.del(...keys);
    inspect.disconnect();
  });

  it('refuses a session without an owner, or whose roles are not a JSON array of strings', async () => {
    const { sessions } = service;
    const damages: Array<[string, ...string[]]> = [
      ['hdel', 'u'],
      ['hdel', 'r'],
      ['hset', 'r', 'null'],
      // A string would match any role it contains: "superadmin" passing @Roles('admin').
      ['hset', 'r', '"superadmin"'],
      ['hset', 'r', '{"0":"admin"}'],
      ['hset', 'r', '[1,["admin"]]'],
      ['hset', 'r', 'admin'],
    ];
    for (const [command, field, value] of damages) {
      const user = {
        id: `u-damaged-${command}-${field}-${value}`,
        username: 'x',
        roles: ['admin'],
      };
      const { token, session } = await sessions.create(user);
      const key = new RedisKeys(prefix).session(refOf(token));
      await (command === 'hdel' ? inspect.hdel(key, field) : inspect.hset(key, field, value));
      expect([command, field, value, await sessions.validate(token)]).toEqual([
        command,
        field,
        value,
        null,
      ]);
      expect(await sessions.get(session.id)).toBeNull();
      expect(await sessions.listForUser(user.id)).toEqual([]);
    }
  });

  it("lists a user's other sessions beside one whose deadline is unreadable", async () => {
    const { sessions } = service;
    const user = { id: 'u-damaged-deadline', username: 'x', roles: ['customer'] };
    const damaged = await sessions.create(user);
    const kept = await sessions.create(user);
    await inspect.hset(new RedisKeys(prefix).session(refOf(damaged.token)), 'x', 'soon');
    expect(await sessions.validate(damaged.token)).toBeNull();
    expect((await sessions.listForUser(user.id)).map((session) => session.id)).toEqual([
      kept.session.id,
    ]);
  });

  it('refuses to create a session for a user without an id, or with roles that are not strings', async () => {
    const { sessions } = service;
    const keys = async () => (await inspect.keys(`${prefix}*`)).sort();
    const before = await keys();
    for (const user of [
      { id: '', username: 'x', roles: [] },
      { id: 'u-odd-roles', username: 'x', roles: [1] as unknown as string[] },
      { id: 'u-no-roles', username: 'x', roles: 'admin' as unknown as string[] },
    ]) {
      await expect(sessions.create(user)).rejects.toThrow(TypeError);
    }
    expect(await keys()).toEqual(before);
  });
});

describe('Redis scripts given hostile arguments', () => {
  type Call = (...args: Array<string | number>) => Promise<unknown>;
  let client: Redis & Record<string, Call>;
  const prefix = uniquePrefix();
  const key = `${prefix}{AAAAAAAA}:s:victim`;

  beforeAll(async () => {
    client = new Redis(url) as Redis & Record<string, Call>;
    for (const [name, script] of Object.entries(SESSION_SCRIPTS))
      client.defineCommand(name, script);
    await client.hset(key, 'u', 'u-victim', 'r', '["customer"]', 't', '1', 'x', '1');
  });

  afterAll(async () => {
    await client.del(key);
    client.disconnect();
  });

  it('refuses numbers that are not non-negative integers', async () => {
    for (const idle of ['abc', '-1', '1.5', '']) {
      await expect(client['cloakroomValidate'](key, idle, 10)).rejects.toThrow(/ARGV\[1\]/);
    }
  });

  it('lets a patch write and remove attribute fields only', async () => {
    const patch = (...args: Array<string | number>) =>
      client['cloakroomPatch'](key, 64, 1024, 0, ...args);
    await expect(patch(1, 'r', '["admin"]')).rejects.toThrow(/only attribute fields/);
    await expect(patch(0, 'u')).rejects.toThrow(/only attribute fields/);
    await expect(patch(3, 'a:x', '1')).rejects.toThrow(/pairs/);
    expect(await client.hgetall(key)).toEqual({ u: 'u-victim', r: '["customer"]', t: '1', x: '1' });
    expect(await patch(1, 'a:x', '1')).toBe(1);
  });

  it('refuses a patch that arrives after its deadline, before it writes', async () => {
    const [seconds, micros] = await client.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const patch = (deadline: number) =>
      client['cloakroomPatch'](key, 64, 1024, deadline, 1, 'a:late', '1');
    await expect(patch(now - 1)).rejects.toThrow(/after its deadline/);
    expect(await client.hexists(key, 'a:late')).toBe(0);
    expect(await patch(now + 60_000)).toBe(1);
    expect(await client.hget(key, 'a:late')).toBe('1');
    await expect(patch(-1)).rejects.toThrow(/ARGV\[3\]/);
    await client.hdel(key, 'a:late');
  });

  /**
   * A caller allowed the script (a validator's password) sends whatever it likes: the limits
   * hold on what the session would hold, before anything is written.
   */
  it("refuses a patch that would take the session's attributes over their limits", async () => {
    const limited = (count: number, bytes: number, ...args: Array<string | number>) =>
      client['cloakroomPatch'](key, count, bytes, 0, ...args);
    expect(await limited(2, 9, 1, 'a:x', '"12345"')).toBe(1); // x: 1 + 7 bytes
    expect(await limited(2, 9, 1, 'a:y', '1')).toBe(-1); // 8 + 2 > 9
    expect(await limited(2, 9, 1, 'a:x', '1', 'a:x')).toBe(1); // replaced, then removed
    expect(await limited(2, 9, 2, 'a:y', '1', 'a:z', '1')).toBe(1);
    expect(await limited(2, 100, 1, 'a:w', '1')).toBe(-1); // a third attribute
    expect(await limited(2, 100, 0, 'a:1', 'a:2', 'a:3')).toBe(-1); // more names than allowed
    expect(await client.hgetall(key)).toMatchObject({ 'a:y': '1', 'a:z': '1' });
    expect(await client.hexists(key, 'a:w')).toBe(0);
    expect(await limited(2, 100, 1, 'a:w', '1', 'a:y')).toBe(1); // one out, one in
  });

  it('refuses an unknown cap policy, zero timeouts and caller-chosen timestamps on create', async () => {
    const index = `${prefix}{AAAAAAAA}:u:u-new`;
    const create = (
      overrides: Partial<Record<'idle' | 'policy', string | number>>,
      ...fields: string[]
    ) =>
      client['cloakroomCreate'](
        `${prefix}{AAAAAAAA}:s:new`,
        index,
        `${prefix}{AAAAAAAA}:g:u-new`,
        overrides.idle ?? 60000,
        600000,
        3,
        overrides.policy ?? 'evict-oldest',
        60000,
        `${prefix}{AAAAAAAA}:s:`,
        'new',
        '',
        `${prefix}{AAAAAAAA}:e:`,
        10000,
        'u',
        'u-new',
        ...fields,
      );
    for (const policy of ['', 'evict-all', 'REFUSE']) {
      await expect(create({ policy })).rejects.toThrow(/cap policy|must not be empty/);
    }
    await expect(create({ idle: 0 })).rejects.toThrow(/positive/);
    // A session that claims to have authenticated in the future, or to live forever.
    for (const field of ['l', 'x', 'c', 't', 'i']) {
      await expect(create({}, field, '99999999999999')).rejects.toThrow(/timestamps/);
    }
    await expect(create({}, 'n')).rejects.toThrow(/pairs/);
    expect(await client.exists(`${prefix}{AAAAAAAA}:s:new`, index)).toBe(0);
  });

  it('accepts only 0 or 1 as the re-authentication flag of a rotation', async () => {
    for (const flag of ['yes', '2', '', 'true']) {
      await expect(
        client['cloakroomRotate'](
          key,
          `${prefix}{AAAAAAAA}:s:moved`,
          60000,
          `${prefix}{AAAAAAAA}:u:`,
          `${prefix}{AAAAAAAA}:g:`,
          `${prefix}{AAAAAAAA}:s:`,
          'victim',
          'moved',
          '',
          flag,
        ),
      ).rejects.toThrow(/ARGV\[8\]/);
    }
    expect(await client.exists(`${prefix}{AAAAAAAA}:s:moved`)).toBe(0);
    expect(await client.hmget(key, 'u', 'l')).toEqual(['u-victim', null]);
  });

  it('refuses a migration fence that exists: it would no longer hold a moving slot back', async () => {
    const fence = `${prefix}{AAAAAAAA}:f`;
    const index = `${prefix}{AAAAAAAA}:u:u-victim`;
    const generation = `${prefix}{AAAAAAAA}:g:u-victim`;
    const sessions = `${prefix}{AAAAAAAA}:s:`;
    await client.zadd(index, 1, 'victim');
    await client.set(fence, 'x');
    try {
      for (const call of [
        () => client['cloakroomSetRoles'](index, generation, fence, sessions, '["admin"]', 0),
        () => client['cloakroomRevokeAll'](index, generation, fence, sessions, ''),
        () => client['cloakroomList'](index, fence, sessions, 1000),
        () =>
          client['cloakroomRevoke'](
            key,
            fence,
            `${prefix}{AAAAAAAA}:u:`,
            'victim',
            '',
            `${prefix}{AAAAAAAA}:m:`,
            sessions,
            `${prefix}{AAAAAAAA}:e:`,
          ),
      ]) {
        await expect(call()).rejects.toThrow(/fence/);
      }
      expect(await client.hget(key, 'r')).toBe('["customer"]');
      expect(await client.zrange(index, 0, -1)).toEqual(['victim']);
      expect(await client.exists(generation)).toBe(0);
    } finally {
      await client.del(fence, index);
    }
  });

  it('refuses roles that are not a JSON array of strings', async () => {
    // Objects decode to Lua tables too: stored, every service would read them as no array.
    for (const roles of ['admin', '[1]', '', '{}', '{"admin":true}', '{"1":"admin"}']) {
      await expect(
        client['cloakroomSetRoles'](
          `${prefix}{AAAAAAAA}:u:u-victim`,
          `${prefix}{AAAAAAAA}:g:u-victim`,
          `${prefix}{AAAAAAAA}:f`,
          `${prefix}{AAAAAAAA}:s:`,
          roles,
          0,
        ),
      ).rejects.toThrow(/roles/);
    }
  });

  it('refuses a role change without a deadline, or one whose deadline has passed', async () => {
    const [index, generation, session] = ['u:u-late', 'g:u-late', 's:late'].map(
      (name) => `${prefix}{AAAAAAAA}:${name}`,
    );
    await client.hset(session, 'u', 'u-late', 'r', '["customer"]');
    await client.zadd(index, 1, 'late');
    const setRoles = (...deadline: Array<number | string>) =>
      client['cloakroomSetRoles'](
        index,
        generation,
        `${prefix}{AAAAAAAA}:f`,
        `${prefix}{AAAAAAAA}:s:`,
        '["admin"]',
        ...deadline,
      );
    try {
      await expect(setRoles()).rejects.toThrow(/ARGV\[3\]/);
      await expect(setRoles('soon')).rejects.toThrow(/ARGV\[3\]/);
      await expect(setRoles(Date.now() - 60_000)).rejects.toThrow(/after its deadline/);
      expect(await client.hget(session, 'r')).toBe('["customer"]');
      expect(await client.exists(generation)).toBe(0);
      expect(await setRoles(Date.now() + 60_000)).toEqual([1, []]);
      expect(await client.hget(session, 'r')).toBe('["admin"]');
    } finally {
      await client.del(index, generation, session);
    }
  });
});
