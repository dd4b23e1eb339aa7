import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BuiltApp, RunningApp, waitForStatus } from '@cloakroom/e2e-support';
import { freePort, makeAssertionKeys, makeDevCertificates } from '@cloakroom/session/testing';

describe('the built orders service', () => {
  const orders = new BuiltApp('orders');
  const dir = mkdtempSync(join(tmpdir(), 'orders-e2e-'));
  // Read at start-up: orders' client certificate for catalog's RPC and its assertion key.
  const certificates = makeDevCertificates(join(dir, 'certs'), ['orders']);
  const link = {
    CATALOG_RPC_CA: certificates.ca,
    CATALOG_RPC_CLIENT_CERT: certificates.clients['orders'].cert,
    CATALOG_RPC_CLIENT_KEY: certificates.clients['orders'].key,
    SESSION_ASSERTION_KEY: makeAssertionKeys(join(dir, 'certs'), 'orders').privateKey,
  };

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['Production', 'prod', ''])(
    'refuses to start with NODE_ENV=%j, in one line',
    async (value) => {
      const result = await orders.runToExit(
        { ...link, NODE_ENV: value, ORDERS_PORT: String(await freePort()) },
        dir,
      );
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          /^orders: cannot start: invalid configuration: NODE_ENV must be one of/,
        ),
      ]);
    },
  );

  it('exits 1 with one line naming the setting when its assertion key is missing', async () => {
    const missing = join(dir, 'missing.key');
    const result = await orders.runToExit(
      { ...link, SESSION_ASSERTION_KEY: missing, ORDERS_PORT: String(await freePort()) },
      dir,
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^orders: cannot start: SESSION_ASSERTION_KEY: cannot read .*missing\.key \(ENOENT\)/,
      ),
    ]);
  });

  it('exits 1 with one line saying where Redis was looked for when it is unreachable', async () => {
    const port = await freePort();
    const result = await orders.runToExit(
      { ...link, REDIS_URL: `redis://127.0.0.1:${port}`, ORDERS_PORT: String(await freePort()) },
      dir,
    );
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`redis://127.0.0.1:${port}`);
    expect(lines[0]).toContain('redis-server');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 1 with one line naming the database when PostgreSQL is unreachable', async () => {
    const port = await freePort();
    const result = await orders.runToExit(
      {
        ...link,
        ORDERS_DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${port}/orders`,
        ORDERS_PORT: String(await freePort()),
      },
      dir,
    );
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`127.0.0.1:${port}/orders`);
    expect(lines[0]).not.toContain('secret');
  });

  describe('started with its defaults', () => {
    let running: RunningApp | undefined;
    let base: string;

    beforeAll(async () => {
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      running = orders.start({ ...link, ORDERS_PORT: String(port) }, dir);
      await waitForStatus(`${base}/api/orders/health`, 200);
    });

    afterAll(() => running?.stop());

    it('keeps its orders in an embedded SQLite file under .data/', () => {
      expect(existsSync(join(dir, '.data', 'orders.sqlite'))).toBe(true);
    });

    it('refuses an anonymous request with a JSON 401 and no stack', async () => {
      const response = await fetch(`${base}/api/orders`);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ statusCode: 401, message: expect.any(String) });
    });
  });

  describe('started in production', () => {
    let running: RunningApp | undefined;
    let base: string;

    beforeAll(async () => {
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      running = orders.start({ ...link, NODE_ENV: 'production', ORDERS_PORT: String(port) }, dir);
      await waitForStatus(`${base}/api/orders/health`, 200);
    });

    afterAll(() => running?.stop());

    const graphql = (query: string) =>
      fetch(`${base}/api/orders/graphql`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ query }),
      });

    it('refuses GraphQL introspection and serves no landing page', async () => {
      const response = await graphql('{ __schema { queryType { name } } }');
      const body = (await response.json()) as { data?: unknown; errors: { extensions: object }[] };
      expect(body.data).toBeUndefined();
      expect(body.errors[0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED' });
      const page = await fetch(`${base}/api/orders/graphql`, { headers: { Accept: 'text/html' } });
      expect(page.headers.get('content-type')).not.toMatch(/text\/html/);
    });

    it('answers an anonymous query with UNAUTHENTICATED, JSON and no stack', async () => {
      const response = await graphql('{ myOrders { id } }');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const text = await response.text();
      expect(JSON.parse(text)).toMatchObject({
        data: null,
        errors: [{ extensions: { code: 'UNAUTHENTICATED' } }],
      });
      expect(text).not.toMatch(/stacktrace|\bat .+\.js:\d+/);
    });
  });
});
