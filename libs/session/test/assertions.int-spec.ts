import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, INestMicroservice } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  ClientProxy,
  ClientProxyFactory,
  Ctx,
  EventPattern,
  MessagePattern,
  Payload,
  Transport,
} from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import fc from 'fast-check';
import { firstValueFrom } from 'rxjs';

import {
  CurrentSession,
  RequireRecentAuth,
  Roles,
  Session,
  SESSION_ASSERTION_FIELD,
  SessionAssertionOptions,
  SessionAssertions,
  SessionClient,
  SessionGuard,
  SessionModule,
  SessionModuleOptions,
  SessionService,
} from '../src';
import { SessionRpcCapabilities, SessionRpcModule, sessionRpcTransport } from '../src/rpc';
import { SessionAssertionClaims } from '../src/lib/assertion/session-assertion.codec';
import { freePort, makeDevCertificates } from '../src/testing';
import { craftAssertion } from './crafted-assertion';
import { alice, REDIS_URL, sleep, uniquePrefix } from './store-contract';

const ordersKeys = generateKeyPairSync('ed25519');
const rogueKeys = generateKeyPairSync('ed25519');
const billingKeys = generateKeyPairSync('ed25519');

/** What catalog trusts: orders' key (and billing's, trusted for billing only). */
const TRUSTED: SessionAssertionOptions['trustedKeys'] = [
  { kid: 'orders-1', issuer: 'orders', publicKey: ordersKeys.publicKey },
  { kid: 'billing-1', issuer: 'billing', publicKey: billingKeys.publicKey },
];

/** What the receiver's handlers saw, in order. */
const seen: Array<{ pattern: string; payload: unknown; session?: Session }> = [];

@Controller()
class ReceiverController {
  @MessagePattern('whoami')
  whoami(@Payload() payload: unknown, @CurrentSession() session: Session) {
    seen.push({ pattern: 'whoami', payload, session });
    return { userId: session.userId, roles: session.roles, payload };
  }

  @Roles('customer')
  @MessagePattern('customers')
  customers(@CurrentSession() session: Session) {
    return session.username;
  }

  @RequireRecentAuth(1)
  @MessagePattern('recent')
  recent() {
    return 'recent';
  }

  @EventPattern('viewed')
  viewed(@Payload() payload: unknown, @Ctx() context: object) {
    seen.push({ pattern: 'viewed', payload, session: (context as { session?: Session }).session });
  }
}

interface Receiver {
  app: INestMicroservice;
  port: number;
}

/** A microservice that accepts assertions for `catalog`, with its session backend. */
async function startReceiver(
  backend: Pick<SessionModuleOptions, 'redis' | 'remote'> & { keyPrefix?: string },
  assertions: SessionAssertionOptions = { service: 'catalog', trustedKeys: TRUSTED },
  /** The receiver's server certificate for mutual TLS; plain TCP without. */
  tls?: { ca: string; cert: string; key: string },
): Promise<Receiver> {
  const port = await freePort();
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ ...backend, assertions } as SessionModuleOptions)],
    controllers: [ReceiverController],
    providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
  }).compile();
  const app = moduleRef.createNestMicroservice({
    ...(tls
      ? sessionRpcTransport({ host: '127.0.0.1', port, tls })
      : { transport: Transport.TCP, options: { host: '127.0.0.1', port } }),
    logger: false,
  });
  await app.listen();
  return { app, port };
}

/** A service's `SessionService` and `SessionAssertions`, signing as `service` with `key`. */
async function startSender(keyPrefix: string, service: string, key: KeyObject, kid: string) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({
        redis: { url: REDIS_URL },
        keyPrefix,
        assertions: { service, signingKey: { kid, privateKey: key } },
      }),
    ],
  }).compile();
  await moduleRef.init();
  return {
    sessions: moduleRef.get(SessionService),
    assertions: moduleRef.get(SessionAssertions),
    close: () => moduleRef.close(),
  };
}

/** A receiver on `backend`, orders signing into `keyPrefix`, and orders' client to it. */
async function connectOrdersTo(backend: Parameters<typeof startReceiver>[0], keyPrefix: string) {
  const receiver = await startReceiver(backend);
  const orders = await startSender(keyPrefix, 'orders', ordersKeys.privateKey, 'orders-1');
  const proxy = tcpClient(receiver.port);
  return { receiver, orders, proxy, catalog: orders.assertions.client(proxy, 'catalog') };
}

/** Auth's session RPC over mutual TLS on `port`, with `capabilities`. */
async function startAuthRpc(
  port: number,
  keyPrefix: string,
  certificates: ReturnType<typeof makeDevCertificates>,
  capabilities: SessionRpcCapabilities,
): Promise<INestMicroservice> {
  const authRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({ redis: { url: REDIS_URL }, keyPrefix }),
      SessionRpcModule.register({ capabilities }),
    ],
  }).compile();
  const auth = authRef.createNestMicroservice({
    ...sessionRpcTransport({ host: '127.0.0.1', port, tls: certificates.serverTls() }),
    logger: false,
  });
  await auth.listen();
  return auth;
}

function tcpClient(port: number): ClientProxy {
  return ClientProxyFactory.create({
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port },
  });
}

/** The RPC error a refused message answers, or 'accepted'. */
function outcome(result: Promise<unknown>): Promise<unknown> {
  return result.then(
    () => 'accepted',
    (error: unknown) => error,
  );
}

describe('session assertions in microservice messages (direct Redis mode)', () => {
  const keyPrefix = uniquePrefix();
  let receiver: Receiver;
  let orders: Awaited<ReturnType<typeof startSender>>;
  let proxy: ClientProxy;
  let catalog: SessionClient;

  const raw = (payload: object) => firstValueFrom(proxy.send('whoami', payload));

  beforeAll(async () => {
    ({ receiver, orders, proxy, catalog } = await connectOrdersTo(
      { redis: { url: REDIS_URL }, keyPrefix },
      keyPrefix,
    ));
  });

  afterAll(async () => {
    await proxy?.close();
    await receiver?.app.close();
    await orders?.close();
  });

  beforeEach(() => {
    seen.length = 0;
  });

  it('runs the handler with the live session, and hands it the payload without the assertion', async () => {
    const { session } = await orders.sessions.create(alice);
    const answer = await firstValueFrom(catalog.send('whoami', { skus: ['A-1'] }, session));
    expect(answer).toEqual({ userId: alice.id, roles: ['customer'], payload: { skus: ['A-1'] } });
    expect(seen[0].session).toMatchObject({ id: session.id, username: 'alice' });
  });

  it('refuses a message without an assertion, or with anything but one', async () => {
    for (const payload of [
      { skus: [] },
      { [SESSION_ASSERTION_FIELD]: 'garbage' },
      { [SESSION_ASSERTION_FIELD]: 42 },
      { [SESSION_ASSERTION_FIELD]: 'cra1..' },
      { [SESSION_ASSERTION_FIELD]: 'x'.repeat(100_000) },
    ]) {
      await expect(raw(payload)).rejects.toMatchObject({ status: 401, error: 'unauthenticated' });
    }
    expect(seen).toEqual([]);
  });

  it('refuses forgeries: an unknown key, a trusted key of another issuer, a changed claim', async () => {
    const { session } = await orders.sessions.create(alice);
    const admin = { ...session, roles: ['admin'] };
    const signed = orders.assertions.sign(session, 'catalog');
    // A valid assertion whose claims were edited: the signature no longer covers them.
    const [prefix, claims, signature] = signed.split('.');
    const edited = JSON.parse(Buffer.from(claims, 'base64url').toString());
    edited.roles = ['admin'];
    const tampered = [prefix, Buffer.from(JSON.stringify(edited)).toString('base64url'), signature];
    const forgeries: Array<[string, string]> = [
      ['unknown-key', craftAssertion(admin, rogueKeys.privateKey, { kid: 'rogue' })],
      ['bad-signature', craftAssertion(admin, rogueKeys.privateKey, {})],
      // Billing's key is trusted, for billing: it cannot speak for orders.
      ['unknown-key', craftAssertion(admin, billingKeys.privateKey, { kid: 'billing-1' })],
      ['bad-signature', tampered.join('.')],
    ];
    for (const [reason, assertion] of forgeries) {
      await expect(raw({ [SESSION_ASSERTION_FIELD]: assertion })).rejects.toMatchObject({
        status: 401,
        message: `Session assertion refused: ${reason}`,
      });
    }
    expect(seen).toEqual([]);
  });

  it('refuses any one-character change of a valid assertion', async () => {
    const { session } = await orders.sessions.create(alice);
    const valid = orders.assertions.sign(session, 'catalog');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: valid.length - 1 }),
        fc.constantFrom(...alphabet),
        async (position, character) => {
          fc.pre(valid[position] !== character);
          const changed = valid.slice(0, position) + character + valid.slice(position + 1);
          const result = await outcome(raw({ [SESSION_ASSERTION_FIELD]: changed }));
          expect(result).toMatchObject({ status: 401 });
        },
      ),
      { numRuns: 60 },
    );
    expect(seen).toEqual([]);
  });

  it('refuses an assertion for another audience', async () => {
    const { session } = await orders.sessions.create(alice);
    const forBilling = orders.assertions.client(proxy, 'billing');
    await expect(firstValueFrom(forBilling.send('whoami', {}, session))).rejects.toMatchObject({
      status: 401,
      message: 'Session assertion refused: wrong-audience',
    });
  });

  it('refuses an expired assertion, one from the future, and one that lives too long', async () => {
    const { session } = await orders.sessions.create(alice);
    const now = Date.now();
    const key = ordersKeys.privateKey;
    const cases: Array<[string, Partial<SessionAssertionClaims>]> = [
      ['expired', { iat: now - 40_000, exp: now - 10_000 }],
      ['bad-lifetime', { iat: now + 60_000, exp: now + 70_000 }],
      ['bad-lifetime', { iat: now, exp: now + 3_600_000 }],
    ];
    for (const [reason, times] of cases) {
      await expect(
        raw({ [SESSION_ASSERTION_FIELD]: craftAssertion(session, key, times) }),
      ).rejects.toMatchObject({ status: 401, message: `Session assertion refused: ${reason}` });
    }
  });

  it('expires with its ttl: a short-lived assertion works, then is refused', async () => {
    const keyPrefixShort = uniquePrefix();
    const short = await startReceiver(
      { redis: { url: REDIS_URL }, keyPrefix: keyPrefixShort },
      { service: 'catalog', trustedKeys: TRUSTED, clockSkew: 0.05 },
    );
    const sender = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: REDIS_URL },
          keyPrefix: keyPrefixShort,
          assertions: {
            service: 'orders',
            signingKey: { kid: 'orders-1', privateKey: ordersKeys.privateKey },
            ttl: 0.3,
          },
        }),
      ],
    }).compile();
    await sender.init();
    const client = tcpClient(short.port);
    try {
      const { session } = await sender.get(SessionService).create(alice);
      const assertion = sender.get(SessionAssertions).sign(session, 'catalog');
      const send = () =>
        firstValueFrom(client.send('whoami', { [SESSION_ASSERTION_FIELD]: assertion }));
      await expect(send()).resolves.toMatchObject({ userId: alice.id });
      await sleep(500);
      await expect(send()).rejects.toMatchObject({
        status: 401,
        message: 'Session assertion refused: expired',
      });
    } finally {
      await client.close();
      await short.app.close();
      await sender.close();
    }
  });

  it('refuses a fresh assertion once its session is revoked, at every offset of the race', async () => {
    for (let round = 0; round < 20; round++) {
      const { token, session } = await orders.sessions.create(alice);
      const assertion = orders.assertions.sign(session, 'catalog');
      const send = () => outcome(raw({ [SESSION_ASSERTION_FIELD]: assertion }));
      // Messages sent around the revocation may pass while it has not happened yet; every
      // one sent after it has answered must be refused.
      const before = Array.from({ length: round % 5 }, send);
      await orders.sessions.revoke(token);
      const after = await Promise.all(Array.from({ length: 3 }, send));
      await Promise.all(before);
      for (const result of after) {
        expect(result).toMatchObject({
          status: 401,
          message: 'Session assertion refused: session-ended',
        });
      }
    }
  });

  it('refuses an assertion whose session id now belongs to nobody it names', async () => {
    const { session } = await orders.sessions.create(alice);
    const assertion = craftAssertion(session, ordersKeys.privateKey, { sub: 'u-mallory' });
    await expect(raw({ [SESSION_ASSERTION_FIELD]: assertion })).rejects.toMatchObject({
      message: 'Session assertion refused: session-ended',
    });
  });

  it('checks roles against the live session: a role removed after signing is a 403', async () => {
    const { session } = await orders.sessions.create({ ...alice, id: 'u-roles' });
    const assertion = orders.assertions.sign(session, 'catalog');
    const send = () =>
      firstValueFrom(proxy.send('customers', { [SESSION_ASSERTION_FIELD]: assertion }));
    await expect(send()).resolves.toBe('alice');
    await orders.sessions.setRolesForUser('u-roles', []);
    await expect(send()).rejects.toMatchObject({ status: 403, error: 'forbidden' });
  });

  it('applies @RequireRecentAuth() to messages', async () => {
    const { session } = await orders.sessions.create(alice);
    const send = () => outcome(firstValueFrom(catalog.send('recent', {}, session)));
    expect(await send()).toBe('accepted');
    await sleep(1_100);
    expect(await send()).toMatchObject({ status: 401, error: 'reauthentication_required' });
  });

  it('runs an event handler only for a valid assertion', async () => {
    const { session } = await orders.sessions.create(alice);
    await firstValueFrom(proxy.emit('viewed', { sku: 'forged' }));
    await firstValueFrom(catalog.emit('viewed', { sku: 'A-1' }, session));
    await sleep(300);
    expect(seen).toEqual([
      {
        pattern: 'viewed',
        payload: { sku: 'A-1' },
        session: expect.objectContaining({ id: session.id }),
      },
    ]);
  });

  it('refuses hostile raw TCP frames and keeps serving', async () => {
    const frames = [
      '{"pattern":"whoami","data":{"$session":null},"id":"1"}',
      '{"pattern":"whoami","data":"$session","id":"2"}',
      '{"pattern":"whoami","data":[1,2],"id":"3"}',
      '{"pattern":"whoami","id":"4"}',
    ];
    const replies = await new Promise<string>((resolve, reject) => {
      const socket = connect(receiver.port, '127.0.0.1');
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => {
        received += chunk;
        if ((received.match(/"isDisposed":true/g) ?? []).length >= frames.length) {
          socket.end();
          resolve(received);
        }
      });
      socket.on('error', reject);
      socket.write(frames.map((frame) => `${frame.length}#${frame}`).join(''));
      setTimeout(() => reject(new Error(`only got ${received}`)), 5_000).unref();
    });
    for (const id of ['1', '2', '3', '4']) {
      expect(replies).toContain(`"id":"${id}"`);
    }
    expect(replies.match(/"status":401/g)).toHaveLength(frames.length);
    expect(seen).toEqual([]);
    const { session } = await orders.sessions.create(alice);
    await expect(firstValueFrom(catalog.send('whoami', {}, session))).resolves.toMatchObject({
      userId: alice.id,
    });
  });
});

describe('session assertions on a receiver in remote mode', () => {
  const keyPrefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'cloakroom-assert-'));
  const certificates = makeDevCertificates(dir, ['catalog']);
  let auth: INestMicroservice;
  let authOpen = false;
  let receiver: Receiver;
  let orders: Awaited<ReturnType<typeof startSender>>;
  let proxy: ClientProxy;
  let catalog: SessionClient;

  beforeAll(async () => {
    const rpcPort = await freePort();
    auth = await startAuthRpc(rpcPort, keyPrefix, certificates, {
      catalog: { calls: ['validate', 'get'], fields: ['id', 'userId', 'username', 'roles'] },
    });
    authOpen = true;
    ({ receiver, orders, proxy, catalog } = await connectOrdersTo(
      { remote: { host: '127.0.0.1', port: rpcPort, tls: certificates.remoteTls('catalog') } },
      keyPrefix,
    ));
  });

  afterAll(async () => {
    await proxy?.close();
    await receiver?.app.close();
    if (authOpen) await auth.close();
    await orders?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('checks the session through auth: accepted while it lives, refused once revoked', async () => {
    const { token, session } = await orders.sessions.create(alice);
    const before = await orders.sessions.get(session.id);
    await expect(firstValueFrom(catalog.send('whoami', {}, session))).resolves.toMatchObject({
      userId: alice.id,
    });
    // A check by id does not slide the session: only the user's own requests do.
    expect((await orders.sessions.get(session.id))?.lastSeenAt).toBe(before?.lastSeenAt);
    await orders.sessions.revoke(token);
    await expect(firstValueFrom(catalog.send('whoami', {}, session))).rejects.toMatchObject({
      status: 401,
      message: 'Session assertion refused: session-ended',
    });
  });

  it('answers 503 when auth cannot say whether the session lives', async () => {
    const { session } = await orders.sessions.create(alice);
    authOpen = false;
    await auth.close();
    await expect(firstValueFrom(catalog.send('whoami', {}, session))).rejects.toMatchObject({
      status: 503,
      error: 'session_store_unavailable',
    });
  });
});

describe('the session RPC `get` by id', () => {
  it('is served only to a caller whose capability grants it', async () => {
    const keyPrefix = uniquePrefix();
    const dir = mkdtempSync(join(tmpdir(), 'cloakroom-get-'));
    const certificates = makeDevCertificates(dir, ['reader', 'validator']);
    const rpcPort = await freePort();
    const auth = await startAuthRpc(rpcPort, keyPrefix, certificates, {
      reader: { calls: ['get'], fields: ['id', 'userId'] },
      validator: { calls: ['validate'], fields: ['id', 'userId'] },
    });
    const remote = (name: string) =>
      Test.createTestingModule({
        imports: [
          SessionModule.forRoot({
            remote: { host: '127.0.0.1', port: rpcPort, tls: certificates.remoteTls(name) },
          }),
        ],
      }).compile();
    const reader = await remote('reader');
    const validator = await remote('validator');
    try {
      const { session } = await auth.get(SessionService).create(alice);
      const seenByReader = await reader.get(SessionService).get(session.id);
      expect(seenByReader).toMatchObject({ id: session.id, userId: alice.id });
      expect(seenByReader).not.toHaveProperty('username');
      expect(await reader.get(SessionService).get('not-an-id')).toBeNull();
      await expect(validator.get(SessionService).get(session.id)).rejects.toThrow(
        /does not serve `session.get`: refused: may not call get/,
      );
    } finally {
      await reader.close();
      await validator.close();
      await auth.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('session assertions over mutual TLS: only their issuer may send them', () => {
  const keyPrefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'cloakroom-peer-'));
  // Every service's client certificate is of the deployment's one CA: each one can connect.
  const certificates = makeDevCertificates(dir, ['orders', 'billing', 'gateway'], ['catalog']);
  const receiverTls = () => {
    const pem = (file: string) => readFileSync(file, 'utf8');
    const { cert, key } = certificates.servers['catalog'];
    return { ca: pem(certificates.ca), cert: pem(cert), key: pem(key) };
  };
  let receiver: Receiver;
  let plain: Receiver;
  let orders: Awaited<ReturnType<typeof startSender>>;
  let billing: Awaited<ReturnType<typeof startSender>>;
  const clients = new Map<string, ClientProxy>();

  /** A client of the TLS receiver showing the certificate of `name`. */
  const from = (name: string): ClientProxy => {
    let client = clients.get(name);
    if (!client) {
      client = ClientProxyFactory.create({
        transport: Transport.TCP,
        options: {
          host: '127.0.0.1',
          port: receiver.port,
          tlsOptions: certificates.remoteTls(name),
        },
      });
      clients.set(name, client);
    }
    return client;
  };

  beforeAll(async () => {
    receiver = await startReceiver(
      { redis: { url: REDIS_URL }, keyPrefix },
      { service: 'catalog', trustedKeys: TRUSTED },
      receiverTls(),
    );
    plain = await startReceiver(
      { redis: { url: REDIS_URL }, keyPrefix },
      { service: 'catalog', trustedKeys: TRUSTED, requirePeer: true },
    );
    orders = await startSender(keyPrefix, 'orders', ordersKeys.privateKey, 'orders-1');
    billing = await startSender(keyPrefix, 'billing', billingKeys.privateKey, 'billing-1');
  });

  afterAll(async () => {
    for (const client of clients.values()) await client.close();
    await receiver?.app.close();
    await plain?.app.close();
    await orders?.close();
    await billing?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves an assertion only from the connection whose certificate names its issuer', async () => {
    const { session } = await orders.sessions.create(alice);
    const signed = {
      orders: orders.assertions.sign(session, 'catalog'),
      billing: billing.assertions.sign(session, 'catalog'),
    };
    for (const peer of ['orders', 'billing', 'gateway']) {
      for (const issuer of ['orders', 'billing'] as const) {
        const answer = await outcome(
          firstValueFrom(from(peer).send('whoami', { [SESSION_ASSERTION_FIELD]: signed[issuer] })),
        );
        expect({ peer, issuer, answer }).toEqual({
          peer,
          issuer,
          answer:
            peer === issuer
              ? 'accepted'
              : expect.objectContaining({
                  status: 401,
                  message: 'Session assertion refused: wrong-peer',
                }),
        });
      }
    }
  });

  it('with requirePeer, refuses every assertion over a transport that names no sender', async () => {
    const { session } = await orders.sessions.create(alice);
    const proxy = tcpClient(plain.port);
    try {
      await expect(
        firstValueFrom(orders.assertions.client(proxy, 'catalog').send('whoami', {}, session)),
      ).rejects.toMatchObject({ status: 401, message: 'Session assertion refused: wrong-peer' });
    } finally {
      await proxy.close();
    }
  });
});
