import { Logger } from '@nestjs/common';
import { Redis, RedisOptions } from 'ioredis';

import { SessionModuleOptions, SessionService, SessionStoreUnavailableError } from '../src';
import { RedisServerProcess, startRedisServer, startTcpRelay, TcpRelay } from '../src/testing';
import { refOf, sessionService, uniquePrefix, until } from './store-contract';

jest.setTimeout(60_000);

/**
 * A Redis client the app gives, left with ioredis' defaults (`maxRetriesPerRequest` 20), sends a
 * command again after the connection it went out on broke: a revocation whose answer was lost
 * runs twice and answers "not found" (a 404, and no event for other services). The store warns
 * of such a client at start; with `durability`, the connection of its own that runs revocations
 * and rotations never resends, whatever the given client does.
 */
describe('a given Redis client that resends after a broken connection', () => {
  let primary: RedisServerProcess;
  let replica: RedisServerProcess;
  let relay: TcpRelay;
  const closers: Array<() => Promise<void>> = [];
  const alice = { id: 'u-resend', username: 'resend', roles: ['customer'] };

  beforeAll(async () => {
    primary = await startRedisServer(undefined, ['--repl-diskless-sync-delay', '0']);
    // A replica, so that `durability: { replicas: 1 }` is met whenever nothing is lost.
    replica = await startRedisServer(undefined, ['--replicaof', '127.0.0.1', String(primary.port)]);
    const probe = new Redis(replica.port, '127.0.0.1', { lazyConnect: true });
    try {
      await until(async () => (await probe.info('replication')).includes('link_status:up'), 20_000);
    } finally {
      probe.disconnect();
    }
    relay = await startTcpRelay(primary.port);
  });

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    relay.loseAnswer(null);
    while (closers.length) await closers.pop()?.();
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await relay?.sever();
    await replica?.dispose();
    await primary?.dispose();
  });

  /** A session service on a client of the test's own, reaching Redis through the relay. */
  async function serviceWith(
    clientOptions: RedisOptions,
    options: Pick<SessionModuleOptions, 'durability'> = {},
  ): Promise<SessionService> {
    const client = new Redis(relay.port, '127.0.0.1', clientOptions);
    closers.push(async () => client.disconnect());
    const { sessions, close } = await sessionService({
      redis: { client },
      keyPrefix: uniquePrefix(),
      events: false,
      ...options,
    });
    closers.push(close);
    return sessions;
  }

  const resendWarnings = () =>
    jest
      .mocked(Logger.prototype.warn)
      .mock.calls.filter(([message]) => /sends a command again/.test(String(message)));

  /** The next answer that names the session's digest is lost with its connection. */
  const loseAnswerNaming = (token: string) =>
    relay.loseAnswer({ answer: (bytes) => bytes.includes(refOf(token).digest) });

  it('warns once at start of a client that resends, never of one that does not', async () => {
    await serviceWith({ maxRetriesPerRequest: 0 });
    await serviceWith({ autoResendUnfulfilledCommands: false });
    expect(resendWarnings()).toEqual([]);
    await serviceWith({});
    expect(resendWarnings()).toHaveLength(1);
  });

  it('through such a client, a revocation whose answer is lost answers "not found": what the warning is about', async () => {
    const sessions = await serviceWith({});
    const { token } = await sessions.create(alice);
    const lostBefore = relay.lost;
    loseAnswerNaming(token); // revoke.lua answers the digest it deleted
    // Not an assertion of the library: proof that the hazard is real.
    expect(await sessions.revoke(token)).toBe(false);
    expect(relay.lost).toBe(lostBefore + 1);
  });

  describe('with durability, on the same resending client', () => {
    const durability = { replicas: 1, timeout: 0.5 };

    it('answers 503 for a revocation whose answer was lost, which did end the session', async () => {
      const sessions = await serviceWith({}, { durability });
      const { token } = await sessions.create(alice);
      const lostBefore = relay.lost;
      loseAnswerNaming(token);
      await expect(sessions.revoke(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      expect(relay.lost).toBe(lostBefore + 1);
      expect(await sessions.validate(token)).toBeNull();
    });

    it('answers 503 for a rotation whose answer was lost, and the old token works again', async () => {
      const sessions = await serviceWith({}, { durability });
      const { token } = await sessions.create(alice);
      const lostBefore = relay.lost;
      // rotate.lua answers the session's fields, the user id among them.
      relay.loseAnswer({ answer: (bytes) => bytes.includes(alice.id) });
      await expect(sessions.rotate(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      expect(relay.lost).toBe(lostBefore + 1);
      // The store's undo moves the session back under the token its holder has.
      // Meanwhile this process answers 503 for it, not 401: the undo is pending.
      await until(async () => (await sessions.validate(token).catch(() => null)) !== null);
      expect(await sessions.listForUser(alice.id)).toHaveLength(1);
    });
  });
});
