import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as connectTls } from 'node:tls';
import { INestApplication } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';

import {
  InMemorySessionStore,
  SESSION_ASSERTION_FIELD,
  SessionAssertions,
  SessionModule,
  SessionUser,
} from '@cloakroom/session';
import { testKeyPrefix } from '@cloakroom/session/testing';

import { CatalogMessages } from '../src/app/products/products.messages';
import { randomSuffix, StandInAuth, startCatalogApp } from './catalog-app';

const suite = randomSuffix();
const alice: SessionUser = { id: `alice-${suite}`, username: 'alice', roles: ['customer'] };
const guest: SessionUser = { id: `guest-${suite}`, username: 'guest', roles: [] };

/** A service that signs session assertions as orders, with `privateKey`. */
async function signer(privateKey: string | Buffer, kid = 'orders-1'): Promise<SessionAssertions> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({
        store: new InMemorySessionStore(),
        assertions: { service: 'orders', signingKey: { kid, privateKey } },
      }),
    ],
  }).compile();
  return moduleRef.get(SessionAssertions);
}

describe("catalog's RPC: price quotes for a live session only", () => {
  let auth: StandInAuth;
  let app: INestApplication;
  let client: ClientProxy;
  let orders: SessionAssertions;
  const sku = `Q-${suite}`.slice(0, 32);

  const prices = (payload: object) =>
    firstValueFrom(client.send<unknown>(CatalogMessages.prices, payload));

  beforeAll(async () => {
    auth = await StandInAuth.started('redis://127.0.0.1:6379', testKeyPrefix(`msg-${suite}`));
    app = await startCatalogApp({
      CATALOG_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      ...auth.clientEnv,
    });
    const { token } = await auth.issue({
      id: `admin-${suite}`,
      username: 'admin',
      roles: ['admin'],
    });
    await request(app.getHttpServer())
      .post('/api/catalog/products')
      .set('Authorization', `Bearer ${token}`)
      .send({ sku, name: 'Quoted', priceCents: 725 })
      .expect(201);
    client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: {
        host: '127.0.0.1',
        port: auth.catalogRpcPort,
        tlsOptions: auth.certificates.remoteTls('orders'),
      },
    });
    orders = await signer(readFileSync(auth.ordersKeys.privateKey));
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
    await auth?.dispose();
  });

  it('quotes the known SKUs for a message acting for a live customer session', async () => {
    const { session } = await auth.issue(alice);
    const assertion = orders.sign(session, 'catalog');
    await expect(
      prices({ skus: [sku, 'NO-SUCH-SKU'], [SESSION_ASSERTION_FIELD]: assertion }),
    ).resolves.toEqual([{ sku, name: 'Quoted', priceCents: 725 }]);
  });

  it('refuses a message without an assertion', async () => {
    await expect(prices({ skus: [sku] })).rejects.toMatchObject({
      status: 401,
      error: 'unauthenticated',
    });
  });

  it('refuses an assertion signed with a key it does not trust, even under the right kid', async () => {
    const { session } = await auth.issue(alice);
    const forger = await signer(
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    await expect(
      prices({ skus: [sku], [SESSION_ASSERTION_FIELD]: forger.sign(session, 'catalog') }),
    ).rejects.toMatchObject({ status: 401, message: 'Session assertion refused: bad-signature' });
  });

  it('refuses an assertion made for another service', async () => {
    const { session } = await auth.issue(alice);
    await expect(
      prices({ skus: [sku], [SESSION_ASSERTION_FIELD]: orders.sign(session, 'billing') }),
    ).rejects.toMatchObject({ status: 401, message: 'Session assertion refused: wrong-audience' });
  });

  it('refuses a fresh assertion once the session is revoked', async () => {
    const { token, session } = await auth.issue(alice);
    const assertion = orders.sign(session, 'catalog');
    await expect(
      prices({ skus: [sku], [SESSION_ASSERTION_FIELD]: assertion }),
    ).resolves.toHaveLength(1);
    await auth.revoke(token);
    await expect(
      prices({ skus: [sku], [SESSION_ASSERTION_FIELD]: assertion }),
    ).rejects.toMatchObject({ status: 401, message: 'Session assertion refused: session-ended' });
  });

  it('refuses a session without a shopper role', async () => {
    const { session } = await auth.issue(guest);
    await expect(
      prices({ skus: [sku], [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog') }),
    ).rejects.toMatchObject({ status: 403 });
  });

  it('answers a malformed quote with a client error, and keeps serving', async () => {
    const { session } = await auth.issue(alice);
    for (const skus of [
      'x',
      [1],
      Array.from({ length: 101 }, () => 'A'),
      [''],
      [`${sku}\u0000`],
      ['A\nB'],
    ]) {
      const error = await prices({
        skus,
        [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog'),
      }).then(
        () => 'accepted',
        (thrown: unknown) => thrown,
      );
      expect(error).toMatchObject({ status: 400 });
    }
    await expect(
      prices({ skus: [sku], [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog') }),
    ).resolves.toHaveLength(1);
  });

  it('refuses a quote with a field every object has a name for, as an HTTP body would be', async () => {
    const { session } = await auth.issue(alice);
    for (const name of ['constructor', '__proto__', 'hasOwnProperty']) {
      // JSON.parse makes the name an own field, as the transport's parser does on the way in.
      const payload = JSON.parse(`{"skus":["${sku}"],"${name}":{"prototype":{}}}`) as object;
      const error = await prices({
        ...payload,
        [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog'),
      }).then(
        () => 'accepted',
        (thrown: unknown) => thrown,
      );
      expect(error).toMatchObject({ status: 400 });
    }
  });

  it("refuses orders' assertion replayed by another service over its own certificate", async () => {
    // Catalog's client certificate (the one it shows auth) is of the deployment CA: a service
    // that captured a fresh assertion of orders' (a log, a proxy) presents it from its own
    // connection.
    const hostile = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: {
        host: '127.0.0.1',
        port: auth.catalogRpcPort,
        tlsOptions: auth.certificates.remoteTls('catalog'),
      },
    });
    try {
      const { session } = await auth.issue(alice);
      const assertion = orders.sign(session, 'catalog');
      const replayed = await firstValueFrom(
        hostile.send(CatalogMessages.prices, { skus: [sku], [SESSION_ASSERTION_FIELD]: assertion }),
      ).then(
        () => 'accepted',
        (thrown: unknown) => thrown,
      );
      expect(replayed).toMatchObject({
        status: 401,
        message: 'Session assertion refused: wrong-peer',
      });
      // The assertion itself is good: from orders' connection it is served.
      await expect(
        prices({ skus: [sku], [SESSION_ASSERTION_FIELD]: assertion }),
      ).resolves.toHaveLength(1);
    } finally {
      await hostile.close();
    }
  });

  it('refuses a caller without a client certificate of the deployment CA', async () => {
    const stranger = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: {
        host: '127.0.0.1',
        port: auth.catalogRpcPort,
        tlsOptions: { ca: readFileSync(auth.certificates.ca, 'utf8') },
      },
    });
    try {
      const { session } = await auth.issue(alice);
      const answer = firstValueFrom(
        stranger.send(CatalogMessages.prices, {
          skus: [sku],
          [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog'),
        }),
      ).then(
        () => 'accepted',
        () => 'refused',
      );
      expect(await answer).toBe('refused');
    } finally {
      await stranger.close();
    }
  });

  /**
   * What one raw TLS connection to catalog's RPC gets back for `bytes`: until catalog closes it
   * (`open: false`), or a whole frame, or `waitMs` of silence (`open: true`).
   */
  function rawExchange(
    bytes: string,
    client: { cert: string; key: string },
    waitMs = 1500,
  ): Promise<{ answer: string; open: boolean }> {
    return new Promise((resolve) => {
      let answer = '';
      const socket = connectTls({
        host: '127.0.0.1',
        port: auth.catalogRpcPort,
        ca: readFileSync(auth.certificates.ca, 'utf8'),
        cert: readFileSync(client.cert, 'utf8'),
        key: readFileSync(client.key, 'utf8'),
        servername: 'catalog',
      });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ answer, open: true });
      }, waitMs);
      socket.on('secureConnect', () => socket.write(bytes));
      socket.on('data', (chunk) => {
        answer += chunk;
        const header = /^(\d+)#/.exec(answer);
        if (header && answer.length >= header[0].length + Number(header[1])) {
          clearTimeout(timer);
          socket.destroy();
          resolve({ answer, open: true });
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ answer, open: false });
      });
    });
  }

  const frame = (message: object) => {
    const json = JSON.stringify(message);
    return `${json.length}#${json}`;
  };

  it('drops a connection that sends a frame it cannot serve, with no answer, and serves the next', async () => {
    const { session } = await auth.issue(alice);
    const data = { skus: [sku], [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog') };
    const ordersCertificate = auth.certificates.clients['orders'];
    for (const bytes of [
      // A length far above the frame limit, declared before any of it is sent.
      '1073741824#{',
      '10#{not json}',
      'NaN#{}',
      // An event: no id to answer to.
      frame({ pattern: CatalogMessages.prices, data }),
    ]) {
      expect(await rawExchange(bytes, ordersCertificate)).toEqual({ answer: '', open: false });
    }
    const served = await rawExchange(
      frame({ pattern: CatalogMessages.prices, id: '1', data }),
      ordersCertificate,
    );
    expect(JSON.parse(served.answer.slice(served.answer.indexOf('#') + 1))).toMatchObject({
      id: '1',
      response: [{ sku, name: 'Quoted', priceCents: 725 }],
    });
  });

  it("refuses a server certificate of the deployment's CA (auth's) as a client certificate", async () => {
    const { session } = await auth.issue(alice);
    const data = { skus: [sku], [SESSION_ASSERTION_FIELD]: orders.sign(session, 'catalog') };
    const answer = await rawExchange(
      frame({ pattern: CatalogMessages.prices, id: '1', data }),
      auth.certificates.server,
    );
    expect(answer).toEqual({ answer: '', open: false });
  });
});
