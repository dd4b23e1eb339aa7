import { Logger } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';

import { IssuedSession, SessionService, SessionStoreUnavailableError } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { RedisClusterProcess, startRedisCluster, startTcpRelay, TcpRelay } from '../src/testing';
import { answersTo, refOf, sessionService, sleep, uniquePrefix, until } from './store-contract';

// Starting a cluster can take more than the default 5 s on a busy machine.
jest.setTimeout(60_000);

const STORE_TIMEOUT_S = 0.3;

/**
 * On Redis Cluster, a rotation or a login at the cap answered 503 ("nothing changed") that
 * Redis did run, its answer and the store's undo lost with a node connection cut at some
 * moment after. The node connection reconnects by itself and queues what this process sends
 * meanwhile, validations included, ahead of the undo retried once it is back. The token its
 * holder was told to keep must never be refused (401: logged out) on the way: unavailable
 * (503) while the undo is pending, then live again, with no session left under a token nobody
 * holds. Every node is paused (the script waits in Redis), its relay held (answers and undos
 * wait there), the node resumed (Redis runs the script), then the relays are cut at an offset.
 */
describe('a Redis Cluster connection cut around a rotation or a login answered 503', () => {
  let cluster: RedisClusterProcess;
  let relays: TcpRelay[];
  let nodes: Redis[];
  let admin: Cluster;
  let sessions: SessionService;
  let close: () => Promise<void>;
  const keyPrefix = uniquePrefix();
  const keys = new RedisKeys(keyPrefix);

  beforeAll(async () => {
    cluster = await startRedisCluster();
    relays = await Promise.all(cluster.nodes.map((node) => startTcpRelay(node.port)));
    nodes = cluster.nodes.map((node) => new Redis(node.port, '127.0.0.1'));
    admin = new Cluster(cluster.addresses);
    // The cluster announces its nodes' own ports: the service is sent through the relays.
    const natMap = Object.fromEntries(
      relays.map((relay) => [
        `127.0.0.1:${relay.targetPort}`,
        { host: '127.0.0.1', port: relay.port },
      ]),
    );
    ({ sessions, close } = await sessionService({
      redis: {
        cluster: relays.map((relay) => ({ host: '127.0.0.1', port: relay.port })),
        options: { natMap },
      },
      keyPrefix,
      storeTimeout: STORE_TIMEOUT_S,
      maxSessionsPerUser: 2,
      events: false,
    }));
  });

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    for (const relay of relays) relay.release();
    await Promise.all(nodes.map((node) => node.call('CLIENT', 'UNPAUSE')));
  });

  afterAll(async () => {
    await close?.();
    admin?.disconnect();
    for (const node of nodes ?? []) node.disconnect();
    await Promise.all((relays ?? []).map((relay) => relay.sever()));
    await cluster?.dispose();
  });

  let users = 0;
  /** A fresh user with two sessions, the first the holder's (the oldest: a login evicts it). */
  async function twoSessions(): Promise<{ userId: string; made: IssuedSession[] }> {
    const user = { id: `u-cut-${users++}`, username: 'cut', roles: ['customer'] };
    const first = await sessions.create(user);
    await sleep(5);
    const second = await sessions.create(user);
    return { userId: user.id, made: [first, second] };
  }

  /** The session hashes under the tag on every master, whatever the index lists. */
  async function hashesUnder(tag: string): Promise<string[]> {
    const found = await Promise.all(
      admin.nodes('master').map((node) => node.keys(`${keys.sessionPrefix(tag)}*`)),
    );
    return found.flat().sort();
  }

  /**
   * Runs `operation` (a rotation or a login of the holder's user) while Redis holds it, loses
   * its answer and whatever the store sends after it, cutting the relays `cutAfterMs` after
   * Redis resumed (negative: before, when the script never runs), and watches the holder's
   * token from the operation on.
   */
  async function cutAround(
    holder: IssuedSession,
    operation: () => Promise<unknown>,
    cutAfterMs: number,
  ): Promise<string[]> {
    await Promise.all(nodes.map((node) => node.client('PAUSE', 3000, 'WRITE')));
    const outcome = operation();
    const watched = answersTo(sessions, holder.token, 3500 + Math.max(cutAfterMs, 0));
    await sleep(100); // the script reached Redis, which holds it
    for (const relay of relays) relay.hold();
    await expect(outcome).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    await sleep(50);
    if (cutAfterMs < 0) {
      for (const relay of relays) relay.cut();
      await sleep(-cutAfterMs);
      await Promise.all(nodes.map((node) => node.call('CLIENT', 'UNPAUSE')));
    } else {
      await Promise.all(nodes.map((node) => node.call('CLIENT', 'UNPAUSE')));
      await sleep(cutAfterMs); // Redis ran the script; its answer and the undo wait in the relay
      for (const relay of relays) relay.cut();
    }
    return watched;
  }

  /** Once settled, the holder's token works, and the user has exactly `made`, stored and listed. */
  async function expectAsBefore(userId: string, made: IssuedSession[]): Promise<void> {
    const [holder] = made;
    await until(
      async () => (await sessions.validate(holder.token).catch(() => null)) !== null,
      12_000,
    ).catch(() => undefined);
    expect((await sessions.validate(holder.token))?.id).toBe(holder.session.id);
    const ids = made.map(({ session }) => session.id);
    expect((await sessions.listForUser(userId)).map(({ id }) => id)).toEqual(ids);
    const { tag, digest } = refOf(holder.token);
    // No hash beside the user's two: the new token (never handed out) names nothing.
    expect(await hashesUnder(tag)).toEqual(
      made.map(({ token }) => keys.session(refOf(token))).sort(),
    );
    expect(await admin.exists(keys.forwardPrefix(tag) + digest)).toBe(0);
  }

  const offsets = [-100, 0, 30, 80, 150, 250, 400, 700, 1100];

  /**
   * The other side of the 503: a session ended for good while its rotation's undo is pending
   * (logged out) is refused again (401) once the undo has been answered, not for the undo's
   * whole minute of tries, which finds nothing to move back every time.
   */
  it('refuses the old token again once the undo is answered, when it was logged out meanwhile', async () => {
    const marker = 'cut-logout-marker';
    const user = { id: `u-cut-${users++}`, username: 'cut', roles: ['customer'] };
    const holder = await sessions.create(user, { attributes: { marker } });
    // rotate.lua answers the moved hash, attributes included: that answer is lost.
    for (const relay of relays) relay.loseAnswer({ answer: (data) => data.includes(marker) });
    await expect(sessions.rotate(holder.token)).rejects.toBeInstanceOf(
      SessionStoreUnavailableError,
    );
    for (const relay of relays) relay.loseAnswer(null);
    await until(async () => (await sessions.revoke(holder.token).catch(() => null)) !== null);
    await until(async () => (await sessions.validate(holder.token).catch(() => 'busy')) === null);
    expect(await sessions.listForUser(user.id)).toEqual([]);
  });

  it.each(offsets)(
    'never refuses the token a rotation answered 503 left its holder (cut %i ms after Redis resumed)',
    async (cutAfterMs) => {
      const { userId, made } = await twoSessions();
      const [holder] = made;
      const answers = await cutAround(
        holder,
        () => sessions.rotate(holder.token, { reauthenticated: true }),
        cutAfterMs,
      );
      expect(answers).not.toContain('refused');
      expect(answers[answers.length - 1]).toBe('live');
      await expectAsBefore(userId, made);
    },
  );

  it.each(offsets)(
    'never refuses the session a login at the cap answered 503 evicted (cut %i ms after Redis resumed)',
    async (cutAfterMs) => {
      const { userId, made } = await twoSessions();
      const [holder] = made;
      const user = { id: userId, username: 'cut', roles: ['customer'] };
      const answers = await cutAround(holder, () => sessions.create(user), cutAfterMs);
      expect(answers).not.toContain('refused');
      expect(answers[answers.length - 1]).toBe('live');
      await expectAsBefore(userId, made);
    },
  );
});
