import { Browser, BrowserContext, Page } from 'playwright-core';

import {
  apiLogin,
  DESKTOP,
  launchChromium,
  layoutDefects,
  logInOnPage,
  PHONE,
  screenshot,
  tokenStatus,
  USER_AGENTS,
} from './support/browser';
import { Stack } from './support/stack';

const PASSWORD = { alice: 'alice-password', bob: 'bob-password', admin: 'admin-password' };

describe('the web page, in Chromium, through the gateway', () => {
  // A small cap that refuses new sessions: the page must offer which session to end.
  // Raw user agents are kept here (off by default) so the page's tooltip and its escaping of
  // hostile strings are exercised.
  const stack = new Stack('browser', {
    SESSION_CAP_POLICY: 'refuse',
    SESSION_MAX_PER_USER: '3',
    SESSION_KEEP_USER_AGENT: 'true',
  });
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    await stack.start();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: DESKTOP });
    page = await context.newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack.stop();
  });

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

  async function sessionCookie() {
    const cookies = await context.cookies(stack.baseUrl);
    return cookies.find((cookie) => cookie.name.endsWith('cr_session'));
  }

  /** Waits until the sessions table lists `count` sessions. */
  function sessionRows(count: number) {
    return page.waitForFunction(
      (expected) => document.querySelectorAll('#session-rows tr').length === expected,
      count,
    );
  }

  /** Refreshes the activity table until it holds an event of each type (they arrive async). */
  async function activityShows(types: string[]) {
    for (let round = 0; round < 50; round += 1) {
      await page.click('#activity-refresh');
      const shown = await page.$$eval('#activity-rows tr', (rows) =>
        rows.map((row) => (row as HTMLElement).dataset['type']),
      );
      if (types.every((type) => shown.includes(type))) return;
      await page.waitForTimeout(200);
    }
    throw new Error(`the activity table never listed ${types.join(', ')}`);
  }

  it('shows the login form, with "Remember me", to a visitor without a session', async () => {
    await page.goto(stack.baseUrl);
    await page.locator('#login-view').waitFor({ state: 'visible' });
    expect(await page.isChecked('#login-form input[name=rememberMe]')).toBe(false);
    await screenshot(page, 'web-01-login-desktop');
  });

  it('logs a customer in without "Remember me": a browser-session cookie', async () => {
    await logInOnPage(page, 'alice', PASSWORD.alice);
    expect(await page.textContent('#me-user')).toBe('alice');
    expect(await page.textContent('#me-roles')).toBe('customer');
    expect(await page.textContent('#me-expires')).not.toBe('');
    const cookie = await sessionCookie();
    // Playwright reports a cookie without Expires/Max-Age as -1: gone with the browser.
    expect(cookie?.expires).toBe(-1);
    await page.locator('#session-rows tr[data-current] .tag', { hasText: 'this device' }).waitFor();
    expect(await page.textContent('#session-rows tr[data-current]')).toContain('browser session');
  });

  it('keeps the session cookie out of reach of the page script', async () => {
    const session = await sessionCookie();
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
    // Priced by catalog, asked by orders on this session's behalf: twice the listed price.
    const listed = await page.locator('#product-rows tr').first().locator('td').nth(2).innerText();
    const twice = String(2 * Number(listed.replace(/\D/g, '')));
    const total = page.locator('#order-total', { hasText: /^Total at current prices: / });
    await total.waitFor();
    expect((await total.innerText()).replace(/\D/g, '')).toBe(twice);
    await page.click('#place-order');
    await page.locator('#flash', { hasText: 'Order placed.' }).waitFor();
    await page.locator('#order-rows', { hasText: `2 × ${sku}` }).waitFor();
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

  it('lists my sessions by device label, the raw user agent only as a tooltip', async () => {
    const elsewhere = await apiLogin(
      stack.baseUrl,
      'alice',
      PASSWORD.alice,
      USER_AGENTS.windowsChrome,
    );
    expect(elsewhere.status).toBe(200);
    await page.reload();
    await sessionRows(2);
    const other = page.locator(`#session-rows tr[data-session-id="${elsewhere.sessionId}"]`);
    const device = other.locator('td').first();
    expect(await device.textContent()).toMatch(/Chrome.*Windows/);
    expect(await device.textContent()).not.toContain('Mozilla');
    expect(await device.getAttribute('title')).toBe(USER_AGENTS.windowsChrome);
    await screenshot(page, 'web-02-customer-desktop');
  });

  it('revokes another session of mine', async () => {
    const other = page.locator('#session-rows tr:not([data-current])');
    const token = await apiLogin(stack.baseUrl, 'alice', PASSWORD.alice, USER_AGENTS.macFirefox);
    await page.reload();
    await sessionRows(3);
    await page
      .locator(`#session-rows tr[data-session-id="${token.sessionId}"] button`, {
        hasText: 'Revoke',
      })
      .click();
    await page.locator('#flash', { hasText: 'Session revoked.' }).waitFor();
    await sessionRows(2);
    expect(await tokenStatus(stack.baseUrl, token.token)).toBe(401);
    expect(await other.count()).toBe(1);
  });

  it('shows a hostile user agent as text, never as markup', async () => {
    const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>';
    const login = await apiLogin(stack.baseUrl, 'alice', PASSWORD.alice, hostile);
    expect(login.status).toBe(200);
    await page.reload();
    await sessionRows(3);
    const cell = page.locator(`#session-rows tr[data-session-id="${login.sessionId}"] td`).first();
    expect(await cell.getAttribute('title')).toBe(hostile);
    expect(await page.locator('#session-rows img, #session-rows script').count()).toBe(0);
    expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
    await page
      .locator(`#session-rows tr[data-session-id="${login.sessionId}"] button`, {
        hasText: 'Revoke',
      })
      .click();
    await sessionRows(2);
  });

  it('logs out, then in with "Remember me": a persistent cookie, and both in the activity', async () => {
    await page.click('#logout');
    await page.locator('#login-view').waitFor({ state: 'visible' });
    expect(await sessionCookie()).toBeUndefined();

    await logInOnPage(page, 'alice', PASSWORD.alice, { rememberMe: true });
    const cookie = await sessionCookie();
    // A date days ahead, not a browser-session cookie.
    expect(cookie?.expires).toBeGreaterThan(Date.now() / 1000 + 3600);
    // The page shows only this login's sessions: none left over from before the logout.
    await sessionRows(2);
    expect(await page.textContent('#session-rows tr[data-current]')).toContain('remembered');

    await activityShows(['login', 'logout']);
    const words = await page.textContent('#activity-rows');
    expect(words).toContain('Logged in');
    expect(words).toContain('Logged out');
    await screenshot(page, 'web-03-activity-desktop');
  });

  it('breaks no word of a table cell or button on a 390 px wide screen', async () => {
    await page.setViewportSize(PHONE);
    await page.reload();
    await sessionRows(2);
    await page.locator('#activity-rows tr').first().waitFor();
    const { broken, pageOverflow } = await layoutDefects(page);
    expect(broken).toEqual([]);
    // The page fits the screen; only table wrappers scroll sideways.
    expect(pageOverflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'web-04-customer-mobile');
    await page.setViewportSize(DESKTOP);
  });

  it('logs out: the login form is back and the session is dead, behind a planted cookie too', async () => {
    // What a page on another port of this host can set (cookies ignore ports): a session
    // cookie at the logout path, which the browser sends before the real one.
    const real = await sessionCookie();
    expect(real).toBeDefined();
    const { name, value, domain } = real ?? { name: '', value: '', domain: '' };
    await context.addCookies([
      { name, value: `cr1.${'A'.repeat(8)}.${'A'.repeat(43)}`, domain, path: '/api/auth/logout' },
    ]);
    await page.click('#logout');
    await page.locator('#login-view').waitFor({ state: 'visible' });
    expect(await fetchFromPage('GET', '/api/auth/session')).toBe(401);
    expect(await tokenStatus(stack.baseUrl, value)).toBe(401);
    expect(await sessionCookie()).toBeUndefined();
    // The signed-in page is emptied, not only hidden, for whoever uses the browser next.
    expect(await page.locator('#app-view tbody tr').count()).toBe(0);
    expect(await page.textContent('#me-user')).toBe('');
  });

  it('at the session cap, lets the user pick the session to end and logs in', async () => {
    const sessions = [];
    for (const agent of Object.values(USER_AGENTS)) {
      const login = await apiLogin(stack.baseUrl, 'bob', PASSWORD.bob, agent);
      expect(login.status).toBe(200);
      sessions.push(login);
    }
    await logInOnPage(page, 'bob', PASSWORD.bob, { waitForApp: false });
    await page.locator('#session-cap').waitFor({ state: 'visible' });
    expect(await page.locator('#cap-list li').count()).toBe(3);
    const victim = sessions[1];
    const victimRow = page.locator(`#cap-list li[data-session-id="${victim.sessionId}"]`);
    expect(await victimRow.textContent()).toMatch(/Safari|iOS|iPhone/);
    await screenshot(page, 'web-05-session-cap-desktop');
    await page.setViewportSize(PHONE);
    expect(await layoutDefects(page)).toEqual({ broken: [], pageOverflow: 0 });
    await screenshot(page, 'web-06-session-cap-mobile');
    await page.setViewportSize(DESKTOP);

    await victimRow.locator('button', { hasText: 'End this one' }).click();
    await page.locator('#app-view').waitFor({ state: 'visible' });
    expect(await page.textContent('#me-user')).toBe('bob');
    expect(await tokenStatus(stack.baseUrl, victim.token)).toBe(401);
    expect(await tokenStatus(stack.baseUrl, sessions[0].token)).toBe(200);
    expect(await tokenStatus(stack.baseUrl, sessions[2].token)).toBe(200);
    await page.click('#logout');
    await page.locator('#login-view').waitFor({ state: 'visible' });
  });

  it('lets an admin create a product from the page', async () => {
    await logInOnPage(page, 'admin', PASSWORD.admin);
    await page.locator('#admin').waitFor({ state: 'visible' });
    await page.fill('#product-form input[name=sku]', 'LANTERN');
    await page.fill('#product-form input[name=name]', 'Storm lantern');
    await page.fill('#product-form input[name=priceCents]', '5400');
    await page.click('#product-form button[type=submit]');
    await page.locator('#product-rows', { hasText: 'Storm lantern' }).waitFor();
  });

  it('lists every product of a catalog longer than one page of its list', async () => {
    // The catalog answers 200 products a page at most: 205 more than the demo's need a second.
    const skus = Array.from({ length: 205 }, (_, i) => `ZZ-PAGE-${String(i).padStart(3, '0')}`);
    for (let start = 0; start < skus.length; start += 25) {
      const statuses = await Promise.all(
        skus
          .slice(start, start + 25)
          .map((sku) =>
            fetchFromPage('POST', '/api/catalog/products', {
              sku,
              name: `Item ${sku}`,
              priceCents: 1,
            }),
          ),
      );
      expect(statuses).toEqual(statuses.map(() => 201));
    }
    await page.reload();
    await page.locator('#product-rows tr', { hasText: skus[skus.length - 1] }).waitFor();
    const shown = await page.$$eval('#product-rows tr td:first-child', (cells) =>
      cells.map((cell) => cell.textContent),
    );
    expect(shown.filter((sku) => sku?.startsWith('ZZ-PAGE-'))).toEqual(skus);
    expect(new Set(shown).size).toBe(shown.length);
  });

  it('shows a product name made of markup as text, and its CSP runs no script such markup holds', async () => {
    const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
    expect(
      await fetchFromPage('POST', '/api/catalog/products', {
        sku: 'MARKUP-1',
        name: hostile,
        priceCents: 100,
      }),
    ).toBe(201);
    await page.reload();
    const row = page.locator('#product-rows tr', { hasText: 'MARKUP-1' });
    await row.waitFor();
    expect(await row.locator('td').nth(1).textContent()).toBe(hostile);
    expect(await page.locator('#product-rows img, #product-rows script').count()).toBe(0);
    // Were such markup ever parsed, the page's CSP would still refuse its inline handler and
    // script: neither runs, and both are reported as violations.
    const outcome = await page.evaluate(async (markup) => {
      const seen: string[] = [];
      document.addEventListener('securitypolicyviolation', (event) => {
        seen.push(event.effectiveDirective);
      });
      const holder = document.createElement('div');
      holder.innerHTML = markup.replace(/<script>.*<\/script>/, '');
      const image = holder.querySelector('img') as HTMLImageElement;
      const failed = new Promise((resolve) => image.addEventListener('error', resolve));
      const script = document.createElement('script');
      script.textContent = 'window.pwned = 3';
      document.body.append(holder, script);
      await failed;
      const ran = (window as { pwned?: number }).pwned ?? null;
      // Violations are reported in a task of their own.
      for (let round = 0; round < 250 && seen.length < 2; round += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      holder.remove();
      script.remove();
      return { ran, violations: seen.sort() };
    }, hostile);
    expect(outcome).toEqual({ ran: null, violations: ['script-src-attr', 'script-src-elem'] });
  });
});
