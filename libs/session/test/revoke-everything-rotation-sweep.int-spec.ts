import { Redis } from 'ioredis';

import { IssuedSession, SessionService } from '../src';
import { startRedisServer } from '../src/testing';
import { alice, sessionKey, sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(120_000);

/** Event-loop turns the sweep goes on for, at most, once the rotation has been sent. */
const MAX_OFFSET = 12;

const turns = async (count: number) => {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
};

const ROTATIONS: Array<{ name: string; rotate: (s: SessionService, token: string) => unknown }> = [
  {
    name: 'a re-authentication',
    rotate: (s, token) => s.rotate(token, { reauthenticated: true, reason: 'reauthenticate' }),
  },
  {
    name: 'a password change',
    rotate: (s, token) => s.rotate(token, { revokeOthersOf: alice.id, reauthenticated: true }),
  },
];

/**
 * A global revocation sets its watermark, then SCANs for session hashes and deletes those
 * created before it. A rotation moves a session to a new key, keeping its creation time: moved
 * after the SCAN went past the new key's place, and before the sweep reached the old key, the
 * session would stay in the store (listed, counted against the cap) while every service refuses
 * it. Whenever the rotation lands, the session must be gone from the store as it is from the
 * services' view.
 */
describe.each(ROTATIONS)('A global revocation racing $name of a session it ends', ({ rotate }) => {
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  let client: Redis;
  /** The service revoking everything, over `client`. */
  let revoker: SessionService;
  /** Another service on the same Redis, over a connection of its own: the one rotating. */
  let sessions: SessionService;
  const closers: Array<() => Promise<void>> = [];
  const keyPrefix = uniquePrefix();
  /** Runs once, when a SCAN of the sweep has answered the key it names (before the sweep sees it). */
  let afterScan: { key: string; run: () => Promise<void> } | null = null;

  beforeAll(async () => {
    redis = await startRedisServer();
    client = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    let close: () => Promise<void>;
    ({ sessions: revoker, close } = await sessionService({ redis: { client }, keyPrefix }));
    closers.push(close);
    ({ sessions, close } = await sessionService({ redis: { url: redis.url }, keyPrefix }));
    closers.push(close);
    const scan = client.scan.bind(client) as (...args: unknown[]) => Promise<[string, string[]]>;
    client.scan = (async (...args: unknown[]) => {
      const reply = await scan(...args);
      const hook = afterScan;
      if (hook && reply[1].includes(hook.key)) {
        afterScan = null;
        await hook.run();
      }
      return reply;
    }) as typeof client.scan;
  });

  afterAll(async () => {
    for (const close of closers) await close();
    client?.disconnect();
    await redis?.dispose();
  });

  it(`leaves no session in the store, at ${MAX_OFFSET + 1} offsets from the sweep`, async () => {
    const kept: string[] = [];
    for (let offset = 0; offset <= MAX_OFFSET; offset++) {
      const { token, session } = await sessions.create(alice);
      let rotation: Promise<unknown> = Promise.resolve(null);
      // The rotation is sent once the sweep's SCAN has gone past both keys, and the sweep goes
      // on `offset` turns later: it reaches the old key before, while or after the rotation runs.
      afterScan = {
        key: sessionKey(keyPrefix, session.id),
        run: async () => {
          rotation = Promise.resolve(rotate(sessions, token));
          await turns(offset);
        },
      };
      await revoker.revokeEverything();
      const rotated = (await rotation) as IssuedSession | null;
      const listed = (await sessions.listForUser(alice.id)).map((s) => s.id);
      const stored = rotated ? await client.exists(sessionKey(keyPrefix, rotated.session.id)) : 0;
      const valid = rotated ? await sessions.validate(rotated.token) : null;
      if (listed.length || stored || valid) {
        kept.push(
          `offset ${offset}: listed [${listed.join(', ')}], hash ${stored ? 'kept' : 'gone'}, ` +
            `validate ${valid ? 'accepts' : 'refuses'}`,
        );
      }
      expect(afterScan).toBeNull();
    }
    expect(kept).toEqual([]);
  });

  it('still keeps a session created after the watermark', async () => {
    await revoker.revokeEverything();
    // A login in the watermark's own millisecond is created before it: wait for the next one.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const { token, session } = await sessions.create(alice);
    const rotated = await sessions.rotate(token, { reauthenticated: true });
    expect(rotated?.session.createdAt).toBe(session.createdAt);
    expect((await sessions.validate(rotated?.token))?.id).toBe(rotated?.session.id);
    expect((await sessions.listForUser(alice.id)).map((s) => s.id)).toEqual([rotated?.session.id]);
  });
});
