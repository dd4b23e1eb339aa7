import fc from 'fast-check';

import { validateEnv } from '@cloakroom/service-kit';

import { PasswordWorkBusyException } from '../common/password-work-busy.exception';
import { AuthConfig } from '../config/auth.config';
import { AuthEnv } from '../config/auth.env';
import { PasswordService, PasswordWorkSource } from './password.service';

function passwordService(env: Record<string, string> = {}): PasswordService {
  return new PasswordService(new AuthConfig(validateEnv(AuthEnv, env)));
}

/** Lets every pending promise callback run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Replaces argon2's check by one that ends only when the test says so: `started` lists the
 * passwords checked, in the order their checks began; `finish(password)` ends that check.
 */
function heldChecks() {
  const argon2 = jest.requireActual('@node-rs/argon2');
  const started: string[] = [];
  const ends = new Map<string, () => void>();
  const spy = jest
    .spyOn(argon2, 'verify')
    .mockImplementation((_hash: unknown, password: unknown) => {
      started.push(String(password));
      return new Promise<boolean>((resolve) => ends.set(String(password), () => resolve(true)));
    });
  return {
    started,
    running: () => [...ends.keys()],
    async finish(password: string) {
      const end = ends.get(password);
      if (!end) throw new Error(`no check of ${password} is running`);
      ends.delete(password);
      end();
      await settle();
    },
    restore: () => spy.mockRestore(),
  };
}

/** How a check ended so far: `running` (or waiting), `done`, or the refusal's status. */
function outcomeOf(check: Promise<boolean>): { status: 'running' | 'done' | number } {
  const outcome: { status: 'running' | 'done' | number } = { status: 'running' };
  check.then(
    () => (outcome.status = 'done'),
    (error: PasswordWorkBusyException) => (outcome.status = error.getStatus()),
  );
  return outcome;
}

describe('PasswordService', () => {
  const passwords = passwordService();

  it('hashes with argon2id at the documented parameters, salted', async () => {
    const first = await passwords.hash('correct horse');
    const second = await passwords.hash('correct horse');
    expect(first).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(second).not.toBe(first);
    expect(passwords.needsRehash(first)).toBe(false);
  });

  it('verifies the right password only', async () => {
    const stored = await passwords.hash('correct horse');
    await expect(passwords.verify(stored, 'correct horse')).resolves.toBe(true);
    await expect(passwords.verify(stored, 'wrong horse')).resolves.toBe(false);
  });

  it('answers false after a real argon2id check when there is no stored hash', async () => {
    const argon2 = jest.requireActual('@node-rs/argon2');
    const spy = jest.spyOn(argon2, 'verify');
    await expect(passwords.verify(undefined, 'anything')).resolves.toBe(false);
    expect(spy).toHaveBeenCalledWith(
      expect.stringMatching(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/),
      'anything',
    );
    spy.mockRestore();
  });

  it('reads a corrupt stored hash as a failed check, not an error', async () => {
    await expect(passwords.verify('not-a-hash', 'anything')).resolves.toBe(false);
  });

  it('asks for a rehash of hashes made with other parameters', () => {
    expect(passwords.needsRehash('$argon2id$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA')).toBe(true);
  });

  it('runs no more argon2 checks at once than its slots, queues a few, refuses the rest with 503', async () => {
    const limited = passwordService({ PASSWORD_HASH_CONCURRENCY: '2', PASSWORD_HASH_QUEUE: '3' });
    const stored = await passwords.hash('correct horse');
    const argon2 = jest.requireActual('@node-rs/argon2');
    const real = argon2.verify;
    let running = 0;
    let most = 0;
    const spy = jest.spyOn(argon2, 'verify').mockImplementation(async (...args: unknown[]) => {
      running++;
      most = Math.max(most, running);
      try {
        return await real(...args);
      } finally {
        running--;
      }
    });
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 9 }, (_, i) =>
          limited.verify(i % 2 ? stored : undefined, 'correct horse'),
        ),
      );
      const refused = results.filter((result) => result.status === 'rejected');
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(5);
      expect(refused).toHaveLength(4);
      for (const result of refused) {
        const error = (result as PromiseRejectedResult).reason;
        expect(error).toBeInstanceOf(PasswordWorkBusyException);
        expect(error.getStatus()).toBe(503);
        expect(error.retryAfterSeconds).toBe(1);
      }
      expect(most).toBe(2);
      expect(spy).toHaveBeenCalledTimes(5);
      // The slots are all free again afterwards.
      await expect(limited.verify(stored, 'correct horse')).resolves.toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  describe('sharing the slots between client networks and usernames', () => {
    /** Two slots and two waiting places, argon2 held until the test ends each check. */
    let limited: PasswordService;
    /** One slot and four waiting places. */
    let longLine: PasswordService;
    /** One slot and eight waiting places. */
    let wide: PasswordService;
    let checks: ReturnType<typeof heldChecks>;

    beforeEach(async () => {
      limited = passwordService({ PASSWORD_HASH_CONCURRENCY: '2', PASSWORD_HASH_QUEUE: '2' });
      longLine = passwordService({ PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '4' });
      wide = passwordService({ PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '8' });
      // Their dummy hashes are made at start-up, before argon2's check is held.
      await limited.verify(undefined, 'warm-up');
      await longLine.verify(undefined, 'warm-up');
      await wide.verify(undefined, 'warm-up');
      checks = heldChecks();
    });

    afterEach(() => checks.restore());

    /** Starts a check of `password` for `source` and follows how it ends. */
    const check = (
      password: string,
      source?: PasswordWorkSource,
      stored = 'a-stored-hash',
      passwords = limited,
    ) => outcomeOf(passwords.verify(stored, password, source));

    it('lets another network in when one fills every slot and the queue: the newest of the flood waiting is refused with 429', async () => {
      const flood = ['f1', 'f2', 'f3', 'f4'].map((password, i) =>
        check(password, { ip: '198.51.100.7', username: `account-${i}` }),
      );
      await settle();
      expect(checks.running()).toEqual(['f1', 'f2']);
      // A fifth of the flood finds no place and none to take: it holds them all already.
      const refused = check('f5', { ip: '198.51.100.7', username: 'account-5' });
      await settle();
      expect(refused.status).toBe(429);

      const other = check('other', { ip: '203.0.113.9', username: 'someone' });
      await settle();
      expect(flood.map((outcome) => outcome.status)).toEqual([
        'running',
        'running',
        'running',
        429,
      ]);
      expect(other.status).toBe('running');

      // The next free slot goes to the network running nothing, ahead of the flood's earlier one.
      await checks.finish('f1');
      expect(checks.running()).toEqual(['f2', 'other']);
      await checks.finish('other');
      await checks.finish('f2');
      await checks.finish('f3');
      expect(checks.started).toEqual(['f1', 'f2', 'other', 'f3']);
      expect([...flood, other].map((outcome) => outcome.status)).toEqual([
        'done',
        'done',
        'done',
        429,
        'done',
      ]);
    });

    it('shares by username too: one account from many networks leaves room for another', async () => {
      const flood = ['f1', 'f2', 'f3', 'f4'].map((password, i) =>
        check(password, { ip: `2001:db8:${i}::1`, username: 'Busy' }),
      );
      await settle();
      // The same username in another case is the same account's share.
      expect(check('f5', { ip: '2001:db8:9::1', username: 'busy' }).status).toBe('running');
      await settle();
      const other = check('other', { ip: '2001:db8:9::2', username: 'someone' });
      await settle();
      expect(other.status).toBe('running');
      expect(flood[3].status).toBe(429);
    });

    it('counts an IPv6 /64 as one network', async () => {
      const flood = ['f1', 'f2', 'f3', 'f4'].map((password, i) =>
        check(password, { ip: `2001:db8:1:2::${i + 1}`, username: `account-${i}` }),
      );
      await settle();
      const sameNetwork = check('same', { ip: '2001:db8:1:2:ffff::1', username: 'someone' });
      await settle();
      expect(sameNetwork.status).toBe(429);
      const otherNetwork = check('other', { ip: '2001:db8:1:3::1', username: 'someone-else' });
      await settle();
      expect(otherNetwork.status).toBe('running');
      expect(flood.map((outcome) => outcome.status)).toEqual([
        'running',
        'running',
        'running',
        429,
      ]);
    });

    it("counts an IPv6 /48 as four networks' share, however many /64s it uses", async () => {
      // Nine /64s of one /48, an account each: the slot and the eight places, one per /64.
      const flood = Array.from({ length: 9 }, (_, i) =>
        check(`f${i}`, { ip: `2001:db8:5eed:${i}::1`, username: `account-${i}` }, undefined, wide),
      );
      await settle();
      // Another /64 of the /48 holds its site's places: over its share.
      const sameSite = check(
        'same',
        { ip: '2001:db8:5eed:ff::1', username: 'another' },
        undefined,
        wide,
      );
      // Another /48 holds nothing: it pushes out the newest waiting check of the /48.
      const otherSite = check(
        'other',
        { ip: '2001:db8:5eee:1::1', username: 'someone' },
        undefined,
        wide,
      );
      await settle();
      expect(sameSite.status).toBe(429);
      expect(otherSite.status).toBe('running');
      expect(flood.map((outcome) => outcome.status)).toEqual([
        ...Array.from({ length: 8 }, () => 'running'),
        429,
      ]);
      await checks.finish('f0');
      expect(checks.running()).toEqual(['other']);
      for (let i = 1; i < 8; i++) {
        await checks.finish(checks.running()[0]);
      }
      await checks.finish('f7');
      expect(checks.started).toEqual(['f0', 'other', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7']);
    });

    it('holds and refuses an unknown username as it does a known one', async () => {
      const statuses = async (stored: string | undefined) => {
        const flood = ['f1', 'f2', 'f3', 'f4', 'f5'].map((password) =>
          check(`${password}-${stored}`, { ip: '198.51.100.7', username: 'maybe' }, stored),
        );
        await settle();
        const other = check(`other-${stored}`, { ip: '203.0.113.9', username: 'x' }, stored);
        await settle();
        for (const password of checks.running()) {
          await checks.finish(password);
        }
        for (const password of checks.running()) {
          await checks.finish(password);
        }
        return [...flood, other].map((outcome) => outcome.status);
      };
      const known = await statuses('a-stored-hash');
      expect(known).toEqual(['done', 'done', 'done', 429, 429, 'done']);
      expect(await statuses(undefined)).toEqual(known);
    });

    it('answers 503 when the queue is full of sources holding one place each, 429 to one holding more', async () => {
      const held = ['a', 'b', 'c', 'd'].map((name) =>
        check(name, { ip: `198.51.100.${name.charCodeAt(0)}`, username: name }),
      );
      await settle();
      const stranger = check('e', { ip: '203.0.113.1', username: 'e' });
      const again = check('a2', { ip: `198.51.100.${'a'.charCodeAt(0)}`, username: 'a' });
      await settle();
      expect(stranger.status).toBe(503);
      expect(again.status).toBe(429);
      expect(held.map((outcome) => outcome.status)).toEqual([
        'running',
        'running',
        'running',
        'running',
      ]);
      for (const name of ['a', 'b', 'c', 'd']) {
        await checks.finish(name);
      }
    });

    it('lets two sources holding as much as each other keep their places', async () => {
      const first = ['a1', 'a2', 'a3'].map((password) =>
        check(password, { ip: '198.51.100.1', username: 'a' }),
      );
      const second = check('b1', { ip: '198.51.100.2', username: 'b' });
      await settle();
      // `a` holds 3 places, `b` would hold 2: `a` gives one up; then `b` would hold 3 to its 2.
      const third = check('b2', { ip: '198.51.100.2', username: 'b' });
      await settle();
      const fourth = check('b3', { ip: '198.51.100.2', username: 'b' });
      await settle();
      expect([...first, second, third, fourth].map((outcome) => outcome.status)).toEqual([
        'running',
        'running',
        429,
        'running',
        'running',
        429,
      ]);
      for (const password of ['a1', 'a2', 'b1', 'b2']) {
        await checks.finish(password);
      }
    });

    it('keeps the places of a source holding one more than the newcomer would: no back and forth', async () => {
      const a = { ip: '198.51.100.1', username: 'a' };
      const b = { ip: '198.51.100.2', username: 'b' };
      const held = [
        check('a1', a, undefined, longLine),
        check('a2', a, undefined, longLine),
        check('a3', a, undefined, longLine),
        check('b1', b, undefined, longLine),
        check('b2', b, undefined, longLine),
      ];
      await settle();
      // `a` holds 3, `b` would hold 3 with it: pushing `a` out would only turn the tables.
      const more = check('b3', b, undefined, longLine);
      await settle();
      expect(more.status).toBe(429);
      expect(held.map((outcome) => outcome.status)).toEqual(Array(5).fill('running'));
      for (const password of ['a1', 'a2', 'a3', 'b1', 'b2']) {
        await checks.finish(password);
      }
      expect(held.map((outcome) => outcome.status)).toEqual(Array(5).fill('done'));
    });

    it('gives a freed slot to the source holding the fewest places, ahead of earlier checks', async () => {
      const a = { ip: '198.51.100.1', username: 'a' };
      const b = { ip: '198.51.100.2', username: 'b' };
      for (const password of ['a1', 'a2', 'a3']) {
        check(password, a, undefined, longLine);
      }
      check('b1', b, undefined, longLine);
      await settle();
      // Neither runs anything once `a1` ends; `a` still holds two places, `b` one.
      await checks.finish('a1');
      expect(checks.running()).toEqual(['b1']);
      for (const password of ['b1', 'a2', 'a3']) {
        await checks.finish(password);
      }
      expect(checks.started).toEqual(['a1', 'b1', 'a2', 'a3']);
    });

    it('keeps its bounds and lets a source holding nothing in whenever another holds two or more', async () => {
      const sources = ['a', 'b', 'c'].flatMap((network) =>
        ['x', 'y'].map((username) => ({ ip: `198.51.100.${network.charCodeAt(0)}`, username })),
      );
      const step = fc.oneof(
        fc.record({ arrive: fc.integer({ min: 0, max: sources.length - 1 }) }),
        fc.record({ finish: fc.nat() }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
          const tasks: Array<{ keys: string[]; outcome: ReturnType<typeof outcomeOf> }> = [];
          let label = 0;
          /** Places each network and username holds: its tasks neither ended nor refused. */
          const holds = () => {
            const counts = new Map<string, number>();
            for (const task of tasks.filter((t) => t.outcome.status === 'running')) {
              for (const key of task.keys) counts.set(key, (counts.get(key) ?? 0) + 1);
            }
            return counts;
          };
          const weight = (counts: Map<string, number>, keys: string[]) =>
            Math.max(...keys.map((key) => counts.get(key) ?? 0));
          for (const next of steps) {
            if ('arrive' in next) {
              const source = sources[next.arrive];
              const keys = [source.ip, source.username];
              const before = holds();
              const newcomer = weight(before, keys);
              const someoneHeavier = tasks.some(
                (task) =>
                  task.outcome.status === 'running' &&
                  !checks.running().includes(String(tasks.indexOf(task))) &&
                  weight(before, task.keys) >= newcomer + 2,
              );
              const task = { keys, outcome: check(String(label++), source) };
              tasks.push(task);
              await settle();
              if (typeof task.outcome.status === 'number') {
                expect(someoneHeavier).toBe(false);
                expect(task.outcome.status).toBe(newcomer > 0 ? 429 : 503);
              }
            } else {
              const running = checks.running();
              if (running.length) await checks.finish(running[next.finish % running.length]);
            }
            const waiting = tasks.filter(
              (task, index) =>
                task.outcome.status === 'running' && !checks.running().includes(String(index)),
            );
            expect(checks.running().length).toBeLessThanOrEqual(2);
            expect(waiting.length).toBeLessThanOrEqual(2);
            // A slot is never left idle while a task waits.
            if (waiting.length) expect(checks.running()).toHaveLength(2);
          }
          while (checks.running().length) await checks.finish(checks.running()[0]);
          expect(tasks.every((task) => task.outcome.status !== 'running')).toBe(true);
        }),
        { numRuns: 200 },
      );
    });
  });
});
