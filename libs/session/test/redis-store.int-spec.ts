import { Redis } from 'ioredis';

import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import { alice, REDIS_URL as url, sessionService, uniquePrefix } from './store-contract';

describe('RedisSessionStore encoding', () => {
  const userAgent =
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 ✓';

  it('keeps a session with a browser-length user agent in the compact listpack encoding', async () => {
    const prefix = uniquePrefix();
    const inspect = new Redis(url);
    const { sessions, close } = await sessionService({ redis: { url }, keyPrefix: prefix });
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
    await expect(client['cloakroomPatch'](key, 1, 'r', '["admin"]')).rejects.toThrow(
      /only attribute fields/,
    );
    await expect(client['cloakroomPatch'](key, 0, 'u')).rejects.toThrow(/only attribute fields/);
    await expect(client['cloakroomPatch'](key, 3, 'a:x', '1')).rejects.toThrow(/pairs/);
    expect(await client.hgetall(key)).toEqual({ u: 'u-victim', r: '["customer"]', t: '1', x: '1' });
    expect(await client['cloakroomPatch'](key, 1, 'a:x', '1')).toBe(1);
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

  it('refuses roles that are not a JSON array of strings', async () => {
    for (const roles of ['admin', '[1]', '']) {
      await expect(
        client['cloakroomSetRoles'](
          `${prefix}{AAAAAAAA}:u:u-victim`,
          `${prefix}{AAAAAAAA}:g:u-victim`,
          `${prefix}{AAAAAAAA}:s:`,
          roles,
        ),
      ).rejects.toThrow(/roles/);
    }
  });
});
