import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import { RedisServerProcess, startRedisServer, startTcpRelay, TcpRelay } from '../src/testing';
import { revokeEverythingButTheSweep, sessionService, sleep, uniquePrefix } from './store-contract';

jest.setTimeout(60_000);

/**
 * A service whose connections to Redis went silent (the host behind the address died, or a
 * NAT forgot them: no FIN, no reset) reconnects those it sends commands on. Its subscription
 * to global revocations sends nothing once subscribed: it must still notice, or it never hears
 * of a global revocation again, and serves the sessions the sweep could not reach (a rotation
 * racing it) for as long as they live.
 */
describe('a service whose subscription to global revocations went silent', () => {
  let server: RedisServerProcess;
  let relay: TcpRelay;
  let inspect: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    relay = await startTcpRelay(server.port);
    inspect = new Redis(server.url);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    inspect?.disconnect();
    await relay?.sever();
    await server?.dispose();
  });

  it.each([
    ['without a local cache', {}],
    ['with a local cache', { localCache: { ttl: 60 } }],
  ])('learns of a later global revocation (%s)', async (_, extra) => {
    const keyPrefix = uniquePrefix();
    const admin = await sessionService({ redis: { url: server.url }, keyPrefix });
    const elsewhere = await sessionService({
      redis: { url: `redis://127.0.0.1:${relay.port}` },
      keyPrefix,
      storeTimeout: 0.3,
      ...extra,
    });
    try {
      const user = { id: `u-${keyPrefix}`, username: 'alice', roles: ['customer'] };
      const { token } = await admin.sessions.create(user);
      expect(await elsewhere.sessions.validate(token)).not.toBeNull();

      relay.strand();
      // The store drops the connection its calls time out on, and answers again on a new one
      // (asked past the cache, which may serve meanwhile), before the global revocation.
      let back = false;
      for (let i = 0; !back && i < 100; i++) {
        back = await elsewhere.store.ping().then(
          () => true,
          () => false,
        );
        if (!back) await sleep(100);
      }
      expect(back).toBe(true);

      const [key] = await inspect.keys(`${keyPrefix}{*}:s:*`);
      const validate = () => elsewhere.sessions.validate(token);
      expect(await revokeEverythingButTheSweep(admin.sessions, inspect, key, validate, 100)).toBe(
        true,
      );
    } finally {
      await admin.close();
      await elsewhere.close();
    }
  });
});
