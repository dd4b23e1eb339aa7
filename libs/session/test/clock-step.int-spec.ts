import { Redis } from 'ioredis';

import { SessionService } from '../src';
import { millisecondsOf } from '../src/lib/store/redis/redis-clock';
import { CLOCK_STEP_TOLERANCE_MS } from '../src/lib/store/store-clock';
import { REDIS_URL as url, sessionService, sleep, uniquePrefix, until } from './store-contract';

const realNow = Date.now;

/**
 * The host clock set while the service runs (NTP, an operator): the store's clock takes the
 * step back out at once rather than at its next reading a minute later, so the
 * re-authentication window is judged by Redis's clock all along.
 */
describe('the store clock, when the host clock is set', () => {
  const user = { id: 'u-clock-step', username: 'clockstep', roles: ['customer'] };
  let redis: Redis;
  let sessions: SessionService;
  let close: () => Promise<void>;
  const redisNow = async () => millisecondsOf(await redis.time());
  /**
   * Whether this service's time is Redis's: within 50 ms of two readings of Redis taken
   * around it, so that the round trips, however slow, take nothing from the margin.
   */
  const followsRedis = async () => {
    const before = await redisNow();
    const judged = sessions.now();
    const after = await redisNow();
    return judged >= before - 50 && judged <= after + 50;
  };

  beforeAll(async () => {
    redis = new Redis(url);
    ({ sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: uniquePrefix(),
      reauthWindow: 60,
      events: false,
    }));
  });

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await close?.();
    redis.disconnect();
  });

  it.each([-3_600_000, -61_000, -1_000, 1_000, 61_000, 3_600_000])(
    'follows Redis at once after a step of %p ms, and reads Redis again',
    async (stepMs) => {
      const { session } = await sessions.create(user);
      // The clock has read Redis (at the connection).
      await until(followsRedis);
      const time = jest.spyOn(Redis.prototype, 'time');
      jest.spyOn(Date, 'now').mockImplementation(() => realNow() + stepMs);
      const before = await redisNow();
      const judged = sessions.now();
      const after = await redisNow();
      expect(judged).toBeGreaterThanOrEqual(before - CLOCK_STEP_TOLERANCE_MS);
      expect(judged).toBeLessThanOrEqual(after + CLOCK_STEP_TOLERANCE_MS);
      // A login a minute and a second old is not recent, however far back the host clock went.
      const old = { ...session, authenticatedAt: before - 61_000 };
      expect(sessions.isRecentlyAuthenticated(old)).toBe(false);
      expect(sessions.isRecentlyAuthenticated(session)).toBe(true);
      expect(time).toHaveBeenCalled();
      await sleep(20);
      expect(await followsRedis()).toBe(true);
    },
  );
});
