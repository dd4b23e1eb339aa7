import { RedisClusterProcess, startRedisCluster } from '../src/testing';
import { buildSkewedClock } from './skewed-clock';
import { sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(120_000);

/**
 * Sessions are stamped by the clock of the master that holds them, and a global revocation
 * ends those created before its watermark. On a Redis Cluster whose masters' clocks disagree
 * (hosts a few seconds apart), a watermark read from one master's clock left the sessions of a
 * master running ahead of it alive: stamped after the watermark, neither swept nor outdated.
 * Here the masters run 0, 4 and 8 seconds ahead of this machine.
 */
describe('a global revocation on a Redis Cluster whose masters disagree on the time', () => {
  const clock = buildSkewedClock();
  let cluster: RedisClusterProcess;

  beforeAll(async () => {
    cluster = await startRedisCluster(undefined, { nodeEnv: (node) => clock.env(node * 4000) });
  });

  afterAll(async () => {
    await cluster?.dispose();
    clock.dispose();
  });

  it('ends every session, whichever master is ahead (5 rounds)', async () => {
    const { sessions, close } = await sessionService({
      redis: { cluster: cluster.addresses },
      keyPrefix: uniquePrefix(),
      events: false,
    });
    try {
      for (let round = 0; round < 5; round++) {
        const users = Array.from({ length: 24 }, (_, n) => ({
          id: `u-clock-${round}-${n}`,
          username: `clock${round}x${n}`,
          roles: ['customer'],
        }));
        const issued = await Promise.all(users.map((user) => sessions.create(user)));
        await sessions.revokeEverything();
        const survivors: string[] = [];
        for (const { token, session } of issued) {
          if (await sessions.validate(token)) survivors.push(session.userId);
        }
        expect({ round, survivors }).toEqual({ round, survivors: [] });
      }
    } finally {
      await close();
    }
  });
});
