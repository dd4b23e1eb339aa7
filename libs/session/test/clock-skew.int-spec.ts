import { Controller, Get, INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';

import { RequireRecentAuth, SessionModuleOptions, SessionService, SessionStore } from '../src';
import { StoreClock } from '../src/lib/store/store-clock';
import { freePort } from '../src/testing';
import {
  alice,
  guardedApp,
  REDIS_URL as url,
  RpcServer,
  sleep,
  startRpcServer,
  testCertificates,
  uniquePrefix,
  until,
} from './store-contract';

jest.setTimeout(60_000);

/**
 * Sessions are stamped by Redis's clock (`createdAt`, `authenticatedAt`, the expiries), so
 * that services agree whatever their hosts say. Here this process's clock is set minutes off
 * Redis's (both run on this machine, so Redis's is the real one): what the process compares
 * with those stamps — the `@RequireRecentAuth()` window, the local cache's expiries — must
 * still follow Redis's clock: measured directly (TIME), or through the session RPC's `ping`.
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

/** The app under test, its guard checking `@RequireRecentAuth()` with a 1 s window. */
function recentAuthApp(options: SessionModuleOptions): Promise<INestApplication> {
  return guardedApp({ reauthWindow: 1, ...options }, [SkewController]);
}

const SKEWS: Array<[string, number]> = [
  ['10 minutes ahead of', 10 * 60_000],
  ['10 minutes behind', -10 * 60_000],
];

describe.each(SKEWS)('a process whose clock is %s Redis', (_name, skewMs) => {
  let app: INestApplication;
  let issuer: SessionService;
  let stop: () => Promise<unknown>;

  const get = (path: string, token: string) =>
    request(app.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);

  /**
   * The app's clock has been measured once it agrees with Redis's, within what a round trip on a
   * busy machine allows (the RPC's clock reading is off by up to half its round trip): against
   * ten minutes of skew.
   */
  const measured = () => until(() => Math.abs(app.get(SessionService).now() - realNow()) < 150);

  afterEach(async () => {
    await stop?.();
    jest.restoreAllMocks();
  });

  async function expectRecentAuthByRedisClock(): Promise<void> {
    expect(Math.abs(Date.now() - realNow() - skewMs)).toBeLessThan(50);
    const { token } = await issuer.create({ ...alice, id: `${alice.id}-recent` });
    expect((await get('/skew/recent', token)).status).toBe(200);

    // Past the 1 s window by more than the clock's error allowed above.
    await sleep(1400);
    const stale = await get('/skew/recent', token);
    expect(stale.status).toBe(401);
    expect(stale.body.error).toBe('reauthentication_required');
  }

  it('direct: lets a fresh login through @RequireRecentAuth() and asks again once its window passed', async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
    app = await recentAuthApp({ redis: { url }, keyPrefix: uniquePrefix() });
    stop = () => app.close();
    issuer = app.get(SessionService);
    await measured();
    await expectRecentAuthByRedisClock();
  });

  it('remote: the same, by the clock the session RPC answers', async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
    const certificates = testCertificates();
    const port = await freePort();
    const rpc: RpcServer = await startRpcServer(port, uniquePrefix(), certificates);
    app = await recentAuthApp({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('contract') },
    });
    stop = async () => {
      await app.close();
      await rpc.server.close();
      certificates.dispose();
    };
    issuer = rpc.sessions;
    // What a service does at start-up (the store check): it also reads the auth service's clock.
    await app.get<SessionStore>(SessionStore).verify();
    await measured();
    await expectRecentAuthByRedisClock();
  });

  it('direct with the local cache: serves a session from it, and never past its absolute end', async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
    app = await recentAuthApp({
      redis: { url },
      keyPrefix: uniquePrefix(),
      idleTimeout: 2,
      absoluteTimeout: 2,
      localCache: { ttl: 10 },
    });
    stop = () => app.close();
    const sessions = app.get(SessionService);
    await measured();
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

describe('StoreClock', () => {
  afterEach(() => jest.restoreAllMocks());

  it('keeps its last offset when a reading fails, has no clock, or took too long to tell', async () => {
    const redis = new Redis(url);
    const read = jest.fn(async (): Promise<number | null> => {
      const [seconds, micros] = await redis.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    });
    const clock = new StoreClock(read);
    try {
      let shift = 30_000;
      jest.spyOn(Date, 'now').mockImplementation(() => realNow() + shift);
      await clock.measure();
      expect(Math.abs(clock.offset + 30_000)).toBeLessThan(50);

      read.mockRejectedValueOnce(new Error('down'));
      await clock.measure();
      // A peer of an older release, with no clock to give.
      read.mockResolvedValueOnce(null);
      await clock.measure();
      expect(Math.abs(clock.offset + 30_000)).toBeLessThan(50);

      // A round trip of 5 s: when the other side read its clock within it is anyone's guess.
      const realRead = read.getMockImplementation() as () => Promise<number | null>;
      read.mockImplementationOnce(() => {
        shift += 5000;
        return realRead();
      });
      await clock.measure();
      expect(Math.abs(clock.offset + 30_000)).toBeLessThan(50);
      expect(read).toHaveBeenCalledTimes(4);
    } finally {
      clock.stop();
      await redis.quit();
    }
  });
});
