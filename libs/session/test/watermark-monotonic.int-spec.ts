import { Redis } from 'ioredis';

import { SessionService } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { RedisSessionStore } from '../src/lib/store/redis/redis-session.store';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import { parseSessionId } from '../src/lib/token/session.token';
import {
  REDIS_URL as url,
  sessionKey,
  sessionService,
  sleep,
  uniquePrefix,
  until,
} from './store-contract';

jest.setTimeout(60_000);

type Sent = { name: string; args: unknown[]; promise: Promise<unknown> };

/**
 * Two global revocations racing: A reads Redis's clock first (watermark 100), B later (200).
 * Should A's write of its watermark land after B's (A's call stalled on its connection, its
 * caller maybe told 503), a plain SET would move the watermark back to 100: a service started
 * or subscribed again afterwards would read 100 and accept what B revoked — sessions created in
 * [100, 200), and sessions B's sweep missed. The watermark must only ever move forward, and
 * what is announced is what Redis holds.
 */
describe('the global revocation watermark', () => {
  const keyPrefix = uniquePrefix();
  const keys = new RedisKeys(keyPrefix);
  const user = { id: 'u-watermark', username: 'watermark', roles: ['customer'] };
  let admin: Redis;
  let listener: Redis;
  /** The connection of revocation A, whose next write of the watermark it holds when asked. */
  let held: Redis;
  let holdNext: (() => void) | null = null;
  let reachedHold: Promise<void> = Promise.resolve();
  const heard: string[] = [];
  const closers: Array<() => Promise<void>> = [];

  /** Holds the next command that writes the watermark on `held` until the returned release. */
  function holdNextWatermarkWrite(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    reachedHold = new Promise((resolve) => (reached = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    holdNext = () => {
      reached();
      return released;
    };
    return { reached: reachedHold, release };
  }

  beforeAll(async () => {
    admin = new Redis(url);
    listener = new Redis(url);
    await listener.subscribe(keys.notBefore());
    listener.on('message', (_channel: string, message: string) => heard.push(message));
    held = new Redis(url, { maxRetriesPerRequest: 0 });
    const send = held.sendCommand.bind(held) as (command: Sent, ...rest: unknown[]) => unknown;
    (held as unknown as { sendCommand: unknown }).sendCommand = (
      command: Sent,
      ...rest: unknown[]
    ) => {
      const writes = command.name === 'set' || command.name === 'evalsha';
      const hold = holdNext;
      if (hold && writes && command.args.some((arg) => String(arg) === keys.notBefore())) {
        holdNext = null;
        void (hold as () => Promise<void>)().then(() => send(command, ...rest));
        return command.promise;
      }
      return send(command, ...rest);
    };
  });

  afterAll(async () => {
    for (const close of closers) await close();
    const leftovers = await admin.keys(`${keyPrefix}*`);
    if (leftovers.length) await admin.del(...leftovers);
    held?.disconnect();
    listener?.disconnect();
    admin?.disconnect();
  });

  async function start(options: { client?: Redis } = {}) {
    const service = await sessionService({
      redis: options.client ? { client: options.client } : { url },
      keyPrefix,
      events: false,
    });
    closers.push(service.close);
    return { sessions: service.sessions, store: service.store as RedisSessionStore };
  }

  it('stays at the later revocation when the earlier one sets its watermark last', async () => {
    const a = await start({ client: held });
    const b = await start();
    heard.length = 0;
    const early = await b.sessions.create(user);
    const earlyCopy = await admin.dumpBuffer(sessionKey(keyPrefix, early.session.id));
    const { reached, release } = holdNextWatermarkWrite();
    const revocationA = a.store.revokeEverything();
    await reached;
    // Created after A read the clock: A alone would not end it, B does.
    await sleep(5);
    const late = await b.sessions.create(user);
    const copy = await admin.dumpBuffer(sessionKey(keyPrefix, late.session.id));
    await sleep(5);
    const revocationB = await b.store.revokeEverything();
    release();
    const resultA = await revocationA;
    expect(resultA.notBefore).toBe(revocationB.notBefore);
    expect(Number(await admin.get(keys.notBefore()))).toBe(revocationB.notBefore);
    // What A announces is the watermark Redis holds, never its own older one.
    await until(() => heard.length >= 2);
    expect(heard.map(Number)).toEqual([revocationB.notBefore, revocationB.notBefore]);

    // B's sweep missed a session (moved, or created meanwhile): put back, only the watermark
    // ends it — for a service that starts now too.
    await admin.restore(sessionKey(keyPrefix, late.session.id), 60_000, copy);
    await admin.restore(sessionKey(keyPrefix, early.session.id), 60_000, earlyCopy);
    const starting: SessionService = (await start()).sessions;
    // The session made before both is refused once the starting service has read a watermark.
    await until(async () => (await starting.validate(early.token).catch(() => null)) === null);
    expect(await starting.validate(late.token)).toBeNull();
  });

  it('keeps no session of the earlier revocation, whose watermark the later one outdates', async () => {
    const a = await start({ client: held });
    const b = await start();
    const kept = await a.sessions.create(user);
    const { reached, release } = holdNextWatermarkWrite();
    const revocationA = a.store.revokeEverything(parseSessionId(kept.session.id) ?? undefined);
    await reached;
    await sleep(5);
    await b.store.revokeEverything();
    release();
    const resultA = await revocationA;
    expect(resultA.kept).toBeNull();
    expect(await admin.exists(sessionKey(keyPrefix, kept.session.id))).toBe(0);
  });

  describe('raise-watermark.lua', () => {
    const key = `${keyPrefix}raise-test`;
    const raise = (...args: Array<string | number>) =>
      admin.eval(SESSION_SCRIPTS.cloakroomRaiseWatermark.lua, 1, key, ...args);

    beforeEach(() => admin.del(key));

    it('raises the watermark and never lowers it, answering what it holds', async () => {
      expect(await raise(200)).toBe(200);
      expect(await raise(100)).toBe(200);
      expect(await admin.get(key)).toBe('200');
      expect(await raise(1_765_000_000_123)).toBe(1_765_000_000_123);
      expect(await admin.get(key)).toBe('1765000000123');
    });

    it.each([['-1'], ['abc'], ['1.5'], [''], ['9007199254740993']])(
      'refuses the watermark %j before it writes',
      async (value) => {
        await admin.set(key, '100');
        await expect(raise(value)).rejects.toThrow(/ARGV\[1\]/);
        expect(await admin.get(key)).toBe('100');
      },
    );

    it('refuses a call without a watermark', async () => {
      await expect(raise()).rejects.toThrow(/ARGV\[1\]/);
      expect(await admin.exists(key)).toBe(0);
    });

    it.each([
      ['a list', () => admin.rpush(key, '999999999999999')],
      ['a string that is no watermark', () => admin.set(key, 'not-a-number')],
      ['a negative number', () => admin.set(key, '-5')],
    ])('overwrites a key holding %s', async (_what, write) => {
      await write();
      expect(await raise(300)).toBe(300);
      expect(await admin.get(key)).toBe('300');
    });
  });
});
