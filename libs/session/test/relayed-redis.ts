import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import { RedisServerProcess, startRedisServer, startTcpRelay, TcpRelay } from '../src/testing';

export interface RelayedRedis {
  /** A Redis server of the describe block's own. */
  server: RedisServerProcess;
  /** A connection straight to it, past the relay: what the test looks at, or pauses. */
  admin: Redis;
  /** A new relay in front of the server for each test, to hold, delay or cut its bytes. */
  relay: TcpRelay;
}

/**
 * Registers the hooks of a describe block whose services reach Redis through a relay, and
 * returns the current server, admin connection and relay. The store's warning about a
 * connection it drops as silent is expected there, and kept out of the output.
 *
 * @example
 * const redis = relayedRedis();
 * it('...', async () => {
 *   redis.relay.delayFrom((bytes) => bytes.includes(sha));
 * });
 */
export function relayedRedis(): RelayedRedis {
  const current = {} as RelayedRedis;

  beforeAll(async () => {
    current.server = await startRedisServer();
    current.admin = new Redis(current.server.url);
  });

  beforeEach(async () => {
    current.relay = await startTcpRelay(current.server.port);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    await current.relay?.sever();
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    current.admin?.disconnect();
    await current.server?.dispose();
  });

  return current;
}
