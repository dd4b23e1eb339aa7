import { Controller, Get, INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';

import { RequireRecentAuth, SessionGuard, SessionModule, SessionService } from '../src';
import { RedisClock } from '../src/lib/store/redis/redis-clock';
import { alice, REDIS_URL as url, sleep, uniquePrefix, until } from './store-contract';

jest.setTimeout(60_000);

/**
 * Sessions are stamped by Redis's clock (`createdAt`, `authenticatedAt`, the expiries), so
 * that services agree whatever their hosts say. Here this process's clock is set minutes off
 * Redis's (both run on this machine, so Redis's is the real one): what the process compares
 * with those stamps — the `@RequireRecentAuth()` window, the local cache's expiries — must
 * still follow Redis's clock.
 */
const realNow = Date.now.bind(Date);

@Controller('skew')
class SkewController {
  @RequireRecentAuth()
  @Get('recent')
  recent() {
    return { ok: true };
  }

  @Get('any')
  any() {
    return { ok: true };
  }
}

async function skewedApp(skewMs: number): Promise<INestApplication> {
  jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({
        redis: { url },
        keyPrefix: uniquePrefix(),
        reauthWindow: 1,
        idleTimeout: 2,
        absoluteTimeout: 2,
        localCache: { ttl: 10 },
      }),
    ],
    controllers: [SkewController],
    providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

const SKEWS: Array<[string, number]> = [
  ['10 minutes ahead of', 10 * 60_000],
  ['10 minutes behind', -10 * 60_000],
];

describe.each(SKEWS)('a process whose clock is %s Redis', (_name, skewMs) => {
  let app: INestApplication;
  let sessions: SessionService;

  beforeAll(async () => {
    app = await skewedApp(skewMs);
    sessions = app.get(SessionService);
    // The offset is measured when the connection becomes ready.
    await until(() => Math.abs(sessions.now() - realNow()) < 50);
  });

  afterAll(async () => {
    await app?.close();
    jest.restoreAllMocks();
  });

  const get = (path: string, token: string) =>
    request(app.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);

  it('reads the time as Redis does', () => {
    expect(Math.abs(Date.now() - realNow() - skewMs)).toBeLessThan(50);
    expect(Math.abs(sessions.now() - realNow())).toBeLessThan(50);
  });

  it('lets a fresh login through @RequireRecentAuth() and asks again once its window passed', async () => {
    const { token } = await sessions.create({ ...alice, id: `${alice.id}-recent` });
    const fresh = await get('/skew/recent', token);
    expect(fresh.status).toBe(200);

    await sleep(1200);
    const stale = await get('/skew/recent', token);
    expect(stale.status).toBe(401);
    expect(stale.body.error).toBe('reauthentication_required');
  });

  it('serves a session from the local cache, and never past its absolute end', async () => {
    const { token, session } = await sessions.create({ ...alice, id: `${alice.id}-cache` });
    // The cache serves once its event feed has started: wait for a request it answers.
    await until(async () => {
      expect((await get('/skew/any', token)).status).toBe(200);
      return sessions.cached(token) !== undefined;
    });

    const end = session.absoluteExpiresAt;
    await until(() => realNow() > end + 150, 5000);
    expect(sessions.cached(token)).toBeUndefined();
    expect((await get('/skew/any', token)).status).toBe(401);
  });
});

describe('RedisClock', () => {
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(url);
  });

  afterAll(() => redis.quit());

  afterEach(() => jest.restoreAllMocks());

  it('keeps its last offset when a TIME fails or its round trip is too slow to tell', async () => {
    await until(() => redis.status === 'ready');
    const clock = new RedisClock(redis);
    try {
      let shift = 30_000;
      jest.spyOn(Date, 'now').mockImplementation(() => realNow() + shift);
      await clock.measure();
      expect(Math.abs(clock.offset + 30_000)).toBeLessThan(50);

      const time = jest.spyOn(redis, 'time').mockRejectedValueOnce(new Error('down'));
      await clock.measure();
      expect(Math.abs(clock.offset + 30_000)).toBeLessThan(50);

      // A round trip of 5 s: when Redis read its clock within it is anyone's guess.
      time.mockRestore();
      const realTime = redis.time.bind(redis);
      jest.spyOn(redis, 'time').mockImplementationOnce(() => {
        shift += 5000;
        return realTime();
      });
      await clock.measure();
      expect(Math.abs(clock.offset + 30_000)).toBeLessThan(50);
    } finally {
      clock.stop();
    }
  });
});
