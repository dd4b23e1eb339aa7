import { CanActivate } from '@nestjs/common';

import { RedisFloorClient } from '../bench/redis-floor.controller';

/**
 * The HTTP `redis-floor` scenarios' round trip as a guard, for the in-process benchmark: one
 * EVALSHA of a trivial script, then `true`. What the session guard costs above it is its own
 * work, with the round trip it cannot do without taken out.
 */
export class RedisFloorGuard implements CanActivate {
  constructor(private readonly client: RedisFloorClient) {}

  canActivate(): Promise<boolean> {
    return this.client.evalTrivialScript().then(() => true);
  }
}
