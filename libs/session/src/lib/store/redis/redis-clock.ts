import { Cluster, Redis } from 'ioredis';

import { StoreClock } from '../store-clock';

/**
 * Redis's clock as seen from this process (`StoreClock`), read with TIME at every
 * (re)connection and every minute. The scripts stamp sessions with Redis's clock, so that
 * services agree whatever their hosts say.
 */
export function redisClock(client: Redis | Cluster): StoreClock {
  const clock = new StoreClock(
    async () => millisecondsOf(await client.time()),
    () => client.status === 'ready',
  );
  client.on('ready', () => void clock.measure());
  if (client.status === 'ready') {
    void clock.measure();
  }
  return clock;
}

/** A TIME reply (seconds and microseconds, as strings whatever the typings say) in epoch ms. */
export function millisecondsOf([seconds, micros]: ReadonlyArray<number | string>): number {
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}
