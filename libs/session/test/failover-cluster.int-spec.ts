import { Redis } from 'ioredis';

import { SessionStoreUnavailableError } from '../src';
import { RedisClusterProcess, startRedisCluster } from '../src/testing';
import { sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(60_000);

/**
 * On Redis Cluster, WAIT counts the writes of one connection to one node: it must go to the
 * master that ran the revocation, the one owning the user's slot. This cluster has no
 * replicas, so every durable revocation answers 503; commandstats show where the WAIT went.
 */
describe('durable revocations on Redis Cluster', () => {
  let cluster: RedisClusterProcess;
  let nodes: Redis[];

  beforeAll(async () => {
    cluster = await startRedisCluster();
    nodes = cluster.nodes.map((node) => new Redis(node.port, '127.0.0.1'));
  });

  afterAll(async () => {
    for (const node of nodes ?? []) node.disconnect();
    await cluster?.dispose();
  });

  /** Per node: how many WAITs and session scripts it ran since the last reset. */
  async function callsPerNode(): Promise<Array<{ wait: number; scripts: number }>> {
    return Promise.all(
      nodes.map(async (node) => {
        const info = await node.info('commandstats');
        const calls = (name: string) =>
          Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
        return { wait: calls('wait'), scripts: calls('eval') + calls('evalsha') };
      }),
    );
  }

  it('sends the WAIT to the master that ran the revocation, and answers 503 without replicas', async () => {
    for (let user = 0; user < 4; user++) {
      // A service per user: a rotation refused 503 is undone, and its undo sent again with a
      // WAIT of its own until replicas hold it (never, here) — on the user's node, where this
      // user's later steps run too, and stopped when the service closes, before the next user.
      const { sessions, close } = await sessionService({
        redis: { cluster: cluster.addresses },
        keyPrefix: uniquePrefix(),
        durability: { replicas: 1, timeout: 0.1 },
        // Events off: their append is a script too, run on the stream's own node (announced
        // even when the revocation answers 503), which would blur which node ran it.
        events: false,
      });
      try {
        const who = { id: `u-cluster-${user}`, username: `c${user}`, roles: ['x'] };
        const [first, second, third] = [
          (await sessions.create(who)).token,
          (await sessions.create(who)).token,
          (await sessions.create(who)).token,
        ];
        for (const revoking of [
          () => sessions.rotate(first),
          () => sessions.rotate(second, { revokeOthersOf: who.id }),
          // Already gone (the rotation above revoked it): it still waits, for that rotation.
          () => sessions.revoke(third),
          () => sessions.revokeAllForUser(who.id),
          () => sessions.setRolesForUser(who.id, []),
        ]) {
          await Promise.all(nodes.map((node) => node.config('RESETSTAT')));
          await expect(revoking()).rejects.toBeInstanceOf(SessionStoreUnavailableError);
          const calls = await callsPerNode();
          // Exactly one node ran scripts, and that node, alone, received WAITs (the
          // revocation's, and a rotation's undo's with it).
          expect(calls.filter(({ scripts }) => scripts > 0)).toHaveLength(1);
          expect(calls.map(({ wait, scripts }) => wait >= 1 && scripts > 0)).toEqual(
            calls.map(({ scripts }) => scripts > 0),
          );
        }
      } finally {
        await close();
      }
    }
  });
});
