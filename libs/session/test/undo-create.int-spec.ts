import fc from 'fast-check';
import { Redis } from 'ioredis';

import { IssuedSession, SessionService } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import { newSecret, parseSessionId } from '../src/lib/token/session.token';
import { REDIS_URL as url, sessionService, sleep, uniquePrefix } from './store-contract';

jest.setTimeout(60_000);

/**
 * The undo of a login whose caller gave up waiting (undo-create.lua), with what may reach Redis
 * between the late create and its undo played in a fixed order: the create and the undo are
 * sent by hand, in the store's words, around the store's own operations. (The stall tests in
 * stalled-create.int-spec.ts play the same through a paused Redis, where the order of
 * different connections' commands is Redis's to choose.)
 */
describe('the undo of a late login at the cap', () => {
  type Call = (...args: Array<string | number>) => Promise<unknown>;
  const prefix = uniquePrefix();
  const keys = new RedisKeys(prefix);
  let client: Redis & Record<string, Call>;
  let sessions: SessionService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    client = new Redis(url) as Redis & Record<string, Call>;
    for (const [name, script] of Object.entries(SESSION_SCRIPTS)) {
      client.defineCommand(name, script);
    }
    ({ sessions, close } = await sessionService({
      redis: { url },
      keyPrefix: prefix,
      maxSessionsPerUser: 2,
      capPolicy: 'evict-oldest',
      events: false,
    }));
  });

  afterAll(async () => {
    await close?.();
    const leftovers = await client.keys(`${prefix}*`);
    if (leftovers.length) await client.del(...leftovers);
    client.disconnect();
  });

  /** A user at the cap: two sessions, the first the oldest. */
  async function atCap(userId: string) {
    const user = { id: userId, username: userId, roles: ['customer'] };
    const first = await sessions.create(user);
    await sleep(5);
    const second = await sessions.create(user);
    const tag = parseSessionId(first.session.id)?.tag as string;
    return { first, second, tag };
  }

  /** The create.lua of a login as the store sends it; its digest, for the undo. */
  async function lateCreate(tag: string, userId: string): Promise<string> {
    const { digest } = newSecret();
    const reply = (await client['cloakroomCreate'](
      keys.sessionPrefix(tag) + digest,
      keys.index(tag, userId),
      keys.generation(tag, userId),
      60_000,
      600_000,
      2,
      'evict-oldest',
      60_000,
      keys.sessionPrefix(tag),
      digest,
      '',
      keys.evictedPrefix(tag),
      10_000,
      'u',
      userId,
      'n',
      userId,
      'r',
      '["customer"]',
    )) as unknown[];
    expect(reply).toHaveLength(3); // createdAt, no expiries, one session evicted
    return digest;
  }

  function undo(tag: string, userId: string, digest: string): Promise<unknown> {
    return client['cloakroomUndoCreate'](
      keys.sessionPrefix(tag) + digest,
      keys.index(tag, userId),
      keys.generation(tag, userId),
      digest,
      userId,
      keys.sessionPrefix(tag),
      keys.evictedPrefix(tag),
      2,
    );
  }

  const devices = async (userId: string) =>
    (await sessions.listForUser(userId)).map(({ id, roles }) => ({ id, roles }));

  it('puts back the evicted session, and deletes the one nobody was given', async () => {
    const { first, second, tag } = await atCap('undo-plain');
    const before = await devices('undo-plain');
    const digest = await lateCreate(tag, 'undo-plain');
    expect(await sessions.validate(first.token)).toBeNull();
    expect(await undo(tag, 'undo-plain', digest)).toEqual([1, []]);
    expect(await devices('undo-plain')).toEqual(before);
    expect(await sessions.validate(first.token)).not.toBeNull();
    expect(await sessions.validate(second.token)).not.toBeNull();
    expect(await client.keys(`${prefix}{${tag}}:e:*`)).toEqual([]);
    // Twice is once: the record of what to put back went with the first undo.
    expect(await undo(tag, 'undo-plain', digest)).toEqual([0, []]);
    expect(await devices('undo-plain')).toEqual(before);
  });

  it('leaves the index expiring no sooner than the session it put back may live', async () => {
    const { first, second, tag } = await atCap('undo-alone');
    const digest = await lateCreate(tag, 'undo-alone');
    // The other session ends meanwhile: the undo empties the index, then puts the evicted one
    // back into a new one.
    expect(await sessions.revoke(second.session.id, 'undo-alone')).toBe(true);
    expect(await undo(tag, 'undo-alone', digest)).toEqual([1, []]);
    const left = await client.pttl(keys.index(tag, 'undo-alone'));
    expect(left).toBeGreaterThan(0);
    expect(Date.now() + left).toBeGreaterThanOrEqual(first.session.absoluteExpiresAt - 1000);
  });

  // A logout announced the evicted session's end; otherwise the undo reports it as dropped.
  it.each([
    ['a logout of the evicted session', 'revoke', ['second'], false],
    ["a revocation of all the user's sessions", 'revoke-all', [], true],
    ["a change of the user's roles", 'roles', ['second'], true],
  ] as const)('puts nothing back after %s', async (_what, change, left, dropped) => {
    const userId = `undo-${change}`;
    const { first, second, tag } = await atCap(userId);
    const digest = await lateCreate(tag, userId);
    if (change === 'revoke') {
      expect(await sessions.revoke(first.session.id, userId)).toBe(false);
    } else if (change === 'revoke-all') {
      expect(await sessions.revokeAllForUser(userId)).toBe(2);
    } else {
      expect(await sessions.setRolesForUser(userId, ['customer', 'admin'])).toBe(2);
    }
    const firstDigest = parseSessionId(first.session.id)?.digest;
    expect(await undo(tag, userId, digest)).toEqual([0, dropped ? [firstDigest] : []]);
    expect(await sessions.validate(first.token)).toBeNull();
    const roles = change === 'roles' ? ['customer', 'admin'] : ['customer'];
    expect(await devices(userId)).toEqual(left.map(() => ({ id: second.session.id, roles })));
    expect(await client.keys(`${prefix}{${tag}}:e:*`)).toEqual([]);
  });

  type Between = { kind: 'login' | 'revoke-all' | 'roles' } | { kind: 'logout'; which: number };

  /**
   * Whatever reaches Redis between the late create and its undo — logins, logouts of any of the
   * user's sessions (the evicted one and the abandoned one included), a revocation of all, a
   * role change — the undo never brings back a revoked session or one with roles taken away,
   * never leaves the abandoned session, never exceeds the cap, and puts the evicted session
   * back when only other sessions' logouts came in between.
   */
  it('keeps its promises whatever reaches Redis in between', async () => {
    let run = 0;
    const between: fc.Arbitrary<Between> = fc.oneof(
      fc.constantFrom<Between>({ kind: 'login' }, { kind: 'revoke-all' }, { kind: 'roles' }),
      fc.nat(5).map((which): Between => ({ kind: 'logout', which })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(between, { maxLength: 4 }), async (steps) => {
        const userId = `undo-any-${run++}`;
        const { first, second, tag } = await atCap(userId);
        const made: IssuedSession[] = [first, second];
        const dead = new Set<string>();
        let roles = ['customer'];
        const digest = await lateCreate(tag, userId);
        const abandoned = `${tag}.${digest}`;
        let firstTouched = false;
        let firstLoggedOut = false;
        for (const step of steps) {
          const ids = [...made.map(({ session }) => session.id), abandoned];
          if (step.kind === 'login') {
            made.push(await sessions.create({ id: userId, username: userId, roles }));
            firstTouched = true;
          } else if (step.kind === 'logout') {
            const id = ids[step.which % ids.length];
            await sessions.revoke(id, userId);
            dead.add(id);
            firstTouched ||= id === first.session.id;
            firstLoggedOut ||= id === first.session.id;
          } else if (step.kind === 'revoke-all') {
            await sessions.revokeAllForUser(userId);
            ids.forEach((id) => dead.add(id));
            firstTouched = true;
          } else {
            roles = roles.length === 1 ? ['customer', 'admin'] : ['customer'];
            await sessions.setRolesForUser(userId, roles);
            firstTouched = true;
          }
        }
        const [, dropped] = (await undo(tag, userId, digest)) as [number, string[]];

        const listed = await sessions.listForUser(userId);
        const listedIds = listed.map(({ id }) => id).sort();
        // The evicted session, when it stays gone, is reported as dropped unless a logout
        // ended it (and announced it): each end is announced once.
        const firstGone = !listedIds.includes(first.session.id);
        expect(dropped.map((each) => `${tag}.${each}`)).toEqual(
          firstGone && !firstLoggedOut ? [first.session.id] : [],
        );
        expect(listedIds).not.toContain(abandoned);
        expect(listed.length).toBeLessThanOrEqual(2);
        for (const session of listed) {
          expect(dead.has(session.id)).toBe(false);
          expect(session.roles).toEqual(roles);
        }
        // What is listed is exactly what works.
        const working: string[] = [];
        for (const { session, token } of made) {
          if (await sessions.validate(token)) working.push(session.id);
        }
        expect(working.sort()).toEqual(listedIds);
        if (!firstTouched) {
          expect(listedIds).toContain(first.session.id);
        }
        if (steps.length === 0) {
          expect(listedIds).toEqual([first.session.id, second.session.id].sort());
        }
      }),
      { numRuns: 150 },
    );
  });
  it("answers 401, not 503, to the user's dead token checked while their login is in flight", async () => {
    const userId = `in-flight-${Date.now()}`;
    const { first } = await atCap(userId);
    expect(await sessions.revoke(first.session.id, userId)).toBe(true);
    // A login at the cap may evict, so while it is in flight a session of the user found missing
    // may be one it evicted and would put back should it fail: the check waits for its answer.
    const user = { id: userId, username: userId, roles: ['customer'] };
    const [checked, login] = await Promise.allSettled([
      Promise.resolve().then(() => sessions.validate(first.token)),
      sessions.create(user),
    ]);
    expect(login.status).toBe('fulfilled');
    expect(checked).toEqual({ status: 'fulfilled', value: null });
  });
});
