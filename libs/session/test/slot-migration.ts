import { Redis } from 'ioredis';

import type { RedisClusterProcess } from '../src/testing';

/**
 * A hash slot half-way through a move between two masters, as `redis-cli --cluster reshard`
 * leaves it between two MIGRATE batches.
 */
export interface SlotMigration {
  slot: number;
  /** Moves the keys `which` picks (of those still on the source) to the target, at once. */
  move(which: (key: string) => boolean): Promise<void>;
  /** Moves what is left and gives the slot to the target on every master: the move is over. */
  finish(): Promise<void>;
}

/**
 * Starts moving the slot of `key` from the master holding it to the next one, the way
 * resharding does (CLUSTER SETSLOT IMPORTING / MIGRATING, then MIGRATE), and moves nothing yet.
 */
export async function beginSlotMigration(
  cluster: RedisClusterProcess,
  key: string,
): Promise<SlotMigration> {
  const nodes = cluster.nodes.map((node) => new Redis(node.port, '127.0.0.1'));
  try {
    const slot = Number(await nodes[0].cluster('KEYSLOT', key));
    const ids = await Promise.all(nodes.map((node) => node.cluster('MYID') as Promise<string>));
    const ranges = await nodes[0].cluster('SLOTS');
    const owner = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][2];
    const source = ids.indexOf(owner ?? '');
    const target = (source + 1) % nodes.length;
    const targetPort = cluster.nodes[target].port;
    await nodes[target].cluster('SETSLOT', slot, 'IMPORTING', ids[source]);
    await nodes[source].cluster('SETSLOT', slot, 'MIGRATING', ids[target]);
    const left = async () =>
      (await nodes[source].cluster('GETKEYSINSLOT', slot, 10_000)) as string[];
    const move = async (keys: string[]) => {
      if (keys.length) {
        await nodes[source].migrate('127.0.0.1', targetPort, '', 0, 5000, 'KEYS', ...keys);
      }
    };
    return {
      slot,
      move: async (which) => move((await left()).filter(which)),
      finish: async () => {
        try {
          await move(await left());
          // The target first, as redis-cli does: it must own the slot before the source lets go.
          await nodes[target].cluster('SETSLOT', slot, 'NODE', ids[target]);
          for (const node of nodes) await node.cluster('SETSLOT', slot, 'NODE', ids[target]);
        } finally {
          for (const node of nodes) node.disconnect();
        }
      },
    };
  } catch (error) {
    for (const node of nodes) node.disconnect();
    throw error;
  }
}
