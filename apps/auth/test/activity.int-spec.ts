import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConflictException } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { App } from 'supertest/types';
import { DataSource, DataSourceOptions, Repository } from 'typeorm';

import { databaseOptions, openDataSource } from '@cloakroom/database';
import { configureServiceApp } from '@cloakroom/service-kit';
import { makeDevCertificates, testKeyPrefix } from '@cloakroom/session/testing';

import { ActivityCursor, ActivityCursorCodec } from '../src/app/activity/activity-cursor';
import { ActivityRetention, PRUNE_BATCH } from '../src/app/activity/activity-retention.service';
import { ActivityCheckpoint } from '../src/app/activity/entities/activity-checkpoint.entity';
import { SecurityEvent } from '../src/app/activity/entities/security-event.entity';
import {
  ACTIVITY_PAGE_SIZE,
  MISSED_EVENTS_TYPE,
  SecurityActivityService,
  toRow,
} from '../src/app/activity/security-activity.service';
import { SESSION_EVENTS_CHECKPOINT } from '../src/app/activity/session-events.consumer';
import { AppModule } from '../src/app/app.module';
import { authService } from '../src/app/app.setup';
import { CreateUsers1764000000000 } from '../src/app/database/migrations/1764000000000-create-users';
import { AddUserDisabled1765000000000 } from '../src/app/database/migrations/1765000000000-add-user-disabled';
import { CreateSecurityEvents1766000000000 } from '../src/app/database/migrations/1766000000000-create-security-events';
import { User } from '../src/app/users/entities/user.entity';
import { UsersService } from '../src/app/users/users.service';
import {
  clearRedis,
  createUser,
  freshSchema,
  loginWithCookie,
  ORIGIN,
  REDIS_URL,
  sessionCookie,
  strongPassword,
  CHROME_ON_WINDOWS,
} from './auth-app';

jest.setTimeout(90_000);

const DAY_MS = 24 * 60 * 60 * 1000;

/** An administrator of the suite's own (the demo users are not seeded). */
const ADMIN = 'activity-admin';
const ADMIN_PASSWORD = strongPassword();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `done` holds; the bound only turns a hang into a readable failure. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let attempt = 0; !done(value); attempt++) {
    if (attempt > 600) {
      throw new Error(`gave up waiting; last value: ${JSON.stringify(value).slice(0, 800)}`);
    }
    await sleep(50);
    value = await read();
  }
  return value;
}

type Backend = 'postgres' | 'sqlite';

interface RunningAuth {
  app: NestExpressApplication;
  http: App;
  events: Repository<SecurityEvent>;
  close(): Promise<void>;
}

/**
 * One auth instance on a given database and key prefix. Unlike `startAuthApp` it keeps the
 * database and Redis as they are, so that a test can stop an instance, start it again, or run
 * two on the same data.
 */
async function bootAuth(
  databaseUrl: string,
  keyPrefix: string,
  certsDir: string,
  env: Record<string, string> = {},
): Promise<RunningAuth> {
  const certificates = makeDevCertificates(certsDir, ['orders']);
  const moduleRef = await Test.createTestingModule({
    imports: [
      AppModule.forRoot({
        NODE_ENV: 'test',
        SEED_DEMO_USERS: 'false',
        REDIS_URL,
        AUTH_DATABASE_URL: databaseUrl,
        AUTH_RPC_CLIENT_CA: certificates.ca,
        AUTH_RPC_SERVER_CERT: certificates.server.cert,
        AUTH_RPC_SERVER_KEY: certificates.server.key,
        SESSION_KEY_PREFIX: keyPrefix,
        SESSION_ALLOWED_ORIGINS: ORIGIN,
        SESSION_MAX_PER_USER: '10',
        SESSION_COOKIE_SECURE: 'false',
        TRUST_PROXY: 'loopback',
        LOGIN_MAX_FAILURES_PER_USER: '5',
        LOGIN_MAX_FAILURES_PER_IP: '1000',
        ...env,
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: ['error'] });
  configureServiceApp(app, authService);
  try {
    await app.init();
    await app
      .get(UsersService)
      .create({ username: ADMIN, password: ADMIN_PASSWORD, roles: ['admin'] })
      .catch((error: unknown) => {
        // Already there: a restarted instance, or a second one on the same database.
        if (!(error instanceof ConflictException)) throw error;
      });
  } catch (error) {
    await app.close();
    throw error;
  }
  return {
    app,
    http: app.getHttpServer(),
    events: app.get(DataSource).getRepository(SecurityEvent),
    close: () => app.close(),
  };
}

/** Writes lifecycle events into the stream as the session library does (field `event`). */
async function publish(redis: Redis, keyPrefix: string, events: object[]): Promise<string[]> {
  const pipeline = redis.pipeline();
  for (const event of events) {
    pipeline.xadd(`${keyPrefix}events`, '*', 'event', JSON.stringify(event));
  }
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, id]) => {
    if (error) throw error;
    return id as string;
  });
}

function streamLogin(userId: string, n: number) {
  return {
    type: 'session.created',
    actor: { id: userId, username: `u-${userId.slice(0, 8)}` },
    userId,
    sessionId: `s-${n}`,
    ip: '203.0.113.7',
    device: 'Firefox 133 on Linux',
  };
}

/** Moves the consumer's checkpoint back, as a crash between its two writes would leave it. */
async function rewindCheckpoint(databaseUrl: string, id: string): Promise<void> {
  const dataSource = await openDataSource(
    databaseOptions(databaseUrl, {
      entities: [ActivityCheckpoint],
      migrations: [],
    }) as DataSourceOptions,
  );
  try {
    const [lastMs, lastSeq] = id.split('-').map(Number);
    await dataSource
      .getRepository(ActivityCheckpoint)
      .update({ name: SESSION_EVENTS_CHECKPOINT }, { lastMs, lastSeq });
  } finally {
    await dataSource.destroy();
  }
}

const MIGRATIONS = [
  CreateUsers1764000000000,
  AddUserDisabled1765000000000,
  CreateSecurityEvents1766000000000,
];

describe.each<Backend>(['postgres', 'sqlite'])('security activity log on %s', (backend) => {
  const suite = `activity-${backend}`;
  const keyPrefix = testKeyPrefix(`auth-${suite}`);
  let workDir: string;
  let databaseUrl: string;
  let redis: Redis;
  let auth: RunningAuth;
  let adminCookie: string;

  /** A database of its own for tests that restart instances or need an empty stream. */
  async function isolatedDatabase(name: string): Promise<string> {
    return backend === 'postgres'
      ? freshSchema(`auth_${suite.replace(/\W/g, '_')}_${name}`)
      : `sqlite:${join(workDir, `${name}.sqlite`)}`;
  }

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), `auth-${suite}-`));
    redis = new Redis(REDIS_URL);
    await clearRedis(REDIS_URL, keyPrefix);
    databaseUrl = await isolatedDatabase('main');
    auth = await bootAuth(databaseUrl, keyPrefix, join(workDir, 'certs'));
    adminCookie = (await loginWithCookie(auth.http, ADMIN, ADMIN_PASSWORD)).cookie;
  });

  afterAll(async () => {
    await auth?.close();
    redis?.disconnect();
    rmSync(workDir, { recursive: true, force: true });
  });

  const activityOf = (cookie: string, cursor?: string) =>
    request(auth.http)
      .get('/api/auth/activity')
      .query(cursor === undefined ? {} : { cursor })
      .set('Cookie', cookie);
  const asAdmin = (test: request.Test) => test.set('Cookie', adminCookie).set('Origin', ORIGIN);

  describe('GET /api/auth/activity', () => {
    it('lists logins, logouts, revocations and role changes made through the app, newest first', async () => {
      const user = await createUser(auth.http, adminCookie);
      const first = await request(auth.http)
        .post('/api/auth/login')
        .set('Origin', ORIGIN)
        .set('User-Agent', CHROME_ON_WINDOWS)
        .send({ username: user.username, password: user.password })
        .expect(200);
      const firstCookie = sessionCookie(first);
      const second = await request(auth.http)
        .post('/api/auth/login')
        .send({ username: user.username, password: user.password, transport: 'bearer' })
        .expect(200);
      await request(auth.http)
        .delete(`/api/auth/sessions/${second.body.session.id}`)
        .set('Cookie', firstCookie)
        .set('Origin', ORIGIN)
        .expect(204);
      await request(auth.http)
        .post('/api/auth/logout')
        .set('Cookie', firstCookie)
        .set('Origin', ORIGIN)
        .expect(204);
      await asAdmin(request(auth.http).put(`/api/auth/users/${user.id}/roles`))
        .send({ roles: ['customer', 'admin'] })
        .expect(200);
      await asAdmin(request(auth.http).delete(`/api/auth/users/${user.id}/sessions`)).expect(204);
      const third = await loginWithCookie(auth.http, user.username, user.password);

      const expected = [
        'login',
        'sessions.revoked-all',
        'roles.changed',
        'logout',
        'session.revoked',
        'login',
        'login',
      ];
      const page = await until(
        async () => (await activityOf(third.cookie).expect(200)).body,
        (body) => body.items.length >= expected.length,
      );
      expect(page.next).toBeNull();
      expect(page.items.map((item: { type: string }) => item.type)).toEqual(expected);
      const [login3, revokedAll, roles, logout, revoked, login2, login1] = page.items;
      const self = { id: user.id, username: user.username };
      const admin = { id: expect.any(String), username: ADMIN };
      expect(login1).toEqual({
        id: expect.any(String),
        type: 'login',
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        actor: self,
        userId: user.id,
        sessionId: first.body.session.id,
        ip: expect.any(String),
        ...(login1.device ? { device: expect.stringContaining('Chrome') } : {}),
      });
      expect(login2).toMatchObject({ sessionId: second.body.session.id, actor: self });
      expect(revoked).toMatchObject({ sessionId: second.body.session.id, reason: 'self' });
      expect(logout).toMatchObject({ sessionId: first.body.session.id, actor: self });
      expect(roles).toMatchObject({ actor: admin, userId: user.id });
      expect(revokedAll).toMatchObject({ actor: admin, userId: user.id, reason: 'admin' });
      expect(login3).toMatchObject({ sessionId: third.body.session.id });
      const times = page.items.map((item: { at: string }) => Date.parse(item.at));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      expect(new Set(page.items.map((item: { id: string }) => item.id)).size).toBe(7);
    });

    it("shows a user only their own events; another user's view is for administrators", async () => {
      const alice = await createUser(auth.http, adminCookie);
      const bob = await createUser(auth.http, adminCookie);
      const aliceCookie = (await loginWithCookie(auth.http, alice.username, alice.password)).cookie;
      const bobCookie = (await loginWithCookie(auth.http, bob.username, bob.password)).cookie;
      await until(
        async () => (await activityOf(bobCookie).expect(200)).body.items.length,
        (count) => count >= 1,
      );
      const own = (await activityOf(aliceCookie).expect(200)).body;
      expect(own.items.length).toBeGreaterThan(0);
      expect(own.items.every((item: { userId: string }) => item.userId === alice.id)).toBe(true);

      await request(auth.http)
        .get(`/api/auth/users/${bob.id}/activity`)
        .set('Cookie', aliceCookie)
        .expect(403);
      await request(auth.http).get('/api/auth/activity').expect(401);
      const bobsAsAdmin = await asAdmin(
        request(auth.http).get(`/api/auth/users/${bob.id}/activity`),
      ).expect(200);
      expect(bobsAsAdmin.body.items.map((item: { userId: string }) => item.userId)).toEqual(
        bobsAsAdmin.body.items.map(() => bob.id),
      );
      await asAdmin(request(auth.http).get(`/api/auth/users/${randomUUID()}/activity`)).expect(404);
      await asAdmin(request(auth.http).get('/api/auth/users/not-a-uuid/activity')).expect(400);
    });

    it('answers 400, never 500, to a cursor it did not issue', async () => {
      const adminId = (await auth.app.get(UsersService).findByUsername(ADMIN))?.id ?? '';
      const valid = auth.app.get(ActivityCursorCodec).encode({ at: Date.now(), id: 1 }, adminId);
      const forged = (text: string) => Buffer.from(text).toString('base64url');
      const hostile = [
        // A client that sends `cursor=${next ?? ''}` must not get the first page again for ever.
        '',
        'x',
        '!',
        '\u0000',
        'é',
        '../../etc/passwd',
        "' OR 1=1 --",
        'a'.repeat(5000),
        `${valid}=`,
        forged('1.0'),
        forged('-1.5'),
        forged('1.2.3'),
        forged('99999999999999999999.1'),
        forged('1.1; DROP TABLE auth_security_events'),
        forged(JSON.stringify({ at: 1, id: 1 })),
      ];
      for (const cursor of hostile) {
        const response = await activityOf(adminCookie, cursor);
        expect({ cursor, status: response.status }).toEqual({ cursor, status: 400 });
        expect(response.body).toMatchObject({ statusCode: 400 });
      }
      for (const query of ['cursor=a&cursor=b', 'cursor[a]=1', 'other=1']) {
        const response = await request(auth.http)
          .get(`/api/auth/activity?${query}`)
          .set('Cookie', adminCookie);
        expect({ query, status: response.status }).toEqual({ query, status: 400 });
      }
      const bobId = (await createUser(auth.http, adminCookie)).id;
      await asAdmin(request(auth.http).get(`/api/auth/users/${bobId}/activity`))
        .query({ cursor: forged('1.2.3') })
        .expect(400);
      await activityOf(adminCookie, valid).expect(200);
    });

    it("answers 400 to a cursor issued for another user's log, in both views", async () => {
      const alice = await createUser(auth.http, adminCookie);
      const bob = await createUser(auth.http, adminCookie);
      const aliceCookie = (await loginWithCookie(auth.http, alice.username, alice.password)).cookie;
      const bobCookie = (await loginWithCookie(auth.http, bob.username, bob.password)).cookie;
      const now = Date.now();
      await auth.events.insert(
        [alice, bob].flatMap((user) =>
          Array.from({ length: ACTIVITY_PAGE_SIZE + 5 }, (_, n) =>
            toRow({ type: 'login.failed', userId: user.id, actor: null }, now - 60_000 - n, null),
          ),
        ),
      );
      const alicesNext: string = (await activityOf(aliceCookie).expect(200)).body.next;
      const bobsNext: string = (await activityOf(bobCookie).expect(200)).body.next;
      expect(alicesNext).toEqual(expect.any(String));
      expect(bobsNext).toEqual(expect.any(String));

      const refused = [
        await activityOf(bobCookie, alicesNext),
        await activityOf(aliceCookie, bobsNext),
        await asAdmin(request(auth.http).get(`/api/auth/users/${bob.id}/activity`)).query({
          cursor: alicesNext,
        }),
        await activityOf(adminCookie, alicesNext),
      ];
      for (const response of refused) {
        expect(response.status).toBe(400);
        expect(response.body).toMatchObject({ statusCode: 400, message: 'Invalid cursor' });
        expect(response.headers['content-type']).toMatch(/^application\/json/);
      }
      // The user's own view and an administrator's view of that user share cursors.
      const own = await activityOf(aliceCookie, alicesNext).expect(200);
      const asAdminView = await asAdmin(
        request(auth.http).get(`/api/auth/users/${alice.id}/activity`),
      )
        .query({ cursor: alicesNext })
        .expect(200);
      expect(own.body.items.length).toBeGreaterThan(0);
      expect(asAdminView.body).toEqual(own.body);
      expect(alicesNext.length).toBeLessThanOrEqual(80);
    });

    it('answers 400, never 500, to every cursor but the one it issued, and pages only the caller', async () => {
      const alice = await createUser(auth.http, adminCookie);
      const bob = await createUser(auth.http, adminCookie);
      const aliceCookie = (await loginWithCookie(auth.http, alice.username, alice.password)).cookie;
      const now = Date.now();
      await auth.events.insert(
        [alice, bob].flatMap((user) =>
          Array.from({ length: 2 * ACTIVITY_PAGE_SIZE + 5 }, (_, n) =>
            toRow({ type: 'login.failed', userId: user.id, actor: null }, now - 60_000 - n, null),
          ),
        ),
      );
      const bobCookie = (await loginWithCookie(auth.http, bob.username, bob.password)).cookie;
      const issued: string = (await activityOf(aliceCookie).expect(200)).body.next;
      const bobsNext: string = (await activityOf(bobCookie).expect(200)).body.next;
      const partsOf = (cursor: string) =>
        Buffer.from(cursor, 'base64url').toString('latin1').split('.');
      const [at, id, tag] = partsOf(issued);
      const forged = (text: string) => Buffer.from(text).toString('base64url');
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.%';
      const hostile = fc.oneof(
        fc.string({ maxLength: 90 }),
        fc.string({ unit: 'binary', maxLength: 90 }),
        // Another place in the log, or any place, under the tag of the one issued.
        fc
          .record({ at: fc.nat(), id: fc.integer({ min: 1, max: 2 ** 40 }) })
          .map((position) => forged(`${position.at}.${position.id}.${tag}`)),
        fc.nat({ max: 200 }).map((back) => forged(`${Number(at) - back}.${id}.${tag}`)),
        fc
          .nat({ max: 200 })
          .map((back) => forged(`${at}.${Math.max(1, Number(id) - back)}.${tag}`)),
        // Bob's position, with Alice's tag; Alice's position, with Bob's.
        fc.constant(forged(`${partsOf(bobsNext).slice(0, 2).join('.')}.${tag}`)),
        fc.constant(forged(`${at}.${id}.${partsOf(bobsNext)[2]}`)),
        fc.constant(bobsNext),
        // One character of the issued cursor changed, added or removed.
        fc
          .tuple(fc.nat(), fc.constantFrom(...alphabet), fc.constantFrom(0, 1))
          .map(([index, character, keep]) => {
            const cut = index % (issued.length + 1);
            return issued.slice(0, cut) + character + issued.slice(cut + keep);
          }),
        fc.nat().map((index) => {
          const cut = index % issued.length;
          return issued.slice(0, cut) + issued.slice(cut + 1);
        }),
      );
      await fc.assert(
        fc.asyncProperty(hostile, async (cursor) => {
          fc.pre(cursor !== issued);
          const response = await request(auth.http)
            .get('/api/auth/activity')
            .query({ cursor })
            .set('Cookie', aliceCookie);
          expect({ cursor, status: response.status }).toEqual({ cursor, status: 400 });
          expect(response.body).toMatchObject({ statusCode: 400 });
        }),
        { numRuns: 300 },
      );
      const page = (await activityOf(aliceCookie, issued).expect(200)).body;
      expect(page.items.length).toBeGreaterThan(0);
      expect(page.items.every((item: { userId: string | null }) => item.userId !== bob.id)).toBe(
        true,
      );
    });

    it('pages through 50 at a time without repeating or skipping while events keep arriving', async () => {
      const user = await createUser(auth.http, adminCookie);
      const cookie = (await loginWithCookie(auth.http, user.username, user.password)).cookie;
      const activity = auth.app.get(SecurityActivityService);
      const now = Date.now();
      // Many events share a millisecond: the id must order them.
      await auth.events.insert(
        Array.from({ length: 2 * ACTIVITY_PAGE_SIZE + 17 }, (_, n) =>
          toRow(
            { type: 'login.failed', userId: user.id, actor: null, reason: `old-${n}` },
            now - 60_000 - (n % 7),
            null,
          ),
        ),
      );
      const before = await until(
        () => auth.events.findBy({ userId: user.id }),
        (rows) => rows.some((row) => row.type === 'login'),
      );
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const response = await activityOf(cookie, cursor).expect(200);
        seen.push(...response.body.items.map((item: { id: string }) => item.id));
        expect(response.body.items.length).toBeLessThanOrEqual(ACTIVITY_PAGE_SIZE);
        cursor = response.body.next ?? undefined;
        pages++;
        // Newer events, and one in the past, recorded between page requests.
        await Promise.all([
          activity.record({ type: 'login.failed', userId: user.id, actor: null }),
          activity.record({ type: 'reauthenticated', userId: user.id, actor: null }),
          auth.events.insert(
            toRow({ type: 'login.failed', userId: user.id, actor: null }, now - 61_000, null),
          ),
        ]);
      } while (cursor);
      expect(pages).toBeGreaterThanOrEqual(3);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining(before.map((row) => String(row.id))));
    });
  });

  describe('keyset paging', () => {
    it('lists every event present at the start exactly once, in order, whatever is inserted meanwhile', async () => {
      const activity = auth.app.get(SecurityActivityService);
      const cursors = auth.app.get(ActivityCursorCodec);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 0, maxLength: 130 }),
          fc.array(fc.array(fc.integer({ min: -5, max: 25 }), { maxLength: 6 }), { maxLength: 6 }),
          async (initial, insertedPerPage) => {
            const userId = `prop-${randomUUID()}`;
            const base = Date.now() - DAY_MS;
            const row = (offset: number) =>
              toRow({ type: 'login', userId, actor: null }, base + offset, null);
            if (initial.length) await auth.events.insert(initial.map(row));
            const present = (await auth.events.findBy({ userId })).map((r) => String(r.id));
            const listed: { id: string; at: number }[] = [];
            let cursor: ActivityCursor | null = null;
            let page = 0;
            do {
              const result = await activity.list(userId, cursor);
              listed.push(...result.items);
              cursor = result.next ? cursors.decode(result.next, userId) : null;
              const inserts = insertedPerPage[page++ % Math.max(insertedPerPage.length, 1)];
              if (inserts?.length) await auth.events.insert(inserts.map(row));
            } while (cursor);
            const ids = listed.map((item) => item.id);
            expect(new Set(ids).size).toBe(ids.length);
            expect(ids).toEqual(expect.arrayContaining(present));
            for (let i = 1; i < listed.length; i++) {
              const [newer, older] = [listed[i - 1], listed[i]];
              expect(
                newer.at > older.at ||
                  (newer.at === older.at && Number(newer.id) > Number(older.id)),
              ).toBe(true);
            }
          },
        ),
        { numRuns: 25 },
      );
    });
  });

  describe('SecurityActivityService.record', () => {
    it('resolves without throwing when the database is gone', async () => {
      const dataSource = await openDataSource(
        databaseOptions(await isolatedDatabase('gone'), {
          entities: [User, SecurityEvent, ActivityCheckpoint],
          migrations: MIGRATIONS,
        }) as DataSourceOptions,
      );
      const activity = new SecurityActivityService(
        dataSource.getRepository(SecurityEvent),
        new ActivityCursorCodec('a-secret-of-at-least-thirty-two-characters'),
      );
      await dataSource.destroy();
      await expect(
        activity.record({ type: 'login.failed', userId: null, actor: null, ip: '192.0.2.1' }),
      ).resolves.toBeUndefined();
    });

    it('cuts over-long values instead of failing', async () => {
      const activity = auth.app.get(SecurityActivityService);
      const userId = `long-${randomUUID()}`;
      await activity.record({
        type: 'login.failed',
        userId,
        actor: { id: userId, username: 'u'.repeat(500) },
        device: 'd'.repeat(5000),
        reason: 'r'.repeat(5000),
        ip: 'i'.repeat(5000),
      });
      const [row] = await auth.events.findBy({ userId });
      expect(row).toMatchObject({ device: 'd'.repeat(128), ip: 'i'.repeat(64) });
    });
  });

  describe('stream consumer', () => {
    it('stores every lifecycle type as the activity log names it, and no rotation', async () => {
      const userId = randomUUID();
      const admin = { id: randomUUID(), username: 'root' };
      const before = Date.now();
      const ids = await publish(redis, keyPrefix, [
        streamLogin(userId, 1),
        {
          type: 'session.rotated',
          actor: null,
          userId,
          sessionId: 's-2',
          previousSessionId: 's-1',
        },
        { type: 'session.revoked', actor: null, userId, sessionId: 's-2', reason: 'logout' },
        { type: 'session.revoked', actor: admin, userId, sessionId: 's-3', reason: 'admin' },
        { type: 'session.expired', actor: null, userId, sessionId: 's-4' },
        { type: 'session.evicted', actor: null, userId, sessionId: 's-5', reason: 'cap' },
        { type: 'roles.changed', actor: admin, userId, roles: ['admin'] },
        { type: 'sessions.revoked-all', actor: admin, userId, reason: 'admin' },
      ]);
      const rows = await until(
        () => auth.events.find({ where: { userId }, order: { id: 'ASC' } }),
        (found) => found.length >= 7,
      );
      expect(rows.map((row) => [row.type, row.streamId, row.reason])).toEqual([
        ['login', ids[0], null],
        ['logout', ids[2], 'logout'],
        ['session.revoked', ids[3], 'admin'],
        ['session.expired', ids[4], null],
        ['session.evicted', ids[5], 'cap'],
        ['roles.changed', ids[6], null],
        ['sessions.revoked-all', ids[7], 'admin'],
      ]);
      expect(rows[0]).toMatchObject({
        actorId: userId,
        sessionId: 's-1',
        ip: '203.0.113.7',
        device: 'Firefox 133 on Linux',
      });
      expect(rows[0].at).toBe(Number(ids[0].split('-')[0]));
      expect(rows[0].at).toBeGreaterThanOrEqual(before - 1000);
      expect(rows[2]).toMatchObject({ actorId: admin.id, actorUsername: 'root' });
    });

    it("shows a revocation of everyone's sessions to the users it concerned, in their own view as in the administrators'", async () => {
      const user = await createUser(auth.http, adminCookie);
      const cookie = (await loginWithCookie(auth.http, user.username, user.password)).cookie;
      const admin = { id: randomUUID(), username: 'admin' };
      const [id] = await publish(redis, keyPrefix, [
        { type: 'sessions.revoked-all', actor: admin, userId: null, reason: 'revoke-all' },
      ]);
      await until(
        () => auth.events.findOneBy({ streamId: id }),
        (row) => row !== null,
      );
      const adminView = await asAdmin(
        request(auth.http).get(`/api/auth/users/${user.id}/activity`),
      ).expect(200);
      expect(adminView.body.items[0]).toMatchObject({
        type: 'sessions.revoked-all',
        userId: null,
        actor: admin,
        reason: 'revoke-all',
      });
      const own = (await activityOf(cookie).expect(200)).body.items;
      expect(own).toEqual(adminView.body.items);
      // An account created afterwards was never concerned by it. (Created in a later second:
      // SQLite keeps creation times to the second, and the view errs on the side of showing.)
      const revokedAt = Number(id.split('-')[0]);
      await until(
        async () => Date.now(),
        (now) => Math.floor(now / 1000) > Math.floor(revokedAt / 1000),
      );
      const later = await createUser(auth.http, adminCookie);
      const laterView = await asAdmin(
        request(auth.http).get(`/api/auth/users/${later.id}/activity`),
      ).expect(200);
      expect(laterView.body.items.map((item: { type: string }) => item.type)).not.toContain(
        'sessions.revoked-all',
      );
      const laterCookie = (await loginWithCookie(auth.http, later.username, later.password)).cookie;
      // The login reaches the log through the event stream: wait for it, then for nothing else.
      const laterOwn = await until(
        async () => (await activityOf(laterCookie).expect(200)).body.items,
        (items: Array<{ type: string }>) => items.length > 0,
      );
      expect(laterOwn.map((item: { type: string }) => item.type)).toEqual(['login']);
    });

    it('resumes after a restart mid-stream: every event stored once, none missing', async () => {
      const database = await isolatedDatabase('restart');
      const prefix = `${keyPrefix}restart:`;
      await clearRedis(REDIS_URL, prefix);
      const userId = randomUUID();
      const certs = join(workDir, 'certs-restart');
      const first = Array.from({ length: 6000 }, (_, n) => streamLogin(userId, n));
      let published = await publish(redis, prefix, first);

      let instance = await bootAuth(database, prefix, certs);
      const count = () => instance.events.countBy({ userId });
      // Stopped as soon as it has stored some: in the middle of the backlog.
      let storedBeforeStop = 0;
      while (!storedBeforeStop) {
        storedBeforeStop = await count();
        await sleep(5);
      }
      await instance.close();
      expect(storedBeforeStop).toBeLessThan(first.length);
      // More events while no consumer runs.
      published = published.concat(
        await publish(
          redis,
          prefix,
          Array.from({ length: 300 }, (_, n) => streamLogin(userId, first.length + n)),
        ),
      );
      // A crash between storing rows and moving the checkpoint: the rows are there, the
      // checkpoint is behind them.
      await rewindCheckpoint(database, published[Math.floor(storedBeforeStop / 2)]);
      instance = await bootAuth(database, prefix, certs);
      try {
        const stored = await until(count, (n) => n >= published.length);
        expect(stored).toBe(published.length);
        const rows = await instance.events.find({ where: { userId }, select: { streamId: true } });
        expect(rows.map((row) => row.streamId).sort()).toEqual([...published].sort());
        const checkpoint = await until(
          () =>
            instance.app
              .get(DataSource)
              .getRepository(ActivityCheckpoint)
              .findOneByOrFail({ name: 'session-events' }),
          (found) => `${found.lastMs}-${found.lastSeq}` === published[published.length - 1],
        );
        expect(checkpoint.name).toBe('session-events');
        expect(await instance.events.countBy({ type: MISSED_EVENTS_TYPE })).toBe(0);
      } finally {
        await instance.close();
      }
    });

    it('stores each event once when two instances consume the stream at once', async () => {
      const database = await isolatedDatabase('two');
      const prefix = `${keyPrefix}two:`;
      await clearRedis(REDIS_URL, prefix);
      const userId = randomUUID();
      const certs = join(workDir, 'certs-two');
      const one = await bootAuth(database, prefix, certs);
      const two = await bootAuth(database, prefix, certs);
      try {
        const published: string[] = [];
        // Bursts published while both read, interleaved with real logins on both instances.
        for (let burst = 0; burst < 10; burst++) {
          const events = Array.from({ length: 60 }, (_, n) => streamLogin(userId, burst * 60 + n));
          published.push(...(await publish(redis, prefix, events)));
          const login = await request(burst % 2 ? one.http : two.http)
            .post('/api/auth/login')
            .set('Origin', ORIGIN)
            .send({ username: ADMIN, password: ADMIN_PASSWORD });
          expect({ status: login.status, body: login.body }).toMatchObject({ status: 200 });
        }
        const stored = await until(
          () => one.events.countBy({ userId }),
          (n) => n >= published.length,
        );
        expect(stored).toBe(published.length);
        const admin = await one.app.get(DataSource).getRepository(User).findOneByOrFail({
          username: ADMIN,
        });
        const logins = await until(
          () => two.events.findBy({ userId: admin.id, type: 'login' }),
          (rows) => rows.length >= 10,
        );
        expect(logins).toHaveLength(10);
        expect(new Set(logins.map((row) => row.sessionId)).size).toBe(10);
      } finally {
        await one.close();
        await two.close();
      }
    });

    it('loses nothing while the database refuses writes, and stores it all once it accepts', async () => {
      const database = await isolatedDatabase('outage');
      const prefix = `${keyPrefix}outage:`;
      await clearRedis(REDIS_URL, prefix);
      const userId = randomUUID();
      const instance = await bootAuth(database, prefix, join(workDir, 'certs-outage'));
      const operator = await openDataSource(
        databaseOptions(database, { entities: [], migrations: [] }) as DataSourceOptions,
      );
      try {
        await publish(redis, prefix, [streamLogin(userId, 0)]);
        await until(
          () => instance.events.countBy({ userId }),
          (n) => n === 1,
        );
        await operator.query('ALTER TABLE auth_security_events RENAME TO auth_security_away');
        await publish(
          redis,
          prefix,
          Array.from({ length: 150 }, (_, n) => streamLogin(userId, n + 1)),
        );
        await expect(
          instance.app
            .get(SecurityActivityService)
            .record({ type: 'login.failed', userId, actor: null }),
        ).resolves.toBeUndefined();
        // Long enough for the consumer to fail and back off a few times.
        await sleep(700);
        await operator.query('ALTER TABLE auth_security_away RENAME TO auth_security_events');
        // The stream's events, and the one the app recorded meanwhile, kept until it could be.
        const stored = await until(
          () => instance.events.countBy({ userId }),
          (n) => n >= 152,
        );
        expect(stored).toBe(152);
        expect(await instance.events.countBy({ userId, type: 'login.failed' })).toBe(1);
      } finally {
        await operator.destroy();
        await instance.close();
      }
    });

    it('records a marker, once, when the stream was trimmed past its position', async () => {
      const database = await isolatedDatabase('trimmed');
      const prefix = `${keyPrefix}trimmed:`;
      await clearRedis(REDIS_URL, prefix);
      const userId = randomUUID();
      const certs = join(workDir, 'certs-trimmed');
      const [seen] = await publish(redis, prefix, [streamLogin(userId, 0)]);
      let instance = await bootAuth(database, prefix, certs);
      await until(
        () => instance.events.countBy({ userId }),
        (n) => n === 1,
      );
      await instance.close();
      // While auth is away, more events than the stream keeps: `seen` and the next are gone.
      const lost = await publish(redis, prefix, [streamLogin(userId, 1), streamLogin(userId, 2)]);
      const [kept] = await publish(redis, prefix, [streamLogin(userId, 3)]);
      await redis.xtrim(`${prefix}events`, 'MAXLEN', 1);
      instance = await bootAuth(database, prefix, certs);
      try {
        await until(
          () => instance.events.countBy({ userId }),
          (n) => n === 2,
        );
        const markers = await until(
          () => instance.events.findBy({ type: MISSED_EVENTS_TYPE }),
          (rows) => rows.length > 0,
        );
        expect(markers).toHaveLength(1);
        expect(markers[0]).toMatchObject({ userId: null, reason: `trimmed after ${seen}` });
        expect(await instance.events.countBy({ streamId: kept })).toBe(1);
        expect(await instance.events.countBy({ streamId: lost[0] })).toBe(0);
      } finally {
        await instance.close();
      }
    });

    it('shows a marker of missed events, cause alone, to the users whose accounts existed then', async () => {
      const database = await isolatedDatabase('shown');
      const prefix = `${keyPrefix}shown:`;
      await clearRedis(REDIS_URL, prefix);
      const certs = join(workDir, 'certs-shown');
      await publish(redis, prefix, [streamLogin(randomUUID(), 0)]);
      let instance = await bootAuth(database, prefix, certs);
      const early = { username: `early-${backend}`, password: strongPassword() };
      const late = { username: `late-${backend}`, password: strongPassword() };
      await instance.app.get(UsersService).create({ ...early, roles: ['customer'] });
      await until(
        () => instance.events.countBy({ type: 'login' }),
        (n) => n === 1,
      );
      await instance.close();
      await publish(redis, prefix, [streamLogin(randomUUID(), 1), streamLogin(randomUUID(), 2)]);
      await redis.xtrim(`${prefix}events`, 'MAXLEN', 1);
      instance = await bootAuth(database, prefix, certs);
      try {
        const [marker] = await until(
          () => instance.events.findBy({ type: MISSED_EVENTS_TYPE }),
          (rows) => rows.length > 0,
        );
        // Created after the marker: the gap is before this account's time. SQLite keeps
        // creation times to the second.
        await sleep(backend === 'sqlite' ? 1_100 : 5);
        await instance.app.get(UsersService).create({ ...late, roles: ['customer'] });
        const activityOf = async (user: { username: string; password: string }) => {
          const { cookie } = await loginWithCookie(instance.http, user.username, user.password);
          const page = await request(instance.http)
            .get('/api/auth/activity')
            .set('Cookie', cookie)
            .expect(200);
          return (page.body.items as { type: string }[]).filter(
            (item) => item.type === MISSED_EVENTS_TYPE,
          );
        };
        expect(await activityOf(early)).toEqual([
          {
            id: String(marker.id),
            type: MISSED_EVENTS_TYPE,
            at: new Date(Number(marker.at)).toISOString(),
            actor: null,
            userId: null,
            reason: 'trimmed',
          },
        ]);
        expect(await activityOf(late)).toEqual([]);
      } finally {
        await instance.close();
      }
    });

    it('records a marker when the stream that held its position was lost while auth was away', async () => {
      const database = await isolatedDatabase('lost');
      const prefix = `${keyPrefix}lost:`;
      await clearRedis(REDIS_URL, prefix);
      const userId = randomUUID();
      const certs = join(workDir, 'certs-lost');
      const [seen] = await publish(redis, prefix, [streamLogin(userId, 0)]);
      let instance = await bootAuth(database, prefix, certs);
      await until(
        () => instance.events.countBy({ userId }),
        (n) => n === 1,
      );
      await instance.close();
      // While auth is away, events are published, then Redis comes back without its data.
      await publish(redis, prefix, [streamLogin(userId, 1), streamLogin(userId, 2)]);
      await redis.del(`${prefix}events`);
      const [kept] = await publish(redis, prefix, [streamLogin(userId, 3)]);
      instance = await bootAuth(database, prefix, certs);
      try {
        const markers = await until(
          () => instance.events.findBy({ type: MISSED_EVENTS_TYPE }),
          (rows) => rows.length > 0,
        );
        expect(markers).toHaveLength(1);
        expect(markers[0]).toMatchObject({ userId: null, reason: `lost after ${seen}` });
        await until(
          () => instance.events.countBy({ streamId: kept }),
          (n) => n === 1,
        );
      } finally {
        await instance.close();
      }
    });
  });

  describe('retention', () => {
    it('deletes events older than ACTIVITY_RETENTION_DAYS, in batches, and nothing newer', async () => {
      const retention = auth.app.get(ActivityRetention);
      const userId = `retention-${randomUUID()}`;
      const now = Date.now();
      const at = (days: number, extraMs = 0) => now - days * DAY_MS + extraMs;
      const old = Array.from({ length: 2 * PRUNE_BATCH + 3 }, (_, n) =>
        toRow({ type: 'login', userId, actor: null, reason: 'old' }, at(91) - n, null),
      );
      const kept = [at(89), at(90, 1), at(0)].map((when) =>
        toRow({ type: 'login', userId, actor: null, reason: 'kept' }, when, null),
      );
      const edge = toRow({ type: 'login', userId, actor: null, reason: 'old' }, at(90, -1), null);
      await auth.events.insert([...old, ...kept, edge]);
      const deleted = await retention.prune(now);
      expect(deleted).toBeGreaterThanOrEqual(old.length + 1);
      const left = await auth.events.findBy({ userId });
      expect(left.map((row) => row.reason)).toEqual(['kept', 'kept', 'kept']);
      const byTime = (a: number, b: number) => a - b;
      expect(left.map((row) => row.at).sort(byTime)).toEqual(
        kept.map((row) => row.at).sort(byTime),
      );
    });

    it('prunes at start-up', async () => {
      const database = await isolatedDatabase('startup-prune');
      const certs = join(workDir, 'certs-prune');
      const prefix = `${keyPrefix}prune:`;
      let instance = await bootAuth(database, prefix, certs);
      const userId = `startup-${randomUUID()}`;
      await instance.events.insert([
        toRow({ type: 'login', userId, actor: null, reason: 'old' }, Date.now() - 3 * DAY_MS, null),
        toRow({ type: 'login', userId, actor: null, reason: 'new' }, Date.now(), null),
      ]);
      await instance.close();
      instance = await bootAuth(database, prefix, certs, { ACTIVITY_RETENTION_DAYS: '2' });
      try {
        const left = await until(
          () => instance.events.findBy({ userId }),
          (rows) => rows.length === 1,
        );
        expect(left[0].reason).toBe('new');
      } finally {
        await instance.close();
      }
    });
  });

  describe('migration', () => {
    it('creates the tables on an empty database and reverts cleanly', async () => {
      const dataSource = await openDataSource(
        databaseOptions(await isolatedDatabase('migration'), {
          entities: [User, SecurityEvent, ActivityCheckpoint],
          migrations: MIGRATIONS,
        }) as DataSourceOptions,
      );
      try {
        const tables = async () => {
          const runner = dataSource.createQueryRunner();
          try {
            return {
              events: await runner.hasTable('auth_security_events'),
              checkpoints: await runner.hasTable('auth_activity_checkpoints'),
              users: await runner.hasTable('auth_users'),
              streamIndex: (await runner.getTable('auth_security_events'))?.indices.find(
                (index) => index.name === 'UQ_auth_security_events_stream_id',
              )?.isUnique,
            };
          } finally {
            await runner.release();
          }
        };
        expect(await tables()).toEqual({
          events: true,
          checkpoints: true,
          users: true,
          streamIndex: true,
        });
        const repository = dataSource.getRepository(SecurityEvent);
        await repository.insert(toRow({ type: 'login', userId: 'u', actor: null }, 1, '1-0'));
        await expect(
          repository.insert(toRow({ type: 'login', userId: 'u', actor: null }, 1, '1-0')),
        ).rejects.toThrow();
        await repository.insert([
          toRow({ type: 'login', userId: 'u', actor: null }, 2, null),
          toRow({ type: 'login', userId: 'u', actor: null }, 2, null),
        ]);
        expect(await repository.count()).toBe(3);

        await dataSource.undoLastMigration();
        expect(await tables()).toEqual({
          events: false,
          checkpoints: false,
          users: true,
          streamIndex: undefined,
        });
        await dataSource.runMigrations();
        expect((await tables()).events).toBe(true);
      } finally {
        await dataSource.destroy();
      }
    });
  });
});
