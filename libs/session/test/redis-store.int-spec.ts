import { Redis } from 'ioredis';

import { alice, describeStoreContract, sessionService, uniquePrefix } from './store-contract';

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
let client: Redis;

afterAll(() => client?.disconnect());

describeStoreContract('RedisSessionStore on a single Redis', async () => {
  client = new Redis(url);
  return { options: { redis: { url } }, client };
});

describe('RedisSessionStore encoding', () => {
  const userAgent =
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 ✓';

  it('keeps a session with a browser-length user agent in the compact listpack encoding', async () => {
    const prefix = uniquePrefix();
    const inspect = new Redis(url);
    const { sessions, close } = await sessionService({ redis: { url }, keyPrefix: prefix });
    try {
      const { token } = await sessions.create(alice, { userAgent, ip: '2001:db8::1' });
      expect((await sessions.validate(token))?.userAgent).toBe(userAgent);
      const [key] = await inspect.keys(`${prefix}{*}:s:*`);
      expect(await inspect.object('ENCODING', key)).toBe('listpack');
    } finally {
      inspect.disconnect();
      await close();
    }
  });
});
