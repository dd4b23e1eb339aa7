import { Logger } from '@nestjs/common';

import { RedisSessionStore } from '../src';
import { startRedisServer } from '../src/testing';
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
    // Every timer armed from here on, with its delay, until it runs or is cleared: one still
    // armed after the close keeps the process from exiting that long.
    const armed = new Map<NodeJS.Timeout, number>();
    const { setTimeout: realSet, clearTimeout: realClear } = globalThis;
    try {
      const reconnecting = new Promise((resolve) => client.once('reconnecting', resolve));
      await redis.stop();
      // The connection broke and the client waits to connect again: no close is to come.
      await reconnecting;
      const set = jest.spyOn(globalThis, 'setTimeout').mockImplementation(((
        callback: (...args: unknown[]) => void,
        ms?: number,
        ...args: unknown[]
      ) => {
        const timer = realSet(
          (...given: unknown[]) => {
            armed.delete(timer);
            callback(...given);
          },
          ms,
          ...args,
        );
        armed.set(timer, ms ?? 0);
        return timer;
      }) as typeof setTimeout);
      const clear = jest.spyOn(globalThis, 'clearTimeout').mockImplementation(((
        timer?: NodeJS.Timeout,
      ) => {
        if (timer) armed.delete(timer);
        realClear(timer);
      }) as typeof clearTimeout);
      try {
        await close();
        // Timers due now have run once a timer armed after them has.
        await new Promise((resolve) => realSet(resolve, 0));
      } finally {
        set.mockRestore();
        clear.mockRestore();
      }
      const holding = [...armed].filter(([timer]) => timer.hasRef()).map(([, ms]) => ms);
      expect(holding.filter((ms) => ms > 250)).toEqual([]);
    } finally {
      warnings.mockRestore();
      errors.mockRestore();
      await redis.dispose();
    }
  });
});
