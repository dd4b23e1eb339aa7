import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';

import { SessionModule, SessionModuleOptions, SessionService } from '../src';
import { alice, REDIS_URL as url, uniquePrefix } from './store-contract';

@Injectable()
class Settings {
  readonly redisUrl = url;
  readonly idleSeconds = 5;
}

@Module({ providers: [Settings], exports: [Settings] })
class SettingsModule {}

describe('SessionModule', () => {
  it('is configured asynchronously from an injected provider', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRootAsync({
          imports: [SettingsModule],
          inject: [Settings],
          useFactory: (settings: Settings) => ({
            redis: { url: settings.redisUrl },
            idleTimeout: settings.idleSeconds,
            keyPrefix: uniquePrefix(),
          }),
        }),
      ],
    }).compile();
    await moduleRef.init();
    try {
      const sessions = moduleRef.get(SessionService);
      const { token, session } = await sessions.create(alice);
      expect(session.expiresAt - session.lastSeenAt).toBe(5000);
      expect((await sessions.validate(token))?.username).toBe('alice');
    } finally {
      await moduleRef.close();
    }
  });

  it('uses a client it is given and leaves it open on shutdown', async () => {
    const client = new Redis(url);
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ redis: { client }, keyPrefix: uniquePrefix() })],
    }).compile();
    await moduleRef.init();
    const { token } = await moduleRef.get(SessionService).create(alice);
    await moduleRef.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    expect(token).toMatch(/^cr1\./);
  });

  it('refuses impossible options at start-up', async () => {
    for (const options of [
      { redis: { url }, idleTimeout: -1 },
      { redis: { url }, absoluteTimeout: 0 },
      { redis: { url }, localCache: { ttl: 0 } },
      { redis: { url, options: { keyPrefix: 'app:' } } },
      { redis: { url }, maxSessionsPerUser: Number.NaN },
      { redis: { url }, cookie: { sameSite: 'none' } } as unknown as SessionModuleOptions,
      // Only plain JavaScript or an untyped factory can pass these: no backend, or two.
      {} as SessionModuleOptions,
      { redis: { url }, remote: { host: '127.0.0.1', port: 1 } } as unknown as SessionModuleOptions,
      { redis: { url: undefined } } as unknown as SessionModuleOptions,
    ]) {
      await expect(
        Test.createTestingModule({ imports: [SessionModule.forRoot(options)] }).compile(),
      ).rejects.toThrow(/SessionModule/);
    }
  });

  it('refuses bad assertions before it opens a connection to Redis', async () => {
    // Nothing closes the providers of a module that failed to compile: a client made before
    // the refusal would stay connected, and keep the process alive.
    const connects = jest.spyOn(Redis.prototype, 'connect');
    try {
      await expect(
        Test.createTestingModule({
          imports: [
            SessionModule.forRoot({
              redis: { url },
              keyPrefix: uniquePrefix(),
              assertions: { service: 'orders', ttl: 120 },
            }),
          ],
        }).compile(),
      ).rejects.toThrow('SessionModule: `assertions.ttl` must be a number of seconds in (0, 60]');
      expect(connects).not.toHaveBeenCalled();
    } finally {
      for (const client of connects.mock.contexts) (client as Redis).disconnect();
      connects.mockRestore();
    }
  });
});
