import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, chromium, Page } from 'playwright-core';

import { ARTIFACTS, Stack } from './support/stack';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the web page, in Chromium, through the gateway', () => {
  const stack = new Stack('browser');
  const profile = mkdtempSync(join(tmpdir(), 'cloakroom-chromium-'));
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    await stack.start();
    mkdirSync(ARTIFACTS, { recursive: true });
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
    });
    page = context.pages()[0] ?? (await context.newPage());
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await stack.stop();
    rmSync(profile, { recursive: true, force: true });
  });

  function screenshot(name: string) {
    return page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  /** A request made by the page itself: same origin, the browser adds the cookie. */
  function fetchFromPage(method: string, path: string, body?: unknown) {
    return page.evaluate(
      async ({ method, path, body }) => {
        const response = await fetch(path, {
          method,
          headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return response.status;
      },
      { method, path, body },
    );
  }

  /** Waits until the sessions table lists `count` sessions. */
  function sessionRows(count: number) {
    return page.waitForFunction(
      (expected) => document.querySelectorAll('#session-rows tr').length === expected,
      count,
    );
  }

  /** Logs alice in from somewhere else (another device): returns that session's cookie. */
  async function loginElsewhere(): Promise<string> {
    const response = await fetch(`${stack.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'second-device',
        Origin: stack.baseUrl,
      },
      body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
    });
    expect(response.status).toBe(200);
    return response.headers.getSetCookie()[0].split(';')[0];
  }

  it('shows the login form to a visitor without a session', async () => {
    await page.goto(stack.baseUrl);
    await page.locator('#login-view').waitFor({ state: 'visible' });
    await screenshot('01-login');
  });

  it('logs a customer in and shows who she is', async () => {
    await page.fill('#login-form input[name=username]', 'alice');
    await page.fill('#login-form input[name=password]', 'alice-password');
    await page.click('#login-form button[type=submit]');
    await page.locator('#app-view').waitFor({ state: 'visible' });
    expect(await page.textContent('#me-user')).toBe('alice');
    expect(await page.textContent('#me-roles')).toBe('customer');
    expect(await page.textContent('#me-expires')).not.toBe('');
    await screenshot('02-logged-in');
  });

  it('keeps the session cookie out of reach of the page script', async () => {
    const cookies = await context.cookies(stack.baseUrl);
    const session = cookies.find((cookie) => cookie.name.endsWith('cr_session'));
    expect(session).toMatchObject({ httpOnly: true, path: '/' });
    expect(['Lax', 'Strict']).toContain(session?.sameSite);
    const visible = await page.evaluate(() => document.cookie);
    expect(visible).not.toContain('cr_session');
    expect(visible).not.toContain(session?.value);
  });

  it('places an order and lists it under my orders', async () => {
    const firstQuantity = page.locator('#product-rows input').first();
    const sku = await firstQuantity.getAttribute('data-sku');
    await firstQuantity.fill('2');
    await page.click('#place-order');
    await page.locator('#flash', { hasText: 'Order placed.' }).waitFor();
    await page.locator('#order-rows', { hasText: `2 × ${sku}` }).waitFor();
    await screenshot('03-order-placed');
  });

  it('hides the admin tools and has an admin action refused with 403', async () => {
    expect(await page.locator('#admin').isVisible()).toBe(false);
    const status = await fetchFromPage('POST', '/api/catalog/products', {
      sku: 'NOT-ALLOWED',
      name: 'Nope',
      priceCents: 1,
    });
    expect(status).toBe(403);
  });

  it('revokes another session of mine', async () => {
    const elsewhere = await loginElsewhere();
    await page.reload();
    await page.locator('#app-view').waitFor({ state: 'visible' });
    await sessionRows(2);
    await screenshot('04-two-sessions');

    await page
      .locator('#session-rows tr:not([data-current]) button', { hasText: 'Revoke' })
      .click();
    await page.locator('#flash', { hasText: 'Session revoked.' }).waitFor();
    await sessionRows(1);
    const check = await fetch(`${stack.baseUrl}/api/auth/session`, {
      headers: { Cookie: elsewhere },
    });
    expect(check.status).toBe(401);
    await screenshot('05-session-revoked');
  });

  it('logs out: the login form is back and the session is dead', async () => {
    await page.click('#logout');
    await page.locator('#login-view').waitFor({ state: 'visible' });
    expect(await fetchFromPage('GET', '/api/auth/session')).toBe(401);
    const cookies = await context.cookies(stack.baseUrl);
    expect(cookies.find((cookie) => cookie.name.endsWith('cr_session'))).toBeUndefined();
    await screenshot('06-logged-out');
  });

  it('lets an admin create a product from the page', async () => {
    await page.fill('#login-form input[name=username]', 'admin');
    await page.fill('#login-form input[name=password]', 'admin-password');
    await page.click('#login-form button[type=submit]');
    await page.locator('#admin').waitFor({ state: 'visible' });
    await page.fill('#product-form input[name=sku]', 'LANTERN');
    await page.fill('#product-form input[name=name]', 'Storm lantern');
    await page.fill('#product-form input[name=priceCents]', '5400');
    await page.click('#product-form button[type=submit]');
    await page.locator('#product-rows', { hasText: 'Storm lantern' }).waitFor();
    await screenshot('07-admin');
  });

  it("lets an admin change a user's roles from the page", async () => {
    // Alice's id is on the order she placed, which the admin sees under all orders.
    const aliceId = await page.locator('#order-rows tr td').nth(2).textContent();
    await page.fill('#roles-form input[name=userId]', aliceId ?? '');
    await page.check('#roles-form input[value=customer]');
    await page.check('#roles-form input[value=admin]');
    await page.click('#roles-form button[type=submit]');
    await page.locator('#flash', { hasText: 'Roles saved' }).waitFor();
    const login = await fetch(`${stack.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: stack.baseUrl },
      body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
    });
    const body = (await login.json()) as { user: { roles: string[] } };
    expect(body.user.roles.sort()).toEqual(['admin', 'customer']);
  });
});
