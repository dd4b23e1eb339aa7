import { Stack } from './support/stack';

/**
 * Revocations reach every service of the built stack at once: auth, orders (reads Redis
 * directly) and catalog (asks auth over its session RPC), all through the gateway.
 */
describe('revocation through the built stack', () => {
  const stack = new Stack('revocation');

  beforeAll(async () => {
    await stack.start();
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
  });

  const login = (username: string, password: string) => stack.login(username, password);
  const call = (token: string, method: string, path: string, body?: unknown) =>
    stack.call(token, method, path, body);

  /** What each service answers this token: a live customer gets 200, 200 and 403. */
  async function answers(token: string): Promise<number[]> {
    const sku = `SKU-${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
    const responses = await Promise.all([
      call(token, 'GET', '/api/auth/session'),
      call(token, 'GET', '/api/orders'),
      call(token, 'POST', '/api/catalog/products', { sku, name: 'Probe', priceCents: 100 }),
    ]);
    return responses.map((response) => response.status);
  }

  it('disabling an account ends its sessions in every service at once', async () => {
    const alice = await login('alice', 'alice-password');
    const bob = await login('bob', 'bob-password');
    const admin = await login('admin', 'admin-password');
    expect(await answers(alice)).toEqual([200, 200, 403]);
    const me = (await (await call(alice, 'GET', '/api/auth/session')).json()) as {
      user: { id: string };
    };
    const disabled = await call(admin, 'PUT', `/api/auth/users/${me.user.id}/disabled`, {
      disabled: true,
    });
    expect(disabled.status).toBe(200);
    expect(await answers(alice)).toEqual([401, 401, 401]);
    expect(await answers(bob)).toEqual([200, 200, 403]);
    const enabled = await call(admin, 'PUT', `/api/auth/users/${me.user.id}/disabled`, {
      disabled: false,
    });
    expect(enabled.status).toBe(200);
  });

  it("revoke-all ends every session in every service at once, but the caller's", async () => {
    const alice = await login('alice', 'alice-password');
    const bob = await login('bob', 'bob-password');
    const otherAdmin = await login('admin', 'admin-password');
    const admin = await login('admin', 'admin-password');
    const revoked = await call(admin, 'POST', '/api/auth/revoke-all');
    expect(revoked.status).toBe(204);
    expect(await answers(alice)).toEqual([401, 401, 401]);
    expect(await answers(bob)).toEqual([401, 401, 401]);
    expect(await answers(otherAdmin)).toEqual([401, 401, 401]);
    expect((await answers(admin)).slice(0, 2)).toEqual([200, 200]);
    // Signing in again works at once, everywhere.
    expect(await answers(await login('alice', 'alice-password'))).toEqual([200, 200, 403]);
  });
});
