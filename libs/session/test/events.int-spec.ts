import { Logger } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';

import {
  SessionEvent,
  sessionEventRef,
  SessionEvents,
  SessionEventsItem,
  SessionEventsReader,
  SessionService,
  SessionStoreUnavailableError,
} from '../src';
import { RedisServerProcess, startRedisCluster, startRedisServer } from '../src/testing';
import { recordTimers } from '../src/testing/armed-timers';
import { REDIS_URL as url, sessionService, sleep, uniquePrefix, until } from './store-contract';

jest.setTimeout(30_000);

const alice = { id: 'u-events-alice', username: 'alice', roles: ['customer'] };
const root = { id: 'u-events-root', username: 'root' };

/** Pulls items from a reader one by one, with a deadline so a missing item fails the test. */
class Items {
  private readonly iterator: AsyncGenerator<SessionEventsItem>;
  constructor(reader: SessionEventsReader, lastId?: string | null) {
    this.iterator = reader.read(lastId);
  }

  async next(timeoutMs = 5000): Promise<SessionEventsItem> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.iterator.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no item from the reader in time')), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (result.done) throw new Error('the reader ended');
    return result.value;
  }

  async events(count: number): Promise<SessionEvent[]> {
    const events: SessionEvent[] = [];
    while (events.length < count) {
      const item = await this.next();
      if (item.kind !== 'event') throw new Error(`expected an event, got ${JSON.stringify(item)}`);
      events.push(item.event);
    }
    return events;
  }
}

describe('session lifecycle events (Redis stream)', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const readers: SessionEventsReader[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeAll(() => {
    redis = new Redis(url);
  });

  afterEach(async () => {
    readers.splice(0).forEach((reader) => reader.close());
    for (const close of closers.splice(0)) await close();
  });

  afterAll(async () => {
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
    }
    redis.disconnect();
  });

  /** A revocation event naming `sessionId`, as a stream entry holds it. */
  const event = (sessionId: string) =>
    JSON.stringify({ type: SessionEvents.revoked, actor: null, userId: 'u', sessionId });

  /** Two events land (`lost`, then `kept`) and the first is trimmed away, at once. */
  const addTwoTrimFirst = (stream: string) =>
    redis
      .multi()
      .xadd(stream, '*', 'event', event('lost'))
      .xadd(stream, '*', 'event', event('kept'))
      .xtrim(stream, 'MAXLEN', 1)
      .exec();

  async function setup(
    options: {
      idleTimeout?: number;
      absoluteTimeout?: number;
      connectionName?: string;
      maxSessionsPerUser?: number;
      capPolicy?: 'evict-oldest' | 'evict-idlest' | 'refuse';
    } = {},
  ) {
    const keyPrefix = uniquePrefix();
    prefixes.push(keyPrefix);
    const { sessions, close } = await sessionService({
      redis: { url },
      keyPrefix,
      idleTimeout: options.idleTimeout,
      absoluteTimeout: options.absoluteTimeout,
      maxSessionsPerUser: options.maxSessionsPerUser,
      capPolicy: options.capPolicy,
    });
    closers.push(close);
    const source = new Redis(url, { connectionName: options.connectionName });
    closers.push(async () => source.disconnect());
    const reader = (redacted = false) => {
      const made = new SessionEventsReader(source, { keyPrefix, blockMs: 500, redacted });
      readers.push(made);
      return made;
    };
    return { sessions, keyPrefix, reader, stream: `${keyPrefix}events` };
  }

  /** A reader that read one event (`seen`), then left: what it misses next is up to the test. */
  async function readOneThenLeave() {
    const stack = await setup();
    const items = new Items(stack.reader());
    await items.next();
    await stack.sessions.create(alice);
    const [seen] = await items.events(1);
    readers.pop()?.close();
    return { ...stack, seen };
  }

  /**
   * Resolves once Redis's clock is past the millisecond of the stream id `id`. A stream made
   * anew numbers its entries from the current millisecond: one added in the millisecond of the
   * entry a reader read last would take its very id, and look like that entry still there.
   */
  async function untilRedisClockPasses(id: string): Promise<void> {
    const millisecond = Number(id.split('-')[0]);
    for (;;) {
      const [seconds, micros] = await redis.time();
      if (Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) > millisecond) return;
    }
  }

  it('starts with a gap, then hands out every change in order, with cause and actor', async () => {
    const { sessions, reader } = await setup();
    const items = new Items(reader());
    expect(await items.next()).toMatchObject({ kind: 'gap', reason: 'start' });

    const first = await sessions.create(alice, { ip: '203.0.113.7' });
    const second = await sessions.create(alice);
    const rotated = await sessions.rotate(first.token, { reason: 'reauthenticate' });
    await sessions.setRolesForUser(alice.id, ['admin'], { actor: root });
    await sessions.revoke(second.session.id, { reason: 'admin', actor: root });
    await sessions.revoke(rotated?.session.id ?? '', { ownerId: alice.id, reason: 'logout' });
    await sessions.revokeAllForUser(alice.id, { reason: 'disable', actor: root });

    const events = await items.events(7);
    expect(events.map((event) => event.type)).toEqual([
      SessionEvents.created,
      SessionEvents.created,
      SessionEvents.rotated,
      SessionEvents.rolesChanged,
      SessionEvents.revoked,
      SessionEvents.revoked,
      SessionEvents.revokedAll,
    ]);
    const self = { id: alice.id, username: alice.username };
    expect(events[0]).toMatchObject({
      actor: self,
      userId: alice.id,
      sessionId: first.session.id,
      ip: '203.0.113.7',
    });
    expect(events[2]).toMatchObject({
      actor: self,
      sessionId: rotated?.session.id,
      previousSessionId: first.session.id,
      reason: 'reauthenticate',
    });
    expect(events[3]).toMatchObject({ actor: root, userId: alice.id, roles: ['admin'] });
    expect(events[4]).toMatchObject({
      actor: root,
      userId: alice.id,
      sessionId: second.session.id,
      reason: 'admin',
    });
    expect(events[5]).toMatchObject({ actor: null, reason: 'logout' });
    expect(events[6]).toMatchObject({ actor: root, userId: alice.id, reason: 'disable' });
    // Ids and times come from the stream: strictly increasing ids, Redis-clock times.
    const ids = events.map((event) => event.id);
    expect([...ids].sort(compareStreamIds)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    for (const event of events) expect(Math.abs(event.at - Date.now())).toBeLessThan(60_000);
    // Public ids only: no event carries a token.
    expect(JSON.stringify(events)).not.toContain(first.token);
  });

  it('writes each event to the redacted stream too, in order, sessions named by ref only', async () => {
    const { sessions, reader } = await setup();
    const full = new Items(reader());
    const redacted = new Items(reader(true));
    await full.next();
    expect(await redacted.next()).toMatchObject({ kind: 'gap', reason: 'start' });

    const first = await sessions.create(alice, { ip: '203.0.113.7', userAgent: 'Firefox/140' });
    const second = await sessions.create(alice);
    const rotated = await sessions.rotate(first.token);
    await sessions.setRolesForUser(alice.id, ['admin'], { actor: root });
    await sessions.revoke(second.session.id, { reason: 'admin', actor: root });
    await sessions.revokeAllForUser(alice.id, { except: rotated?.session.id, actor: root });

    const events = await full.events(6);
    const copies = await redacted.events(6);
    const ref = (id?: string) => (id === undefined ? undefined : sessionEventRef(id));
    expect(
      copies.map(({ type, userId, reason, roles, actor }) => ({
        type,
        userId,
        reason,
        roles,
        actor,
      })),
    ).toEqual(
      events.map(({ type, userId, reason, roles }) => ({
        type,
        userId,
        reason,
        roles,
        actor: null,
      })),
    );
    expect(
      copies.map((copy) => [copy.sessionRef, copy.previousSessionRef, copy.keptSessionRef]),
    ).toEqual(
      events.map((event) => [
        ref(event.sessionId),
        ref(event.previousSessionId),
        ref(event.keptSessionId),
      ]),
    );
    expect(copies[2].previousSessionRef).toBe(sessionEventRef(first.session.id));
    expect(copies[5].keptSessionRef).toBe(sessionEventRef(rotated?.session.id ?? ''));
    // No session id (a session id names its Redis key), actor, address or device.
    const text = JSON.stringify(copies);
    for (const event of events) {
      for (const id of [event.sessionId, event.previousSessionId, event.keptSessionId]) {
        if (id) expect(text).not.toContain(id.split('.')[1]);
      }
    }
    for (const secret of ['203.0.113.7', 'Firefox', '"username"', '"device"']) {
      expect(text).not.toContain(secret);
    }
  });

  it('names the session a revoke-all kept by the id a rotation moved it to, and none when none was kept', async () => {
    // The callers read the session's id before a re-authentication rotated it: the store kept
    // the session under its new id, which is the one the sockets and caches must spare.
    const { sessions, reader } = await setup();
    const full = new Items(reader());
    const redacted = new Items(reader(true));
    await full.next();
    await redacted.next();

    const caller = await sessions.create(alice);
    await sessions.create(alice);
    const rotated = await sessions.rotate(caller.token, { reauthenticated: true });
    const kept = rotated?.session.id ?? '';
    expect(await sessions.revokeAllForUser(alice.id, { except: caller.session.id })).toBe(1);
    await sessions.revokeEverything({ except: caller.session.id });
    await sessions.revoke(kept);
    await sessions.revokeAllForUser(alice.id, { except: kept });

    const events = (await full.events(7)).slice(3);
    const copies = (await redacted.events(7)).slice(3);
    expect(events.map(({ type, userId }) => ({ type, userId }))).toEqual([
      { type: SessionEvents.revokedAll, userId: alice.id },
      { type: SessionEvents.revokedAll, userId: null },
      { type: SessionEvents.revoked, userId: alice.id },
      { type: SessionEvents.revokedAll, userId: alice.id },
    ]);
    expect(events.map((event) => event.keptSessionId)).toEqual([kept, kept, undefined, undefined]);
    expect(copies.map((copy) => copy.keptSessionRef)).toEqual([
      sessionEventRef(kept),
      sessionEventRef(kept),
      undefined,
      undefined,
    ]);
  });

  it("announces a patch on the redacted stream only, never on the full one (the activity log's)", async () => {
    const { sessions, reader } = await setup();
    const full = new Items(reader());
    const redacted = new Items(reader(true));
    await full.next();
    await redacted.next();

    const { token, session } = await sessions.create(alice, { attributes: { step: 1 } });
    expect(await sessions.patch(token, { step: undefined, cart: 'c-secret-cart' })).toBe(true);
    expect(await sessions.patch(session.id, { cart: 'c-other' })).toBe(true);
    await sessions.revoke(session.id);
    // Nothing left to patch: nothing to announce.
    expect(await sessions.patch(session.id, { cart: 'c-late' })).toBe(false);
    await sessions.create(alice);

    const events = await full.events(3);
    expect(events.map((event) => event.type)).toEqual([
      SessionEvents.created,
      SessionEvents.revoked,
      SessionEvents.created,
    ]);
    const copies = await redacted.events(5);
    expect(copies.map((copy) => copy.type)).toEqual([
      SessionEvents.created,
      SessionEvents.patched,
      SessionEvents.patched,
      SessionEvents.revoked,
      SessionEvents.created,
    ]);
    for (const patched of copies.slice(1, 3)) {
      expect(patched).toEqual({
        id: patched.id,
        at: patched.at,
        type: SessionEvents.patched,
        actor: null,
        userId: null,
        sessionRef: sessionEventRef(session.id),
      });
    }
    // The attributes themselves are never announced.
    expect(JSON.stringify(copies)).not.toContain('c-secret-cart');
  });

  it('announces the session a revocation of a just-rotated id ended, under its new id', async () => {
    const { sessions, reader } = await setup();
    const items = new Items(reader());
    await items.next();
    const first = await sessions.create(alice);
    const rotated = await sessions.rotate(first.token, { reauthenticated: true });
    await items.events(2);
    expect(await sessions.revoke(first.session.id, { ownerId: alice.id })).toBe(true);
    expect(await items.events(1)).toMatchObject([
      { type: SessionEvents.revoked, userId: alice.id, sessionId: rotated?.session.id },
    ]);
  });

  it('reports cap evictions as session.evicted by the system, and a refusal not at all', async () => {
    for (const capPolicy of ['evict-oldest', 'evict-idlest'] as const) {
      const { sessions, reader } = await setup({ maxSessionsPerUser: 1, capPolicy });
      const items = new Items(reader());
      await items.next();
      const first = await sessions.create(alice, { device: 'Safari 18 on macOS' });
      const second = await sessions.create(alice, { device: 'Chrome 131 on Windows' });
      expect(second.evicted).toEqual([first.session.id]);
      const events = await items.events(3);
      expect(events.map((event) => event.type)).toEqual([
        SessionEvents.created,
        SessionEvents.created,
        SessionEvents.evicted,
      ]);
      expect(events[0]).toMatchObject({ device: 'Safari 18 on macOS' });
      expect(events[2]).toMatchObject({
        actor: null,
        userId: alice.id,
        sessionId: first.session.id,
        reason: 'cap',
      });
    }
    const { sessions, stream } = await setup({
      maxSessionsPerUser: 1,
      capPolicy: 'refuse',
    });
    await sessions.create(alice);
    const length = await redis.xlen(stream);
    await expect(sessions.create(alice)).rejects.toThrow(/Too many sessions/);
    expect(await redis.xlen(stream)).toBe(length);
  });

  it('lets a consumer that was away catch up from its last id, without a gap', async () => {
    const { sessions, reader } = await setup();
    const items = new Items(reader());
    await items.next();
    await sessions.create(alice);
    const [seen] = await items.events(1);
    readers.pop()?.close();

    // Meanwhile, with nobody reading:
    const missed = [await sessions.create(alice), await sessions.create(alice)];
    await sessions.revokeAllForUser(alice.id);

    const again = new Items(reader(), seen.id);
    const caughtUp = await again.events(3);
    expect(caughtUp.map((event) => [event.type, event.sessionId])).toEqual([
      [SessionEvents.created, missed[0].session.id],
      [SessionEvents.created, missed[1].session.id],
      [SessionEvents.revokedAll, undefined],
    ]);
  });

  it('reports a gap when the events after its last id were trimmed away', async () => {
    const { sessions, reader, stream, seen } = await readOneThenLeave();

    const lost = await sessions.create(alice);
    const kept = await sessions.create(alice);
    await redis.xtrim(stream, 'MAXLEN', 1);

    const again = new Items(reader(), seen.id);
    expect(await again.next()).toMatchObject({ kind: 'gap', reason: 'trimmed', lastId: seen.id });
    const [next] = await again.events(1);
    expect(next.sessionId).toBe(kept.session.id);
    expect(next.sessionId).not.toBe(lost.session.id);
  });

  describe('back from reading it all, the stream since trimmed empty', () => {
    /** A reader back at the last id ever added, whose entry was trimmed, waiting for more. */
    async function back() {
      const connectionName = `evtrim${process.pid}x${Date.now()}`;
      const { sessions, reader, stream } = await setup({ connectionName });
      await sessions.create(alice);
      const [[seen]] = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
      await redis.xtrim(stream, 'MAXLEN', 0);
      const items = new Items(reader(), seen);
      const next = items.next();
      await until(async () =>
        ((await redis.client('LIST')) as string)
          .split('\n')
          .some(
            (line) => line.includes(` name=${connectionName}-events `) && / cmd=xread /.test(line),
          ),
      );
      return { items, next, stream };
    }

    it('reports no gap: it missed nothing', async () => {
      const { next, stream } = await back();
      await redis.xadd(stream, '*', 'event', event('kept'));
      expect(await next).toMatchObject({ kind: 'event', event: { sessionId: 'kept' } });
    });

    it('reports a gap when what came next was trimmed before it read it', async () => {
      const { items, next, stream } = await back();
      await addTwoTrimFirst(stream);
      expect(await next).toMatchObject({ kind: 'gap', reason: 'trimmed' });
      expect(await items.events(1)).toMatchObject([{ sessionId: 'kept' }]);
    });
  });

  it('reports a gap on a live reader when events it had not read yet were trimmed', async () => {
    const { sessions, reader, stream } = await setup();
    const items = new Items(reader());
    await items.next();
    await sessions.create(alice);
    await items.events(1);

    // Two events land and the first is trimmed before the reader can see it.
    await addTwoTrimFirst(stream);

    expect(await items.next()).toMatchObject({ kind: 'gap', reason: 'trimmed' });
    expect(await items.events(1)).toMatchObject([{ sessionId: 'kept' }]);
  });

  describe('after a gap it reported', () => {
    /** One event lands and the whole stream is trimmed away, at once. */
    const addAndTrimAll = (stream: string) =>
      redis.multi().xadd(stream, '*', 'event', event('lost')).xtrim(stream, 'MAXLEN', 0).exec();

    /** A reader past its start gap, at the end of a stream that holds one event. */
    async function started() {
      const { sessions, reader, stream } = await setup();
      await sessions.create(alice);
      const items = new Items(reader());
      expect(await items.next()).toMatchObject({ kind: 'gap', reason: 'start' });
      return { items, stream };
    }

    it('reports events trimmed before its first read after the start', async () => {
      const { items, stream } = await started();
      // Before the reader reads on: one event lands and is trimmed away, then another.
      await addAndTrimAll(stream);
      await redis.xadd(stream, '*', 'event', event('kept'));
      expect(await items.next()).toMatchObject({ kind: 'gap', reason: 'trimmed' });
      expect(await items.events(1)).toMatchObject([{ sessionId: 'kept' }]);
    });

    it('does not report the trimming of what it had passed already', async () => {
      const { items, stream } = await started();
      // The entry it started after goes; nothing it had to read did.
      await redis.xtrim(stream, 'MAXLEN', 0);
      await redis.xadd(stream, '*', 'event', event('kept'));
      expect(await items.events(1)).toMatchObject([{ sessionId: 'kept' }]);
    });

    it('reports a second trimming once, and the first one only once', async () => {
      const { sessions, reader, stream, seen } = await readOneThenLeave();

      await sessions.create(alice);
      await redis.xadd(stream, '*', 'event', event('kept'));
      await redis.xtrim(stream, 'MAXLEN', 1);
      const again = new Items(reader(), seen.id);
      expect(await again.next()).toMatchObject({ kind: 'gap', reason: 'trimmed' });
      // Before it reads on, what was left is trimmed too, and one more event lands.
      await addAndTrimAll(stream);
      await redis.xadd(stream, '*', 'event', event('later'));
      expect(await again.next()).toMatchObject({ kind: 'gap', reason: 'trimmed' });
      expect(await again.events(1)).toMatchObject([{ sessionId: 'later' }]);
      await redis.xadd(stream, '*', 'event', event('last'));
      expect(await again.events(1)).toMatchObject([{ sessionId: 'last' }]);
    });
  });

  it('reports a lost gap when the stream that held its last id is gone, and reads the new one', async () => {
    const { sessions, reader, stream, seen } = await readOneThenLeave();

    // Redis came back without its data: the stream is new, and nothing was ever trimmed from it.
    await redis.del(stream);
    await untilRedisClockPasses(seen.id);
    const after = await sessions.create(alice);
    const again = new Items(reader(), seen.id);
    expect(await again.next()).toMatchObject({ kind: 'gap', reason: 'lost', lastId: seen.id });
    expect(await again.events(1)).toMatchObject([{ sessionId: after.session.id }]);

    // No stream at all yet: lost too.
    readers.pop()?.close();
    await redis.del(stream);
    const empty = new Items(reader(), seen.id);
    expect(await empty.next()).toMatchObject({ kind: 'gap', reason: 'lost', lastId: seen.id });
  });

  it('reports a lost gap for a stream whose ids never reached its last id (a lagging replica)', async () => {
    const { reader, stream, seen } = await readOneThenLeave();

    const event = JSON.stringify({
      type: SessionEvents.revoked,
      actor: null,
      userId: 'u',
      sessionId: 'older',
    });
    await redis
      .multi()
      .del(stream)
      .xadd(stream, '1-1', 'event', event)
      .xadd(stream, '1-2', 'event', event)
      .xtrim(stream, 'MAXLEN', 1)
      .exec();
    const again = new Items(reader(), seen.id);
    expect(await again.next()).toMatchObject({ kind: 'gap', reason: 'lost', lastId: seen.id });
  });

  /**
   * A Redis back without its data on a host whose clock is behind the old one's numbers its
   * new events below the last id read: stand-in ids far above the clock's play the old stream.
   */
  const ahead = () => `${Date.now() + 3_600_000}-0`;

  it('reads a new stream from its start after a lost gap, though its ids run below its last id', async () => {
    const { sessions, reader, stream } = await setup();
    const first = new Items(reader());
    await first.next();
    await redis.xadd(stream, ahead(), 'event', event('old'));
    const [seen] = await first.events(1);
    readers.pop()?.close();

    await redis.del(stream);
    const after = await sessions.create(alice);
    const again = new Items(reader(), seen.id);
    expect(await again.next()).toMatchObject({ kind: 'gap', reason: 'lost', lastId: seen.id });
    expect(await again.events(1)).toMatchObject([{ sessionId: after.session.id }]);
    const later = await sessions.create(alice);
    expect(await again.events(1)).toMatchObject([{ sessionId: later.session.id }]);
  });

  it('reads a new stream from its start when a live reader finds its stream replaced so', async () => {
    const { sessions, reader, stream } = await setup();
    const items = new Items(reader());
    await items.next();
    await redis.xadd(stream, ahead(), 'event', event('old'));
    await items.events(1);

    // Replaced under it by one with an entry above its position, after one below it.
    const below = await redis
      .multi()
      .del(stream)
      .xadd(stream, '*', 'event', event('below'))
      .xadd(stream, ahead().replace(/-0$/, '-5'), 'event', event('above'))
      .exec();
    expect(below?.every(([error]) => !error)).toBe(true);
    expect(await items.next()).toMatchObject({ kind: 'gap', reason: 'lost' });
    expect(await items.events(2)).toMatchObject([{ sessionId: 'below' }, { sessionId: 'above' }]);
    // New events are numbered after the stream's last id.
    const after = await sessions.create(alice);
    expect(await items.events(1)).toMatchObject([{ sessionId: after.session.id }]);
  });

  it('reads a new stream from its start when a live reader finds one whose ids all run below its position', async () => {
    const { reader, stream } = await setup();
    const items = new Items(reader());
    await items.next();
    await redis.xadd(stream, ahead(), 'event', event('old'));
    await items.events(1);

    await redis.multi().del(stream).xadd(stream, '*', 'event', event('below')).exec();
    expect(await items.next()).toMatchObject({ kind: 'gap', reason: 'lost' });
    expect(await items.events(1)).toMatchObject([{ sessionId: 'below' }]);
  });

  it('reports a lost gap on a live reader whose stream was deleted under it', async () => {
    const { sessions, reader, stream } = await setup();
    const items = new Items(reader());
    await items.next();
    await sessions.create(alice);
    const [read] = await items.events(1);

    await redis.del(stream);
    await untilRedisClockPasses(read.id);
    const after = await sessions.create(alice);
    expect(await items.next()).toMatchObject({ kind: 'gap', reason: 'lost' });
    expect(await items.events(1)).toMatchObject([{ sessionId: after.session.id }]);
  });

  it('reports the lost connection, then a gap, and catches up what happened meanwhile', async () => {
    const connectionName = `evtest${process.pid}x${Date.now()}`;
    const { sessions, reader } = await setup({ connectionName });
    const items = new Items(reader());
    await items.next();

    await killClients(redis, `${connectionName}-events`);
    expect(await items.next()).toEqual({ kind: 'down' });
    const created = await sessions.create(alice);
    expect(await items.next(10_000)).toMatchObject({ kind: 'gap', reason: 'reconnected' });
    expect(await items.events(1)).toMatchObject([{ sessionId: created.session.id }]);
  });

  it('reports an expired session once, when a login, a listing or a role change prunes it', async () => {
    const { sessions, reader } = await setup({ idleTimeout: 0.3 });
    const items = new Items(reader());
    await items.next();
    const users = ['u-login', 'u-list', 'u-roles'].map((id) => ({
      id,
      username: id,
      roles: ['customer'],
    }));
    const ended = await Promise.all(users.map((user) => sessions.create(user)));
    await items.events(users.length);
    // Idle past its timeout: Redis deletes the session by itself, and validate finds nothing.
    await sleep(400);
    expect(await sessions.validate(ended[0].token)).toBeNull();

    const fresh = await sessions.create(users[0]);
    await sessions.listForUser(users[1].id);
    await sessions.setRolesForUser(users[2].id, ['admin']);
    // Pruned already: nothing more to report.
    await sessions.listForUser(users[1].id);
    await sessions.create(users[1]);
    const seen = await items.events(6);
    const expired = (userId: string, sessionId: string) => ({
      type: SessionEvents.expired,
      actor: null,
      userId,
      sessionId,
    });
    expect(
      seen.map(({ type, actor, userId, sessionId }) => ({ type, actor, userId, sessionId })),
    ).toEqual([
      expired(users[0].id, ended[0].session.id),
      expect.objectContaining({ type: SessionEvents.created, sessionId: fresh.session.id }),
      expired(users[1].id, ended[1].session.id),
      expired(users[2].id, ended[2].session.id),
      expect.objectContaining({ type: SessionEvents.rolesChanged, userId: users[2].id }),
      expect.objectContaining({ type: SessionEvents.created, userId: users[1].id }),
    ]);
  });

  it('never fails the request when the event cannot be written, and warns once', async () => {
    const { sessions, stream } = await setup();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      // A stream key of the wrong type makes every XADD fail.
      await redis.set(stream, 'not a stream');
      await redis.set(`${stream}:redacted`, 'not a stream');
      const { session } = await sessions.create(alice);
      expect(await sessions.patch(session.id, { cart: 'c-1' })).toBe(true);
      expect(await sessions.revoke(session.id)).toBe(true);
      await sessions.revokeAllForUser(alice.id);
      const warnings = warn.mock.calls.filter(([message]) =>
        String(message).includes('session events'),
      );
      expect(warnings).toHaveLength(1);
      expect(String(warnings[0][0])).not.toContain('\n    at ');
    } finally {
      warn.mockRestore();
    }
  });

  /**
   * Out of memory under noeviction (the policy the store requires), Redis still runs a
   * revocation (it only deletes) but refuses a plain XADD: the event must get through all the
   * same, or other services' caches and sockets would go on honouring the session.
   */
  it('announces revocations while Redis is out of memory', async () => {
    await onOwnRedis(
      { args: ['--maxmemory-policy', 'noeviction'] },
      async ({ sessions, admin, keyPrefix }) => {
        const first = await sessions.create(alice);
        const second = await sessions.create(alice);
        const filler = 'x'.repeat(64 * 1024);
        for (let i = 0; i < 32; i++) await admin.set(`filler:${i}`, filler);
        await admin.config('SET', 'maxmemory', '1mb');
        await expect(admin.set('one-more', 'x')).rejects.toThrow(/OOM/);
        await expect(admin.xadd(`${keyPrefix}events`, '*', 'probe', 'x')).rejects.toThrow(/OOM/);

        expect(await sessions.revoke(first.token)).toBe(true);
        expect(await sessions.revokeAllForUser(alice.id)).toBe(1);
        const entries = await admin.xrange(`${keyPrefix}events`, '-', '+');
        const types = entries.map(([, fields]) => JSON.parse(fields[1]).type);
        expect(types.slice(-2)).toEqual([SessionEvents.revoked, SessionEvents.revokedAll]);
        expect(await sessions.validate(first.token)).toBeNull();
        expect(await sessions.validate(second.token)).toBeNull();
      },
    );
  });

  /**
   * A revocation whose store call times out may still land (Redis runs it once it catches up):
   * if nothing were announced, another service's cache and open sockets would go on honouring
   * the session, and a retry finds nothing left to revoke and announces nothing either.
   */
  describe('when the store call times out', () => {
    it.each([
      ['revoke', SessionEvents.revoked],
      ['revokeAllForUser', SessionEvents.revokedAll],
      ['setRolesForUser', SessionEvents.rolesChanged],
      ['rotate with revokeOthersOf', SessionEvents.revoked],
    ] as const)('still announces %s, behind the write that may land late', async (call, type) => {
      await onOwnRedis({ storeTimeout: 0.2 }, async ({ sessions, admin, keyPrefix }) => {
        const { token } = await sessions.create(alice);
        const before = await admin.xlen(`${keyPrefix}events`);
        // Redis holds every write for 600 ms: the call gives up after 200, the write lands.
        await admin.call('CLIENT', 'PAUSE', '600', 'WRITE');
        const writes = {
          revoke: () => sessions.revoke(token),
          revokeAllForUser: () => sessions.revokeAllForUser(alice.id),
          setRolesForUser: () => sessions.setRolesForUser(alice.id, ['admin']),
          'rotate with revokeOthersOf': () => sessions.rotate(token, { revokeOthersOf: alice.id }),
        };
        await expect(writes[call]()).rejects.toBeInstanceOf(SessionStoreUnavailableError);
        await sleep(900);
        const added = await admin.xrange(`${keyPrefix}events`, '-', '+');
        const events = added.slice(before).map(([, fields]) => JSON.parse(fields[1]));
        expect(events.map((event) => event.type)).toContain(type);
        // A failed role change is announced without its roles: perhaps never given.
        const rolesChanged = events.find((event) => event.type === SessionEvents.rolesChanged);
        expect(rolesChanged?.roles).toBeUndefined();
        const live = await sessions.validate(token);
        if (call === 'setRolesForUser') {
          // A role change that reaches Redis after its deadline changes nothing (announced all
          // the same: a service that drops a cached session only reads it again).
          expect(live?.roles).toEqual(alice.roles);
        } else if (call === 'rotate with revokeOthersOf') {
          // The rotation landed, then its undo behind it: the caller's token works again.
          expect(live?.userId).toBe(alice.id);
        } else {
          expect(live).toBeNull();
        }
      });
    });

    it('still announces a patch, on the redacted stream only, behind the write that may land late', async () => {
      await onOwnRedis({ storeTimeout: 0.2 }, async ({ sessions, admin, keyPrefix }) => {
        const typesIn = async (stream: string) =>
          (await admin.xrange(stream, '-', '+')).map(([, fields]) => JSON.parse(fields[1]).type);
        const { token } = await sessions.create(alice);
        const before = await admin.xlen(`${keyPrefix}events:redacted`);
        await admin.call('CLIENT', 'PAUSE', '600', 'WRITE');
        await expect(sessions.patch(token, { cart: 'c-1' })).rejects.toBeInstanceOf(
          SessionStoreUnavailableError,
        );
        await sleep(900);
        expect((await typesIn(`${keyPrefix}events:redacted`)).slice(before)).toEqual([
          SessionEvents.patched,
        ]);
        expect(await typesIn(`${keyPrefix}events`)).not.toContain(SessionEvents.patched);
        // It reached Redis after its deadline and wrote nothing (announced all the same, as a
        // role change is: a service that drops a cached session only reads it again).
        expect((await sessions.validate(token))?.attributes).toEqual({});
      });
    });
  });
});

/**
 * A closed reader leaves nothing running, whatever it was doing: a timer, a socket or a
 * reconnection left behind would keep a service that shut down from exiting (a test run left
 * open), or connect to Redis again and again after it.
 */
describe('closing a session events reader leaves no timer, socket or reconnection', () => {
  let server: RedisServerProcess;
  let made = 0;
  /** Whether a case stopped `server`: it is started again once the reader is closed. */
  let stopped = false;
  const stopRedis = () => {
    stopped = true;
    return server.stop();
  };

  beforeAll(async () => {
    server = await startRedisServer();
  });

  afterAll(() => server.dispose());

  /** The sockets keeping this process alive. */
  const sockets = () =>
    process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length;

  /**
   * The connections a reader made from a client named `name` holds on the server, asked on a
   * connection of its own: one kept open would arm timers of its own while Redis is down.
   */
  async function readerConnections(name: string): Promise<string[]> {
    const admin = new Redis(server.url, { retryStrategy: () => null });
    try {
      return ((await admin.client('LIST')) as string)
        .split('\n')
        .filter((line) => line.includes(` name=${name}-events `));
    } finally {
      await admin.quit();
    }
  }

  /** Kills the connections a reader made from a client named `name`. */
  async function killReader(name: string): Promise<void> {
    const admin = new Redis(server.url);
    try {
      await killClients(admin, `${name}-events`);
    } finally {
      await admin.quit();
    }
  }

  /**
   * Starts a reader on a client made by `connect` (then dropped: the reader has its own
   * connection), has `reach` bring it to a state, closes it there, and checks that its read
   * ended and that nothing it started is left: no timer, no socket (so nothing that could ever
   * connect again), and no connection on the server once it is back.
   */
  async function closedWhen(
    reach: (reader: { name: string; items: SessionEventsItem[] }) => Promise<void>,
    connect: (name: string) => Redis | Cluster = (name) =>
      new Redis(server.url, { connectionName: name }),
  ): Promise<SessionEventsItem[]> {
    const name = `evclosed${process.pid}x${made++}`;
    const before = sockets();
    const timers = recordTimers();
    const items: SessionEventsItem[] = [];
    try {
      const source = connect(name);
      const reader = new SessionEventsReader(source, { blockMs: 500 });
      source.disconnect();
      let ended = false;
      void (async () => {
        for await (const item of reader.read()) items.push(item);
        ended = true;
      })();
      await reach({ name, items });
      reader.close();
      await until(() => ended && sockets() <= before);
      // What ioredis ends at once (a socket destroyed, a 0 ms timer) is gone after a turn.
      await sleep(10);
      expect([...timers.armed.values()]).toEqual([]);
    } finally {
      timers.restore();
      if (stopped) {
        stopped = false;
        await server.start();
      }
    }
    expect(await readerConnections(name)).toEqual([]);
    return items;
  }

  /** Resolves once the reader `name` is blocked in XREAD on the server. */
  const reading = (name: string) =>
    until(async () => (await readerConnections(name)).some((line) => / cmd=xread /.test(line)));

  it('while a read waits', async () => {
    await closedWhen(({ name }) => reading(name));
  });

  it('before it connected', async () => {
    await closedWhen(async () => undefined);
  });

  it.each([0, 1, 2, 5, 10, 20, 50, 100, 150, 250])(
    '%i ms after its connection was killed',
    async (ms) => {
      await closedWhen(async ({ name }) => {
        await reading(name);
        await killReader(name);
        await sleep(ms);
      });
    },
  );

  it('while Redis is down, and nothing connects when it is back', async () => {
    await closedWhen(async ({ name, items }) => {
      await reading(name);
      await stopRedis();
      await until(() => items.some((item) => item.kind === 'down'));
    });
  });

  it('while it connects again every second, its client having given up', async () => {
    const items = await closedWhen(
      async ({ name, items }) => {
        await reading(name);
        await stopRedis();
        await until(() => items.some((item) => item.kind === 'down'));
        // Ended, then connected again by the reader (refused) on each turn.
        await sleep(2_500);
      },
      (name) => new Redis(server.url, { connectionName: name, retryStrategy: () => null }),
    );
    expect(items.map((item) => item.kind)).toEqual(['gap', 'down']);
  });

  it('given a client with lazyConnect, once it read through it', async () => {
    const items = await closedWhen(
      ({ name }) => reading(name),
      (name) => new Redis(server.url, { connectionName: name, lazyConnect: true }),
    );
    expect(items).toMatchObject([{ kind: 'gap', reason: 'start' }]);
  });

  it('on a Cluster, while a read waits and while the cluster is down', async () => {
    const cluster = await startRedisCluster();
    const connect = () =>
      new Cluster(cluster.addresses, { redisOptions: { connectionName: 'evclosedcluster' } });
    try {
      const waiting = await closedWhen(async ({ items }) => {
        await until(() => items.length > 0);
        await sleep(700);
      }, connect);
      expect(waiting).toMatchObject([{ kind: 'gap', reason: 'start' }]);
      const down = await closedWhen(async ({ items }) => {
        await until(() => items.length > 0);
        for (const node of cluster.nodes) await node.stop();
        await until(() => items.some((item) => item.kind === 'down'));
      }, connect);
      expect(down).toMatchObject([{ kind: 'gap', reason: 'start' }, { kind: 'down' }]);
    } finally {
      await cluster.dispose();
    }
  }, 60_000);
});

/**
 * Runs `body` with a `SessionService` on a Redis server of its own (`args` for redis-server,
 * `storeTimeout` for the module) and a plain client to it, then closes and stops them all.
 */
async function onOwnRedis(
  { args, storeTimeout }: { args?: string[]; storeTimeout?: number },
  body: (own: { sessions: SessionService; admin: Redis; keyPrefix: string }) => Promise<void>,
): Promise<void> {
  const server = await startRedisServer(undefined, args);
  const keyPrefix = uniquePrefix();
  const { sessions, close } = await sessionService({
    redis: { url: server.url },
    keyPrefix,
    ...(storeTimeout === undefined ? {} : { storeTimeout }),
  });
  const admin = new Redis(server.url);
  try {
    await body({ sessions, admin, keyPrefix });
  } finally {
    admin.disconnect();
    await close();
    await server.stop();
  }
}

async function killClients(admin: Redis, name: string): Promise<void> {
  const list = (await admin.client('LIST')) as string;
  const ids = list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /\bid=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => Boolean(id));
  expect(ids.length).toBeGreaterThan(0);
  for (const id of ids) await admin.client('KILL', 'ID', id);
}

function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(BigInt);
  const [bMs, bSeq] = b.split('-').map(BigInt);
  return aMs === bMs ? (aSeq < bSeq ? -1 : aSeq > bSeq ? 1 : 0) : aMs < bMs ? -1 : 1;
}
