import { Session } from '../session.types';
import { aSession } from '../../testing/session-fixtures';
import { sessionEventRef } from '../events/session-event.interface';
import { noteChangesSeen } from '../store/user-changes';
import { SessionCache } from './session.cache';

const session = (id: string, userId = 'u1', expiresAt = Date.now() + 60_000): Session =>
  aSession(id, userId, { expiresAt });

/** The touch interval the tests' service validates with (ms): longer than any ttl here. */
const TOUCH = 3_600_000;

/** A session last touched at `lastSeenAt` that slides by `idleMs`, far from its deadline. */
function sliding(id: string, lastSeenAt: number, idleMs: number): Session {
  return {
    ...session(id),
    lastSeenAt,
    expiresAt: lastSeenAt + idleMs,
    absoluteExpiresAt: lastSeenAt + 100 * idleMs,
  };
}

/**
 * Loads a session into `cache` at `now`, then expects it served from the cache 1 ms before
 * `forMs` have passed and loaded again 1 ms after.
 */
async function expectServedFor(
  cache: SessionCache,
  make: (id: string) => Session,
  now: number,
  forMs: number,
): Promise<void> {
  const load = jest.fn(async (id: string) => make(id));
  jest.setSystemTime(now);
  await cache.through('a', load);
  jest.advanceTimersByTime(forMs - 1);
  await cache.through('a', load);
  expect(load).toHaveBeenCalledTimes(1);
  jest.advanceTimersByTime(2);
  await cache.through('a', load);
  expect(load).toHaveBeenCalledTimes(2);
}

describe('SessionCache', () => {
  // Fake timers move the wall clock (Date) and the monotonic one (performance.now) together;
  // `setSystemTime` steps the wall clock alone, as NTP or an operator does.
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('serves a sliding session only until its idle timeout is due to slide: a tenth of it', async () => {
    // ttl 60 s against a 2 s idle timeout: served until its expiry, the session would end in
    // the store while every request of its active user was answered from the cache.
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    const now = Date.now();
    await expectServedFor(cache, (id) => sliding(id, now, 2_000), now, 200);
  });

  it('serves a sliding session only until the touch interval, when that is shorter', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, 5_000);
    const now = Date.now();
    // Last touched 4 s ago, by a one-hour idle timeout: a validation slides it in 1 s.
    await expectServedFor(cache, (id) => sliding(id, now - 4_000, 3_600_000), now, 1_000);
  });

  it('serves a validated session again without loading it', async () => {
    const cache = new SessionCache({ ttlMs: 5_000, max: 10_000 }, TOUCH);
    const load = jest.fn(async (id: string) => session(id));
    await cache.through('a', load);
    expect(await cache.through('a', load)).toMatchObject({ id: 'a' });
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('loads again once ttl has passed', async () => {
    const cache = new SessionCache({ ttlMs: 5_000, max: 10_000 }, TOUCH);
    const load = jest.fn(async (id: string) => session(id, 'u1', Date.now() + 3_600_000));
    await cache.through('a', load);
    jest.advanceTimersByTime(5_001);
    await cache.through('a', load);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it.each([
    ['its ttl', 5_000, 3_600_000],
    ['its expiry', 60_000, 5_000],
  ])(
    'serves a session no longer than %s when the host clock is stepped back while it is held',
    async (_, ttlMs, lifeMs) => {
      const cache = new SessionCache({ ttlMs, max: 10_000 }, TOUCH);
      for (const stepMs of [1, 4_000, 30_000, 3_600_000]) {
        cache.clear();
        const load = jest.fn(async (id: string) => session(id, 'u1', Date.now() + lifeMs));
        await cache.through('a', load);
        jest.advanceTimersByTime(1_000);
        jest.setSystemTime(Date.now() - stepMs);
        jest.advanceTimersByTime(4_000);
        // 5 s have passed, whatever the wall clock says: the entry is no longer served.
        expect(cache.get('a')).toBeUndefined();
        await cache.through('a', load);
        expect(load).toHaveBeenCalledTimes(2);
      }
    },
  );

  it('serves a session no longer than its ttl when the monotonic clock stops (the host slept)', async () => {
    // Linux's monotonic clock does not count a suspend; the wall clock does.
    const stopped = performance.now();
    const cache = new SessionCache(
      { ttlMs: 5_000, max: 10_000 },
      TOUCH,
      null,
      Date.now,
      () => stopped,
    );
    const load = jest.fn(async (id: string) => session(id, 'u1', Date.now() + 3_600_000));
    await cache.through('a', load);
    jest.setSystemTime(Date.now() + 4_999);
    expect(cache.get('a')).toMatchObject({ id: 'a' });
    jest.setSystemTime(Date.now() + 2);
    expect(cache.get('a')).toBeUndefined();
  });

  it('never serves a session past its own expiry', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    const now = Date.now();
    await expectServedFor(cache, (id) => session(id, 'u1', now + 1_000), now, 1_000);
  });

  it('does not cache a read that an eviction overtook', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    let finish: (value: Session) => void = () => undefined;
    const pending = cache.through('a', () => new Promise<Session>((resolve) => (finish = resolve)));
    cache.evict(['a']);
    finish(session('a'));
    await pending;
    expect(cache.size).toBe(0);
  });

  it('reads a session announced revoked from the store for ttl, in case the revocation lands late', async () => {
    const cache = new SessionCache({ ttlMs: 5_000, max: 10_000 }, TOUCH);
    const load = jest.fn(async (id: string) => session(id));
    await cache.through('a', load);
    await cache.through('b', load);
    cache.evictRevoked([sessionEventRef('a')]);
    await cache.through('a', load);
    await cache.through('a', load);
    await cache.through('b', load);
    expect(load).toHaveBeenCalledTimes(4);
    jest.advanceTimersByTime(5_001);
    await cache.through('a', load);
    await cache.through('a', load);
    expect(load).toHaveBeenCalledTimes(5);
  });

  it("caches a user's sessions after a change of them all only once read with it, for ttl", async () => {
    const cache = new SessionCache({ ttlMs: 5_000, max: 10_000 }, TOUCH);
    let landed = '';
    const load = jest.fn(async (id: string) => {
      const read = session(id, 'u1');
      noteChangesSeen(read, landed);
      return read;
    });
    await cache.through('a', load);
    cache.evictUserChange('u1', 'x1', 'b');
    // Read before the change landed: served, not cached.
    await cache.through('a', load);
    await cache.through('a', load);
    expect(load).toHaveBeenCalledTimes(3);
    // Another user's sessions are cached as before.
    const other = jest.fn(async (id: string) => session(id, 'u2'));
    await cache.through('c', other);
    await cache.through('c', other);
    expect(other).toHaveBeenCalledTimes(1);
    // Once read with the change (and an earlier one), cached: a new login's session too.
    landed = 'x0 x1';
    await cache.through('a', load);
    await cache.through('a', load);
    await cache.through('n', load);
    await cache.through('n', load);
    expect(load).toHaveBeenCalledTimes(5);
    // A change that never lands holds the user's sessions for ttl, then no longer.
    cache.evictUserChange('u1', 'x2');
    landed = 'x1';
    await cache.through('a', load);
    await cache.through('a', load);
    expect(load).toHaveBeenCalledTimes(7);
    jest.advanceTimersByTime(5_001);
    await cache.through('a', load);
    await cache.through('a', load);
    expect(load).toHaveBeenCalledTimes(8);
  });

  it('does not cache a read without the change that ends after a read with it', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    cache.evictUserChange('u1', 'x1');
    let finishEarly: (session: Session) => void = () => undefined;
    const early = cache.through('a', () => new Promise<Session>((r) => (finishEarly = r)));
    const late = session('b', 'u1');
    noteChangesSeen(late, 'x1');
    await cache.through('b', async () => late);
    const stale = session('a', 'u1');
    noteChangesSeen(stale, '');
    finishEarly(stale);
    await early;
    const load = jest.fn(async (id: string) => session(id, 'u1'));
    await cache.through('a', load);
    await cache.through('b', load);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('evicts a user but the kept session', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    await cache.through('a', async (id) => session(id, 'u1'));
    await cache.through('b', async (id) => session(id, 'u1'));
    await cache.through('c', async (id) => session(id, 'u2'));
    cache.evictUser('u1', 'b');
    const load = jest.fn(async (id: string) => session(id));
    await cache.through('b', load);
    await cache.through('c', load);
    expect(load).not.toHaveBeenCalled();
    expect(cache.size).toBe(2);
  });

  it('keeps at most max entries, dropping the oldest', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 2 }, TOUCH);
    for (const id of ['a', 'b', 'c']) {
      await cache.through(id, async () => session(id));
    }
    expect(cache.size).toBe(2);
    const load = jest.fn(async (id: string) => session(id));
    await cache.through('a', load);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('caps the ttl at 60 seconds, whatever the option says', async () => {
    const cache = new SessionCache({ ttlMs: 3_600_000, max: 10_000 }, TOUCH);
    expect(cache.ttl).toBe(60_000);
    const now = Date.now();
    await expectServedFor(cache, (id) => session(id, 'u1', now + 3_600_000), now, 60_000);
  });

  it('caches nothing while paused, and starts empty when resumed', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    const load = jest.fn(async (id: string) => session(id));
    await cache.through('a', load);
    cache.pause();
    expect(cache.size).toBe(0);
    await cache.through('a', load);
    await cache.through('a', load);
    expect(load).toHaveBeenCalledTimes(3);
    expect(cache.size).toBe(0);
    cache.resume();
    await cache.through('a', load);
    await cache.through('a', load);
    expect(load).toHaveBeenCalledTimes(4);
  });

  it('does not cache a read that a pause overtook', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    let finish: (value: Session) => void = () => undefined;
    const pending = cache.through('a', () => new Promise<Session>((resolve) => (finish = resolve)));
    cache.pause();
    cache.resume();
    finish(session('a'));
    await pending;
    expect(cache.size).toBe(0);
  });

  it('hands out copies, so a caller cannot change what is cached', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    const first = await cache.through('a', async (id) => session(id));
    first?.roles.push('admin');
    expect((await cache.through('a', async () => null))?.roles).toEqual(['customer']);
  });

  it('answers a hit synchronously with get, a copy every time', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    expect(cache.get('a')).toBeUndefined();
    await cache.through('a', async (id) => ({ ...session(id), attributes: { cart: 1 } }));
    const hit = cache.get('a');
    expect(hit).toMatchObject({ id: 'a', roles: ['customer'], attributes: { cart: 1 } });
    hit?.roles.push('admin');
    if (hit) hit.attributes['cart'] = 2;
    expect(cache.get('a')).toMatchObject({ roles: ['customer'], attributes: { cart: 1 } });
    expect(cache.get('a')).not.toBe(cache.get('a'));
  });

  it('answers no hit with get past the entry’s deadline, nor while paused', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 10_000 }, TOUCH);
    const now = Date.now();
    await cache.through('a', async (id) => session(id, 'u1', now + 1_000));
    jest.advanceTimersByTime(1_001);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
    await cache.through('b', async (id) => session(id));
    cache.pause();
    expect(cache.get('b')).toBeUndefined();
  });
});
