import { Redis } from 'ioredis';

import { alice, REDIS_URL as url, sessionService, sleep, uniquePrefix } from './store-contract';

describe('Session timeouts (real Redis, short timeouts)', () => {
  const client = new Redis(url);
  afterAll(() => client.disconnect());

  it('expires a session left idle longer than the idle timeout', async () => {
    const { sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: uniquePrefix(),
      idleTimeout: 1,
      absoluteTimeout: 60,
    });
    try {
      const { token } = await sessions.create(alice);
      expect(await sessions.validate(token)).not.toBeNull();
      await sleep(1300);
      expect(await sessions.validate(token)).toBeNull();
    } finally {
      await close();
    }
  });

  it('slides the idle timeout on use, but never past the absolute deadline', async () => {
    const { sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: uniquePrefix(),
      idleTimeout: 1.2,
      absoluteTimeout: 2.5,
      touchInterval: 0.1,
    });
    try {
      const { token, session } = await sessions.create(alice);
      // Used every 0.5 s, the session outlives its 1.2 s idle timeout...
      for (let i = 0; i < 3; i++) {
        await sleep(500);
        expect(await sessions.validate(token)).not.toBeNull();
      }
      // ...and its remaining life never reaches past the absolute deadline.
      const valid = await sessions.validate(token);
      expect(valid?.expiresAt).toBeLessThanOrEqual(session.absoluteExpiresAt);
      await sleep(session.absoluteExpiresAt - Date.now() + 200);
      expect(await sessions.validate(token)).toBeNull();
    } finally {
      await close();
    }
  });

  it('reports a session in its last idle window as live until its absolute deadline', async () => {
    const { sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: uniquePrefix(),
      idleTimeout: 1,
      absoluteTimeout: 1.5,
      touchInterval: 0.05,
    });
    try {
      const { token, session } = await sessions.create(alice);
      const deadline = session.absoluteExpiresAt;
      const lastWindow = deadline - 1000;
      // The script's clock (TIME) and the TTL (PTTL) each round to the millisecond their own
      // way: a time read back from a TTL may come out a millisecond early.
      const slack = 2;
      // Touched within a second of the deadline: the TTL now ends at the deadline.
      await sleep(700);
      const touched = await sessions.validate(token);
      expect(touched?.expiresAt).toBeGreaterThanOrEqual(deadline - slack);
      expect(touched?.expiresAt).toBeLessThanOrEqual(deadline);
      await sleep(300);
      // Still live: the last touch can only be placed in the last idle window, and the
      // session ends at its deadline, not an idle timeout after its creation (already past).
      const later = await sessions.validate(token);
      const [listed] = await sessions.listForUser(alice.id);
      for (const seen of [later, listed]) {
        expect(seen?.lastSeenAt).toBeGreaterThanOrEqual(lastWindow - slack);
        expect(seen?.lastSeenAt).toBeLessThanOrEqual(sessions.now());
        expect(seen?.expiresAt).toBeGreaterThanOrEqual(deadline - slack);
        expect(seen?.expiresAt).toBeLessThanOrEqual(deadline);
      }
      expect(later?.expiresAt).toBeGreaterThan(sessions.now());
    } finally {
      await close();
    }
  });

  it('writes the touch at most once per touch interval', async () => {
    const prefix = uniquePrefix();
    const { sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: prefix,
      idleTimeout: 60,
      touchInterval: 30,
    });
    try {
      const { token, session } = await sessions.create(alice);
      const [key] = await client.keys(`${prefix}{*}:s:*`);
      // As if the last touch was 2 s ago: within the touch interval (capped at idle/10 = 6 s).
      await client.pexpire(key, 58_000);
      await sleep(20);
      const again = await sessions.validate(token);
      expect(again?.lastSeenAt).toBe(session.lastSeenAt);
      expect(await client.pttl(key)).toBeLessThanOrEqual(58_000);
    } finally {
      await close();
    }
  });

  it('slides the TTL once the touch interval has passed', async () => {
    const prefix = uniquePrefix();
    const { sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: prefix,
      idleTimeout: 60,
      touchInterval: 0.05,
    });
    try {
      const { token, session } = await sessions.create(alice);
      const [key] = await client.keys(`${prefix}{*}:s:*`);
      await client.pexpire(key, 5_000);
      await sleep(80);
      const again = await sessions.validate(token);
      expect(again?.lastSeenAt).toBeGreaterThan(session.lastSeenAt);
      expect(await client.pttl(key)).toBeGreaterThan(50_000);
    } finally {
      await close();
    }
  });
});
