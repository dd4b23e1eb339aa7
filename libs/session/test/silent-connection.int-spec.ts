import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import { SessionService, SessionStoreUnavailableError } from '../src';
import { RedisServerProcess, startRedisServer, startTcpRelay, TcpRelay } from '../src/testing';
import { RedisSentinelProcess, startRedisSentinels } from '../src/testing/redis-sentinel';
import { alice, sessionService, sleep, until } from './store-contract';

const realNow = Date.now;

/** Whether `token` validates now (false when the call fails). */
const validates = (sessions: SessionService, token: string) =>
  sessions.validate(token).then(
    (session) => session?.userId === alice.id,
    () => false,
  );

/** A number from the replication section of INFO (`master_repl_offset`, `slave_repl_offset`). */
function replicationOffset(info: string, field: string): number {
  const value = new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1];
  if (value === undefined) throw new Error(`no ${field} in INFO replication`);
  return Number(value);
}

/**
 * A Redis whose host died, or that a partition cut off, closes nothing: its client's
 * connection stays open, every command on it times out, and the kernel keeps retransmitting
 * for up to ~15 minutes before it gives the connection up. A stranded relay connection is
 * that: nothing passes either way, nothing is closed; a new connection goes through.
 */
describe('a Redis connection that goes silent, its host gone without closing it', () => {
  // A Redis of its own: the second case stops it for half a second.
  let redis: RedisServerProcess;
  let relay: TcpRelay;
  let sessions: SessionService;
  let close: () => Promise<void>;
  let warnings: jest.SpyInstance;

  beforeAll(async () => {
    redis = await startRedisServer(undefined, ['--enable-debug-command', 'yes']);
  });

  afterAll(() => redis?.dispose());

  beforeEach(async () => {
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    relay = await startTcpRelay(redis.port);
    ({ sessions, close } = await sessionService({
      redis: { url: `redis://127.0.0.1:${relay.port}` },
      keyPrefix: 'silent:',
      storeTimeout: 0.3,
      events: false,
    }));
  });

  afterEach(async () => {
    await close?.();
    await relay?.sever();
    warnings.mockRestore();
  });

  it('is ended once a call times out on it, and the calls after reach Redis again', async () => {
    const { token } = await sessions.create(alice);
    expect(await sessions.validate(token)).toMatchObject({ userId: alice.id });

    relay.strand();
    const started = Date.now();
    await expect(sessions.validate(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    // Silent for 1 s (twice the 0.3 s timeout, at least 1 s) with a call timing out: ended,
    // and ioredis connects again (100 ms back-off) through the relay.
    await until(() => validates(sessions, token), 5_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    const messages = warnings.mock.calls.map(([message]) => String(message));
    expect(messages.filter((message) => message.includes('connecting again'))).toHaveLength(1);
  });

  it.each([
    ['set back an hour', -3_600_000],
    ['set forward an hour', 3_600_000],
  ])(
    'is timed on the monotonic clock: the host clock %s, a silent connection is still ended',
    async (_, stepMs) => {
      const { token } = await sessions.create(alice);
      expect(await sessions.validate(token)).toMatchObject({ userId: alice.id });
      // Set back, a wall clock made the connection's silence negative for an hour, and it was
      // never ended; set forward, a merely slow connection looked silent for an hour.
      const step = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + stepMs);
      try {
        relay.strand();
        await expect(sessions.validate(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
        await until(() => validates(sessions, token), 5_000);
      } finally {
        step.mockRestore();
      }
      const messages = warnings.mock.calls.map(([message]) => String(message));
      const ended = messages.filter((message) => message.includes('connecting again'));
      expect(ended).toHaveLength(1);
      // The silence it reports is the connection's, about a second, not the clock's step.
      const silentMs = Number(/answered nothing for (\d+) ms/.exec(ended[0])?.[1]);
      expect(silentMs).toBeGreaterThanOrEqual(1_000);
      expect(silentMs).toBeLessThan(60_000);
    },
  );

  it('keeps a connection that is only slow: a call times out, the answers come after', async () => {
    const { token } = await sessions.create(alice);
    // Redis busy for 0.5 s: the call sent meanwhile times out (0.3 s), but the connection
    // hears its answer within the second, and the calls after are answered on it.
    const other = new Redis(redis.port, '127.0.0.1');
    try {
      const busy = other.call('DEBUG', 'SLEEP', '0.5');
      await sleep(20);
      await expect(sessions.validate(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await busy;
      for (let call = 0; call < 5; call++) {
        expect(await sessions.validate(token)).toMatchObject({ userId: alice.id });
      }
    } finally {
      other.disconnect();
    }
    const messages = warnings.mock.calls.map(([message]) => String(message));
    expect(messages.filter((message) => message.includes('connecting again'))).toHaveLength(0);
  });
});

/**
 * The case it is for: a Sentinel-managed primary whose host hangs (SIGSTOP: its connections stay
 * open, nothing answers). The Sentinels promote the replica within seconds; the service's
 * client would go on writing to the frozen primary until the kernel gave up on the connection.
 */
describe('a Sentinel primary that hangs, its connections left open', () => {
  const NAME = `silent-${process.pid}`;
  let primary: RedisServerProcess;
  let replica: RedisServerProcess;
  let sentinels: RedisSentinelProcess[] = [];

  beforeAll(async () => {
    primary = await startRedisServer(undefined, ['--repl-diskless-sync-delay', '0']);
    replica = await startRedisServer(undefined, ['--replicaof', '127.0.0.1', String(primary.port)]);
    // One Sentinel (quorum 1): with several, each may vote for itself when they all find the
    // primary down at once, and a split vote is tried again only after twice the failover
    // timeout (20 s) — twice in a row, and the promotion comes after the deadline. The client
    // side is the same with one Sentinel or three: it asks them which node is the primary.
    sentinels = await startRedisSentinels(
      { name: NAME, port: primary.port, quorum: 1, downAfterMs: 1000, failoverTimeoutMs: 10_000 },
      1,
    );
  }, 30_000);

  afterAll(async () => {
    primary?.thaw();
    await Promise.all(
      [primary, replica, ...sentinels].map((node) => node?.dispose().catch(() => undefined)),
    );
  });

  it('is answered by the promoted replica within seconds', async () => {
    const { sessions, close } = await sessionService({
      redis: { sentinels: sentinels.map(({ port }) => ({ host: '127.0.0.1', port })), name: NAME },
      keyPrefix: 'silent-sentinel:',
      storeTimeout: 0.3,
      events: false,
    });
    const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const admin = new Redis(primary.port, '127.0.0.1');
    try {
      const { token } = await sessions.create(alice);
      // On the replica before the primary hangs: its first sync done, and all written since.
      // Not by WAIT from this connection: WAIT counts the replicas that have what the calling
      // connection wrote, and this one wrote nothing (a replica still in its first sync counted,
      // and was promoted without the session).
      const written = replicationOffset(await admin.info('replication'), 'master_repl_offset');
      const copy = new Redis(replica.port, '127.0.0.1');
      try {
        await until(async () => {
          const info = await copy.info('replication');
          return (
            info.includes('master_link_status:up') &&
            replicationOffset(info, 'slave_repl_offset') >= written
          );
        });
      } finally {
        copy.disconnect();
      }
      admin.disconnect();
      primary.freeze();
      await expect(sessions.validate(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      // Usually ~5 s. The deadline only stops a hang: the kernel of a frozen (not dead) host
      // keeps the connection up for good.
      await until(() => validates(sessions, token), 45_000);
      // Answered by the replica, promoted (the Sentinels may still be telling each other).
      const promoted = new Redis(replica.port, '127.0.0.1');
      const [role] = (await promoted.call('ROLE')) as [string];
      promoted.disconnect();
      expect(role).toBe('master');
      // Reached through a new connection that the store's watch opened on finding the old one
      // silent: the primary is still frozen, so nothing closed that one for it.
      const messages = warnings.mock.calls.map(([message]) => String(message));
      expect(messages.filter((message) => message.includes('connecting again'))).not.toEqual([]);
    } finally {
      admin.disconnect();
      warnings.mockRestore();
      await close();
    }
  }, 60_000);
});
