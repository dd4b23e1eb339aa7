import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';

import { BuiltApp, eventually, RunningApp, waitForStatus } from '@cloakroom/e2e-support';
import {
  InMemorySessionStore,
  SESSION_ASSERTION_FIELD,
  SessionAssertions,
  SessionModule,
  SessionService,
} from '@cloakroom/session';
import { SessionRpcModule, sessionRpcTransport } from '@cloakroom/session/rpc';
import {
  freePort,
  isAccepting,
  makeAssertionKeys,
  makeDevCertificates,
  startTcpRelay,
  TcpRelay,
  testKeyPrefix,
} from '@cloakroom/session/testing';

/**
 * A rolling restart of catalog while orders waits on a price quote: catalog checks each quote's
 * session through auth's session RPC, so a quote is in flight at SIGTERM for as long as auth
 * takes to answer. Here auth is a stand-in in the test process, behind a relay the test holds.
 */
describe('catalog restarted with price quotes in flight (built app, SIGTERM)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'catalog-rpc-restart-'));
  const certificates = makeDevCertificates(join(dir, 'certs'), ['catalog', 'orders'], ['catalog']);
  const ordersKeys = makeAssertionKeys(join(dir, 'certs'), 'orders');
  const catalog = new BuiltApp('catalog');
  let auth: INestMicroservice;
  let relay: TcpRelay;
  let running: RunningApp | undefined;
  let ports: { http: number; rpc: number };
  let rpc: ClientProxy;
  let assertionFor: () => Promise<string>;

  const quote = (assertion: string) =>
    firstValueFrom(
      rpc.send<unknown>('catalog.prices', {
        skus: ['TEA-EARL-GREY'],
        [SESSION_ASSERTION_FIELD]: assertion,
      }),
    ).catch((error: unknown) => ({ refused: error }));

  beforeAll(async () => {
    const authPort = await freePort();
    @Module({
      imports: [
        SessionModule.forRoot({
          redis: { url: 'redis://127.0.0.1:6379' },
          keyPrefix: testKeyPrefix('catalog-rpc-restart'),
        }),
        SessionRpcModule.register({
          capabilities: {
            catalog: { calls: ['validate', 'get'], fields: ['id', 'userId', 'username', 'roles'] },
          },
        }),
      ],
    })
    class StandInAuthModule {}
    auth = await NestFactory.createMicroservice(StandInAuthModule, {
      ...sessionRpcTransport({
        host: '127.0.0.1',
        port: authPort,
        tls: certificates.serverTls(),
      }),
      logger: false,
    });
    await auth.listen();
    relay = await startTcpRelay(authPort);

    const signer = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          store: new InMemorySessionStore(),
          assertions: {
            service: 'orders',
            signingKey: { kid: 'orders-1', privateKey: readFileSync(ordersKeys.privateKey) },
          },
        }),
      ],
    }).compile();
    assertionFor = async () => {
      const { session } = await auth
        .get(SessionService)
        .create({ id: 'u-alice', username: 'alice', roles: ['customer'] });
      return signer.get(SessionAssertions).sign(session, 'catalog');
    };

    ports = { http: await freePort(), rpc: await freePort() };
    running = catalog.start(
      {
        AUTH_RPC_CA: certificates.ca,
        AUTH_RPC_CLIENT_CERT: certificates.clients['catalog'].cert,
        AUTH_RPC_CLIENT_KEY: certificates.clients['catalog'].key,
        AUTH_RPC_PORT: String(relay.port),
        CATALOG_RPC_CLIENT_CA: certificates.ca,
        CATALOG_RPC_SERVER_CERT: certificates.servers['catalog'].cert,
        CATALOG_RPC_SERVER_KEY: certificates.servers['catalog'].key,
        SESSION_ASSERTION_TRUST: `orders:orders-1:${ordersKeys.publicKey}`,
        CATALOG_PORT: String(ports.http),
        CATALOG_RPC_PORT: String(ports.rpc),
        // Long enough that only the restart can fail a quote the relay holds.
        SESSION_STORE_TIMEOUT: '10',
      },
      dir,
    );
    await waitForStatus(`http://127.0.0.1:${ports.http}/api/catalog/products`, 200);
    rpc = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: {
        host: '127.0.0.1',
        port: ports.rpc,
        tlsOptions: certificates.remoteTls('orders'),
      },
    });
  }, 60_000);

  afterAll(async () => {
    relay?.release();
    await rpc?.close();
    await running?.stop();
    await relay?.sever();
    await auth?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the quotes in flight at SIGTERM before it lets go of the session RPC', async () => {
    // Both connections made (their TLS handshakes done) before the relay holds anything: the
    // test holds calls, not a handshake.
    expect(await quote(await assertionFor())).toEqual([
      { sku: 'TEA-EARL-GREY', name: 'Earl Grey tea, 100 g', priceCents: 650 },
    ]);
    const assertions = await Promise.all([1, 2, 3].map(() => assertionFor()));
    relay.hold();
    const answers: Promise<unknown>[] = [];
    for (const assertion of assertions) {
      const before = relay.heldBytes().length;
      answers.push(quote(assertion));
      await eventually(() => relay.heldBytes().length > before);
    }

    const stopped = running?.stop();
    // Catalog no longer takes connections: its shutdown is under way.
    await eventually(async () => !(await isAccepting(ports.http)));
    relay.release();

    const price = [{ sku: 'TEA-EARL-GREY', name: 'Earl Grey tea, 100 g', priceCents: 650 }];
    expect(await Promise.all(answers)).toEqual([price, price, price]);
    await stopped;
    running = undefined;
  }, 60_000);
});
