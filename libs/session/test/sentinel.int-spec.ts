import { ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';

import { freePort, RedisServerProcess, startRedisServer } from '../src/testing';
import { waitForPing } from '../src/testing/redis-server';
import { alice, sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

describe('SessionModule with Sentinel settings', () => {
  let primary: RedisServerProcess;
  let sentinel: ChildProcess;
  let sentinelPort: number;

  beforeAll(async () => {
    primary = await startRedisServer();
    sentinelPort = await freePort();
    const config = join(primary.dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `sentinel monitor cloakroom 127.0.0.1 ${primary.port} 1`,
      ].join('\n'),
    );
    sentinel = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
    await waitForPing(sentinelPort);
  });

  afterAll(async () => {
    sentinel?.kill('SIGKILL');
    await primary?.dispose();
  });

  it('finds the primary through the sentinel and stores sessions there', async () => {
    const prefix = uniquePrefix();
    const { sessions, close } = await sessionService({
      redis: { sentinels: [{ host: '127.0.0.1', port: sentinelPort }], name: 'cloakroom' },
      keyPrefix: prefix,
    });
    const direct = new Redis(primary.port, '127.0.0.1');
    try {
      const { token } = await sessions.create(alice);
      expect((await sessions.validate(token))?.username).toBe('alice');
      // The session, the user's index and tag key, and the lifecycle event streams (the full
      // one and its redacted copy).
      expect(await direct.keys(`${prefix}*`)).toHaveLength(5);
    } finally {
      direct.disconnect();
      await close();
    }
  });
});
