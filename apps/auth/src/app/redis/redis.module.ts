import { Global, Module } from '@nestjs/common';

import { AuthRedis } from './auth-redis';

/** Auth's Redis connection, for the session store and the failed-login counters. */
@Global()
@Module({
  providers: [AuthRedis],
  exports: [AuthRedis],
})
export class RedisModule {}
