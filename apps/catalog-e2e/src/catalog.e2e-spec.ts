import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BuiltApp, freePort, RunningApp, waitForStatus } from '@cloakroom/e2e-support';
import { makeDevCertificates } from '@cloakroom/session/testing';

describe('the built catalog service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'catalog-e2e-'));
  const certificates = makeDevCertificates(join(dir, 'certs'), ['catalog']);
  const catalog = new BuiltApp('catalog');
  // The session RPC's mutual TLS: catalog reads its client certificate at start-up.
  const tls = {
    AUTH_RPC_CA: certificates.ca,
    AUTH_RPC_CLIENT_CERT: certificates.clients['catalog'].cert,
    AUTH_RPC_CLIENT_KEY: certificates.clients['catalog'].key,
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

  describe('started while the auth service is not running', () => {
    let running: RunningApp | undefined;
    let base: string;

    beforeAll(async () => {
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      running = catalog.start(
        { ...tls, CATALOG_PORT: String(port), AUTH_RPC_PORT: String(await freePort()) },
        dir,
      );
      await waitForStatus(`${base}/api/catalog/products`, 200);
    });

    afterAll(() => running?.stop());

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
