import { createHash } from 'node:crypto';

import { Controller, Get, INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';

import { CurrentUser, SessionRedisConnection, SessionUser } from '../src';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import {
  RedisClusterProcess,
  RedisServerProcess,
  startRedisCluster,
  startRedisServer,
} from '../src/testing';
import { addSessionAclUsers } from './acl-users';
import { guardedApp, sessionService, sleep } from './store-contract';

jest.setTimeout(90_000);

const PREFIX = 'cr:';
const VALIDATE_SHA = createHash('sha1').update(SESSION_SCRIPTS.cloakroomValidate.lua).digest('hex');
const alice = { id: 'u-flush-alice', username: 'alice', roles: ['customer'] };

@Controller('flush')
class FlushController {
  @Get('me')
  me(@CurrentUser() user: SessionUser) {
    return user;
  }
}

/**
 * Redis empties its script cache while every connection stays up (`SCRIPT FLUSH`, by an
 * operator or a tool): no reconnection tells the store. A domain service connecting as a
 * `validator` may call scripts by SHA only and cannot load them again; the auth service, the
 * owner, may, and must do so even when nothing else brings it to Redis (no login, no logout),
 * or every guarded request of every other service answers 503 until then.
 */
describe.each([
  ['a single Redis', false],
  ['a three-master Redis Cluster', true],
])('validators after the script cache of %s is flushed', (_name, isCluster) => {
  let server: RedisServerProcess | undefined;
  let cluster: RedisClusterProcess | undefined;
  let nodes: Redis[];
  let connection: (user: string, password: string) => SessionRedisConnection;

  beforeAll(async () => {
    if (isCluster) {
      cluster = await startRedisCluster();
      nodes = cluster.addresses.map(({ host, port }) => new Redis(port, host));
    } else {
      server = await startRedisServer();
      nodes = [new Redis(server.port, '127.0.0.1')];
    }
    for (const node of nodes) await addSessionAclUsers(node, PREFIX);
    connection = (username, password) =>
      isCluster
        ? {
            cluster: cluster?.addresses ?? [],
            options: { redisOptions: { username, password } },
          }
        : { url: `redis://${username}:${password}@127.0.0.1:${server?.port}` };
  });

  afterAll(async () => {
    for (const node of nodes ?? []) node.disconnect();
    await cluster?.dispose();
    await server?.dispose();
  });

  it('are served again without any request reaching the owner, answering 503 meanwhile', async () => {
    const owner = await sessionService({ redis: connection('auth', 'auth-secret') });
    let orders: INestApplication | undefined;
    try {
      orders = await guardedApp({ redis: connection('orders', 'orders-secret') }, [
        FlushController,
      ]);
      const { token } = await owner.sessions.create(alice);
      const me = () =>
        request((orders as INestApplication).getHttpServer())
          .get('/flush/me')
          .set('Authorization', `Bearer ${token}`);
      await me().expect(200);

      await Promise.all(nodes.map((node) => node.script('FLUSH')));
      const statuses: number[] = [];
      for (let i = 0; i < 150 && statuses.at(-1) !== 200; i++) {
        statuses.push((await me()).status);
        await sleep(100);
      }
      expect(statuses[0]).toBe(503);
      expect(new Set(statuses)).toEqual(new Set([503, 200]));
      expect(statuses.at(-1)).toBe(200);
      // Every master holds the validation script again, not only the one asked.
      for (const node of nodes) {
        const [held] = (await node.script('EXISTS', VALIDATE_SHA)) as number[];
        expect(held).toBe(1);
      }
    } finally {
      await orders?.close();
      await owner.close();
    }
  });
});
