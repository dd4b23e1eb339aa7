import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import { SessionStoreUnavailableError } from '../src/lib/errors/session-store-unavailable.error';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { addSessionAclUsers } from './acl-users';
import { alice, sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

/**
 * Redis reachable but refusing the store's commands — an ACL changed at runtime, a node turned
 * replica — answers 503 to every check. The log must say why, once, not once per request and
 * not never: the outage warning only follows broken connections.
 */
describe('RedisSessionStore when a reachable Redis refuses its commands', () => {
  let server: RedisServerProcess;
  let admin: Redis;
  const keyPrefix = uniquePrefix();

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
    await addSessionAclUsers(admin, keyPrefix);
  });

  afterAll(async () => {
    admin?.disconnect();
    await server?.dispose();
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  const refusalLines = (warn: jest.SpyInstance) =>
    warn.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('refused'));

  it('warns once with the reason while an ACL change refuses every check, and serves again once it is undone', async () => {
    const url = new URL(server.url);
    const owner = await sessionService({
      redis: { url: `redis://auth:auth-secret@${url.host}` },
      keyPrefix,
    });
    try {
      const { token } = await owner.sessions.create(alice);
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      await admin.acl('SETUSER', 'auth', '-evalsha');
      for (let i = 0; i < 20; i++) {
        await expect(owner.sessions.validate(token)).rejects.toBeInstanceOf(
          SessionStoreUnavailableError,
        );
      }
      const lines = refusalLines(warn);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/NOPERM/);
      expect(lines[0]).toMatch(/^[\x20-\x7e]{1,300}$/);

      await admin.acl('SETUSER', 'auth', '+evalsha');
      expect(await owner.sessions.validate(token)).toMatchObject({ userId: alice.id });
    } finally {
      await owner.close();
    }
  });

  it('warns of a node turned replica (READONLY) refusing writes, once per kind', async () => {
    const owner = await sessionService({ redis: { url: server.url }, keyPrefix });
    const primary = await startRedisServer();
    try {
      const { token } = await owner.sessions.create(alice);
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const { port } = new URL(primary.url);
      await admin.replicaof('127.0.0.1', Number(port));
      for (let i = 0; i < 5; i++) {
        await expect(owner.sessions.create(alice)).rejects.toBeInstanceOf(
          SessionStoreUnavailableError,
        );
      }
      const lines = refusalLines(warn);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/READONLY/);
      expect(token).toBeTruthy();
    } finally {
      await admin.replicaof('NO', 'ONE');
      await owner.close();
      await primary.dispose();
    }
  });
});
