import { Controller, Get, INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';

import {
  CurrentSession,
  RedisSessionStore,
  Roles,
  Session,
  SessionGuard,
  SessionModule,
  SessionModuleOptions,
  SessionService,
  SessionStoreUnavailableError,
} from '../src';
import { SessionCache } from '../src/lib/cache/session.cache';
import { SESSION_CACHE } from '../src/lib/session.constants';
import { startRedisServer } from '../src/testing';
import { resolveSessionConfig } from '../src/lib/config/session.config';
import { parseSessionId, SessionRef } from '../src/lib/token/session.token';
import {
  REDIS_URL as url,
  sessionKey,
  sessionService,
  sleep,
  uniquePrefix,
  until,
} from './store-contract';

jest.setTimeout(60_000);

const alice = { id: 'u-cache-alice', username: 'alice', roles: ['customer'] };

@Controller('cached')
class CachedController {
  @Get()
  @Roles('customer')
  who(@CurrentSession() session: Session) {
    return { id: session.id, roles: session.roles };
  }

  @Get('admin')
  @Roles('admin')
  admin() {
    return { ok: true };
  }
}

/** An app of the library; `guarded` adds the guard globally and `CachedController`. */
async function start(options: SessionModuleOptions, guarded = false): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot(options)],
    controllers: guarded ? [CachedController] : [],
    providers: guarded ? [{ provide: APP_GUARD, useClass: SessionGuard }] : [],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('SessionService with localCache, following the event stream', () => {
  const keyPrefix = uniquePrefix();
  const connectionName = `cachetest${process.pid}x${Date.now()}`;
  let cached: INestApplication;
  let elsewhere: INestApplication;
  /** A service with the cache (this one). */
  let sessions: SessionService;
  /** Another service on the same Redis, without a cache: it revokes through SessionService. */
  let other: SessionService;
  /** A store that writes behind the library's back and publishes nothing. */
  let silent: RedisSessionStore;
  let redis: Redis;

  beforeAll(async () => {
    // A long ttl (capped at 60 s): only events and gaps can make the cache forget in a test.
    cached = await start(
      {
        redis: { url, options: { connectionName } },
        keyPrefix,
        localCache: { ttl: 300 },
      },
      true,
    );
    elsewhere = await start({ redis: { url }, keyPrefix });
    sessions = cached.get(SessionService);
    other = elsewhere.get(SessionService);
    silent = new RedisSessionStore({ url }, resolveSessionConfig({ redis: { url }, keyPrefix }));
    // Its client queues nothing while it connects: a busy machine may not have connected it yet.
    await silent.onModuleInit();
    redis = new Redis(url);
    await untilCaching();
  });

  afterAll(async () => {
    silent?.onModuleDestroy();
    await cached?.close();
    await elsewhere?.close();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    redis?.disconnect();
  });

  /** A cached session, revoked behind the cache's back: only a flush can hide it now. */
  async function staleInCache() {
    const issued = await sessions.create(alice);
    // A read that an event overlaps caches nothing (the cache cannot tell which came first), and
    // events of alice's other sessions (evicted past her cap, patched, revoked) come at any time
    // on a busy machine. Read again until cached; a paused cache caches nothing, which
    // `untilCaching` waits out.
    for (let reads = 0; reads < 5 && !sessions.cached(issued.token); reads++) {
      await sessions.validate(issued.token);
    }
    expect(await silent.revoke(ref(issued.session.id))).toBe(issued.session.id);
    return issued;
  }

  /** Waits until the cache serves again (its feed has started or resumed). */
  async function untilCaching(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const { token } = await staleInCache();
      if (await sessions.validate(token)) return;
      await sleep(50);
    }
    throw new Error('the cache never started serving');
  }

  /** Polls this service until it refuses the token; answers how long that took. */
  async function untilRefused(token: string, timeoutMs = 10_000): Promise<number> {
    const started = performance.now();
    while (await sessions.validate(token)) {
      if (performance.now() - started > timeoutMs) throw new Error('still served');
      await new Promise((resolve) => setImmediate(resolve));
    }
    return performance.now() - started;
  }

  it('serves from the cache: a revocation that publishes nothing is not seen', async () => {
    const { token, session } = await staleInCache();
    expect(await sessions.validate(token)).toMatchObject({ id: session.id });
  });

  it('refuses, within milliseconds, a session another service revoked, and never serves it again', async () => {
    const delays: number[] = [];
    for (let trial = 0; trial < 30; trial++) {
      const { token, session } = await sessions.create(alice);
      expect(await sessions.validate(token)).not.toBeNull();
      expect(await other.revoke(session.id, { reason: 'admin' })).toBe(true);
      delays.push(await untilRefused(token));
      // Once the event is processed, the cache never serves the session again.
      for (let i = 0; i < 20; i++) expect(await sessions.validate(token)).toBeNull();
    }
    delays.sort((a, b) => a - b);
    const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))];
    console.info(
      `local cache staleness after a revocation elsewhere (ms, ${delays.length} trials): ` +
        `min ${at(0).toFixed(2)}, median ${at(0.5).toFixed(2)}, p90 ${at(0.9).toFixed(2)}, ` +
        `max ${delays[delays.length - 1].toFixed(2)}`,
    );
  });

  it("forgets a user's sessions but the kept one on a revoke-all elsewhere", async () => {
    const kept = await sessions.create(alice);
    const gone = await sessions.create(alice);
    await sessions.validate(kept.token);
    await sessions.validate(gone.token);
    await other.revokeAllForUser(alice.id, { except: kept.session.id });
    await untilRefused(gone.token);
    expect(await sessions.validate(kept.token)).toMatchObject({ id: kept.session.id });
  });

  it('serves the new roles after a role change elsewhere', async () => {
    const { token } = await sessions.create(alice);
    await sessions.validate(token);
    await other.setRolesForUser(alice.id, ['auditor']);
    const deadline = Date.now() + 10_000;
    while ((await sessions.validate(token))?.roles.includes('customer')) {
      if (Date.now() > deadline) throw new Error('old roles still served');
      await sleep(1);
    }
    expect((await sessions.validate(token))?.roles).toEqual(['auditor']);
    await other.setRolesForUser(alice.id, ['customer']);
  });

  it('refuses a session the per-user cap evicted elsewhere', async () => {
    const capped = await start({ redis: { url }, keyPrefix, maxSessionsPerUser: 1 });
    try {
      const bob = { id: 'u-cache-bob', username: 'bob', roles: ['customer'] };
      const { token } = await sessions.create(bob);
      await sessions.validate(token);
      const newer = await capped.get(SessionService).create(bob);
      expect(newer.evicted).toHaveLength(1);
      await untilRefused(token);
      expect(await sessions.validate(newer.token)).not.toBeNull();
    } finally {
      await capped.close();
    }
  });

  it('refuses the old token of a session rotated elsewhere', async () => {
    const { token } = await sessions.create(alice);
    await sessions.validate(token);
    const rotated = await other.rotate(token);
    await untilRefused(token);
    expect(await sessions.validate(rotated?.token)).not.toBeNull();
  });

  it('flushes itself when events it had not read were trimmed away', async () => {
    const { token } = await staleInCache();
    expect(await sessions.validate(token)).not.toBeNull();
    const stream = `${keyPrefix}events:redacted`;
    const filler = JSON.stringify({ type: 'session.created', actor: null, userId: 'u-none' });
    await redis
      .multi()
      .xadd(stream, '*', 'event', filler)
      .xadd(stream, '*', 'event', filler)
      .xtrim(stream, 'MAXLEN', 1)
      .exec();
    await untilRefused(token);
    await untilCaching();
  });

  it('flushes itself, and caches nothing, while its connection to the stream is lost', async () => {
    const { token } = await staleInCache();
    expect(await sessions.validate(token)).not.toBeNull();
    const list = (await redis.client('LIST')) as string;
    const ids = list
      .split('\n')
      .filter((line) => line.includes(` name=${connectionName}-events `))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string);
    expect(ids).toHaveLength(1);
    await redis.client('KILL', 'ID', ids[0]);
    await untilRefused(token);
    // Then it reconnects, reports the gap, and serves from the cache again.
    await untilCaching();
  });

  describe('through the guard (a cache hit is answered without a promise)', () => {
    const get = (path: string, token: string) =>
      request(cached.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);

    it('answers a cached session with the same statuses and bodies as a store read', async () => {
      const { token, session } = await staleInCache(); // served from the cache only
      const ok = await get('/cached', token);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ id: session.id, roles: ['customer'] });
      const forbidden = await get('/cached/admin', token);
      expect(forbidden.status).toBe(403);
      expect(forbidden.body).toEqual({
        statusCode: 403,
        message: 'Missing role',
        error: 'Forbidden',
      });
    });

    it('never lets a request through once a revocation elsewhere reached it, with requests in flight', async () => {
      for (let trial = 0; trial < 10; trial++) {
        const { token, session } = await sessions.create(alice);
        expect((await get('/cached', token)).status).toBe(200);
        const statuses: number[] = [];
        let revoked = false;
        // Four clients keep requests in flight while another service revokes the session.
        const client = async () => {
          while (!revoked || statuses.filter((status) => status === 401).length < 20) {
            statuses.push((await get('/cached', token)).status);
          }
        };
        const clients = Promise.all([client(), client(), client(), client()]);
        await sleep(trial * 2);
        await other.revoke(session.id, { reason: 'admin' });
        revoked = true;
        await clients;
        const firstRefusal = statuses.indexOf(401);
        expect(firstRefusal).toBeGreaterThanOrEqual(0);
        // Four requests were in flight when the first 401 was recorded: only they may pass.
        expect(statuses.slice(firstRefusal + 4)).not.toContain(200);
        expect(new Set(statuses)).toEqual(new Set(firstRefusal ? [200, 401] : [401]));
      }
    });
  });

  it('drops sessions this service revokes itself at once, without waiting for the event', async () => {
    const { token, session } = await sessions.create(alice);
    await sessions.validate(token);
    await sessions.revoke(session.id);
    expect(await sessions.validate(token)).toBeNull();
  });

  it('serves the attributes this service patched at once, a removal too', async () => {
    const { token, session } = await sessions.create(alice, { attributes: { mfa: true } });
    expect((await sessions.validate(token))?.attributes).toEqual({ mfa: true });
    expect(await sessions.patch(session.id, { mfa: undefined, step: 2 })).toBe(true);
    expect((await sessions.validate(token))?.attributes).toEqual({ step: 2 });
    // The patch's own event, when it has arrived, makes this cache forget the copy once more:
    // it holds nothing then, or the patched copy, never the old one.
    expect([undefined, { step: 2 }]).toContainEqual(sessions.cached(token)?.attributes);
  });

  it('serves the attributes another service patched as soon as its event arrives', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const { token } = await sessions.create(alice, { attributes: { step: 1 } });
      expect((await sessions.validate(token))?.attributes).toEqual({ step: 1 });
      expect(sessions.cached(token)?.attributes).toEqual({ step: 1 });
      expect(await other.patch(token, { step: undefined, cart: `c-${trial}` })).toBe(true);
      // With a ttl of 60 s, only the patch's event makes the cache let go of its copy.
      await until(() => sessions.cached(token) === undefined);
      expect((await sessions.validate(token))?.attributes).toEqual({ cart: `c-${trial}` });
      expect(sessions.cached(token)?.attributes).toEqual({ cart: `c-${trial}` });
    }
  });

  it('keeps serving from the cache the sessions a patch elsewhere did not touch', async () => {
    // A feed that stalls (a busy machine) pauses the cache and its gap resumes it, both
    // forgetting everything, as they must: a trial one overlapped proves nothing; try again.
    const cache = cached.get<symbol, SessionCache>(SESSION_CACHE);
    const pause = jest.spyOn(cache, 'pause');
    const resume = jest.spyOn(cache, 'resume');
    try {
      let proved = 0;
      for (let trial = 0; trial < 10 && proved < 3; trial++) {
        pause.mockClear();
        resume.mockClear();
        const patched = await sessions.create(alice);
        const untouched = await staleInCache(); // served from the cache only
        await sessions.validate(patched.token);
        await other.patch(patched.session.id, { cart: `c-${trial}` });
        await until(() => sessions.cached(patched.token) === undefined);
        const served = await sessions.validate(untouched.token);
        if (pause.mock.calls.length + resume.mock.calls.length > 0) {
          await untilCaching();
          continue;
        }
        expect(served).toMatchObject({ id: untouched.session.id });
        proved++;
      }
      expect(proved).toBe(3);
    } finally {
      pause.mockRestore();
      resume.mockRestore();
    }
  });

  // Last here: it ends every session under this prefix.
  it('serves the session a global revocation spared, before its event, and refuses the rest', async () => {
    const kept = await sessions.create(alice);
    const gone = await sessions.create({ ...alice, id: 'u-cache-bob', username: 'bob' });
    await sessions.validate(kept.token);
    await sessions.validate(gone.token);
    expect(sessions.cached(kept.token)).toBeDefined();
    // The watermark is announced; no event follows (this store publishes none): the cache's
    // copy of the kept session is older than the watermark, the store's is not.
    await silent.revokeEverything(ref(kept.session.id));
    await until(async () => (await sessions.validate(gone.token)) === null);
    for (let i = 0; i < 3; i++) {
      expect(await sessions.validate(kept.token)).toMatchObject({ id: kept.session.id });
    }
    expect(await sessions.validate(gone.token)).toBeNull();
  });
});

function ref(id: string): SessionRef {
  return parseSessionId(id) as SessionRef;
}

/**
 * A Redis that hangs (SIGSTOP) answers nothing: store calls get 503 after the store timeout,
 * and the cache must not go on answering for the sessions it holds much longer than that —
 * its reader, blocked on the stream, notices within its short block and the store timeout.
 */
describe('SessionService with localCache, when Redis hangs', () => {
  it('stops serving cached sessions once its reader finds Redis silent, while it hangs', async () => {
    const server = await startRedisServer();
    const keyPrefix = uniquePrefix();
    const { sessions, close } = await sessionService({
      redis: { url: server.url },
      keyPrefix,
      storeTimeout: 0.5,
      localCache: { ttl: 60 },
    });
    const admin = new Redis(server.url);
    try {
      // Served from the cache: its hash deleted behind the cache's back, it still validates.
      let token = '';
      for (let attempt = 0; attempt < 100 && !token; attempt++) {
        const issued = await sessions.create(alice);
        await sessions.validate(issued.token);
        await admin.del(sessionKey(keyPrefix, issued.session.id));
        if (await sessions.validate(issued.token)) token = issued.token;
        else await sleep(50);
      }
      expect(token).not.toBe('');
      // The cache's reader pauses the cache once the stream stays silent past its short block
      // and the store timeout (and resumes it only after a gap, once Redis answers again).
      const pauses = jest.spyOn(SessionCache.prototype, 'pause');
      server.freeze();
      const frozenAt = Date.now();
      let refusedAfter = Infinity;
      let pausedBefore = 0;
      // The entry's ttl (60 s) is far past this deadline, which only stops a hang.
      while (Date.now() - frozenAt < 30_000) {
        const outcome = await sessions.validate(token).catch((error: unknown) => error);
        if (outcome instanceof SessionStoreUnavailableError) {
          refusedAfter = Date.now() - frozenAt;
          pausedBefore = pauses.mock.calls.length;
          break;
        }
        expect(outcome).not.toBeNull();
        await sleep(50);
      }
      console.log(`cached session refused ${refusedAfter} ms after Redis froze`);
      // Refused while Redis was still frozen (thawed only below), because the reader found it
      // silent and paused the cache: not served until the entry's ttl ran out.
      pauses.mockRestore();
      expect(pausedBefore).toBeGreaterThan(0);
    } finally {
      server.thaw();
      admin.disconnect();
      await close();
      await server.stop();
    }
  });
});

/**
 * A cache hit slides nothing in Redis: a session served from the cache past the moment its idle
 * timeout was due to slide would expire in the store under an active user.
 */
describe('SessionService with localCache, a session in use', () => {
  it('keeps a session its user keeps using, with a ttl far above its idle timeout', async () => {
    const keyPrefix = uniquePrefix();
    const { sessions, close } = await sessionService({
      redis: { url },
      keyPrefix,
      idleTimeout: 1,
      localCache: { ttl: 60 },
    });
    try {
      // The cache serves once its event feed has started.
      let issued = await sessions.create(alice);
      for (let attempt = 0; attempt < 100 && !sessions.cached(issued.token); attempt++) {
        issued = await sessions.create(alice);
        await sessions.validate(issued.token);
        if (!sessions.cached(issued.token)) await sleep(50);
      }
      expect(sessions.cached(issued.token)).toBeDefined();
      // A request every 100 ms for 3 s: three idle timeouts, each of them ten requests apart.
      let hits = 0;
      const refusedAt: number[] = [];
      const started = Date.now();
      while (Date.now() - started < 3_000) {
        if (sessions.cached(issued.token)) hits++;
        if (!(await sessions.validate(issued.token))) refusedAt.push(Date.now() - started);
        await sleep(100);
      }
      expect(refusedAt).toEqual([]);
      // And the cache did answer some of them (else this would test the store alone).
      expect(hits).toBeGreaterThan(0);
    } finally {
      await close();
    }
  });
});
