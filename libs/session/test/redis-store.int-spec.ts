import { Redis } from 'ioredis';

import { describeStoreContract } from './store-contract';

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
let client: Redis;

afterAll(() => client?.disconnect());

describeStoreContract('RedisSessionStore on a single Redis', async () => {
  client = new Redis(url);
  return { options: { redis: { url } }, client };
});
