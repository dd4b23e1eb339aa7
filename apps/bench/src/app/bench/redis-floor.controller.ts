import { Controller, Get, Inject, OnModuleDestroy, Provider } from '@nestjs/common';
import { Redis } from 'ioredis';
import { createClient } from 'redis';

import { Roles } from '@cloakroom/session';

import { REQUIRED_ROLE } from '../scenarios';

/** The script the floor runs: no key, no work, so only the round trip is left to measure. */
const TRIVIAL_SCRIPT = 'return 1';

/** One EVALSHA of the trivial script, through whichever Redis client the scenario names. */
export abstract class RedisFloorClient implements OnModuleDestroy {
  abstract evalTrivialScript(): Promise<unknown>;
  abstract onModuleDestroy(): void;
}

/**
 * `redis-floor`: ioredis with the settings `SessionModule` gives the client it creates
 * (storeTimeout 1 s, autoPipelining off), so that the floor pays what the session guard's
 * client pays — except write coalescing: each command is written on its own.
 * `redis-floor-coalesced` adds it: the commands of one event-loop turn leave in one socket write,
 * as the session store's `WriteCoalescer` sends them (the socket corked until the check phase).
 */
class IoredisFloorClient extends RedisFloorClient {
  private corked = false;

  constructor(
    private readonly redis: Redis,
    private readonly sha: string,
    private readonly coalesce: boolean,
  ) {
    super();
  }

  static async connect(
    redisUrl: string,
    connectionName: string,
    coalesce: boolean,
  ): Promise<IoredisFloorClient> {
    const redis = new Redis(redisUrl, {
      connectionName,
      enableOfflineQueue: false,
      commandTimeout: 1000,
      connectTimeout: 2000,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
      enableAutoPipelining: false,
    });
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', resolve);
      redis.once('error', reject);
    });
    const sha = String(await redis.script('LOAD', TRIVIAL_SCRIPT));
    return new IoredisFloorClient(redis, sha, coalesce);
  }

  evalTrivialScript(): Promise<unknown> {
    if (this.coalesce && !this.corked) {
      this.corked = true;
      this.redis.stream.cork();
      setImmediate(() => {
        this.corked = false;
        this.redis.stream.uncork();
      });
    }
    return this.redis.evalsha(this.sha, 0);
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
  }
}

/**
 * `redis-floor-node-redis`: the same round trip through node-redis 5 speaking RESP3, which
 * writes the commands of one event-loop turn together by itself: compared with
 * `redis-floor-coalesced`, is the other client cheaper per round trip?
 */
class NodeRedisFloorClient extends RedisFloorClient {
  private constructor(
    private readonly redis: ReturnType<typeof NodeRedisFloorClient.create>,
    private readonly sha: string,
  ) {
    super();
  }

  private static create(redisUrl: string, connectionName: string) {
    return createClient({
      url: redisUrl,
      name: connectionName,
      RESP: 3,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 2000,
        reconnectStrategy: (attempt) => Math.min(attempt * 100, 1000),
      },
    });
  }

  static async connect(redisUrl: string, connectionName: string): Promise<NodeRedisFloorClient> {
    const redis = NodeRedisFloorClient.create(redisUrl, connectionName);
    await redis.connect();
    return new NodeRedisFloorClient(redis, await redis.scriptLoad(TRIVIAL_SCRIPT));
  }

  evalTrivialScript(): Promise<unknown> {
    return this.redis.evalSha(this.sha);
  }

  onModuleDestroy(): void {
    this.redis.destroy();
  }
}

export type RedisFloorScenario = 'redis-floor' | 'redis-floor-coalesced' | 'redis-floor-node-redis';

/** The floor's client for `scenario`, connected and its script loaded. */
export function connectRedisFloorClient(
  scenario: RedisFloorScenario,
  redisUrl: string,
  connectionName: string,
): Promise<RedisFloorClient> {
  return scenario === 'redis-floor-node-redis'
    ? NodeRedisFloorClient.connect(redisUrl, connectionName)
    : IoredisFloorClient.connect(redisUrl, connectionName, scenario === 'redis-floor-coalesced');
}

/** The floor's client, connected and its script loaded before the app listens. */
export function redisFloorClient(
  scenario: RedisFloorScenario,
  redisUrl: string,
  connectionName: string,
): Provider {
  return {
    provide: RedisFloorClient,
    useFactory: () => connectRedisFloorClient(scenario, redisUrl, connectionName),
  };
}

/**
 * `redis-floor`: the bench route with no guard, whose handler waits for one EVALSHA before it
 * answers. What a guard adds over this is what it costs beyond a single Redis round trip.
 */
@Controller()
export class RedisFloorController {
  constructor(@Inject(RedisFloorClient) private readonly client: RedisFloorClient) {}

  // Same metadata as every other scenario's route; nothing reads it here.
  @Get('bench')
  @Roles(REQUIRED_ROLE)
  async bench(): Promise<{ ok: true }> {
    await this.client.evalTrivialScript();
    return { ok: true };
  }
}
