import { Redis } from 'ioredis';

import { REDIS_CLIENT_NAME } from '../scenarios';
import { load } from './load';

/** Redis traffic of one scenario, split by who issued each command. */
export interface RoundTrips {
  requests: number;
  /** Commands the servers sent over the network: their round trips. */
  sent: Record<string, number>;
  /** Commands Lua scripts ran inside Redis for them: no network, but Redis CPU. */
  inScripts: Record<string, number>;
}

/**
 * INFO commandstats counts the commands a script runs as well as the EVALSHA that ran it, and
 * every client of a shared Redis. MONITOR tells them apart: it names the connection of each
 * command, and `lua` for a script's. A short, slow pass (MONITOR slows Redis down) counts
 * what the benchmark's own connections (CLIENT SETNAME) send per request.
 */
export async function countRoundTrips(
  redisUrl: string,
  url: string,
  headers: Array<Record<string, string>>,
): Promise<RoundTrips> {
  const admin = new Redis(redisUrl);
  const ours = new Set<string>();
  const list = String(await admin.call('CLIENT', 'LIST'));
  for (const line of list.split('\n')) {
    const fields = Object.fromEntries(line.split(' ').map((pair: string) => pair.split('=')));
    if (fields['name'] === REDIS_CLIENT_NAME) {
      ours.add(fields['addr']);
    }
  }
  admin.disconnect();

  const sent: Record<string, number> = {};
  const inScripts: Record<string, number> = {};
  // Redis runs a script atomically: its commands follow the EVALSHA that started it.
  let lastWasOurs = false;
  const monitor = new Redis(redisUrl, { monitor: true, lazyConnect: true });
  // ioredis marks a connection as monitoring a microtask after MONITOR's OK: on a busy Redis,
  // lines read together with that OK are reported as a command queue error. They all precede
  // the load below, so none of them is ours to count; any other error spoils the count.
  let monitoring = false;
  let failure: Error | undefined;
  const started = new Promise<void>((resolve, reject) => {
    monitor.on('error', (error: Error) => {
      if (!monitoring && error.message.startsWith('Command queue state error')) {
        return;
      }
      failure ??= error;
      reject(error);
    });
    monitor.once('monitoring', () => {
      monitoring = true;
      resolve();
    });
  });
  await monitor.connect();
  await started;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const command = String(args[0]).toLowerCase();
    if (source === 'lua') {
      if (lastWasOurs) inScripts[command] = (inScripts[command] ?? 0) + 1;
      return;
    }
    lastWasOurs = ours.has(source);
    if (lastWasOurs) sent[command] = (sent[command] ?? 0) + 1;
  });
  // One connection and a fixed count: no request is still in flight when counting stops.
  const result = await load({ url, connections: 1, amount: 300, headers });
  await new Promise((resolve) => setTimeout(resolve, 200));
  monitor.disconnect();
  if (failure) {
    throw failure;
  }
  return { requests: result.requests, sent, inScripts };
}
