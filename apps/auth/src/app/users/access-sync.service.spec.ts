import { Logger } from '@nestjs/common';
import { Repository } from 'typeorm';

import { SessionService } from '@cloakroom/session';

import { AuthEnv } from '../config/auth.env';
import { AccessSync } from './access-sync.service';
import { AdminLock } from './admin-lock';
import { User } from './entities/user.entity';

/**
 * When `AccessSync` looks, with the looks themselves stubbed: what they apply is tested
 * against PostgreSQL and Redis in test/access-sync.int-spec.ts.
 */
describe('AccessSync', () => {
  const INTERVAL_S = 5;
  let sync: AccessSync;
  let looks: number[];
  let outcome: () => Promise<number>;
  let started: number;

  beforeEach(() => {
    jest.useFakeTimers();
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const env = Object.assign(new AuthEnv(), { ACCESS_SYNC_INTERVAL: INTERVAL_S });
    sync = new AccessSync({} as Repository<User>, {} as AdminLock, {} as SessionService, env);
    looks = [];
    outcome = async () => 0;
    started = Date.now();
    jest.spyOn(sync, 'applyPending').mockImplementation(() => {
      looks.push(Date.now() - started);
      return outcome();
    });
  });

  afterEach(async () => {
    await sync.onModuleDestroy();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  const advance = (ms: number) => jest.advanceTimersByTimeAsync(ms);

  it('looks at start-up, then every interval', async () => {
    sync.onApplicationBootstrap();
    await advance(3 * INTERVAL_S * 1000 + 10);
    expect(looks).toEqual([0, 5000, 10000, 15000]);
  });

  it('retries a change it could not apply from 100 ms, doubling up to the interval', async () => {
    outcome = () => Promise.reject(new Error('Redis is down'));
    sync.soon();
    await advance(20_000);
    expect(looks[0]).toBe(100);
    const waits = looks.slice(1).map((at, index) => at - looks[index]);
    expect(waits.slice(0, 7)).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  it('goes back to the interval once a look succeeds', async () => {
    let failures = 3;
    outcome = () => (failures-- > 0 ? Promise.reject(new Error('down')) : Promise.resolve(1));
    sync.soon();
    await advance(12_000);
    expect(looks).toEqual([100, 300, 700, 1500, 6500, 11500]);
  });

  it('looks soon when asked, even after the host clock was set forward', async () => {
    sync.onApplicationBootstrap();
    await advance(1000);
    expect(looks).toHaveLength(1);
    // The next look is due at 5 s; a wall clock an hour on made `soon` find it due earlier
    // than "in 100 ms", and leave the change waiting for the interval.
    jest.setSystemTime(Date.now() + 3_600_000);
    sync.soon();
    await advance(150);
    expect(looks).toHaveLength(2);
  });

  it('looks again right after a look that was asked for while one ran', async () => {
    let finish!: () => void;
    outcome = () => new Promise<number>((resolve) => (finish = () => resolve(0)));
    sync.onApplicationBootstrap();
    await advance(0);
    expect(looks).toEqual([0]);
    sync.soon();
    await advance(500);
    // Asked at 100 ms, while the first look still ran: not a second look at once…
    expect(looks).toEqual([0]);
    outcome = async () => 0;
    finish();
    await advance(1);
    // …but one as soon as it ended.
    expect(looks).toEqual([0, 500]);
  });

  it('never looks after it is stopped', async () => {
    sync.onApplicationBootstrap();
    await advance(1);
    await sync.onModuleDestroy();
    sync.soon();
    await advance(60_000);
    expect(looks).toEqual([0]);
  });
});
