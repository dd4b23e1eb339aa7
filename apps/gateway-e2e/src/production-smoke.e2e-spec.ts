import { execFileSync } from 'node:child_process';

import { Stack, WORKSPACE_ROOT } from './support/stack';

describe('production build smoke test', () => {
  const stack = new Stack('production', {
    NODE_ENV: 'production',
    SEED_DEMO_USERS: 'false',
    // Production refuses the published development secret.
    LOGIN_DEVICE_SECRET: 'production-smoke-device-secret-32-chars',
  });

  beforeAll(() => {
    // The default build configuration is the production one (NODE_ENV=production).
    execFileSync(
      'npx',
      ['nx', 'run-many', '-t', 'build', '-p', 'auth', 'orders', 'catalog', 'gateway'],
      {
        cwd: WORKSPACE_ROOT,
        env: { ...process.env, NX_DAEMON: 'false' },
        stdio: 'ignore',
      },
    );
  }, 300_000);

  afterAll(async () => {
    await stack.stop();
  });

  it('starts each built app with plain node until its health check answers 200', async () => {
    await stack.start();
    for (const app of ['auth', 'orders', 'catalog'] as const) {
      const response = await fetch(`${stack.url(app)}/api/${app}/health`);
      expect(response.status).toBe(200);
    }
    const gateway = await fetch(`${stack.baseUrl}/api/gateway/health`);
    expect(gateway.status).toBe(200);
  });

  it('seeds no demo data in production', async () => {
    const products = await fetch(`${stack.baseUrl}/api/catalog/products`);
    expect(await products.json()).toEqual([]);
    const login = await fetch(`${stack.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: stack.baseUrl },
      body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
    });
    expect(login.status).toBe(401);
    const demo = await fetch(`${stack.baseUrl}/api/auth/demo-users`);
    expect(await demo.json()).toEqual({ usernames: [] });
  });

  it('keeps the Swagger UI off', async () => {
    expect((await fetch(`${stack.baseUrl}/api/auth/docs`)).status).toBe(404);
  });

  it('serves the web page with a strict content security policy', async () => {
    const page = await fetch(stack.baseUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('<title>Cloakroom</title>');
  });
});
