import { createHash } from 'node:crypto';

import { Test } from '@nestjs/testing';

import {
  SessionModule,
  SessionModuleOptions,
  SessionService,
  RedisSessionStore,
  SessionStore,
  SessionStoreUnavailableError,
} from '../src';
import { decodeSessionEvent } from '../src/lib/events/session-event.interface';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import { relayedRedis } from './relayed-redis';
import { sleep, uniquePrefix, until } from './store-contract';

jest.setTimeout(30_000);

/** How many times `needle` occurs in `haystack`. */
function occurrences(haystack: Buffer, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) count++;
  return count;
}

/**
 * A login's create answered too late, and the user's generation moved before its undo ran: the
 * session the create evicted stays gone, and only the undo's answer can announce it. That
 * answer comes after the store timeout too: the undo is sent again, and the one answered in time
 * is a repeat that finds the work done. The sessions the first undo dropped must still be
 * announced (`watchEvictions`, `session.evicted`), once.
 */
describe('the undo of a login, answered after the store timeout', () => {
  const UNDO_SHA = createHash('sha1').update(SESSION_SCRIPTS.cloakroomUndoCreate.lua).digest('hex');
  const redis = relayedRedis();

  async function service(options: Partial<SessionModuleOptions>) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: `redis://127.0.0.1:${redis.relay.port}` },
          storeTimeout: 0.3,
          maxSessionsPerUser: 2,
          ...options,
        } as SessionModuleOptions),
      ],
    }).compile();
    await moduleRef.init();
    return {
      sessions: moduleRef.get(SessionService),
      store: moduleRef.get<SessionStore>(SessionStore) as RedisSessionStore,
      close: () => moduleRef.close(),
    };
  }

  it.each([
    ['with events off', false],
    ['with events on', true],
  ])('announces what the first undo evicted for good (%s)', async (_, events) => {
    const keyPrefix = uniquePrefix();
    const { sessions, store, close } = await service({
      keyPrefix,
      ...(events ? {} : { events: false }),
    });
    const heard: string[] = [];
    const stop = store.watchEvictions(({ id }) => heard.push(id));
    try {
      const user = { id: 'u-late-undo', username: 'lateundo', roles: ['customer'] };
      const first = await sessions.create(user);
      await sleep(5);
      await sessions.create(user);

      // The create waits in a paused Redis past the store timeout; the undo sent then waits in
      // the relay, and so does everything after it on that connection.
      redis.relay.delayFrom((bytes) => bytes.includes(UNDO_SHA));
      await redis.admin.client('PAUSE', 5000, 'WRITE');
      await expect(sessions.create(user)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await until(() => occurrences(redis.relay.heldBytes(), UNDO_SHA) > 0, 2000);
      await redis.admin.call('CLIENT', 'UNPAUSE');
      // The create runs: the first session is set aside for the undo; then the generation moves
      // (a role change elsewhere), so the undo cannot put it back.
      await until(async () => (await redis.admin.keys(`${keyPrefix}*:e:*`)).length > 0, 2000);
      const tag = first.session.id.split('.')[0];
      await redis.admin.incr(`${keyPrefix}{${tag}}:g:${user.id}`);
      // The undo timed out: it is sent again, behind the first on the held connection.
      await until(() => occurrences(redis.relay.heldBytes(), UNDO_SHA) > 1, 3000);
      redis.relay.release();

      await until(() => heard.length > 0, 8000).catch(() => undefined);
      expect(heard).toEqual([first.session.id]);
      expect(await sessions.validate(first.token)).toBeNull();
      if (events) {
        const evicted = async () =>
          ((await redis.admin.xrange(`${keyPrefix}events`, '-', '+')) as Array<[string, string[]]>)
            .map(([id, fields]) => decodeSessionEvent(id, fields))
            .filter((event) => event?.type === 'session.evicted')
            .map((event) => event?.sessionId);
        await until(async () => (await evicted()).length > 0, 3000).catch(() => undefined);
        expect(await evicted()).toEqual([first.session.id]);
      }
      // The retries are over: nothing is announced twice.
      await sleep(500);
      expect(heard).toEqual([first.session.id]);
    } finally {
      stop();
      await close();
    }
  });
});
