import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DynamicModule, INestApplication, INestMicroservice, Module, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { Cluster, Redis } from 'ioredis';

import {
  InMemorySessionStore,
  Session,
  SessionAttributeNameError,
  SessionAttributesTooLargeError,
  SESSION_ATTRIBUTE_LIMITS,
  SessionCommonOptions,
  SessionGuard,
  SessionLimitReachedError,
  SessionModule,
  SessionModuleOptions,
  SessionService,
  SessionStore,
  SessionUser,
  SessionUserChangedError,
} from '../src';
import {
  SessionRpcCapabilities,
  SessionRpcModule,
  SessionRpcServerOptions,
  sessionRpcTransport,
} from '../src/rpc';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { parseSessionId, parseToken, SessionRef } from '../src/lib/token/session.token';
import {
  DevCertificates,
  freePort,
  makeDevCertificates,
  startRedisCluster,
  testKeyPrefix,
} from '../src/testing';

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export const alice = { id: 'u-alice', username: 'alice', roles: ['customer'] };
export const admin = { id: 'u-admin', username: 'admin', roles: ['admin'] };

export function uniquePrefix(): string {
  return testKeyPrefix();
}

/**
 * A Nest app context with SessionModule, for driving SessionService against a real store, and
 * the store it drives.
 */
export async function sessionService(options: SessionModuleOptions) {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot(options)],
  }).compile();
  await moduleRef.init();
  return {
    sessions: moduleRef.get(SessionService),
    store: moduleRef.get<SessionStore>(SessionStore),
    close: () => moduleRef.close(),
  };
}

/**
 * The services the cache models compare: two with a local cache (the second capped at 3
 * entries) and one without, the truth, all on `shared`; `closers` gets how to close each.
 */
export async function cachedServicesAndTruth(
  shared: object,
  closers: Array<() => Promise<void>>,
): Promise<{ caches: SessionService[]; truth: SessionService }> {
  const start = async (extra: Partial<SessionModuleOptions>) => {
    const service = await sessionService({ ...shared, ...extra } as SessionModuleOptions);
    closers.push(service.close);
    return service.sessions;
  };
  const caches = [
    await start({ localCache: { ttl: 60 } }),
    await start({ localCache: { ttl: 60, max: 3 } }),
  ];
  return { caches, truth: await start({}) };
}

/** An HTTP app of `controllers` behind `SessionGuard` (APP_GUARD), initialised, logging off. */
export async function guardedApp(
  options: SessionModuleOptions,
  controllers: Type[],
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot(options)],
    controllers,
    providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What validating `token` without pause for `forMs` answers, each change once, in order:
 * `live`, `refused` (null: a 401) or `unavailable` (a 503).
 */
export async function answersTo(
  sessions: SessionService,
  token: string,
  forMs: number,
): Promise<string[]> {
  const answers: string[] = [];
  const endAt = Date.now() + forMs;
  while (Date.now() < endAt) {
    const answer = await sessions.validate(token).then(
      (session) => (session ? 'live' : 'refused'),
      () => 'unavailable',
    );
    if (answers[answers.length - 1] !== answer) answers.push(answer);
    await sleep(5);
  }
  return answers;
}

/** The reference a well-formed session id names. */
export function idRef(sessionId: string): SessionRef {
  const ref = parseSessionId(sessionId);
  if (!ref) throw new Error('malformed session id');
  return ref;
}

/** The reference a well-formed token names. */
export function refOf(token: string): SessionRef {
  const ref = parseToken(token);
  if (!ref) throw new Error('malformed token');
  return ref;
}

/** Waits until `condition` holds, polling; throws after `ms`. */
export async function until(condition: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/**
 * A global revocation (from `admin`) whose sweep missed the session at `key`, as one racing a
 * rotation could: the hash is put back, so only the watermark ends it. Answers whether
 * `validate` (a 503 on a busy machine serves nothing: asked again) came to refuse it; the
 * `tries` only stop a service that never learns from hanging the run.
 */
export async function revokeEverythingButTheSweep(
  admin: SessionService,
  inspect: Pick<Redis, 'hgetall' | 'hset' | 'pexpire' | 'del'>,
  key: string,
  validate: () => Promise<unknown>,
  tries: number,
): Promise<boolean> {
  const copy = await inspect.hgetall(key);
  await admin.revokeEverything();
  await inspect.hset(key, copy);
  await inspect.pexpire(key, 60_000);
  const check = () => validate().catch(() => undefined);
  let seen = await check();
  for (let i = 0; seen !== null && i < tries; i++) {
    await sleep(100);
    seen = await check();
  }
  await inspect.del(key);
  return seen === null;
}

/** The Redis key of a session's hash, under a key prefix. */
export function sessionKey(prefix: string, sessionId: string): string {
  return new RedisKeys(prefix).session(parseSessionId(sessionId) as SessionRef);
}

/** Every key and value under a prefix, in key order, for checking what Redis holds. */
export async function dump(client: Redis | Cluster, prefix: string): Promise<string> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  // Sorted: KEYS answers in hash-table order, which a rehash changes with nothing written, and
  // a cluster's nodes may be listed in any order.
  const located = (
    await Promise.all(
      nodes.map(async (node) => (await node.keys(`${prefix}*`)).map((key) => ({ key, node }))),
    )
  )
    .flat()
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const parts: string[] = [];
  for (const { key, node } of located) {
    const type = await node.type(key);
    if (type === 'hash') parts.push(key, JSON.stringify(await node.hgetall(key)));
    else if (type === 'zset') parts.push(key, JSON.stringify(await node.zrange(key, 0, -1)));
    else if (type === 'stream') parts.push(key, JSON.stringify(await node.xrange(key, '-', '+')));
    else parts.push(key, String(await node.get(key)));
  }
  return parts.join('\n');
}

/**
 * The limits the contract assumes; a remote store's server must be configured with them.
 * Remembered sessions get short timeouts, so that their death can be awaited.
 */
export const CONTRACT_LIMITS = {
  idleTimeout: 60,
  absoluteTimeout: 600,
  maxSessionsPerUser: 3,
  remember: { idleTimeout: 1, absoluteTimeout: 2 },
  // The contract checks that every field round-trips, the raw user agent included.
  keepUserAgent: true,
};

export interface StoreUnderTest {
  /** Backend options of the SessionModule under test (limits come from CONTRACT_LIMITS). */
  options: SessionModuleOptions;
  /** A client on the Redis that ends up holding the data, for inspection; none in memory. */
  client?: Redis | Cluster;
  /** The key prefix the data is stored under, when the module under test does not choose it. */
  keyPrefix?: string;
  /**
   * The service that creates, rotates, lists and revokes sessions, when the store under test
   * only validates them (remote): a Redis-backed `SessionService` on the server's side.
   */
  issuer?: SessionService;
  /**
   * Backend options of a SessionModule whose store has other limits (cap policy, touch
   * interval); default: `options` with the limits added (same data). In memory, a new store:
   * a test drives all its sessions through it.
   */
  optionsWith?(limits: SessionCommonOptions): SessionModuleOptions;
  /** Stops what `start` started. */
  stop(): Promise<void>;
}

/**
 * The options of a service on `backend`: with `redis`, the contract's limits (and `limits`)
 * under `keyPrefix`; a `store` or `remote` backend is shaped by its store or its server, which
 * the module refuses to be told.
 */
function withLimits(
  backend: SessionModuleOptions,
  keyPrefix: string,
  limits: SessionCommonOptions = {},
): SessionModuleOptions {
  return backend.redis ? { ...CONTRACT_LIMITS, ...limits, ...backend, keyPrefix } : backend;
}

/** One implementation of `SessionStore`, as the contract suite starts it. */
export interface StoreAdapter {
  name: string;
  /** A validator (remote): validates and patches by token; its `issuer` does the rest. */
  validatorOnly?: boolean;
  start(): Promise<StoreUnderTest>;
}

const EVERY_FIELD: (keyof Session)[] = [
  'id',
  'userId',
  'username',
  'roles',
  'createdAt',
  'authenticatedAt',
  'lastSeenAt',
  'expiresAt',
  'absoluteExpiresAt',
  'persistent',
  'ip',
  'userAgent',
  'device',
  'attributes',
];

/** The capability table of the tests' session RPC servers. */
export const TEST_CAPABILITIES: SessionRpcCapabilities = {
  // Sees and may do all a validator can: what the contract suite checks.
  contract: { calls: ['validate', 'patch'], fields: EVERY_FIELD },
  catalog: {
    calls: ['validate'],
    fields: EVERY_FIELD.filter(
      (field) =>
        !['ip', 'userAgent', 'device', 'attributes', 'authenticatedAt', 'persistent'].includes(
          field,
        ),
    ),
  },
};

/**
 * A CA and certificates in a temp dir: one per service of `TEST_CAPABILITIES`, and `stranger`
 * and `constructor` (a name every object inherits), signed by the same CA but in no capability
 * table. `dispose` removes them.
 */
export function testCertificates(): DevCertificates & { dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'cloakroom-certs-'));
  return {
    ...makeDevCertificates(dir, [...Object.keys(TEST_CAPABILITIES), 'stranger', 'constructor']),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A session RPC server and the Redis-backed `SessionService` behind it (the issuer). */
export interface RpcServer {
  server: INestMicroservice;
  sessions: SessionService;
}

/**
 * A Redis-backed SessionModule behind the session RPC over mutual TLS, as the auth service
 * serves it, with `TEST_CAPABILITIES`; `serving` replaces the RPC's module (an earlier
 * release's controllers, say).
 */
export async function startRpcServer(
  port: number,
  keyPrefix: string,
  certificates: DevCertificates,
  serving: Type | DynamicModule = SessionRpcModule.register({ capabilities: TEST_CAPABILITIES }),
  transport: Partial<SessionRpcServerOptions> = {},
): Promise<RpcServer> {
  @Module({
    imports: [
      SessionModule.forRoot({ redis: { url: REDIS_URL }, keyPrefix, ...CONTRACT_LIMITS }),
      serving,
    ],
  })
  class RpcServerModule {}

  const moduleRef = await Test.createTestingModule({ imports: [RpcServerModule] }).compile();
  const server = moduleRef.createNestMicroservice({
    ...sessionRpcTransport({
      host: '127.0.0.1',
      port,
      tls: certificates.serverTls(),
      ...transport,
    }),
    logger: false,
  });
  await server.listen();
  return { server, sessions: server.get(SessionService) };
}

/** Every implementation of `SessionStore`: each must pass the same contract. */
export const STORE_ADAPTERS: StoreAdapter[] = [
  {
    name: 'RedisSessionStore on a single Redis',
    async start() {
      const client = new Redis(REDIS_URL);
      return {
        options: { redis: { url: REDIS_URL } },
        client,
        stop: async () => client.disconnect(),
      };
    },
  },
  {
    name: 'RedisSessionStore on a three-master Redis Cluster',
    async start() {
      const cluster = await startRedisCluster();
      const client = new Cluster(cluster.addresses);
      await new Promise((resolve) => client.once('ready', resolve));
      return {
        options: { redis: { cluster: cluster.addresses } },
        client,
        stop: async () => {
          client.disconnect();
          await cluster.dispose();
        },
      };
    },
  },
  {
    name: 'RemoteSessionStore through the session RPC (a validator)',
    validatorOnly: true,
    async start() {
      const keyPrefix = uniquePrefix();
      const port = await freePort();
      const certificates = testCertificates();
      const { server, sessions } = await startRpcServer(port, keyPrefix, certificates);
      const client = new Redis(REDIS_URL);
      return {
        options: {
          remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('contract') },
          storeTimeout: 1,
        },
        client,
        keyPrefix,
        issuer: sessions,
        stop: async () => {
          client.disconnect();
          await server.close();
          certificates.dispose();
        },
      };
    },
  },
  {
    name: 'InMemorySessionStore',
    async start() {
      return {
        options: { store: new InMemorySessionStore(CONTRACT_LIMITS) },
        optionsWith: (limits) => ({
          store: new InMemorySessionStore({ ...CONTRACT_LIMITS, ...limits }),
        }),
        stop: async () => undefined,
      };
    },
  },
];

/**
 * The behaviour every `SessionStore` must give, driven through `SessionService`; run once per
 * adapter (`describe.each(STORE_ADAPTERS)`). A validator (remote) is checked on what it
 * serves, validation and patches by token, against sessions its issuer creates and changes;
 * what only the issuer does is checked on the stores that do it.
 */
export function describeStoreContract(adapter: StoreAdapter) {
  describe(adapter.name, () => {
    const whole = adapter.validatorOnly ? it.skip : it;
    let target: StoreUnderTest;
    let prefix: string;
    let sessions: SessionService;
    /** The store `sessions` drives. */
    let store: SessionStore;
    /** Creates, rotates, lists and revokes: `sessions` itself unless it only validates. */
    let issuer: SessionService;
    let close: () => Promise<void>;
    // Fresh users per test: a remote or in-memory store keeps its data for the whole suite.
    let alice: SessionUser;
    let admin: SessionUser;

    beforeAll(async () => {
      target = await adapter.start();
    });

    afterAll(() => target?.stop());

    beforeEach(async () => {
      const run = Math.random().toString(36).slice(2, 8);
      alice = { id: `u-alice-${run}`, username: 'alice', roles: ['customer'] };
      admin = { id: `u-admin-${run}`, username: 'admin', roles: ['admin'] };
      prefix = target.keyPrefix ?? uniquePrefix();
      ({ sessions, store, close } = await sessionService(withLimits(target.options, prefix)));
      issuer = target.issuer ?? sessions;
    });

    afterEach(() => close());

    it('creates a session that validates to its user, roles and client facts', async () => {
      const { token, session } = await issuer.create(alice, {
        ip: '10.0.0.1',
        userAgent: 'UA/1',
      });
      expect(token).toMatch(/^cr1\.[\w-]{8}\.[\w-]{43}$/);
      const valid = await sessions.validate(token);
      expect(valid).toMatchObject({
        id: session.id,
        userId: alice.id,
        username: 'alice',
        roles: ['customer'],
        ip: '10.0.0.1',
        userAgent: 'UA/1',
      });
      expect(valid?.absoluteExpiresAt).toBe(session.createdAt + 600_000);
    });

    it('refuses unknown and malformed tokens', async () => {
      const { token } = await issuer.create(alice);
      const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      expect(await sessions.validate(forged)).toBeNull();
      expect(await sessions.validate('cr1.garbage')).toBeNull();
      expect(await sessions.validate({ not: 'a token' })).toBeNull();
    });

    it('keeps the token out of Redis: no key or value contains it or its secret', async () => {
      const client = target.client;
      if (!client) {
        return; // Nothing outside the process to inspect.
      }
      const { token } = await issuer.create(alice, { userAgent: 'UA' });
      const secret = token.split('.')[2];
      const everything = await dump(client, prefix);
      expect(everything.length).toBeGreaterThan(0);
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(token);
    });

    it('gets a session by id without sliding it, and revokes it by token or id', async () => {
      const first = await issuer.create(alice);
      const second = await issuer.create(alice);
      expect((await issuer.get(first.session.id))?.userId).toBe(alice.id);
      expect(await issuer.revoke(first.token)).toBe(true);
      expect(await sessions.validate(first.token)).toBeNull();
      expect(await issuer.revoke(second.session.id)).toBe(true);
      expect(await sessions.validate(second.token)).toBeNull();
      expect(await issuer.revoke(second.session.id)).toBe(false);
      expect(await issuer.listForUser(alice.id)).toEqual([]);
    });

    it('revokes a session by id only for its owner when an owner is given', async () => {
      const { token, session } = await issuer.create(alice);
      expect(await issuer.revoke(session.id, admin.id)).toBe(false);
      expect(await sessions.validate(token)).not.toBeNull();
      expect(await issuer.revoke(session.id, alice.id)).toBe(true);
    });

    whole('lists a user’s live sessions and only theirs', async () => {
      const a1 = await issuer.create(alice, { userAgent: 'one' });
      const a2 = await issuer.create(alice, { userAgent: 'two' });
      await issuer.create(admin);
      const listed = await issuer.listForUser(alice.id);
      expect(listed.map((s) => s.id)).toEqual([a1.session.id, a2.session.id]);
      expect(listed.map((s) => s.userAgent)).toEqual(['one', 'two']);
    });

    it('revokes all of a user’s sessions, or all but one', async () => {
      const keep = await issuer.create(alice);
      const other = await issuer.create(alice);
      const stranger = await issuer.create(admin);
      expect(await issuer.revokeAllForUser(alice.id, { except: keep.session.id })).toBe(1);
      expect(await sessions.validate(other.token)).toBeNull();
      expect(await sessions.validate(keep.token)).not.toBeNull();
      expect(await issuer.revokeAllForUser(alice.id)).toBe(1);
      expect(await sessions.validate(keep.token)).toBeNull();
      expect(await sessions.validate(stranger.token)).not.toBeNull();
    });

    whole(
      'answers the id of the session a revoke-all kept: the one a rotation moved it to',
      async () => {
        // The caller read its id, then a re-authentication and another rotation moved the
        // session: the id kept is the one to announce (its holder's sockets stay open).
        const caller = await issuer.create(alice);
        const other = await issuer.create(alice);
        const stranger = await issuer.create(admin);
        const once = await issuer.rotate(caller.token, { reauthenticated: true });
        const twice = await issuer.rotate(once?.token ?? '');
        const last = twice?.session.id ?? '';
        expect(await store.revokeAll(alice.id, idRef(caller.session.id))).toEqual({
          revoked: 1,
          kept: last,
        });
        expect(await sessions.validate(other.token)).toBeNull();
        expect(await store.revokeAll(alice.id, idRef(last))).toEqual({ revoked: 0, kept: last });
        // Nothing kept: an id of no live session of the user's (another user's one is left
        // alone), or none given.
        expect(await store.revokeAll(alice.id, idRef(stranger.session.id))).toEqual({
          revoked: 1,
          kept: null,
        });
        expect(await sessions.validate(stranger.token)).not.toBeNull();
        const later = await issuer.create(alice);
        expect(await store.revokeAll(alice.id, idRef(other.session.id))).toEqual({
          revoked: 1,
          kept: null,
        });
        expect(await sessions.validate(later.token)).toBeNull();
        expect(await store.revokeAll(alice.id)).toEqual({ revoked: 0, kept: null });
      },
    );

    it('caps sessions per user, revoking the oldest', async () => {
      const issued = [];
      for (let i = 0; i < 4; i++) issued.push(await issuer.create(alice));
      expect(issued[3].evicted).toEqual([issued[0].session.id]);
      expect(await sessions.validate(issued[0].token)).toBeNull();
      for (const { token } of issued.slice(1))
        expect(await sessions.validate(token)).not.toBeNull();
      expect(await issuer.listForUser(alice.id)).toHaveLength(3);
    });

    it('gives every live session of a user new roles', async () => {
      const one = await issuer.create(alice);
      const two = await issuer.create(alice);
      expect(await issuer.setRolesForUser(alice.id, ['customer', 'admin'])).toBe(2);
      expect((await sessions.validate(one.token))?.roles).toEqual(['customer', 'admin']);
      expect((await sessions.validate(two.token))?.roles).toEqual(['customer', 'admin']);
    });

    it('rotates a token: same user and attributes, new token, old token dead', async () => {
      const first = await issuer.create(alice, { attributes: { cart: [1, 2] } });
      const rotated = await issuer.rotate(first.token);
      expect(rotated?.token).not.toBe(first.token);
      expect(await sessions.validate(first.token)).toBeNull();
      const valid = await sessions.validate(rotated?.token);
      expect(valid).toMatchObject({ userId: alice.id, attributes: { cart: [1, 2] } });
      expect((await issuer.listForUser(alice.id)).map((s) => s.id)).toEqual([valid?.id]);
      expect(await issuer.rotate(first.token)).toBeNull();
    });

    it('revokes a session rotated moments ago under its new id, for its owner only', async () => {
      // A logout (or an administrator) that read the old id just before a re-authentication
      // rotated the session: its revocation must still end the session.
      const first = await issuer.create(alice);
      const once = await issuer.rotate(first.token, { reauthenticated: true });
      const twice = await issuer.rotate(once?.token ?? '');
      expect(await issuer.revoke(first.session.id, admin.id)).toBe(false);
      expect(await sessions.validate(twice?.token)).not.toBeNull();
      expect(await issuer.revoke(first.session.id, alice.id)).toBe(true);
      expect(await sessions.validate(twice?.token)).toBeNull();
      expect(await issuer.revoke(first.session.id)).toBe(false);
      // By token as well, and an id that never existed stays nothing.
      const other = await issuer.create(alice);
      const moved = await issuer.rotate(other.token);
      expect(await issuer.revoke(other.token)).toBe(true);
      expect(await sessions.validate(moved?.token)).toBeNull();
      expect(await issuer.listForUser(alice.id)).toEqual([]);
    });

    // What a revocation whose answer was lost announces rests on these two (see
    // `SessionService.revoke`): a wrong owner closes another user's sockets, a short trace
    // leaves a rotated session cached elsewhere.
    whole('tells whether a tag is the user’s own, and no other user’s', async () => {
      const aliceTag = refOf((await issuer.create(alice)).token).tag;
      const adminTag = refOf((await issuer.create(admin)).token).tag;
      expect(adminTag).not.toBe(aliceTag);
      const ownsTag = store.ownsTag?.bind(store);
      expect(ownsTag).toBeDefined();
      if (!ownsTag) return;
      expect(await ownsTag(alice.id, aliceTag)).toBe(true);
      expect(await ownsTag(admin.id, adminTag)).toBe(true);
      expect(await ownsTag(alice.id, adminTag)).toBe(false);
      expect(await ownsTag(admin.id, aliceTag)).toBe(false);
      expect(await ownsTag(`${alice.id}-never-seen`, aliceTag)).toBe(false);
    });

    whole('traces a token through its rotations to the live session, read only', async () => {
      const trace = store.trace?.bind(store);
      expect(trace).toBeDefined();
      if (!trace) return;
      const first = await issuer.create(alice);
      const from = refOf(first.token);
      expect(await trace(from)).toEqual([{ id: first.session.id, userId: alice.id }]);
      const once = await issuer.rotate(first.token);
      const twice = await issuer.rotate(once?.token ?? '');
      const rotatedTo = twice?.session.id;
      expect(await trace(from)).toEqual([
        { id: first.session.id, userId: null },
        { id: once?.session.id, userId: null },
        { id: rotatedTo, userId: alice.id },
      ]);
      expect(await trace(refOf(once?.token ?? ''))).toEqual([
        { id: once?.session.id, userId: null },
        { id: rotatedTo, userId: alice.id },
      ]);
      // Nothing was ended or moved by looking.
      expect((await sessions.validate(twice?.token))?.id).toBe(rotatedTo);
      expect((await issuer.listForUser(alice.id)).map((s) => s.id)).toEqual([rotatedTo]);
      // A digest under the same tag that names nothing, and never forwarded: one empty hop.
      const unknown = refOf(
        first.token.slice(0, -4) + (first.token.endsWith('AAAA') ? 'BBBB' : 'AAAA'),
      );
      expect(await trace(unknown)).toEqual([{ id: unknown.id, userId: null }]);
      // Revoked at the end of its chain: every hop empty, and the chain still followed.
      await issuer.revoke(twice?.token ?? '');
      expect((await trace(from)).map((hop) => hop.userId)).toEqual([null, null, null]);
    });

    whole(
      'keeps creation time and absolute deadline through a rotation, and the index order',
      async () => {
        const first = await issuer.create(alice);
        const second = await issuer.create(alice);
        await sleep(5);
        const rotated = await issuer.rotate(first.token);
        expect(rotated?.session.createdAt).toBe(first.session.createdAt);
        expect(rotated?.session.absoluteExpiresAt).toBe(first.session.absoluteExpiresAt);
        const listed = await issuer.listForUser(alice.id);
        expect(listed.map((s) => s.id)).toEqual([rotated?.session.id, second.session.id]);
        expect(listed[0].absoluteExpiresAt).toBe(first.session.absoluteExpiresAt);
      },
    );

    it('refuses a session whose user changed after the generation was read', async () => {
      for (const change of [
        () => issuer.setRolesForUser(alice.id, ['customer']),
        () => issuer.revokeAllForUser(alice.id),
        async () => {
          const held = await issuer.create(alice);
          await issuer.rotate(held.token, { revokeOthersOf: alice.id });
        },
      ]) {
        const generation = await issuer.generationOf(alice.id);
        await change();
        await expect(issuer.create(alice, {}, { generation })).rejects.toBeInstanceOf(
          SessionUserChangedError,
        );
        const fresh = await issuer.generationOf(alice.id);
        expect(fresh).not.toBe(generation);
        const { token } = await issuer.create(alice, {}, { generation: fresh });
        expect(await sessions.validate(token)).not.toBeNull();
      }
      // Another user's changes do not move this one's generation.
      const generation = await issuer.generationOf(alice.id);
      await issuer.setRolesForUser(admin.id, ['admin']);
      await issuer.revokeAllForUser(admin.id);
      expect(await issuer.generationOf(alice.id)).toBe(generation);
    });

    it('rotates one session and revokes all the others in one step (password change)', async () => {
      const current = await issuer.create(alice);
      const others = [await issuer.create(alice), await issuer.create(alice)];
      const stranger = await issuer.create(admin);
      const rotated = await issuer.rotate(current.token, { revokeOthersOf: alice.id });
      expect(rotated).not.toBeNull();
      expect(await sessions.validate(current.token)).toBeNull();
      for (const other of others) expect(await sessions.validate(other.token)).toBeNull();
      expect(await sessions.validate(rotated?.token)).not.toBeNull();
      expect((await issuer.listForUser(alice.id)).map((s) => s.id)).toEqual([rotated?.session.id]);
      expect(await sessions.validate(stranger.token)).not.toBeNull();
    });

    it('revokes every session when the one to rotate is already gone', async () => {
      const current = await issuer.create(alice);
      const other = await issuer.create(alice);
      await issuer.revoke(current.token);
      expect(await issuer.rotate(current.token, { revokeOthersOf: alice.id })).toBeNull();
      expect(await sessions.validate(other.token)).toBeNull();
      expect(await issuer.listForUser(alice.id)).toEqual([]);
    });

    it('changes nothing when the session to rotate belongs to another user', async () => {
      const victim = await issuer.create(alice);
      const victimOther = await issuer.create(alice);
      const caller = await issuer.create(admin);
      expect(await issuer.rotate(victim.token, { revokeOthersOf: admin.id })).toBeNull();
      for (const { token } of [victim, victimOther, caller]) {
        expect(await sessions.validate(token)).not.toBeNull();
      }
    });

    it('revokes every session of every user at once but the caller’s own, for every service', async () => {
      const other = await sessionService(withLimits(target.options, prefix));
      try {
        const kept = await issuer.create(admin);
        const victims = [
          await issuer.create(alice),
          await issuer.create(alice),
          await issuer.create(admin),
        ];
        expect(await issuer.revokeEverything({ except: kept.session.id })).toBeGreaterThanOrEqual(
          victims.length,
        );
        for (const { token } of victims) {
          expect(await sessions.validate(token)).toBeNull();
          expect(await other.sessions.validate(token)).toBeNull();
        }
        expect(await issuer.listForUser(alice.id)).toEqual([]);
        // The caller's own session survives, rotated or not, and so does every later login.
        expect(await other.sessions.validate(kept.token)).not.toBeNull();
        // Its creation time moved to the watermark, and a rotation keeps it there.
        const exempt = await issuer.get(kept.session.id);
        expect(exempt?.createdAt).toBeGreaterThan(kept.session.createdAt);
        const rotated = await issuer.rotate(kept.token);
        expect(rotated?.session.createdAt).toBe(exempt?.createdAt);
        expect(await other.sessions.validate(rotated?.token)).not.toBeNull();
        const later = await issuer.create(alice);
        expect(await other.sessions.validate(later.token)).not.toBeNull();
      } finally {
        await other.close();
      }
    });

    it('spares the session the caller’s id was rotated to before the global revocation ran', async () => {
      // The caller's id was read, then a re-authentication and a password change of the same
      // session rotated it: the caller holds the last token, which must survive, alone.
      const other = await sessionService(withLimits(target.options, prefix));
      try {
        const caller = await issuer.create(admin);
        const victims = [await issuer.create(admin), await issuer.create(alice)];
        const once = await issuer.rotate(caller.token, { reauthenticated: true });
        const twice = await issuer.rotate(once?.token ?? '', { revokeOthersOf: admin.id });
        await issuer.revokeEverything({ except: caller.session.id });
        expect((await other.sessions.validate(twice?.token))?.id).toBe(twice?.session.id);
        for (const { token } of [caller, ...victims]) {
          expect(await sessions.validate(token)).toBeNull();
          expect(await other.sessions.validate(token)).toBeNull();
        }
        expect((await issuer.listForUser(admin.id)).map((s) => s.id)).toEqual([twice?.session.id]);
        expect((await issuer.get(twice?.session.id ?? ''))?.createdAt).toBeGreaterThan(
          caller.session.createdAt,
        );
        // Spared by that revocation only: the next one that spares nobody ends it.
        await issuer.revokeEverything();
        expect(await other.sessions.validate(twice?.token)).toBeNull();
      } finally {
        await other.close();
      }
    });

    whole(
      'answers the id of the session a global revocation kept: the one a rotation moved it to',
      async () => {
        const caller = await issuer.create(admin);
        const victim = await issuer.create(alice);
        const moved = await issuer.rotate(caller.token, { reauthenticated: true });
        const last = moved?.session.id ?? '';
        const first = await store.revokeEverything(idRef(caller.session.id));
        expect(first).toMatchObject({ kept: last });
        expect(first.revoked).toBeGreaterThanOrEqual(1);
        expect(await sessions.validate(victim.token)).toBeNull();
        expect((await store.revokeEverything(idRef(last))).kept).toBe(last);
        expect((await sessions.validate(moved?.token))?.id).toBe(last);
        // Nothing kept: no live session under the id (nor under one it moved to), or none given.
        expect(await store.revokeEverything(idRef(victim.session.id))).toMatchObject({
          revoked: 1,
          kept: null,
        });
        expect(await sessions.validate(moved?.token)).toBeNull();
        expect(await store.revokeEverything()).toMatchObject({ revoked: 0, kept: null });
      },
    );

    it('ends, at a second global revocation, the sessions created since the first', async () => {
      await issuer.revokeEverything();
      const later = await issuer.create(alice);
      await issuer.revokeEverything();
      expect(await sessions.validate(later.token)).toBeNull();
      expect(await issuer.listForUser(alice.id)).toEqual([]);
    });

    it('patches attributes field by field: 50 parallel writers lose nothing', async () => {
      const { token, session } = await issuer.create(alice, { attributes: { keep: 'me' } });
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => sessions.patch(token, { [`field${i}`]: i })),
      );
      const valid = await sessions.validate(token);
      expect(Object.keys(valid?.attributes ?? {})).toHaveLength(51);
      for (let i = 0; i < 50; i++) expect(valid?.attributes[`field${i}`]).toBe(i);
      expect(await sessions.patch(token, { keep: undefined })).toBe(true);
      expect((await issuer.get(session.id))?.attributes).not.toHaveProperty('keep');
    });

    it('refuses attributes past their limits, and keeps what the session held', async () => {
      const { token } = await issuer.create(alice, { attributes: { keep: 'me' } });
      const many = Object.fromEntries(
        Array.from({ length: SESSION_ATTRIBUTE_LIMITS.count + 1 }, (_, i) => [`n${i}`, i]),
      );
      const tooLarge = SessionAttributesTooLargeError;
      await expect(sessions.patch(token, many)).rejects.toThrow(tooLarge);
      await expect(
        sessions.patch(token, { big: 'x'.repeat(SESSION_ATTRIBUTE_LIMITS.bytes) }),
      ).rejects.toThrow(tooLarge);
      await expect(issuer.create(alice, { attributes: many })).rejects.toThrow(tooLarge);
      // Each within the limits, the two together over them: what the session holds counts.
      const half = 'y'.repeat(SESSION_ATTRIBUTE_LIMITS.bytes / 2);
      expect(await sessions.patch(token, { a: half })).toBe(true);
      await expect(sessions.patch(token, { b: half })).rejects.toThrow(tooLarge);
      // A value replaced weighs only as itself; one removed weighs nothing.
      expect(await sessions.patch(token, { a: undefined, b: half, c: 'small' })).toBe(true);
      expect((await sessions.validate(token))?.attributes).toEqual({
        keep: 'me',
        b: half,
        c: 'small',
      });
    });

    it('lets a session written past the attribute limits be trimmed, and grow no further', async () => {
      if (!target.client) return; // only a hash written by hand can be past them
      const { token, session } = await issuer.create(alice);
      const fields = Array.from({ length: SESSION_ATTRIBUTE_LIMITS.count + 6 }, (_, i) => [
        `a:k${i}`,
        '1',
      ]).flat();
      await target.client.hset(sessionKey(prefix, session.id), ...fields);
      await expect(sessions.patch(token, { more: 1 })).rejects.toThrow(
        SessionAttributesTooLargeError,
      );
      expect(await sessions.patch(token, { k0: undefined, k1: undefined })).toBe(true);
      expect(await sessions.patch(token, { k2: 'same size' })).toBe(true);
      const kept = Object.keys((await sessions.validate(token))?.attributes ?? {});
      expect(kept).toHaveLength(SESSION_ATTRIBUTE_LIMITS.count + 4);
    });

    it('refuses attribute names every object has a meaning for, and never reads one back', async () => {
      const { token, session } = await issuer.create(alice);
      // What a parsed body gives: `__proto__` as an own key, not a prototype.
      const hostile = JSON.parse('{"__proto__": {"admin": true}}') as Record<string, unknown>;
      for (const attributes of [hostile, { constructor: 1 }, { prototype: {} }]) {
        await expect(sessions.patch(token, attributes)).rejects.toThrow(SessionAttributeNameError);
        await expect(issuer.create(alice, { attributes })).rejects.toThrow(
          SessionAttributeNameError,
        );
      }
      if (target.client) {
        // Written before names were checked, or by hand: skipped on every read path.
        await target.client.hset(
          sessionKey(prefix, session.id),
          'a:__proto__',
          '{"admin":true}',
          'a:kept',
          '1',
        );
      }
      const reads = [
        await sessions.validate(token),
        await issuer.get(session.id),
        (await issuer.listForUser(alice.id)).find((listed) => listed.id === session.id),
      ];
      for (const read of reads) {
        // An Object.prototype (of this realm or, cloned, of Node's), not an object on top of one.
        expect(Object.getPrototypeOf(Object.getPrototypeOf(read?.attributes))).toBeNull();
        expect((read?.attributes as { admin?: unknown }).admin).toBeUndefined();
      }
      if (target.client) expect(reads[0]?.attributes).toEqual({ kept: 1 });
    });

    /** A SessionService over the same backend with other store limits (see `optionsWith`). */
    async function issuerWith(limits: SessionCommonOptions) {
      const made = await sessionService(
        target.optionsWith?.(limits) ?? withLimits(target.options, prefix, limits),
      );
      extraClosers.push(made.close);
      return made.sessions;
    }
    const extraClosers: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const closeExtra of extraClosers.splice(0)) await closeExtra();
    });

    it('stamps authenticatedAt at creation and moves it only on a rotation that says so', async () => {
      const first = await issuer.create(alice);
      const { createdAt, absoluteExpiresAt } = first.session;
      expect(first.session.authenticatedAt).toBe(createdAt);
      expect((await sessions.validate(first.token))?.authenticatedAt).toBe(createdAt);
      await sleep(25);
      const plain = await issuer.rotate(first.token, { reauthenticated: false });
      expect(plain?.session.authenticatedAt).toBe(createdAt);
      await sleep(25);
      const stepUp = await issuer.rotate(plain?.token ?? '', { reauthenticated: true });
      const at = stepUp?.session.authenticatedAt ?? 0;
      // The store's clock: later than both sleeps, never later than now.
      expect(at).toBeGreaterThanOrEqual(createdAt + 40);
      expect(at).toBeLessThanOrEqual(Date.now() + 50);
      // A step-up never lengthens the session.
      expect(stepUp?.session).toMatchObject({ createdAt, absoluteExpiresAt });
      expect(await sessions.validate(plain?.token)).toBeNull();
      expect(await sessions.validate(stepUp?.token)).toMatchObject({
        authenticatedAt: at,
        createdAt,
        absoluteExpiresAt,
      });
      const later = await issuer.rotate(stepUp?.token ?? '');
      expect(later?.session.authenticatedAt).toBe(at);
      expect((await issuer.get(later?.session.id ?? ''))?.authenticatedAt).toBe(at);
    });

    it('gives remembered sessions the remember timeouts, and keeps them whoever validates', async () => {
      const remembered = await issuer.create(alice, {}, { persistent: true });
      const plain = await issuer.create(alice);
      const { createdAt } = remembered.session;
      expect(remembered.session).toMatchObject({
        persistent: true,
        expiresAt: createdAt + 1000,
        absoluteExpiresAt: createdAt + 2000,
      });
      expect(plain.session).toMatchObject({
        persistent: false,
        expiresAt: plain.session.createdAt + 60_000,
        absoluteExpiresAt: plain.session.createdAt + 600_000,
      });
      expect(await sessions.validate(remembered.token)).toMatchObject({
        persistent: true,
        absoluteExpiresAt: createdAt + 2000,
      });
      if (target.client) {
        const key = sessionKey(prefix, remembered.session.id);
        expect(await target.client.hmget(key, 'p', 'i', 'x')).toEqual([
          '1',
          '1000',
          String(createdAt + 2000),
        ]);
        const ttl = await target.client.pttl(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(1000);
        expect(await target.client.hexists(sessionKey(prefix, plain.session.id), 'p')).toBe(0);
      }
      // Another service with long timeouts of its own slides it by the session's own 1 s.
      const other = target.client
        ? await issuerWith({ idleTimeout: 3600, absoluteTimeout: 7200, touchInterval: 0 })
        : sessions;
      expect((await other.validate(remembered.token))?.expiresAt).toBeLessThanOrEqual(
        Date.now() + 1000 + 50,
      );
      await sleep(1300);
      expect(await sessions.validate(remembered.token)).toBeNull();
      expect(await sessions.validate(plain.token)).not.toBeNull();
      // Used all along, a remembered session still dies at its absolute deadline.
      const used = await issuer.create(admin, {}, { persistent: true });
      while (Date.now() < used.session.absoluteExpiresAt + 150) {
        await sessions.validate(used.token);
        await sleep(250);
      }
      expect(await sessions.validate(used.token)).toBeNull();
    });

    it('keeps the device label, cut to 64 bytes on a character boundary', async () => {
      const device = 'Chrome 131 on Windows';
      const labelled = await issuer.create(alice, { device, userAgent: 'Mozilla/5.0 '.repeat(12) });
      expect(labelled.session.device).toBe(device);
      expect((await sessions.validate(labelled.token))?.device).toBe(device);
      const rotated = await issuer.rotate(labelled.token);
      expect((await issuer.get(rotated?.session.id ?? ''))?.device).toBe(device);
      // 30 three-byte characters: only 21 fit in 64 bytes.
      const long = await issuer.create(admin, { device: '€'.repeat(30) });
      expect(long.session.device).toBe('€'.repeat(21));
      expect((await sessions.validate(long.token))?.device).toBe('€'.repeat(21));
      expect((await issuer.create(admin)).session.device).toBeUndefined();
      if (target.client) {
        const key = sessionKey(prefix, rotated?.session.id ?? '');
        expect(await target.client.hget(key, 'd')).toBe(device);
        // Every new field keeps the hash in the compact encoding.
        expect(await target.client.call('OBJECT', 'ENCODING', key)).toBe('listpack');
      }
    });

    whole(
      'keeps only the device label of a client unless told to keep its user agent',
      async () => {
        const labelOnly = await issuerWith({ keepUserAgent: false });
        const userAgent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36';
        const issued = await labelOnly.create(alice, {
          device: 'Chrome 131 on Windows',
          userAgent,
        });
        expect(issued.session).not.toHaveProperty('userAgent');
        const validated = await labelOnly.validate(issued.token);
        expect(validated?.device).toBe('Chrome 131 on Windows');
        expect(validated).not.toHaveProperty('userAgent');
        const listed = (await labelOnly.listForUser(alice.id)).find(
          (s) => s.id === issued.session.id,
        );
        expect(listed?.device).toBe('Chrome 131 on Windows');
        expect(listed).not.toHaveProperty('userAgent');
        if (target.client) {
          const stored = await target.client.hgetall(sessionKey(prefix, issued.session.id));
          expect(Object.values(stored).join('')).not.toContain('AppleWebKit');
        }
      },
    );

    whole('evicts the least recently used session under evict-idlest', async () => {
      const idlest = await issuerWith({ capPolicy: 'evict-idlest', touchInterval: 0 });
      const [first, second, third] = [
        await idlest.create(alice),
        await idlest.create(alice),
        await idlest.create(alice),
      ];
      await sleep(15);
      await idlest.validate(first.token);
      await sleep(15);
      await idlest.validate(second.token);
      await sleep(15);
      // The newest session is the idlest one: evict-oldest would have taken the first.
      const fourth = await idlest.create(alice);
      expect(fourth.evicted).toEqual([third.session.id]);
      expect(await idlest.validate(third.token)).toBeNull();
      for (const { token } of [first, second, fourth]) {
        expect(await idlest.validate(token)).not.toBeNull();
      }
      // Now the second is the least recently used (the first was touched after it).
      await sleep(15);
      await idlest.validate(fourth.token);
      await sleep(15);
      await idlest.validate(first.token);
      const fifth = await idlest.create(alice);
      expect(fifth.evicted).toEqual([second.session.id]);
      expect((await idlest.listForUser(alice.id)).map((s) => s.id)).toEqual([
        first.session.id,
        fourth.session.id,
        fifth.session.id,
      ]);
    });

    whole(
      'refuses a session over the cap under refuse: writes nothing, lists the live ones',
      async () => {
        const refuse = await issuerWith({ capPolicy: 'refuse' });
        const held = [
          await refuse.create(alice, { device: 'one' }),
          await refuse.create(alice, { device: 'two' }),
          await refuse.create(alice, { device: 'three' }),
        ];
        await refuse.create(admin);
        const before = target.client && (await dump(target.client, prefix));
        const failure = await refuse.create(alice, { device: 'four' }).catch((error) => error);
        expect(failure).toBeInstanceOf(SessionLimitReachedError);
        const listed = (failure as SessionLimitReachedError).sessions;
        expect(listed.map((session) => session.id)).toEqual(held.map(({ session }) => session.id));
        expect(listed.map((session) => session.device)).toEqual(['one', 'two', 'three']);
        expect(listed[0]).toMatchObject({ userId: alice.id, username: 'alice', persistent: false });
        if (target.client) {
          expect(await dump(target.client, prefix)).toBe(before);
        }
        expect((await refuse.listForUser(alice.id)).map((s) => s.id)).toEqual(
          listed.map((s) => s.id),
        );
        for (const { token } of held) expect(await refuse.validate(token)).not.toBeNull();
        // Ending one makes room.
        await refuse.revoke(held[1].token);
        const room = await refuse.create(alice);
        expect(room.evicted).toEqual([]);
        expect(await refuse.validate(room.token)).not.toBeNull();
      },
    );

    whole('never lets parallel logins at the cap exceed it under refuse', async () => {
      const refuse = await issuerWith({ capPolicy: 'refuse' });
      for (let round = 0; round < 24; round++) {
        const user = { id: `${alice.id}-race-${round}`, username: 'racer', roles: [] };
        const already = round % 4;
        const held: string[] = [];
        for (let i = 0; i < already; i++) held.push((await refuse.create(user)).session.id);
        let most = 0;
        let racing = true;
        const watcher = (async () => {
          while (racing) {
            most = Math.max(most, (await refuse.listForUser(user.id)).length);
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        // A different interleaving each round: jittered starts, from microtasks to 3 ms.
        const outcomes = await Promise.allSettled(
          Array.from({ length: 8 }, async (_, i) => {
            const jitter = (round * 7 + i * 3) % 5;
            if (jitter === 4) await Promise.resolve();
            else await sleep(jitter);
            return refuse.create(user);
          }),
        );
        racing = false;
        await watcher;
        const created = outcomes.filter((outcome) => outcome.status === 'fulfilled');
        const refused = outcomes.flatMap((outcome) =>
          outcome.status === 'rejected' ? [outcome.reason] : [],
        );
        expect(created).toHaveLength(3 - already);
        expect(refused).toHaveLength(8 - (3 - already));
        const live = (await refuse.listForUser(user.id)).map((session) => session.id);
        expect(live).toHaveLength(3);
        expect(live.slice(0, already)).toEqual(held);
        expect(most).toBeLessThanOrEqual(3);
        for (const error of refused) {
          expect(error).toBeInstanceOf(SessionLimitReachedError);
          const ids = (error as SessionLimitReachedError).sessions.map((session) => session.id);
          expect(ids).toHaveLength(3);
          expect(ids.every((id) => live.includes(id))).toBe(true);
        }
      }
    });

    it('never resurrects a revoked session through a patch', async () => {
      const { token, session } = await issuer.create(alice);
      await issuer.revoke(session.id);
      expect(await sessions.patch(token, { late: true })).toBe(false);
      expect(await issuer.get(session.id)).toBeNull();
    });
  });
}
