import { Controller, Get, Inject, OnModuleDestroy, Provider } from '@nestjs/common';
import { Redis } from 'ioredis';

import { Roles } from '@cloakroom/session';

import { REQUIRED_ROLE } from '../scenarios';

/** The script the floor runs: no key, no work, so only the round trip is left to measure. */
const TRIVIAL_SCRIPT = 'return 1';

/** An ioredis client and the SHA of the trivial script, loaded once before the app listens. */
export class RedisFloorClient implements OnModuleDestroy {
  constructor(
    readonly redis: Redis,
    readonly sha: string,
  ) {}

  static provider(redisUrl: string, connectionName: string): Provider {
    return {
      provide: RedisFloorClient,
      useFactory: async () => {
        // The settings `SessionModule` gives the client it creates (storeTimeout 1 s,
        // autoPipelining off), so that the floor pays what the session guard's client pays.
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
        return new RedisFloorClient(redis, sha);
      },
    };
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
  }
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
    await this.client.redis.evalsha(this.client.sha, 0);
    return { ok: true };
  }
}
