import { randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';

/** What `watchRedisCommands` gives back: `stop()` answers the commands seen, in order. */
export interface RedisCommandWatch {
  stop(): Promise<string[][]>;
}

/**
 * Every command Redis runs from the moment this resolves until `stop()` (scripts' inner calls
 * included), as a MONITOR sees it, each as its arguments; `keep` picks those to answer. Other
 * clients' traffic is welcome: lines a busy server sends with MONITOR's own answer reach the
 * client before it takes itself for a monitor, and it reports them as an error ("Command queue
 * state error") that would end the test; they come before this resolves, so they are dropped.
 *
 * @example
 * const watch = await watchRedisCommands(REDIS_URL, (args) => args.some((a) => a.includes(prefix)));
 * await request(http).post('/api/auth/logout');
 * expect(await watch.stop()).toEqual([]);
 */
export async function watchRedisCommands(
  url: string,
  keep: (args: string[]) => boolean = () => true,
): Promise<RedisCommandWatch> {
  const monitor = new Redis(url, { monitor: true, lazyConnect: true, maxRetriesPerRequest: 0 });
  const probe = new Redis(url, { lazyConnect: true });
  let watching = false;
  let failure: Error | undefined;
  monitor.on('error', (error: Error) => {
    if (!watching && /^Command queue state error/.test(error.message)) return;
    failure ??= error;
  });
  const marker = `watch-${randomUUID()}`;
  const seen: string[][] = [];
  let markerSeen!: () => void;
  const sawMarker = new Promise<void>((resolve) => (markerSeen = resolve));
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (!watching) return;
    if (args.includes(marker)) markerSeen();
    else if (keep(args)) seen.push(args);
  });
  try {
    // Not `once()`: it would reject on the error above, which is no failure.
    const monitoring = new Promise<void>((resolve, reject) => {
      monitor.once('monitoring', () => resolve());
      monitor.once('end', () => reject(new Error('the monitor connection closed')));
    });
    await Promise.all([monitor.connect(), probe.connect()]);
    await monitoring;
  } catch (error) {
    monitor.disconnect();
    probe.disconnect();
    throw error;
  }
  watching = true;
  return {
    async stop() {
      try {
        // Redis streams commands to a monitor in the order it runs them: once the marker is
        // seen, so is every command that ran before it.
        await probe.echo(marker);
        await sawMarker;
        if (failure) throw failure;
        return seen;
      } finally {
        monitor.disconnect();
        probe.disconnect();
      }
    },
  };
}
