import { Browser, BrowserContext, Page } from 'playwright-core';

import {
  apiLogin,
  DESKTOP,
  launchChromium,
  logInOnPage,
  recordWebSockets,
  screenshot,
} from './support/browser';
import { Stack } from './support/stack';

const PASSWORD = { alice: 'alice-password', bob: 'bob-password' };

declare global {
  interface Window {
    /** Set once on the page: still there afterwards means the page was never reloaded. */
    __cloakroomNotReloaded?: boolean;
    /** The reasons the server gave when it closed the socket a test watches. */
    __liveCloseReasons?: string[];
  }
}

/**
 * The page's live order feed (`/api/orders/ws`): orders placed elsewhere appear without a
 * reload, only the user's own, and a session revoked from another browser sends the page back
 * to the login form at once.
 */
describe('live orders on the web page, in Chromium, through the gateway', () => {
  const stack = new Stack('live-orders');
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let sku = '';
  const cspViolations: string[] = [];

  beforeAll(async () => {
    await stack.start();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: DESKTOP });
    await recordWebSockets(context);
    page = await context.newPage();
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    const products = (await (await fetch(`${stack.baseUrl}/api/catalog/products`)).json()) as {
      sku: string;
    }[];
    sku = products[0].sku;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack.stop();
  });

  async function placeOrder(token: string, quantity: number): Promise<string> {
    const response = await fetch(`${stack.baseUrl}/api/orders`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ items: [{ sku, quantity }] }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  }

  function orderRow(id: string) {
    return page.locator(`#order-rows tr[data-order-id="${id}"]`);
  }

  /** How many sockets the page opened so far, and how many of them are open now. */
  function sockets(): Promise<{ opened: number; open: number }> {
    return page.evaluate(() => {
      const all = window.__cloakroomSockets ?? [];
      return { opened: all.length, open: all.filter((s) => s.readyState === 1).length };
    });
  }

  function notReloaded(): Promise<boolean | undefined> {
    return page.evaluate(() => window.__cloakroomNotReloaded);
  }

  async function logInAsAlice(): Promise<void> {
    await logInOnPage(page, 'alice', PASSWORD.alice);
    await page.locator('#orders-live[data-state=open]').waitFor({ timeout: 10_000 });
  }

  it('lists an order alice places on another device at once, and never one of bob', async () => {
    await page.goto(stack.baseUrl);
    await logInAsAlice();
    await page.evaluate(() => (window.__cloakroomNotReloaded = true));
    const listed = await page.locator('#order-rows tr[data-order-id]').count();
    const alice = await apiLogin(stack.baseUrl, 'alice', PASSWORD.alice);
    const bob = await apiLogin(stack.baseUrl, 'bob', PASSWORD.bob);
    expect([alice.status, bob.status]).toEqual([200, 200]);

    const bobsOrder = await placeOrder(bob.token, 3);
    const placedAt = Date.now();
    const alicesOrder = await placeOrder(alice.token, 7);
    await orderRow(alicesOrder).waitFor({ timeout: 5000 });
    console.log(`live order shown ${Date.now() - placedAt} ms after alice's POST was sent`);

    // At the top, once, with its items; bob's (placed first) never reached alice's socket.
    expect(await page.getAttribute('#order-rows tr:first-child', 'data-order-id')).toBe(
      alicesOrder,
    );
    expect(await orderRow(alicesOrder).textContent()).toContain(`7 × ${sku}`);
    const secondOfAlice = await placeOrder(alice.token, 1);
    await orderRow(secondOfAlice).waitFor({ timeout: 5000 });
    expect(await orderRow(bobsOrder).count()).toBe(0);
    expect(await page.locator('#order-rows tr[data-order-id]').count()).toBe(listed + 2);
    expect(await notReloaded()).toBe(true);
    expect(cspViolations).toEqual([]);
    await screenshot(page, 'live-01-orders-desktop');
  });

  it('shows an order placed on the page once, though it comes both as answer and live', async () => {
    const listed = await page.locator('#order-rows tr[data-order-id]').count();
    await page.locator('#product-rows input').first().fill('4');
    await page.click('#place-order');
    await page.locator('#flash', { hasText: 'Order placed.' }).waitFor();
    await page.waitForTimeout(1000); // the pushed copy arrives meanwhile
    expect(await page.locator('#order-rows tr[data-order-id]').count()).toBe(listed + 1);
    expect(await page.locator('#order-rows', { hasText: `4 × ${sku}` }).count()).toBe(1);
  });

  it('places one order when the answer to the first try was lost and the shopper tries again', async () => {
    const alice = await apiLogin(stack.baseUrl, 'alice', PASSWORD.alice);
    const countOrders = async () => {
      const response = await fetch(`${stack.baseUrl}/api/orders?limit=200`, {
        headers: { Authorization: `Bearer ${alice.token}` },
      });
      return ((await response.json()) as unknown[]).length;
    };
    const before = await countOrders();
    const keys: (string | undefined)[] = [];
    let lose = true;
    await page.route('**/api/orders', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      keys.push(route.request().headers()['idempotency-key']);
      if (!lose) return route.continue();
      lose = false;
      // The order reaches the service and is placed; its answer never reaches the page.
      const response = await route.fetch();
      expect(response.status()).toBe(201);
      await route.abort('connectionreset');
    });
    try {
      await page.locator('#product-rows input').first().fill('6');
      await page.click('#place-order');
      await page.locator('#flash.error').waitFor();
      await page.click('#place-order');
      await page.locator('#flash', { hasText: 'Order placed.' }).waitFor();
      expect(await countOrders()).toBe(before + 1);
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(/^[0-9a-f]{32}$/);
      expect(keys[1]).toBe(keys[0]);

      // Placed: the same basket ordered again is a new order, under a new key.
      await page.locator('#product-rows input').first().fill('6');
      await page.click('#place-order');
      await page.locator('#flash', { hasText: 'Order placed.' }).waitFor();
      expect(await countOrders()).toBe(before + 2);
      expect(keys).toHaveLength(3);
      expect(keys[2]).not.toBe(keys[0]);
    } finally {
      await page.unroute('**/api/orders');
    }
  });

  it('reconnects after the socket drops, and lists the orders placed meanwhile', async () => {
    const alice = await apiLogin(stack.baseUrl, 'alice', PASSWORD.alice);
    const before = await sockets();
    expect(before.open).toBe(1);
    await page.evaluate(() => {
      const all = window.__cloakroomSockets ?? [];
      all[all.length - 1].close(4000, 'test drop');
    });
    await page.locator('#orders-live[data-state=reconnecting]').waitFor();
    const placedWhileDown = await placeOrder(alice.token, 9);
    await page.locator('#orders-live[data-state=open]').waitFor({ timeout: 5000 });
    await orderRow(placedWhileDown).waitFor({ timeout: 5000 });
    expect(await sockets()).toEqual({ opened: before.opened + 1, open: 1 });
    // The new socket is live too.
    const afterReconnect = await placeOrder(alice.token, 2);
    await orderRow(afterReconnect).waitFor({ timeout: 5000 });
    expect(await page.locator(`#order-rows tr[data-order-id="${placedWhileDown}"]`).count()).toBe(
      1,
    );
  });

  it('shows the login form, without a reload, once another browser revokes the session', async () => {
    const other = await browser.newContext({ viewport: DESKTOP });
    try {
      const otherPage = await other.newPage();
      await otherPage.goto(stack.baseUrl);
      await logInOnPage(otherPage, 'alice', PASSWORD.alice);
      const opened = (await sockets()).opened;
      await page.evaluate(() => {
        const reasons: string[] = (window.__liveCloseReasons = []);
        const all = window.__cloakroomSockets ?? [];
        all[all.length - 1].addEventListener('close', (event) => reasons.push(event.reason));
      });

      const sentAt = Date.now();
      const status = await otherPage.evaluate(async () => {
        const response = await fetch('/api/auth/sessions', { method: 'DELETE' });
        return response.status;
      });
      const answeredAt = Date.now();
      expect(status).toBe(204);
      await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
      // Told by the socket itself, not found out by a later request; and closed on the
      // revocation's event, which reaches the page's socket at once: orders' periodic check of
      // its sockets would have found the session gone and said 'Session ended'.
      expect(await page.evaluate(() => window.__cloakroomCloseCodes?.slice(-1))).toEqual([4401]);
      expect(await page.evaluate(() => window.__liveCloseReasons)).toEqual(['Session revoked']);
      const shownAt = Date.now();
      console.log(
        `login form shown ${shownAt - sentAt} ms after the revoking DELETE was sent ` +
          `(${shownAt - answeredAt} ms after its 204)`,
      );

      expect(await page.locator('#flash', { hasText: 'Your session ended' }).isVisible()).toBe(
        true,
      );
      expect(await page.isVisible('#app-view')).toBe(false);
      expect(await page.locator('#order-rows tr').count()).toBe(0);
      expect(await page.textContent('#me-user')).toBe('');
      expect(await notReloaded()).toBe(true);
      await screenshot(page, 'live-02-session-ended-desktop');

      // No reconnecting to a dead session: the socket stays closed, none is opened.
      await page.waitForTimeout(2500);
      expect(await sockets()).toEqual({ opened, open: 0 });
      // The other browser is still signed in.
      expect(await otherPage.isVisible('#app-view')).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('goes live again after a new login, and closes the socket on logout', async () => {
    await logInAsAlice();
    const alice = await apiLogin(stack.baseUrl, 'alice', PASSWORD.alice);
    const order = await placeOrder(alice.token, 5);
    await orderRow(order).waitFor({ timeout: 5000 });
    const { opened } = await sockets();
    await page.click('#logout');
    await page.locator('#flash', { hasText: 'Logged out.' }).waitFor();
    await page.waitForFunction(() =>
      (window.__cloakroomSockets ?? []).every((socket) => socket.readyState === 3),
    );
    await placeOrder(alice.token, 6);
    await page.waitForTimeout(1500);
    expect(await page.locator('#order-rows tr').count()).toBe(0);
    expect(await sockets()).toEqual({ opened, open: 0 });
  });
});
