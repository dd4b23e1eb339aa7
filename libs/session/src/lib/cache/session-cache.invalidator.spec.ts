import { aSession, patchedEvent } from '../../testing/session-fixtures';
import { decodeSessionEvent } from '../events/session-event.interface';
import type { Session } from '../session.types';
import { apply } from './session-cache.invalidator';
import { SessionCache } from './session.cache';

/** A session as the cache holds it, its attributes set. */
const session = (id: string) =>
  aSession(id, 'u1', { lastSeenAt: Date.now(), attributes: { step: 1 } });

/** A cache holding sessions `a` and `b` of user u1, following its events. */
async function cacheOfTwo(): Promise<SessionCache> {
  const cache = new SessionCache({ ttlMs: 60_000, max: 100 }, 3_600_000);
  await cache.through('a', async (id) => session(id));
  await cache.through('b', async (id) => session(id));
  return cache;
}

describe('SessionCacheInvalidator apply', () => {
  it('forgets the session a patch elsewhere names, and only that one', async () => {
    const cache = await cacheOfTwo();
    apply(cache, patchedEvent('a'));
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')?.attributes).toEqual({ step: 1 });
  });

  it('does not cache a read that a patch event overtook', async () => {
    const cache = new SessionCache({ ttlMs: 60_000, max: 100 }, 3_600_000);
    let release!: () => void;
    const read = cache.through(
      'a',
      (id) => new Promise<Session>((resolve) => (release = () => resolve(session(id)))),
    );
    apply(cache, patchedEvent('a'));
    release();
    await read;
    expect(cache.get('a')).toBeUndefined();
  });

  it('flushes everything for an entry it cannot read, as a release before session.patched reads that event', async () => {
    // What such a release's reader does with an unknown type: no event, an `unreadable` gap.
    const unknown = JSON.stringify({ type: 'session.renamed', actor: null, userId: null });
    expect(decodeSessionEvent('1-0', ['event', unknown])).toBeNull();
    const cache = await cacheOfTwo();
    apply(cache, { kind: 'gap', reason: 'unreadable', lastId: '1-0' });
    expect(cache.size).toBe(0);
  });
});
