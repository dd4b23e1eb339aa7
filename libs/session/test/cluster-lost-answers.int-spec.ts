import { Logger } from '@nestjs/common';

import { SessionService, SessionStoreUnavailableError } from '../src';
import { RedisClusterProcess, startRedisCluster, startTcpRelay, TcpRelay } from '../src/testing';
import { refOf, sessionService, sleep, uniquePrefix, until } from './store-contract';

// Starting a cluster can take more than the default 5 s on a busy machine.
jest.setTimeout(60_000);

/**
 * On Redis Cluster, a connection to a node that breaks after Redis ran a script, before its
 * answer arrived: the outcome is unknown, so the caller must get 503 (and the store undo what
 * it may have done) — never the answer of the script run a second time, which finds nothing
 * left to do: a revocation "not found" (a 404, and no event for other services' caches and
 * sockets), a rotation of a session "gone" (a 401, with the old token dead and the session
 * living on under a token nobody holds).
 */
describe('a Redis Cluster connection that breaks before a script’s answer arrives', () => {
  let cluster: RedisClusterProcess;
  let relays: TcpRelay[];
  let sessions: SessionService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    relays = await Promise.all(cluster.nodes.map((node) => startTcpRelay(node.port)));
    // The cluster announces its nodes' own ports: the client is sent through the relays.
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
      keyPrefix: uniquePrefix(),
      storeTimeout: 2,
      maxSessionsPerUser: 2,
      events: false,
    }));
  });

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await close?.();
    await Promise.all((relays ?? []).map((relay) => relay.sever()));
    await cluster?.dispose();
  });

  /** The next answer holding `bytes` is lost with its connection; null: none is. */
  function loseAnswerWith(bytes: string | null): void {
    const answer = (data: Buffer) => data.includes(bytes as string);
    for (const relay of relays) relay.loseAnswer(bytes === null ? null : { answer });
  }

  function answersLost(): number {
    return relays.reduce((sum, relay) => sum + relay.lost, 0);
  }

  const ids = (userId: string) =>
    sessions.listForUser(userId).then((list) => list.map(({ id }) => id));

  it('answers 503 for a revocation, which did end the session', async () => {
    const user = { id: 'lost-revoke', username: 'lostrevoke', roles: ['customer'] };
    const { token } = await sessions.create(user);
    const lostBefore = answersLost();
    loseAnswerWith(refOf(token).digest); // revoke.lua answers the digest it deleted
    await expect(sessions.revoke(token, user.id)).rejects.toBeInstanceOf(
      SessionStoreUnavailableError,
    );
    expect(answersLost()).toBe(lostBefore + 1);
    loseAnswerWith(null);
    expect(await sessions.validate(token)).toBeNull();
    expect(await ids(user.id)).toEqual([]);
  });

  it('answers 503 for a rotation, and the session stays under its old token', async () => {
    const user = { id: 'lost-rotate', username: 'lostrotate', roles: ['customer'] };
    const marker = 'lost-rotation-marker';
    const { token, session } = await sessions.create(user, { attributes: { marker } });
    const lostBefore = answersLost();
    loseAnswerWith(marker); // rotate.lua answers the moved hash, attributes included
    await expect(sessions.rotate(token)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    expect(answersLost()).toBe(lostBefore + 1);
    loseAnswerWith(null);
    // The store's undo moves the session back to the token its holder still presents.
    await until(async () => (await sessions.validate(token).catch(() => null)) !== null, 8000);
    expect(await ids(user.id)).toEqual([session.id]);
  });

  it('answers 503 for a login at the cap, and evicts nobody', async () => {
    const user = { id: 'lost-create', username: 'lostcreate', roles: ['customer'] };
    const first = await sessions.create(user);
    await sleep(5);
    const second = await sessions.create(user);
    const before = await ids(user.id);
    const lostBefore = answersLost();
    loseAnswerWith(refOf(first.token).digest); // create.lua answers the digests it evicted
    await expect(sessions.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    expect(answersLost()).toBe(lostBefore + 1);
    loseAnswerWith(null);
    // The store's undo removes the new session and puts back the one it evicted.
    await until(async () => (await ids(user.id).catch(() => [])).join() === before.join(), 8000);
    expect(await sessions.validate(first.token)).not.toBeNull();
    expect(await sessions.validate(second.token)).not.toBeNull();
  });
});
