import { generateKeyPairSync } from 'node:crypto';

import { Controller, Get, INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';

import {
  RequireRecentAuth,
  SessionAssertions,
  SessionCookieService,
  SessionModuleOptions,
  SessionService,
  SessionStore,
} from '../src';
import { MAX_ROUND_TRIP_MS, StoreClock } from '../src/lib/store/store-clock';
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

/** A store's own clock: the test reads it again when the store's reading was too slow. */
const clockOf = (store: SessionStore) => (store as unknown as { clock: StoreClock }).clock;

/** A reading of a store clock (`StoreClock.measure`): when it was sent and answered, ms. */
interface Reading {
  clock: StoreClock;
  sentAt: number;
  answeredAt: number;
}

/**
 * Every reading the store clocks take from now on, the library's own and the test's: it counts
 * each one's round trip, which bounds how far the offset it gives may be off (the other side read
 * its clock somewhere within it).
 */
function recordReadings(): Reading[] {
  const readings: Reading[] = [];
  const measure = StoreClock.prototype.measure;
  jest.spyOn(StoreClock.prototype, 'measure').mockImplementation(async function (this: StoreClock) {
    const sentAt = performance.now();
    await measure.call(this);
    readings.push({ clock: this, sentAt, answeredAt: performance.now() });
  });
  return readings;
}

/** The last reading of `clock` whose round trip was short enough for it to keep the offset. */
function lastKept(readings: Reading[], clock: StoreClock): Reading | undefined {
  return readings
    .filter((reading) => reading.clock === clock)
    .filter((reading) => reading.answeredAt - reading.sentAt <= MAX_ROUND_TRIP_MS)
    .at(-1);
}

/**
 * How far each of `clocks` may be from the real clock (Redis's, on this machine), ms, where each
 * reads the one before it (the first Redis's): its offset comes from its last kept reading, off
 * by at most half that round trip and a millisecond of rounding (TIME is floored, the offset
 * rounded), on top of what the clock it read was off by then. The library's own readings count;
 * a clock it has read only too slowly to judge (a busy machine), or before the clock it reads was
 * read, is read again, all in order, until every reading is quick enough.
 */
async function clockErrors(readings: Reading[], clocks: StoreClock[]): Promise<number[]> {
  for (let attempt = 1; ; attempt++) {
    const errors: number[] = [];
    let previous: Reading | undefined;
    for (const clock of clocks) {
      const kept = lastKept(readings, clock);
      if (!kept || (previous && kept.sentAt < previous.answeredAt)) {
        break;
      }
      errors.push((errors.at(-1) ?? 0) + (kept.answeredAt - kept.sentAt) / 2 + 1);
      previous = kept;
    }
    if (errors.length === clocks.length) {
      return errors;
    }
    if (attempt > 50) {
      throw new Error(`no reading quick enough to judge the clocks in ${attempt} tries`);
    }
    for (const clock of clocks) {
      await clock.measure();
    }
  }
}

/** `now` (a clock's reading) is Redis's clock within `error` ms. */
function expectRedisTime(now: () => number, error: number): void {
  const before = realNow();
  const judged = now();
  const after = realNow();
  expect(judged).toBeGreaterThanOrEqual(before - error);
  expect(judged).toBeLessThanOrEqual(after + error);
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

  let readings: Reading[];

  beforeEach(() => {
    readings = recordReadings();
  });

  /**
   * The app's clock, read through `clocks` (the first reads Redis's, each next one the one before
   * it, the last is the app's store's), agrees with Redis's within what the round trips of those
   * readings allow, and so does each clock on the way: against ten minutes of skew. Each clock
   * must have been read by the library itself (at its connection, or at the store check); one it
   * read too slowly to judge is read again.
   */
  async function measured(clocks: StoreClock[]): Promise<void> {
    await until(() => clocks.every((clock) => readings.some((reading) => reading.clock === clock)));
    const errors = await clockErrors(readings, clocks);
    clocks.forEach((clock, index) => expectRedisTime(() => clock.now(), errors[index]));
    expectRedisTime(() => app.get(SessionService).now(), errors[errors.length - 1]);
  }

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
    await measured([clockOf(app.get(SessionStore))]);
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
    await measured([clockOf(rpc.server.get(SessionStore)), clockOf(app.get(SessionStore))]);
    await expectRecentAuthByRedisClock();
  });

  it("direct: a remembered session's cookie lasts until its deadline by Redis's clock", async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
    app = await recentAuthApp({
      redis: { url },
      keyPrefix: uniquePrefix(),
      remember: { idleTimeout: 300, absoluteTimeout: 300 },
    });
    stop = () => app.close();
    const sessions = app.get(SessionService);
    await measured([clockOf(app.get(SessionStore))]);
    const { token, session } = await sessions.create(
      { ...alice, id: `${alice.id}-cookie` },
      {},
      { persistent: true },
    );

    const cookie = app.get(SessionCookieService).serialize(token, session.absoluteExpiresAt);
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)?.[1]);
    // Five minutes from the login by Redis's clock, less the moments since and the second
    // Max-Age rounds down: ten minutes of skew would make it 0 (ahead) or 900 (behind).
    expect(maxAge).toBeGreaterThanOrEqual(290);
    expect(maxAge).toBeLessThanOrEqual(300);
  });

  it('direct: signs assertions that a session with minutes left can be vouched for by', async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
    const keys = generateKeyPairSync('ed25519');
    app = await recentAuthApp({
      redis: { url },
      keyPrefix: uniquePrefix(),
      idleTimeout: 300,
      absoluteTimeout: 300,
      assertions: {
        service: 'orders',
        signingKey: { kid: 'orders-1', privateKey: keys.privateKey },
        trustedKeys: [{ kid: 'orders-1', issuer: 'orders', publicKey: keys.publicKey }],
      },
    });
    stop = () => app.close();
    const sessions = app.get(SessionService);
    await measured([clockOf(app.get(SessionStore))]);
    const { token } = await sessions.create({ ...alice, id: `${alice.id}-assertion` });
    const session = await sessions.validate(token);
    if (!session) throw new Error('the session just created is not live');

    // Five minutes left by Redis's clock: an assertion of the ordinary 30 s, whichever way the
    // host's clock is off (ahead, it was signed as expired before it was issued).
    const assertions = app.get(SessionAssertions);
    await expect(assertions.verify(assertions.sign(session, 'orders'))).resolves.toMatchObject({
      id: session.id,
    });
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
    await measured([clockOf(app.get(SessionStore))]);
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
