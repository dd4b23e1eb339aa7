import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BuiltApp, RunningApp, waitForStatus } from '@cloakroom/e2e-support';
import {
  DevCertificates,
  freePort,
  makeDevCertificates,
  testKeyPrefix,
} from '@cloakroom/session/testing';

const ORIGIN = 'http://localhost:3000';
const auth = new BuiltApp('auth');

describe('the built auth service', () => {
  let cwd: string;
  let certsDir: string;
  let certificates: DevCertificates;

  beforeAll(() => {
    // The session RPC's mutual TLS: auth refuses to start without its certificates.
    certsDir = mkdtempSync(join(tmpdir(), 'auth-e2e-certs-'));
    certificates = makeDevCertificates(certsDir, ['catalog']);
  });

  afterAll(() => {
    rmSync(certsDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'auth-e2e-'));
  });

  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  async function env(extra: Record<string, string> = {}) {
    return {
      AUTH_PORT: String(await freePort()),
      AUTH_RPC_PORT: String(await freePort()),
      SESSION_KEY_PREFIX: testKeyPrefix('auth-e2e'),
      AUTH_RPC_CLIENT_CA: certificates.ca,
      AUTH_RPC_SERVER_CERT: certificates.server.cert,
      AUTH_RPC_SERVER_KEY: certificates.server.key,
      // Production refuses the published development secret; the cases below run there too.
      LOGIN_DEVICE_SECRET: 'auth-e2e-device-secret-at-least-32-chars',
      ...extra,
    };
  }

  describe('with no database configured', () => {
    let running: RunningApp | undefined;

    afterEach(async () => {
      await running?.stop();
      running = undefined;
    });

    it('creates .data/auth.sqlite under its working directory, seeds demo users when asked and serves', async () => {
      const settings = await env({ SEED_DEMO_USERS: 'true' });
      running = auth.start(settings, cwd);
      const base = `http://127.0.0.1:${settings.AUTH_PORT}/api/auth`;
      await waitForStatus(`${base}/health`);
      expect(existsSync(join(cwd, '.data', 'auth.sqlite'))).toBe(true);

      const login = await fetch(`${base}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: ORIGIN },
        body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
      });
      expect(login.status).toBe(200);
      const cookie = login.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/^cr_session=cr1\..*HttpOnly/);

      const session = await fetch(`${base}/session`, {
        headers: { cookie: cookie.split(';')[0] },
      });
      expect(session.status).toBe(200);
      const body = (await session.json()) as { user: { username: string } };
      expect(body.user.username).toBe('alice');
      expect((await fetch(`${base}/docs`)).status).toBe(200);
      const demo = await fetch(`${base}/demo-users`);
      expect(await demo.json()).toEqual({ usernames: ['alice', 'bob', 'admin'] });
    });

    it('seeds no demo users unless asked, and says so to the web page', async () => {
      const settings = await env();
      running = auth.start(settings, cwd);
      const base = `http://127.0.0.1:${settings.AUTH_PORT}/api/auth`;
      await waitForStatus(`${base}/health`);
      const login = await fetch(`${base}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: ORIGIN },
        body: JSON.stringify({ username: 'admin', password: 'admin-password' }),
      });
      expect(login.status).toBe(401);
      expect(await (await fetch(`${base}/demo-users`)).json()).toEqual({ usernames: [] });
    });

    it('seeds no demo users in production', async () => {
      const settings = await env({ NODE_ENV: 'production' });
      running = auth.start(settings, cwd);
      const base = `http://127.0.0.1:${settings.AUTH_PORT}/api/auth`;
      await waitForStatus(`${base}/health`);
      const login = await fetch(`${base}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: ORIGIN },
        body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
      });
      expect(login.status).toBe(401);
      expect((await fetch(`${base}/docs`)).status).toBe(404);
    });

    it('serves the Swagger UI in production only when AUTH_API_DOCS says so', async () => {
      const settings = await env({ NODE_ENV: 'production', AUTH_API_DOCS: 'true' });
      running = auth.start(settings, cwd);
      const base = `http://127.0.0.1:${settings.AUTH_PORT}/api/auth`;
      await waitForStatus(`${base}/health`);
      expect((await fetch(`${base}/docs`)).status).toBe(200);
    });
  });

  it.each([
    [{ NODE_ENV: 'production', SEED_DEMO_USERS: 'true' }, /SEED_DEMO_USERS cannot be true/],
    [
      {
        NODE_ENV: 'production',
        LOGIN_DEVICE_SECRET: 'cloakroom-development-device-secret-not-for-production',
      },
      /LOGIN_DEVICE_SECRET must be set to a secret of your own/,
    ],
    [{ NODE_ENV: 'Production' }, /NODE_ENV must be one of/],
    [{ NODE_ENV: 'prod' }, /NODE_ENV must be one of/],
    [{ NODE_ENV: '' }, /NODE_ENV must be one of/],
  ])('refuses to start with %j, in one line', async (settings, reason) => {
    const result = await auth.runToExit(await env(settings), cwd);
    expect(result.code).toBe(1);
    const output = (result.stdout + result.stderr).trim();
    expect(output.split('\n')).toHaveLength(1);
    expect(output).toMatch(/^auth: cannot start: invalid configuration: /);
    expect(output).toMatch(reason);
  });

  it('exits 1 with one line naming the Redis it looked for when Redis is down', async () => {
    const result = await auth.runToExit(await env({ REDIS_URL: 'redis://127.0.0.1:6398' }), cwd);
    expect(result.code).toBe(1);
    const lines = (result.stdout + result.stderr).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('cannot reach Redis at redis://127.0.0.1:6398');
    expect(lines[0]).toContain('redis-server');
  });

  it('exits 1 with one line, password hidden, when PostgreSQL is down', async () => {
    const result = await auth.runToExit(
      await env({ AUTH_DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:5498/test' }),
      cwd,
    );
    expect(result.code).toBe(1);
    const output = (result.stdout + result.stderr).trim();
    expect(output.split('\n')).toHaveLength(1);
    expect(output).toContain('cannot reach PostgreSQL at postgres://postgres@127.0.0.1:5498/test');
    expect(output).not.toContain('hunter2');
  });

  it.each(['AUTH_PORT', 'AUTH_RPC_PORT'])(
    'exits 1 with one line naming %s when the port it names is taken',
    async (setting) => {
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const { port } = taken.address() as AddressInfo;
      try {
        const result = await auth.runToExit(await env({ [setting]: String(port) }), cwd);
        expect(result.code).toBe(1);
        expect((result.stdout + result.stderr).trim().split('\n')).toEqual([
          expect.stringMatching(
            new RegExp(
              `^auth: cannot start: port ${port} is taken: .*\\(EADDRINUSE\\); set ${setting}$`,
            ),
          ),
        ]);
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    },
  );

  it('exits 1 with one line naming AUTH_RPC_LISTEN_HOST when it is no address of this host', async () => {
    // TEST-NET-1 (RFC 5737): never an address of this host.
    const result = await auth.runToExit(await env({ AUTH_RPC_LISTEN_HOST: '192.0.2.1' }), cwd);
    expect(result.code).toBe(1);
    expect((result.stdout + result.stderr).trim().split('\n')).toEqual([
      'auth: cannot start: 192.0.2.1 is not an address of this host (EADDRNOTAVAIL); ' +
        'set AUTH_RPC_LISTEN_HOST',
    ]);
  });

  it('exits 1 with one line listing every invalid setting', async () => {
    const result = await auth.runToExit({ AUTH_PORT: 'x', SESSION_MAX_PER_USER: '-3' }, cwd);
    expect(result.code).toBe(1);
    const output = (result.stdout + result.stderr).trim();
    expect(output.split('\n')).toHaveLength(1);
    expect(output).toContain('AUTH_PORT');
    expect(output).toContain('SESSION_MAX_PER_USER');
  });
});
