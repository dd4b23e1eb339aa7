import fc from 'fast-check';
import { Cluster, Redis } from 'ioredis';

import {
  InMemorySessionStore,
  SessionCapPolicy,
  SessionModuleOptions,
  SessionService,
} from '../src';
import { RedisClusterProcess, startRedisCluster } from '../src/testing';
import { REDIS_URL, sessionService, uniquePrefix } from './store-contract';
import { MODEL_LIMITS, newRun, storeCommands } from './store.model';

// Shrinking a failure replays sequences (with their sleeps): let it take its time.
jest.setTimeout(600_000);

/**
 * Runs `numRuns` random command sequences of up to 20 commands (10 on average) on the service and on the
 * model. Sequences without time steps take milliseconds; with them, about two seconds each.
 */
function matchesModel(
  sessions: SessionService,
  numRuns: number,
  {
    timeSteps = false,
    policy = 'evict-oldest',
  }: { timeSteps?: boolean; policy?: SessionCapPolicy } = {},
) {
  return fc.assert(
    fc.asyncProperty(
      fc.commands(
        storeCommands({
          timeSteps,
          pauses: policy === 'evict-idlest',
          capHeavy: policy !== 'evict-oldest',
        }),
        {
          maxCommands: 20,
          size: 'max',
        },
      ),
      (commands) => fc.asyncModelRun(() => newRun(sessions, policy), commands),
    ),
    // A failure found late keeps its counterexample: shrinking stops, the report stays.
    { numRuns, interruptAfterTimeLimit: 480_000 },
  );
}

/** Deletes every key under a prefix, on each master of a cluster. */
async function deleteKeys(client: Redis | Cluster, prefix: string): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      // One key per DEL: on a cluster, keys of different slots cannot share a command.
      await Promise.all(keys.map((key) => node.del(key)));
    } while (cursor !== '0');
  }
}

/** A service on `options`' backend; with `redis`, under the model's limits (a store: its own). */
async function startService(options: SessionModuleOptions) {
  return sessionService(options.redis ? { ...MODEL_LIMITS, ...options } : options);
}

describe('SessionStore model', () => {
  describe('on a single Redis', () => {
    const prefix = uniquePrefix();
    let client: Redis;
    let service: Awaited<ReturnType<typeof startService>>;

    beforeAll(async () => {
      client = new Redis(REDIS_URL);
      service = await startService({ redis: { url: REDIS_URL }, keyPrefix: prefix });
    });

    afterAll(async () => {
      await service?.close();
      if (client) {
        await deleteKeys(client, prefix);
        client.disconnect();
      }
    });

    it('matches the model over 500 random command sequences on Redis', async () => {
      await matchesModel(service.sessions, 500);
    });

    it('matches the model over 25 random command sequences with time passing on Redis', async () => {
      await matchesModel(service.sessions, 25, { timeSteps: true });
    });

    describe.each(['evict-idlest', 'refuse'] as const)('with capPolicy %s', (policy) => {
      let capped: Awaited<ReturnType<typeof startService>>;

      beforeAll(async () => {
        capped = await startService({
          redis: { url: REDIS_URL },
          keyPrefix: prefix,
          capPolicy: policy,
        });
      });

      afterAll(() => capped?.close());

      it('matches the model over 200 random command sequences on Redis', async () => {
        await matchesModel(capped.sessions, 200, { policy });
      });

      it('matches the model over 15 random command sequences with time passing on Redis', async () => {
        await matchesModel(capped.sessions, 15, { timeSteps: true, policy });
      });
    });
  });

  describe('on a three-master Redis Cluster', () => {
    const prefix = uniquePrefix();
    let cluster: RedisClusterProcess;
    let client: Cluster;
    let service: Awaited<ReturnType<typeof startService>>;

    beforeAll(async () => {
      cluster = await startRedisCluster();
      client = new Cluster(cluster.addresses);
      await new Promise((resolve) => client.once('ready', resolve));
      service = await startService({ redis: { cluster: cluster.addresses }, keyPrefix: prefix });
    });

    afterAll(async () => {
      await service?.close();
      if (client) {
        await deleteKeys(client, prefix);
        client.disconnect();
      }
      await cluster?.dispose();
    });

    it('matches the model over 50 random command sequences on a cluster', async () => {
      await matchesModel(service.sessions, 50);
    });

    it('matches the model over 30 random command sequences on a cluster under refuse', async () => {
      const refusing = await startService({
        redis: { cluster: cluster.addresses },
        keyPrefix: prefix,
        capPolicy: 'refuse',
      });
      try {
        await matchesModel(refusing.sessions, 30, { policy: 'refuse' });
      } finally {
        await refusing.close();
      }
    });
  });

  describe('in memory', () => {
    it('matches the model over 500 random command sequences in memory', async () => {
      const { sessions, close } = await startService({
        store: new InMemorySessionStore(MODEL_LIMITS),
      });
      try {
        await matchesModel(sessions, 500);
      } finally {
        await close();
      }
    });

    it.each(['evict-idlest', 'refuse'] as const)(
      'matches the model over 300 random command sequences in memory under %s',
      async (policy) => {
        const { sessions, close } = await startService({
          store: new InMemorySessionStore({ ...MODEL_LIMITS, capPolicy: policy }),
        });
        try {
          await matchesModel(sessions, 300, { policy });
          await matchesModel(sessions, 10, { policy, timeSteps: true });
        } finally {
          await close();
        }
      },
    );
  });
});
