import { createHash } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';

import {
  sessionEventRef,
  SessionEventsItem,
  SessionEventsReader,
  SessionRedisConnection,
} from '../src';
import { SESSION_SCRIPTS } from '../src/lib/store/redis/session-scripts';
import {
  RedisClusterProcess,
  RedisServerProcess,
  startRedisCluster,
  startRedisServer,
} from '../src/testing';
import { addSessionAclUsers } from './acl-users';
import { sessionService } from './store-contract';

jest.setTimeout(60_000);

const PREFIX = 'cr:';
const sha = (script: keyof typeof SESSION_SCRIPTS) =>
  createHash('sha1').update(SESSION_SCRIPTS[script].lua).digest('hex');

/**
 * Least privilege in direct mode: a domain service connects as a `validator` Redis user and,
 * as a compromised service would, tries everything beyond validating sessions.
 */
describe.each([
  ['a single Redis', false],
  ['a three-master Redis Cluster', true],
])('Redis ACL users on %s', (_name, isCluster) => {
  let server: RedisServerProcess | undefined;
  let cluster: RedisClusterProcess | undefined;
  let nodes: Redis[];
  /** Connections `nodeAsValidator` opened, closed with the others. */
  const validatorNodes: Redis[] = [];
  let connection: (user: string, password: string) => SessionRedisConnection;
  let attacker: Redis | Cluster;

  beforeAll(async () => {
    if (isCluster) {
      cluster = await startRedisCluster();
      nodes = cluster.addresses.map(({ host, port }) => new Redis(port, host));
    } else {
      server = await startRedisServer();
      nodes = [new Redis(server.port, '127.0.0.1')];
    }
    // ACLs are per node: every node gets both users.
    for (const node of nodes) await addSessionAclUsers(node, PREFIX);
    connection = (username, password) =>
      isCluster
        ? {
            cluster: cluster?.addresses ?? [],
            options: { redisOptions: { username, password } },
          }
        : { url: `redis://${username}:${password}@127.0.0.1:${server?.port}` };
    attacker = isCluster
      ? new Cluster(cluster?.addresses ?? [], {
          redisOptions: { username: 'orders', password: 'orders-secret' },
        })
      : new Redis(server?.port ?? 0, '127.0.0.1', {
          username: 'orders',
          password: 'orders-secret',
        });
    attacker.on('error', () => undefined);
  });

  afterAll(async () => {
    attacker?.disconnect();
    for (const node of [...(nodes ?? []), ...validatorNodes.splice(0)]) node.disconnect();
    await cluster?.dispose();
    await server?.dispose();
  });

  it('lets the validator validate and slide sessions the owner created, and nothing else', async () => {
    const owner = await sessionService({
      redis: connection('auth', 'auth-secret'),
      idleTimeout: 60,
    });
    const orders = await sessionService({
      redis: connection('orders', 'orders-secret'),
      idleTimeout: 60,
      touchInterval: 0.01,
    });
    try {
      const admin = { id: 'u-admin', username: 'admin', roles: ['admin'] };
      const alice = { id: 'u-alice', username: 'alice', roles: ['customer'] };
      const issued = await owner.sessions.create(alice, { userAgent: 'UA' });
      await owner.sessions.create(admin);
      await new Promise((resolve) => setTimeout(resolve, 30));
      const seen = await orders.sessions.validate(issued.token);
      expect(seen).toMatchObject({ userId: 'u-alice', roles: ['customer'] });
      expect(seen?.lastSeenAt).toBeGreaterThan(issued.session.lastSeenAt);

      // The validator's own SessionService cannot write: every write is refused by Redis.
      await expect(orders.sessions.create(admin)).rejects.toThrow();
      await expect(orders.sessions.setRolesForUser('u-alice', ['admin'])).rejects.toThrow();
      await expect(orders.sessions.revokeAllForUser('u-admin')).rejects.toThrow();
      await expect(orders.sessions.rotate(issued.token)).rejects.toThrow();
      await expect(orders.sessions.patch(issued.session.id, { admin: true })).rejects.toThrow();
      expect((await owner.sessions.validate(issued.token))?.roles).toEqual(['customer']);
    } finally {
      await orders.close();
      await owner.close();
    }
  });

  it("lets the validator follow the owner's redacted events: from the end, and from a last id", async () => {
    const owner = await sessionService({ redis: connection('auth', 'auth-secret') });
    const source = isCluster
      ? new Cluster(cluster?.addresses ?? [], {
          redisOptions: { username: 'orders', password: 'orders-secret' },
        })
      : new Redis(server?.port ?? 0, '127.0.0.1', {
          username: 'orders',
          password: 'orders-secret',
        });
    const reader = new SessionEventsReader(source, {
      keyPrefix: PREFIX,
      blockMs: 200,
      redacted: true,
    });
    const next = async (items: AsyncGenerator<SessionEventsItem>) =>
      (await items.next()).value as SessionEventsItem;
    try {
      const user = { id: 'u-follow', username: 'follow', roles: ['customer'] };
      await owner.sessions.create(user);
      const fromEnd = reader.read();
      expect(await next(fromEnd)).toMatchObject({ kind: 'gap', reason: 'start' });
      const created = await owner.sessions.create(user, { ip: '203.0.113.7' });
      const ref = sessionEventRef(created.session.id);
      const first = await next(fromEnd);
      expect(first).toMatchObject({ kind: 'event', event: { sessionRef: ref } });
      // Nothing in it names a session's key, nor says who or where from.
      const raw = JSON.stringify(first);
      for (const secret of [created.session.id.split('.')[1], '203.0.113.7', '"follow"']) {
        expect(raw).not.toContain(secret);
      }
      await fromEnd.return(undefined);

      // A restart: it resumes after the last id handled, without a gap, and reads on.
      await owner.sessions.revoke(created.session.id);
      const resumed = reader.read(first.kind === 'event' ? first.event.id : null);
      expect(await next(resumed)).toMatchObject({
        kind: 'event',
        event: { type: 'session.revoked', sessionRef: ref },
      });
      await resumed.return(undefined);
    } finally {
      reader.close();
      source.disconnect();
      await owner.close();
    }
  });

  it('refuses, with NOPERM, everything a compromised validator would try', async () => {
    const owner = await sessionService({ redis: connection('auth', 'auth-secret') });
    try {
      const { session } = await owner.sessions.create({
        id: 'u-victim',
        username: 'victim',
        roles: ['customer'],
      });
      const [tag, digest] = session.id.split('.');
      const sessionKey = `${PREFIX}{${tag}}:s:${digest}`;
      const indexKey = `${PREFIX}{${tag}}:u:u-victim`;
      const generationKey = `${PREFIX}{${tag}}:g:u-victim`;
      const attempts: Array<[string, () => Promise<unknown>]> = [
        ['EVAL of its own script', () => attacker.eval('return 1', 0)],
        [
          'EVAL touching a session',
          () =>
            attacker.eval("return redis.call('HSET', KEYS[1], 'r', '[\"admin\"]')", 1, sessionKey),
        ],
        ['SCRIPT LOAD', () => attacker.script('LOAD', 'return 1')],
        [
          'FUNCTION LOAD',
          () =>
            attacker.call(
              'FUNCTION',
              'LOAD',
              "#!lua name=x\nredis.register_function('x', function() return 1 end)",
            ),
        ],
        [
          'the create script',
          () =>
            attacker.evalsha(
              sha('cloakroomCreate'),
              3,
              `${PREFIX}{${tag}}:s:${'A'.repeat(22)}`,
              indexKey,
              generationKey,
              60000,
              600000,
              0,
              'evict-oldest',
              60000,
              `${PREFIX}{${tag}}:s:`,
              'A'.repeat(22),
              '',
              `${PREFIX}{${tag}}:e:`,
              10000,
              'u',
              'u-victim',
              'n',
              'victim',
              'r',
              '["admin"]',
            ),
        ],
        [
          'the set-roles script',
          () =>
            attacker.evalsha(
              sha('cloakroomSetRoles'),
              3,
              indexKey,
              generationKey,
              `${PREFIX}{${tag}}:f`,
              `${PREFIX}{${tag}}:s:`,
              '["admin"]',
            ),
        ],
        [
          'the rotate script',
          () =>
            attacker.evalsha(
              sha('cloakroomRotate'),
              2,
              sessionKey,
              `${PREFIX}{${tag}}:s:${'B'.repeat(22)}`,
              60000,
              `${PREFIX}{${tag}}:u:`,
              `${PREFIX}{${tag}}:g:`,
              `${PREFIX}{${tag}}:s:`,
              digest,
              'B'.repeat(22),
              '',
              '1',
              `${PREFIX}{${tag}}:m:`,
              60000,
            ),
        ],
        [
          'the revoke-all script',
          () =>
            attacker.evalsha(
              sha('cloakroomRevokeAll'),
              3,
              indexKey,
              generationKey,
              `${PREFIX}{${tag}}:f`,
              `${PREFIX}{${tag}}:s:`,
              '',
            ),
        ],
        [
          'the revoke script',
          () =>
            attacker.evalsha(
              sha('cloakroomRevoke'),
              2,
              sessionKey,
              `${PREFIX}{${tag}}:f`,
              `${PREFIX}{${tag}}:u:`,
              digest,
              '',
              `${PREFIX}{${tag}}:m:`,
              `${PREFIX}{${tag}}:s:`,
              `${PREFIX}{${tag}}:e:`,
            ),
        ],
        [
          'the undo-create script',
          () =>
            attacker.evalsha(
              sha('cloakroomUndoCreate'),
              3,
              sessionKey,
              indexKey,
              generationKey,
              digest,
              'u-victim',
              `${PREFIX}{${tag}}:s:`,
              `${PREFIX}{${tag}}:e:`,
              10,
            ),
        ],
        [
          'the undo-rotate script',
          () =>
            attacker.evalsha(
              sha('cloakroomUndoRotate'),
              2,
              `${PREFIX}{${tag}}:s:${'B'.repeat(22)}`,
              sessionKey,
              `${PREFIX}{${tag}}:u:`,
              `${PREFIX}{${tag}}:m:`,
              'B'.repeat(22),
              digest,
              60000,
              '',
            ),
        ],
        [
          'the patch script',
          () =>
            attacker.evalsha(
              sha('cloakroomPatch'),
              1,
              sessionKey,
              64,
              16384,
              0,
              1,
              'a:admin',
              'true',
            ),
        ],
        [
          'the append-events script',
          () =>
            attacker.evalsha(
              sha('cloakroomAppendEvents'),
              1,
              `${PREFIX}events`,
              1000,
              'event',
              JSON.stringify({ type: 'sessions.revoked-all', actor: null, userId: null }),
            ),
        ],
        // The full stream names every session, so every session's key: not the validator's.
        ['reading the full event stream', () => attacker.xrange(`${PREFIX}events`, '-', '+')],
        [
          'following the full event stream',
          () => attacker.xread('COUNT', 1, 'STREAMS', `${PREFIX}events`, '0'),
        ],
        ['a raw HSET on a session', () => attacker.hset(sessionKey, 'r', '["admin"]')],
        ['a raw DEL of a session', () => attacker.del(sessionKey)],
        ['reading login-throttle counters', () => attacker.get(`${PREFIX}auth:fail:user:x`)],
        ['reading a user index', () => attacker.zrange(indexKey, 0, -1)],
        ['KEYS', () => attacker.keys('*')],
        ['SCAN', () => (isCluster ? nodeAsValidator().scan('0') : (attacker as Redis).scan('0'))],
        [
          'FLUSHALL',
          () => (isCluster ? nodeAsValidator().flushall() : (attacker as Redis).flushall()),
        ],
        [
          'CONFIG GET',
          () =>
            isCluster
              ? nodeAsValidator().config('GET', 'maxmemory-policy')
              : (attacker as Redis).config('GET', 'maxmemory-policy'),
        ],
        ['ACL SETUSER', () => attacker.call('ACL', 'SETUSER', 'orders', '+@all')],
      ];
      for (const [what, attempt] of attempts) {
        // The timer is cleared once the attempt is answered: pending, it would hold the test
        // process open after its last test.
        let timer: NodeJS.Timeout | undefined;
        const outcome = await Promise.race([
          attempt(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('no answer')), 5000);
          }),
        ])
          .then(
            () => 'allowed',
            (error: Error) => error.message,
          )
          .finally(() => clearTimeout(timer));
        expect(`${what}: ${outcome}`).toMatch(
          new RegExp(`^${escape(what)}: (NOPERM|ERR The user executing the script can't run this)`),
        );
      }
      // Nothing the attacker tried changed the victim's session.
      const stored = await owner.sessions.get(session.id);
      expect(stored?.roles).toEqual(['customer']);
      expect(stored?.attributes).toEqual({});
    } finally {
      await owner.close();
    }
  });

  function nodeAsValidator(): Redis {
    const { host, port } = cluster?.addresses[0] ?? { host: '127.0.0.1', port: 0 };
    const node = new Redis(port, host, { username: 'orders', password: 'orders-secret' });
    validatorNodes.push(node);
    return node;
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
