import { Controller, Inject, Logger, Module } from '@nestjs/common';
import {
  ClientProxy,
  ClientProxyFactory,
  MessagePattern,
  Payload,
  Transport,
} from '@nestjs/microservices';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { firstValueFrom } from 'rxjs';

import {
  sessionEventRef,
  SessionEvents,
  SessionOperationNotServedError,
  SessionRpc,
  SessionService,
  SessionStore,
} from '../src';
import { SessionRpcController } from '../src/lib/store/remote/session-rpc.controller';
import { parseToken } from '../src/lib/token/session.token';
import { freePort, startTcpRelay } from '../src/testing';
import {
  alice,
  REDIS_URL,
  RpcServer,
  sessionService,
  startRpcServer,
  testCertificates,
  uniquePrefix,
  until,
} from './store-contract';

const certificates = testCertificates();
afterAll(() => certificates.dispose());

describe('RemoteSessionStore when the auth service is down', () => {
  const keyPrefix = uniquePrefix();
  let port: number;
  let rpc: RpcServer;

  beforeAll(async () => {
    port = await freePort();
    rpc = await startRpcServer(port, keyPrefix, certificates);
  });

  afterAll(() => rpc?.server.close());

  it('fails with SessionStoreUnavailableError, and works again once auth is back', async () => {
    const { sessions, close } = await sessionService({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('contract') },
      storeTimeout: 0.5,
    });
    try {
      const { token } = await rpc.sessions.create(alice);
      await rpc.server.close();
      await expect(sessions.validate(token)).rejects.toThrow('Session store unavailable');
      rpc = await startRpcServer(port, keyPrefix, certificates);
      let user: string | undefined;
      for (let i = 0; i < 30 && !user; i++) {
        user = await sessions.validate(token).then(
          (session) => session?.username,
          () => undefined,
        );
        if (!user) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(user).toBe('alice');
    } finally {
      await close();
    }
  });
});

describe('RemoteSessionStore when auth drops its idle connection', () => {
  it('connects again for the next call, which is answered', async () => {
    const port = await freePort();
    // Auth closes a connection silent for 300 ms (3 minutes by default, past the store's
    // once-a-minute clock reading, so that a live store's connection is never dropped).
    const rpc = await startRpcServer(port, uniquePrefix(), certificates, undefined, {
      idleTimeout: 300,
    });
    const { sessions, close } = await sessionService({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('catalog') },
      storeTimeout: 0.5,
    });
    const connections: unknown[] = [];
    rpc.server.on('secureConnection', (socket: unknown) => connections.push(socket));
    try {
      const { token } = await rpc.sessions.create(alice);
      for (let round = 0; round < 3; round++) {
        expect(await sessions.validate(token)).toMatchObject({ username: 'alice' });
        await new Promise((resolve) => setTimeout(resolve, 900));
      }
      // One connection per round: each was dropped while idle and made again for the next call.
      expect(connections).toHaveLength(3);
    } finally {
      await close();
      await rpc.server.close();
    }
  });
});

describe('RemoteSessionStore when its connection goes silent, auth gone without closing it', () => {
  it('drops the connection once a call times out on it, and the calls after are answered', async () => {
    const port = await freePort();
    const rpc = await startRpcServer(port, uniquePrefix(), certificates);
    // Nothing passes a stranded connection and nothing closes it: a host that died.
    const relay = await startTcpRelay(port);
    const { sessions, close } = await sessionService({
      remote: { host: '127.0.0.1', port: relay.port, tls: certificates.remoteTls('catalog') },
      storeTimeout: 0.3,
    });
    const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const { token } = await rpc.sessions.create(alice);
      expect(await sessions.validate(token)).toMatchObject({ username: 'alice' });
      relay.strand();
      const started = Date.now();
      await expect(sessions.validate(token)).rejects.toThrow('Session store unavailable');
      await until(
        () =>
          sessions.validate(token).then(
            (session) => session?.username === 'alice',
            () => false,
          ),
        5_000,
      );
      // Silent for 1 s (twice the 0.3 s timeout, at least 1 s) before it was dropped.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      const dropped = warnings.mock.calls.filter(([message]) =>
        String(message).includes('connecting again'),
      );
      expect(dropped).toHaveLength(1);
    } finally {
      warnings.mockRestore();
      await close();
      await relay.sever();
      await rpc.server.close();
    }
  });
});

describe('RemoteSessionStore, a service that may patch', () => {
  it('has auth announce its patch as session.patched, on the redacted stream only', async () => {
    const keyPrefix = uniquePrefix();
    const port = await freePort();
    const rpc = await startRpcServer(port, keyPrefix, certificates);
    const contract = await sessionService({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('contract') },
    });
    const redis = new Redis(REDIS_URL);
    const eventsIn = async (stream: string) =>
      (await redis.xrange(stream, '-', '+')).map(([, fields]) => JSON.parse(fields[1]));
    try {
      const { token, session } = await rpc.sessions.create(alice);
      expect(await contract.sessions.patch(token, { cart: 'c-1' })).toBe(true);
      // Announced before auth answered the patch.
      expect((await eventsIn(`${keyPrefix}events:redacted`)).at(-1)).toEqual({
        type: SessionEvents.patched,
        actor: null,
        userId: null,
        sessionRef: sessionEventRef(session.id),
      });
      const types = (await eventsIn(`${keyPrefix}events`)).map((event) => event.type);
      expect(types).toEqual([SessionEvents.created]);
      expect((await rpc.sessions.get(session.id))?.attributes).toEqual({ cart: 'c-1' });
    } finally {
      await contract.close();
      await rpc.server.close();
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

describe('RemoteSessionStore, a validator', () => {
  let rpc: RpcServer;
  let catalog: { sessions: SessionService; close: () => Promise<void> };

  beforeAll(async () => {
    const port = await freePort();
    rpc = await startRpcServer(port, uniquePrefix(), certificates);
    catalog = await sessionService({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('catalog') },
    });
  });

  afterAll(async () => {
    await catalog?.close();
    await rpc?.server.close();
  });

  it('refuses, with a clear error, every operation auth keeps in-process', async () => {
    const { token, session } = await rpc.sessions.create(alice);
    const { sessions } = catalog;
    const refused: Array<[string, () => Promise<unknown>]> = [
      ['create', () => sessions.create(alice)],
      ['session.get', () => sessions.get(session.id)],
      ['revoke', () => sessions.revoke(token)],
      ['list', () => sessions.listForUser(alice.id)],
      ['revokeAll', () => sessions.revokeAllForUser(alice.id)],
      ['setRoles', () => sessions.setRolesForUser(alice.id, ['admin'])],
      ['generation', () => sessions.generationOf(alice.id)],
      ['rotate', () => sessions.rotate(token)],
      ['revokeEverything', () => sessions.revokeEverything()],
      ['patch by id', () => sessions.patch(session.id, { cart: 1 })],
    ];
    for (const [operation, call] of refused) {
      const error = await call().then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(SessionOperationNotServedError);
      expect((error as Error).message).toContain(`does not serve \`${operation}`);
    }
    expect(await sessions.validate(token)).toMatchObject({ id: session.id, roles: ['customer'] });
  });

  it('gives a service only the session fields its capability names', async () => {
    const { token, session } = await rpc.sessions.create(
      alice,
      {
        ip: '10.0.0.9',
        userAgent: 'UA/9',
        device: 'Edge 131 on Windows',
        attributes: { cart: [1] },
      },
      { persistent: true },
    );
    const seen = await catalog.sessions.validate(token);
    expect(seen).toMatchObject({ userId: alice.id, username: 'alice', roles: ['customer'] });
    expect(seen).not.toHaveProperty('ip');
    expect(seen).not.toHaveProperty('userAgent');
    expect(seen).not.toHaveProperty('device');
    expect(seen?.attributes).toEqual({});
    // What the guard needs for @RequireRecentAuth(), whatever the capability lists.
    expect(seen).toMatchObject({ authenticatedAt: session.authenticatedAt, persistent: true });
  });

  it('refuses a patch from a service that may only validate, and changes nothing', async () => {
    const { token, session } = await rpc.sessions.create(alice);
    await expect(catalog.sessions.patch(token, { admin: true })).rejects.toBeInstanceOf(
      SessionOperationNotServedError,
    );
    expect((await rpc.sessions.get(session.id))?.attributes).toEqual({});
  });
});

describe('RemoteSessionStore, batching the validations of one event-loop turn', () => {
  let rpc: RpcServer;
  let catalog: { sessions: SessionService; close: () => Promise<void> };
  /** RPC messages auth received, by pattern. */
  let calls: { single: jest.SpyInstance; many: jest.SpyInstance };
  const users = Array.from({ length: 6 }, (_, i) => ({
    id: `u-batch-${i}`,
    username: `batch${i}`,
    roles: [`role-${i}`],
  }));
  /** Live tokens by user index, two revoked ones, and tokens that name no session. */
  const pool: { token: string; userId: string | null }[] = [];

  beforeAll(async () => {
    // Spied before the server binds its handlers, with the handlers' pattern metadata.
    const spyOnHandler = (name: 'validate' | 'validateMany') => {
      const handler = SessionRpcController.prototype[name];
      const spy = jest.spyOn(SessionRpcController.prototype, name);
      for (const key of Reflect.getMetadataKeys(handler)) {
        Reflect.defineMetadata(key, Reflect.getMetadata(key, handler), spy);
      }
      return spy;
    };
    calls = { single: spyOnHandler('validate'), many: spyOnHandler('validateMany') };
    const port = await freePort();
    rpc = await startRpcServer(port, uniquePrefix(), certificates);
    catalog = await sessionService({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('catalog') },
    });
    for (const user of users) {
      pool.push({ token: (await rpc.sessions.create(user)).token, userId: user.id });
    }
    for (const user of users.slice(0, 2)) {
      const { token } = await rpc.sessions.create(user);
      await rpc.sessions.revoke(token);
      pool.push({ token, userId: null });
    }
    const { session } = await rpc.sessions.create(users[0]);
    pool.push({ token: session.id, userId: null }, { token: 'garbage', userId: null });
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await catalog?.close();
    await rpc?.server.close();
  });

  it('answers each of many concurrent validations with its own session, in a few messages', async () => {
    calls.single.mockClear();
    calls.many.mockClear();
    const asked = Array.from({ length: 48 }, (_, i) => pool[i % pool.length]);
    const answers = await Promise.all(asked.map(({ token }) => catalog.sessions.validate(token)));
    expect(answers.map((session) => session?.userId ?? null)).toEqual(
      asked.map(({ userId }) => userId),
    );
    expect(answers.map((session) => session?.roles ?? null)).toEqual(
      asked.map(({ userId }) => (userId ? [`role-${userId.split('-')[2]}`] : null)),
    );
    // A token asked several times in one turn travels once: the 8 well-formed tokens, in one
    // message (SessionService answers the malformed two without asking the store).
    expect(calls.many).toHaveBeenCalledTimes(1);
    expect(calls.many.mock.calls[0][0]).toEqual({
      tokens: pool.slice(0, 8).map(({ token }) => token),
    });
    expect(calls.single).not.toHaveBeenCalled();
  });

  it('keeps every answer with its token, whatever the mix and order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 60 }),
        fc.array(fc.nat(3), { minLength: 60, maxLength: 60 }),
        async (asked, turns) => {
          // Each validation is asked in the turn its `turns` entry says (0: this one).
          const answers = await Promise.all(
            asked.map(async ({ token }, i) => {
              for (let turn = 0; turn < turns[i]; turn++) {
                await new Promise((resolve) => setImmediate(resolve));
              }
              return catalog.sessions.validate(token);
            }),
          );
          expect(answers.map((session) => session?.userId ?? null)).toEqual(
            asked.map(({ userId }) => userId),
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('splits a turn of more than 16 distinct tokens into messages of at most 16', async () => {
    const extra = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        rpc.sessions.create({ id: `u-wide-${i}`, username: `wide${i}`, roles: [] }),
      ),
    );
    calls.many.mockClear();
    const answers = await Promise.all(extra.map(({ token }) => catalog.sessions.validate(token)));
    expect(answers.map((session) => session?.userId)).toEqual(extra.map((_, i) => `u-wide-${i}`));
    const sizes = calls.many.mock.calls.map(([{ tokens }]) => (tokens as string[]).length);
    expect(sizes).toEqual([16, 14]);
  });
});

/** An auth of the release before `validate-many`: it serves `session.validate` and `ping`. */
@Controller()
class EarlierRpcController {
  constructor(@Inject(SessionStore) private readonly store: SessionStore) {}

  @MessagePattern(SessionRpc.validate)
  async validate(@Payload() payload: { token?: unknown }) {
    const ref = parseToken(payload?.token);
    return ref ? this.store.validate(ref) : null;
  }

  @MessagePattern(SessionRpc.ping)
  ping(): true {
    return true;
  }
}

describe('RemoteSessionStore against an auth that does not serve validate-many', () => {
  it('falls back to one message per validation, and every answer is right', async () => {
    @Module({ controllers: [EarlierRpcController] })
    class EarlierRpcModule {}
    const port = await freePort();
    const earlier = await startRpcServer(port, uniquePrefix(), certificates, EarlierRpcModule);
    const service = await sessionService({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('catalog') },
    });
    try {
      const auth = earlier.sessions;
      const created = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          auth.create({ id: `u-earlier-${i}`, username: `earlier${i}`, roles: [] }),
        ),
      );
      await auth.revoke(created[5].token);
      const expected = created.map((_, i) => (i === 5 ? null : `u-earlier-${i}`));
      for (let round = 0; round < 2; round++) {
        const answers = await Promise.all(
          created.map(({ token }) => service.sessions.validate(token)),
        );
        expect(answers.map((session) => session?.userId ?? null)).toEqual(expected);
      }
    } finally {
      await service.close();
      await earlier.server.close();
    }
  });
});

describe('the session RPC, a trust boundary', () => {
  let rpc: RpcServer;
  const clients: ClientProxy[] = [];
  let port: number;

  const client = (name: string) => {
    const created = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port, tlsOptions: certificates.remoteTls(name) },
    });
    clients.push(created);
    return (pattern: string, payload: unknown) =>
      firstValueFrom(created.send<unknown>(pattern, payload));
  };

  beforeAll(async () => {
    port = await freePort();
    rpc = await startRpcServer(port, uniquePrefix(), certificates);
  });

  afterAll(async () => {
    await Promise.all(clients.map((created) => created.close()));
    await rpc?.server.close();
  });

  it('validates by token only: a public session id, or anything malformed, is no session', async () => {
    const send = client('contract');
    const { session } = await rpc.sessions.create(alice);
    for (const token of [session.id, 'garbage', 42, null, `cr1.AAAAAAAA.${'B'.repeat(43)}`]) {
      expect(await send(SessionRpc.validate, { token })).toBeNull();
      expect(await send(SessionRpc.patch, { token, attributes: {} })).toBe(false);
    }
    expect(await send(SessionRpc.validate, { id: session.id })).toBeNull();
  });

  it('answers validate-many as validate, in order, and refuses malformed or oversized lists', async () => {
    const send = client('catalog');
    const { token, session } = await rpc.sessions.create(alice, {
      ip: '10.0.0.7',
      userAgent: 'UA',
    });
    const answers = (await send(SessionRpc.validateMany, {
      tokens: ['garbage', token, session.id, token],
    })) as unknown[];
    expect(answers).toEqual([null, expect.objectContaining({ id: session.id }), null, answers[1]]);
    // The capability's fields, as for validate.
    expect(answers[1]).not.toHaveProperty('ip');
    expect(answers[1]).not.toHaveProperty('userAgent');
    for (const tokens of [undefined, 'x', [1], [token, null], Array(17).fill(token)]) {
      await expect(send(SessionRpc.validateMany, { tokens })).rejects.toMatchObject({
        message: 'Malformed session request: tokens',
      });
    }
    expect(await send(SessionRpc.validateMany, { tokens: [] })).toEqual([]);
  });

  it('refuses malformed patches', async () => {
    const send = client('contract');
    const { token } = await rpc.sessions.create(alice);
    for (const payload of [
      { token, attributes: 'x' },
      { token, attributes: [] },
      { token, attributes: {}, remove: [1] },
    ]) {
      await expect(send(SessionRpc.patch, payload)).rejects.toMatchObject({
        message: expect.stringMatching(/^Malformed session request/),
      });
    }
  });

  it.each(['stranger', 'constructor'])(
    'refuses a caller whose certificate its CA signed but no capability names (%s)',
    async (name) => {
      const send = client(name);
      const { token } = await rpc.sessions.create(alice);
      for (const pattern of [
        SessionRpc.validate,
        SessionRpc.validateMany,
        SessionRpc.patch,
        SessionRpc.ping,
      ]) {
        await expect(
          send(pattern, { token, tokens: [token], attributes: {} }),
        ).rejects.toMatchObject({
          refused: true,
          message: 'refused: not in the capability table',
        });
      }
    },
  );
});
