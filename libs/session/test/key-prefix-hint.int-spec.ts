import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import { SessionModuleOptions } from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { addSessionAclUsers } from './acl-users';
import { alice, sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

/**
 * A service given another key prefix (or Redis database) than the one that logs users in
 * refuses every session with 401; the first refusal says where to look, once, when no session
 * was ever created under its prefix in its database — and says nothing where sessions were.
 */
describe('RedisSessionStore when its key prefix or database holds no session', () => {
  let server: RedisServerProcess;
  let admin: Redis;
  let warn: jest.SpyInstance;
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });

  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    warn.mockRestore();
  });

  afterAll(async () => {
    admin?.disconnect();
    await server?.dispose();
  });

  async function service(options: { keyPrefix: string; redis?: { url: string } }) {
    const started = await sessionService({
      redis: { url: server.url },
      ...options,
    } as SessionModuleOptions);
    closers.push(started.close);
    return started.sessions;
  }

  const hints = () =>
    warn.mock.calls
      .map(([message]) => String(message))
      .filter((message) => message.includes('key prefix'));

  /** Waits for the store's one look at the prefix, made beside the refusal, to be answered. */
  const settled = () => new Promise((resolve) => setTimeout(resolve, 200));

  it('hints once at the prefix when another prefix issued the session', async () => {
    const issuer = await service({ keyPrefix: uniquePrefix() });
    const other = uniquePrefix();
    const validator = await service({ keyPrefix: other });
    const { token } = await issuer.create(alice);

    expect(await validator.validate(token)).toBeNull();
    expect(await validator.validate(token)).toBeNull();
    await settled();
    expect(await validator.validate(token)).toBeNull();
    await settled();

    expect(hints()).toHaveLength(1);
    expect(hints()[0]).toContain(`"${other}"`);
    expect(hints()[0]).toContain('SESSION_KEY_PREFIX');
  });

  it('hints at the database when another database issued the session', async () => {
    const keyPrefix = uniquePrefix();
    const issuer = await service({ keyPrefix });
    const { sessions: validator, close } = await sessionService({
      redis: { url: `${server.url}/3` },
      keyPrefix,
    });
    closers.push(close);
    const { token } = await issuer.create(alice);

    expect(await validator.validate(token)).toBeNull();
    await settled();

    expect(hints()).toHaveLength(1);
    expect(hints()[0]).toContain('REDIS_URL');
  });

  it('says nothing of a session revoked under a prefix that has sessions', async () => {
    const keyPrefix = uniquePrefix();
    const issuer = await service({ keyPrefix });
    const validator = await service({ keyPrefix });
    const { token } = await issuer.create(alice);
    await issuer.revoke(token);

    expect(await validator.validate(token)).toBeNull();
    await settled();

    expect(hints()).toEqual([]);
  });

  it('says nothing, and still answers, for a validator that may not read the key', async () => {
    const keyPrefix = uniquePrefix();
    await addSessionAclUsers(admin, keyPrefix);
    const other = uniquePrefix();
    await addSessionAclUsers(admin, other);
    const issuer = await service({ keyPrefix });
    const url = new URL(server.url);
    const validator = await service({
      redis: { url: `redis://orders:orders-secret@${url.host}` },
      keyPrefix: other,
    });
    const { token } = await issuer.create(alice);

    expect(await validator.validate(token)).toBeNull();
    await settled();
    expect(await validator.validate(token)).toBeNull();
    await settled();

    expect(hints()).toEqual([]);
  });
});
