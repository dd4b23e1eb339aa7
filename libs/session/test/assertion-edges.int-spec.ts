import { generateKeyPairSync } from 'node:crypto';

import { Controller, INestMicroservice, LoggerService, UseGuards } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  ClientProxy,
  ClientProxyFactory,
  EventPattern,
  MessagePattern,
  Payload,
  Transport,
} from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';

import {
  CurrentSession,
  Public,
  Roles,
  Session,
  SESSION_ASSERTION_FIELD,
  SessionAssertionOptions,
  SessionAssertions,
  SessionGuard,
  SessionModule,
  SessionService,
} from '../src';
import { SessionAssertionClaims } from '../src/lib/assertion/session-assertion.codec';
import { sessionFields } from '../src/lib/store/remote/session-rpc.capabilities';
import { freePort } from '../src/testing';
import { craftAssertion } from './crafted-assertion';
import { alice, REDIS_URL, until, uniquePrefix } from './store-contract';

const ordersKeys = generateKeyPairSync('ed25519');
const SKEW_MS = 5_000;
const TRUSTED: SessionAssertionOptions['trustedKeys'] = [
  { kid: 'orders-1', issuer: 'orders', publicKey: ordersKeys.publicKey },
];

/** What the receiver's handlers saw, in order. */
const seen: Array<{ pattern: string; payload: unknown; userId?: string }> = [];
/** What the receiver logged as warnings. */
const warnings: string[] = [];

const logger: LoggerService = {
  log: () => undefined,
  error: () => undefined,
  warn: (message: unknown) => warnings.push(String(message)),
};

@Controller()
class EdgesController {
  @Public()
  @MessagePattern('open')
  open(@Payload() payload: unknown) {
    seen.push({ pattern: 'open', payload });
    return payload;
  }

  /** Guarded twice: by the global guard, and by its own (another instance). */
  @UseGuards(SessionGuard)
  @Roles('customer')
  @MessagePattern('twice')
  twice(@Payload() payload: unknown, @CurrentSession() session: Session) {
    seen.push({ pattern: 'twice', payload, userId: session.userId });
    return session.userId;
  }

  @EventPattern('viewed')
  viewed(@Payload() payload: unknown, @CurrentSession() session: Session) {
    seen.push({ pattern: 'viewed', payload, userId: session.userId });
  }
}

/** An assertion for `session` signed with orders' key, with `changes` to its claims. */
const craft = (session: Session, changes: Partial<SessionAssertionClaims>) =>
  craftAssertion(session, ordersKeys.privateKey, changes);

/** The reason an assertion is refused for, or 'accepted'. */
function reasonOf(verified: Promise<unknown>): Promise<string> {
  return verified.then(
    () => 'accepted',
    (error: { reason?: string }) => error.reason ?? String(error),
  );
}

describe('session assertions: edges of the claims, the guard and events', () => {
  const keyPrefix = uniquePrefix();
  let receiver: INestMicroservice;
  let proxy: ClientProxy;
  let sessions: SessionService;
  let catalog: SessionAssertions;
  let orders: SessionAssertions;
  let closeOrders: () => Promise<void>;

  const send = (pattern: string, payload: object): Promise<{ answer?: unknown; error?: unknown }> =>
    firstValueFrom(proxy.send(pattern, payload)).then(
      (answer: unknown) => ({ answer }),
      (error: unknown) => ({ error }),
    );

  beforeAll(async () => {
    const port = await freePort();
    // Each testing module sets its own logger when compiled: the receiver's, compiled last, stays.
    const ordersRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: REDIS_URL },
          keyPrefix,
          maxSessionsPerUser: 0,
          assertions: {
            service: 'orders',
            signingKey: { kid: 'orders-1', privateKey: ordersKeys.privateKey },
            trustedKeys: TRUSTED,
          },
        }),
      ],
    }).compile();
    await ordersRef.init();
    orders = ordersRef.get(SessionAssertions);
    closeOrders = () => ordersRef.close();
    const receiverRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: REDIS_URL },
          keyPrefix,
          maxSessionsPerUser: 0,
          assertions: { service: 'catalog', trustedKeys: TRUSTED, clockSkew: SKEW_MS / 1000 },
        }),
      ],
      controllers: [EdgesController],
      providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
    }).compile();
    receiver = receiverRef.createNestMicroservice({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
      logger,
    });
    await receiver.listen();
    sessions = receiver.get(SessionService);
    catalog = receiver.get(SessionAssertions);
    proxy = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await receiver?.close();
    await closeOrders?.();
  });

  beforeEach(() => {
    seen.length = 0;
    warnings.length = 0;
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('refuses an assertion that expires before it was issued', async () => {
    const { session } = await sessions.create(alice);
    const now = Date.now();
    for (const exp of [now - 1, now - 1_000, now - SKEW_MS + 1, -1]) {
      expect(await reasonOf(catalog.verify(craft(session, { iat: now, exp })))).toBe(
        'bad-lifetime',
      );
    }
    expect(await reasonOf(catalog.verify(craft(session, { iat: now, exp: now })))).toBe('accepted');
  });

  it('draws the lines of lifetime and clock skew to the millisecond', async () => {
    const { session } = await sessions.create(alice);
    const t = Date.now();
    const at = async (now: number, claims: Partial<SessionAssertionClaims>) => {
      jest.spyOn(Date, 'now').mockReturnValue(now);
      const reason = await reasonOf(catalog.verify(craft(session, claims)));
      jest.restoreAllMocks();
      return reason;
    };
    const lifetime = { iat: t, exp: t + 10_000 };
    expect(await at(t + 10_000 + SKEW_MS, lifetime)).toBe('accepted');
    expect(await at(t + 10_000 + SKEW_MS + 1, lifetime)).toBe('expired');
    expect(await at(t - SKEW_MS, lifetime)).toBe('accepted');
    expect(await at(t - SKEW_MS - 1, lifetime)).toBe('bad-lifetime');
    expect(await at(t, { iat: t, exp: t + 60_000 })).toBe('accepted');
    expect(await at(t, { iat: t, exp: t + 60_001 })).toBe('bad-lifetime');
    // Times that are not safe integers are no claims at all.
    for (const iat of [Number.NaN, t + 0.5, 2 ** 53, `${t}`, null] as unknown as number[]) {
      expect(await at(t, { iat })).toBe('malformed');
    }
  });

  it('refuses an assertion for another audience on every receiver but its own', async () => {
    const { session } = await sessions.create(alice);
    const forCatalog = orders.sign(session, 'catalog');
    expect(await reasonOf(catalog.verify(forCatalog))).toBe('accepted');
    // Orders trusts its own key too: the assertion it made for catalog is no good to it.
    expect(await reasonOf(orders.verify(forCatalog))).toBe('wrong-audience');
    expect(await reasonOf(catalog.verify(orders.sign(session, 'auth')))).toBe('wrong-audience');
  });

  it('signs for a session read in remote mode without its times, and refuses one without its identity', async () => {
    const { session } = await sessions.create(alice);
    // What a remote service whose capability grants no time fields gets from `validate`.
    const withoutTimes = sessionFields(session, ['id', 'userId', 'username', 'roles']);
    expect(withoutTimes.expiresAt).toBeUndefined();
    const assertion = orders.sign(withoutTimes, 'catalog');
    expect(await reasonOf(catalog.verify(assertion))).toBe('accepted');
    const { exp, iat } = JSON.parse(Buffer.from(assertion.split('.')[1], 'base64url').toString());
    expect(exp - iat).toBe(30_000);
    expect(() => orders.sign(sessionFields(session, ['roles']), 'catalog')).toThrow(
      'the session has no id, userId, username to assert',
    );
  });

  it('refuses a fresh assertion once its session is rotated, revoked for the user, or revoked globally', async () => {
    const rotated = await sessions.create(alice);
    const afterRotation = orders.sign(rotated.session, 'catalog');
    await sessions.rotate(rotated.token, { reauthenticated: true });
    expect(await reasonOf(catalog.verify(afterRotation))).toBe('session-ended');

    const user = { id: 'u-edges', username: 'edges', roles: ['customer'] };
    const [first, kept] = [await sessions.create(user), await sessions.create(user)];
    const [firstAssertion, keptAssertion] = [first, kept].map(({ session }) =>
      orders.sign(session, 'catalog'),
    );
    await sessions.revokeAllForUser(user.id, { except: kept.session.id });
    expect(await reasonOf(catalog.verify(firstAssertion))).toBe('session-ended');
    expect(await reasonOf(catalog.verify(keptAssertion))).toBe('accepted');

    const everyone = orders.sign((await sessions.create(alice)).session, 'catalog');
    await sessions.revokeEverything({ except: kept.session.id });
    await until(async () => (await reasonOf(catalog.verify(everyone))) === 'session-ended');
    expect(await reasonOf(catalog.verify(keptAssertion))).toBe('accepted');
  });

  it('hands a @Public() handler the payload without the assertion', async () => {
    const { session } = await sessions.create(alice);
    const assertion = orders.sign(session, 'catalog');
    const { answer } = await send('open', { sku: 'A-1', [SESSION_ASSERTION_FIELD]: assertion });
    expect(answer).toEqual({ sku: 'A-1' });
    expect(seen).toEqual([{ pattern: 'open', payload: { sku: 'A-1' } }]);
  });

  it('verifies a message once however many SessionGuards check it', async () => {
    const { session } = await sessions.create(alice);
    const assertion = orders.sign(session, 'catalog');
    const { answer, error } = await send('twice', {
      sku: 'A-1',
      [SESSION_ASSERTION_FIELD]: assertion,
    });
    expect(error).toBeUndefined();
    expect(answer).toBe(alice.id);
    expect(seen).toEqual([{ pattern: 'twice', payload: { sku: 'A-1' }, userId: alice.id }]);
    // A refusal stays one, at either guard.
    for (const payload of [{}, { [SESSION_ASSERTION_FIELD]: 'cra1.forged.x' }]) {
      expect((await send('twice', payload)).error).toMatchObject({ status: 401 });
    }
    await sessions.setRolesForUser(alice.id, []);
    expect((await send('twice', { [SESSION_ASSERTION_FIELD]: assertion })).error).toMatchObject({
      status: 403,
    });
    expect(seen).toHaveLength(1);
  });

  it('logs the refusal of an event, which has no answer to carry it, once per reason', async () => {
    const { session } = await sessions.create({ ...alice, id: 'u-events' });
    const revoked = await sessions.create({ ...alice, id: 'u-events' });
    const stale = orders.sign(revoked.session, 'catalog');
    await sessions.revoke(revoked.token);
    const emit = (payload: object) => firstValueFrom(proxy.emit('viewed', payload));
    for (let round = 0; round < 3; round++) {
      await emit({ sku: 'forged' });
      await emit({ sku: 'forged', [SESSION_ASSERTION_FIELD]: craft(session, { aud: 'orders' }) });
      await emit({ sku: 'stale', [SESSION_ASSERTION_FIELD]: stale });
    }
    await emit({ sku: 'A-1', [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog') });
    await until(() => seen.length === 1 && warnings.length === 3);
    expect(seen).toEqual([{ pattern: 'viewed', payload: { sku: 'A-1' }, userId: 'u-events' }]);
    expect(warnings.sort()).toEqual(
      ['missing', 'session-ended', 'wrong-audience'].map((reason) =>
        expect.stringContaining(`EdgesController.viewed: Session assertion refused: ${reason}`),
      ),
    );
  });
});
