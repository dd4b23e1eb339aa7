import { Redis } from 'ioredis';

import { RedisClusterProcess, startRedisCluster } from '../src/testing';
import { addSessionAclUsers } from './acl-users';
import { beginSlotMigration } from './slot-migration';
import { sessionService } from './store-contract';

jest.setTimeout(120_000);

const PREFIX = 'cr:';

/**
 * While resharding moves a slot, a key already moved answers ASK from the source: a Cluster
 * client sends ASKING to the target, then the command. The `validator` ACL refused ASKING, so
 * a domain service in direct mode answered 503 for every session already moved — and ioredis
 * leaves the refused ASKING's rejection unhandled, which ends a Node process.
 */
describe('Redis ACL users while a slot migrates', () => {
  let cluster: RedisClusterProcess;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    for (const { port } of cluster.nodes) {
      const node = new Redis(port, '127.0.0.1');
      await addSessionAclUsers(node, PREFIX);
      node.disconnect();
    }
  });

  afterAll(async () => {
    await cluster?.dispose();
  });

  const connection = (username: string, password: string) => ({
    cluster: cluster.addresses,
    options: { redisOptions: { username, password } },
  });

  it('lets the validator and the owner follow a moved session to its new master', async () => {
    const owner = await sessionService({ redis: connection('auth', 'auth-secret') });
    const orders = await sessionService({ redis: connection('orders', 'orders-secret') });
    try {
      const alice = { id: 'u-alice', username: 'alice', roles: ['customer'] };
      const moved = await owner.sessions.create(alice);
      const staying = await owner.sessions.create(alice);
      const [tag, digest] = moved.session.id.split('.');
      const migration = await beginSlotMigration(cluster, `${PREFIX}{${tag}}:s:${digest}`);
      try {
        await migration.move((key) => key === `${PREFIX}{${tag}}:s:${digest}`);
        for (const { sessions } of [orders, owner]) {
          expect((await sessions.validate(moved.token))?.userId).toBe('u-alice');
          expect((await sessions.validate(staying.token))?.userId).toBe('u-alice');
        }
      } finally {
        await migration.finish();
      }
      expect((await orders.sessions.validate(moved.token))?.userId).toBe('u-alice');
    } finally {
      await orders.close();
      await owner.close();
    }
  });
});
