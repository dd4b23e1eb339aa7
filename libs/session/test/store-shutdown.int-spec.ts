import { Logger } from '@nestjs/common';

import { RedisSessionStore } from '../src';
import { startRedisServer } from '../src/testing';
import { recordTimers } from '../src/testing/armed-timers';
import { sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

describe('RedisSessionStore shutdown', () => {
  it('holds the process no longer than the store timeout when its Redis is gone', async () => {
    const redis = await startRedisServer();
    const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const { store, close } = await sessionService({
      redis: { url: redis.url },
      storeTimeout: 0.25,
      keyPrefix: uniquePrefix(),
    });
    const client = (store as RedisSessionStore).redis;
    try {
      const reconnecting = new Promise((resolve) => client.once('reconnecting', resolve));
      await redis.stop();
      // The connection broke and the client waits to connect again: no close is to come.
      await reconnecting;
      // Every timer armed from here on, with its delay, until it runs or is cleared: one still
      // armed after the close keeps the process from exiting that long.
      const timers = recordTimers();
      try {
        await close();
        // Timers due now have run once a timer armed after them has.
        await new Promise((resolve) => setTimeout(resolve, 0));
      } finally {
        timers.restore();
      }
      const holding = [...timers.armed].filter(([timer]) => timer.hasRef()).map(([, ms]) => ms);
      expect(holding.filter((ms) => ms > 250)).toEqual([]);
    } finally {
      warnings.mockRestore();
      errors.mockRestore();
      await redis.dispose();
    }
  });
});
