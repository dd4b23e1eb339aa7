import { readFileSync } from 'node:fs';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Test, TestingModule } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';

import {
  InMemorySessionStore,
  Session,
  SESSION_ASSERTION_FIELD,
  SessionAssertions,
  SessionModule,
} from '@cloakroom/session';

import { Stack } from './support/stack';

/**
 * Orders prices a basket by asking catalog over its RPC, acting for the shopper's session;
 * catalog checks that session through auth on every message. Then the same RPC, tried by a
 * caller on the service network that holds orders' certificate — and even orders' key.
 */
describe("price quotes: orders asks catalog on the shopper's behalf", () => {
  const stack = new Stack('pricing');
  let signer: TestingModule;
  let rpc: ClientProxy;

  beforeAll(async () => {
    await stack.start();
    signer = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          store: new InMemorySessionStore(),
          assertions: {
            service: 'orders',
            signingKey: {
              kid: 'orders-1',
              privateKey: readFileSync(stack.assertionKeys.privateKey),
            },
          },
        }),
      ],
    }).compile();
    rpc = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: {
        host: '127.0.0.1',
        port: stack.ports.catalogRpc,
        tlsOptions: stack.certificates.remoteTls('orders'),
      },
    });
  }, 60_000);

  afterAll(async () => {
    await rpc?.close();
    await signer?.close();
    await stack.stop();
  });

  const login = (username: string, password: string) => stack.login(username, password);
  const call = (token: string, method: string, path: string, body?: unknown) =>
    stack.call(token, method, path, body);

  /** The session a token names, in the shape an assertion is signed from. */
  async function sessionOf(token: string): Promise<Session> {
    const body = (await (await call(token, 'GET', '/api/auth/session')).json()) as {
      user: { id: string; username: string; roles: string[] };
      session: { id: string; expiresAt: string | number };
    };
    return {
      id: body.session.id,
      userId: body.user.id,
      username: body.user.username,
      roles: body.user.roles,
      expiresAt: new Date(body.session.expiresAt).getTime(),
    } as Session;
  }

  const prices = (payload: object) =>
    firstValueFrom(rpc.send<unknown>('catalog.prices', payload)).then(
      (answer) => answer,
      (error: unknown) => ({ refused: error }),
    );

  it('quotes a basket at the seeded prices, through the gateway', async () => {
    const alice = await login('alice', 'alice-password');
    const response = await call(alice, 'POST', '/api/orders/quote', {
      items: [
        { sku: 'TEA-EARL-GREY', quantity: 2 },
        { sku: 'NOT-SOLD-HERE', quantity: 1 },
        { sku: 'MUG-ENAMEL', quantity: 1 },
      ],
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      items: [
        {
          sku: 'TEA-EARL-GREY',
          quantity: 2,
          name: 'Earl Grey tea, 100 g',
          unitPriceCents: 650,
          priceCents: 1300,
        },
        {
          sku: 'MUG-ENAMEL',
          quantity: 1,
          name: 'Enamel mug',
          unitPriceCents: 1200,
          priceCents: 1200,
        },
      ],
      totalCents: 2500,
      unknownSkus: ['NOT-SOLD-HERE'],
    });
  });

  it("refuses a caller with orders' certificate but no assertion", async () => {
    expect(await prices({ skus: ['TEA-EARL-GREY'] })).toMatchObject({
      refused: { status: 401, error: 'unauthenticated' },
    });
  });

  it("stops even orders' own key once the user logs out", async () => {
    const alice = await login('alice', 'alice-password');
    const session = await sessionOf(alice);
    const assertion = signer.get(SessionAssertions).sign(session, 'catalog');
    const message = { skus: ['UMBRELLA'], [SESSION_ASSERTION_FIELD]: assertion };
    expect(await prices(message)).toEqual([
      { sku: 'UMBRELLA', name: 'Folding umbrella', priceCents: 2450 },
    ]);
    expect((await call(alice, 'POST', '/api/auth/logout')).status).toBe(204);
    expect(await prices(message)).toMatchObject({
      refused: { status: 401, message: 'Session assertion refused: session-ended' },
    });
    expect(
      (
        await call(alice, 'POST', '/api/orders/quote', {
          items: [{ sku: 'UMBRELLA', quantity: 1 }],
        })
      ).status,
    ).toBe(401);
  });

  it("refuses an assertion for alice's session that claims another user", async () => {
    const alice = await login('alice', 'alice-password');
    const bob = await sessionOf(await login('bob', 'bob-password'));
    const session = await sessionOf(alice);
    const assertion = signer
      .get(SessionAssertions)
      .sign({ ...session, userId: bob.userId }, 'catalog');
    expect(
      await prices({ skus: ['UMBRELLA'], [SESSION_ASSERTION_FIELD]: assertion }),
    ).toMatchObject({
      refused: { status: 401, message: 'Session assertion refused: session-ended' },
    });
  });

  it("serves each service's metrics on the service network, never through the gateway", async () => {
    const alice = await login('alice', 'alice-password');
    expect((await call(alice, 'GET', '/api/orders')).status).toBe(200);
    const direct = await fetch(`${stack.url('orders')}/api/orders/metrics`);
    expect(direct.status).toBe(200);
    expect(direct.headers.get('content-type')).toMatch(/^text\/plain;.*version=0\.0\.4/);
    const text = await direct.text();
    expect(text).toMatch(/^cloakroom_session_guard_total\{outcome="ok",context="http"\} [1-9]/m);
    expect(text).toMatch(
      /^cloakroom_session_store_seconds_count\{operation="validate",failed="false"\} [1-9]/m,
    );
    const catalog = await (await fetch(`${stack.url('catalog')}/api/catalog/metrics`)).text();
    // Catalog checked the assertions of the quotes above through auth: `get` calls.
    expect(catalog).toMatch(
      /^cloakroom_session_store_seconds_count\{operation="get",failed="false"\} [1-9]/m,
    );
    for (const path of [
      '/api/orders/metrics',
      '/api/orders/METRICS',
      '/api/orders/metrics/',
      '/api/orders/metrics?x=1',
      '/api/orders/%6detrics',
      '/api/auth/metrics',
      '/api/catalog/metrics',
    ]) {
      const response = await fetch(`${stack.baseUrl}${path}`);
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
      expect(await response.text()).not.toContain('cloakroom_session');
    }
  });
});
