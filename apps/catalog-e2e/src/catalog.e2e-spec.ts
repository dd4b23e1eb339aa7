import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';

import { BuiltApp, RunningApp, waitForStatus } from '@cloakroom/e2e-support';
import {
  InMemorySessionStore,
  SESSION_ASSERTION_FIELD,
  SessionAssertions,
  SessionModule,
  SessionService,
} from '@cloakroom/session';
import { freePort, makeAssertionKeys, makeDevCertificates } from '@cloakroom/session/testing';

const alice = { id: 'u-alice', username: 'alice', roles: ['customer'] };

describe('the built catalog service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'catalog-e2e-'));
  const certificates = makeDevCertificates(join(dir, 'certs'), ['catalog', 'orders'], ['catalog']);
  const ordersKeys = makeAssertionKeys(join(dir, 'certs'), 'orders');
  const catalog = new BuiltApp('catalog');
  // The session RPC's mutual TLS, its own RPC's, and orders' assertion key: read at start-up.
  const tls = {
    AUTH_RPC_CA: certificates.ca,
    AUTH_RPC_CLIENT_CERT: certificates.clients['catalog'].cert,
    AUTH_RPC_CLIENT_KEY: certificates.clients['catalog'].key,
    CATALOG_RPC_CLIENT_CA: certificates.ca,
    CATALOG_RPC_SERVER_CERT: certificates.servers['catalog'].cert,
    CATALOG_RPC_SERVER_KEY: certificates.servers['catalog'].key,
    SESSION_ASSERTION_TRUST: `orders:orders-1:${ordersKeys.publicKey}`,
  };

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['Production', 'prod', ''])(
    'refuses to start with NODE_ENV=%j, in one line',
    async (value) => {
      const result = await catalog.runToExit(
        { NODE_ENV: value, CATALOG_PORT: String(await freePort()) },
        dir,
      );
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          /^catalog: cannot start: invalid configuration: NODE_ENV must be one of/,
        ),
      ]);
    },
  );

  it('exits 1 with one line naming the database when PostgreSQL is unreachable', async () => {
    const port = await freePort();
    const result = await catalog.runToExit(
      {
        ...tls,
        CATALOG_DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${port}/catalog`,
        CATALOG_PORT: String(await freePort()),
      },
      dir,
    );
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`127.0.0.1:${port}/catalog`);
    expect(lines[0]).not.toContain('secret');
  });

  it('exits 1 with one line naming the setting when its client certificate is missing', async () => {
    const missing = join(dir, 'missing.crt');
    const result = await catalog.runToExit(
      { ...tls, AUTH_RPC_CLIENT_CERT: missing, CATALOG_PORT: String(await freePort()) },
      dir,
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `catalog: cannot start: AUTH_RPC_CLIENT_CERT: cannot read ${missing} (ENOENT); ` +
        'for development, tools/dev-ca/make-dev-certs.sh makes a CA and certificates in .data/certs',
    ]);
  });

  it('exits 1 with one line naming the setting when a trusted assertion key is missing', async () => {
    const missing = join(dir, 'missing.pub');
    const result = await catalog.runToExit(
      {
        ...tls,
        SESSION_ASSERTION_TRUST: `orders:orders-1:${missing}`,
        CATALOG_PORT: String(await freePort()),
      },
      dir,
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^catalog: cannot start: SESSION_ASSERTION_TRUST: cannot read .*missing\.pub \(ENOENT\)/,
      ),
    ]);
  });

  it.each(['CATALOG_PORT', 'CATALOG_RPC_PORT'])(
    'exits 1 with one line, no logs, naming %s when the port it names is taken',
    async (setting) => {
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const port = (taken.address() as AddressInfo).port;
      try {
        const ports = {
          CATALOG_PORT: String(await freePort()),
          CATALOG_RPC_PORT: String(await freePort()),
          [setting]: String(port),
        };
        const result = await catalog.runToExit({ ...tls, ...ports }, dir);
        expect(result.code).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr.trim().split('\n')).toEqual([
          expect.stringMatching(
            new RegExp(
              `^catalog: cannot start: port ${port} is taken: .*\\(EADDRINUSE\\); set ${setting}$`,
            ),
          ),
        ]);
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    },
  );

  it('exits 1 with one line naming CATALOG_RPC_LISTEN_HOST when it is no address of this host', async () => {
    const result = await catalog.runToExit(
      {
        ...tls,
        CATALOG_PORT: String(await freePort()),
        CATALOG_RPC_PORT: String(await freePort()),
        // TEST-NET-1 (RFC 5737): never an address of this host.
        CATALOG_RPC_LISTEN_HOST: '192.0.2.1',
      },
      dir,
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'catalog: cannot start: 192.0.2.1 is not an address of this host (EADDRNOTAVAIL); ' +
        'set CATALOG_RPC_LISTEN_HOST',
    ]);
  });

  describe('started while the auth service is not running', () => {
    let running: RunningApp | undefined;
    let base: string;
    let rpc: ClientProxy;

    const prices = (payload: object) =>
      firstValueFrom(rpc.send<unknown>('catalog.prices', payload)).then(
        () => 'accepted',
        (error: unknown) => error,
      );

    beforeAll(async () => {
      const port = await freePort();
      const rpcPort = await freePort();
      base = `http://127.0.0.1:${port}`;
      running = catalog.start(
        {
          ...tls,
          CATALOG_PORT: String(port),
          CATALOG_RPC_PORT: String(rpcPort),
          AUTH_RPC_PORT: String(await freePort()),
        },
        dir,
      );
      await waitForStatus(`${base}/api/catalog/products`, 200);
      rpc = ClientProxyFactory.create({
        transport: Transport.TCP,
        options: {
          host: '127.0.0.1',
          port: rpcPort,
          tlsOptions: certificates.remoteTls('orders'),
        },
      });
    });

    afterAll(async () => {
      await rpc?.close();
      await running?.stop();
    });

    it('refuses a price quote without a session assertion', async () => {
      expect(await prices({ skus: ['TEA-EARL-GREY'] })).toMatchObject({
        status: 401,
        error: 'unauthenticated',
      });
    });

    it('answers 503, never a quote, to a valid assertion whose session it cannot check', async () => {
      const moduleRef = await Test.createTestingModule({
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
      const { session } = await moduleRef
        .init()
        .then((ref) => ref.get(SessionService).create(alice));
      const assertion = moduleRef.get(SessionAssertions).sign(session, 'catalog');
      expect(
        await prices({ skus: ['TEA-EARL-GREY'], [SESSION_ASSERTION_FIELD]: assertion }),
      ).toMatchObject({ status: 503, error: 'session_store_unavailable' });
      await moduleRef.close();
    });

    it('serves the seeded products: public reads need no session service', async () => {
      const response = await fetch(`${base}/api/catalog/products`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as unknown[]).length).toBeGreaterThan(0);
    });

    it('answers 503 to a session-bearing request it cannot check', async () => {
      const response = await fetch(`${base}/api/catalog/products`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer cr1.${'A'.repeat(8)}.${'B'.repeat(43)}`,
        },
        body: JSON.stringify({ sku: 'X-1', name: 'X', priceCents: 1 }),
      });
      expect(response.status).toBe(503);
    });

    it('reports the session service down on its health check', async () => {
      const response = await fetch(`${base}/api/catalog/health`);
      expect(response.status).toBe(503);
      const body = (await response.json()) as { details: Record<string, { status: string }> };
      expect(body.details.sessions.status).toBe('down');
      expect(body.details.database.status).toBe('up');
    });
  });
});
