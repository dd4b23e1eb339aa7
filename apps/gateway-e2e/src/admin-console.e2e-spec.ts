import { Browser, Page } from 'playwright-core';

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

const ADMIN_PASSWORD = 'admin-password';
/** Long and random-looking: passes the password policy. */
const USER_PASSWORD = 'quartz-Mongoose-84-lantern';

describe('the admin console, in Chromium, through the gateway', () => {
  // A 2 s window: the console's sensitive actions ask for the password again within the suite.
  const stack = new Stack('admin-console', { SESSION_REAUTH_WINDOW: '2' });
  let browser: Browser;
  let page: Page;
  let adminToken = '';

  beforeAll(async () => {
    await stack.start();
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
    const admin = await apiLogin(stack.baseUrl, 'admin', ADMIN_PASSWORD);
    expect(admin.status).toBe(200);
    adminToken = admin.token;
    // Enough users that the list has a second page, and one to find by search.
    for (let index = 0; index < 120; index += 1) {
      await createUser(`walker-${String(index).padStart(3, '0')}`);
      if (index >= 5 && (await usersPage('walker')).next) break;
    }
    await createUser('carol');
    await createUser('sought-after');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack.stop();
  });

  /** An admin API call by bearer; re-authenticates once when the 2 s window has passed. */
  async function adminApi(method: string, path: string, body?: unknown): Promise<Response> {
    const send = () =>
      fetch(`${stack.baseUrl}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const response = await send();
    if (response.status !== 401) return response;
    const refused = (await response.clone().json()) as { error?: string };
    if (refused.error !== 'reauthentication_required') return response;
    const reauth = await fetch(`${stack.baseUrl}/api/auth/reauthenticate`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ password: ADMIN_PASSWORD }),
    });
    expect(reauth.status).toBe(200);
    adminToken = ((await reauth.json()) as { token: string }).token;
    return send();
  }

  async function createUser(username: string, roles = ['customer']) {
    const response = await adminApi('POST', '/api/auth/users', {
      username,
      password: USER_PASSWORD,
      roles,
    });
    expect(`${response.status} ${await response.text()}`).toMatch(/^201 /);
  }

  async function usersPage(search: string): Promise<{ items: unknown[]; next: string | null }> {
    const response = await adminApi('GET', `/api/auth/users?search=${search}`);
    expect(response.status).toBe(200);
    return (await response.json()) as { items: unknown[]; next: string | null };
  }

  /**
   * Clicks a sensitive action and, when the page asks for the password (the 2 s window may or
   * may not have passed by then), enters it; then waits for the flash line.
   */
  async function act(click: () => Promise<void>, flash: string | RegExp) {
    await click();
    await page.locator('#reauth-dialog[open], #flash:not([hidden])').first().waitFor();
    if (await page.locator('#reauth-dialog').isVisible()) {
      await page.fill('#reauth-form input[name=password]', ADMIN_PASSWORD);
      await page.click('#reauth-form button[type=submit]');
      await page.locator('#reauth-dialog').waitFor({ state: 'hidden' });
    }
    await page.locator('#flash', { hasText: flash }).waitFor();
  }

  function userRow(username: string) {
    return page.locator(`#user-rows tr[data-username="${username}"]`);
  }

  /** Searches, and waits until the list shows that search's answer. */
  async function search(text: string) {
    await page.fill('#user-search input[name=search]', text);
    await page.click('#user-search button[type=submit]');
    await page.waitForFunction(
      (expected) =>
        (document.querySelector('#user-rows') as HTMLElement).dataset['search'] === expected,
      text.trim(),
    );
  }

  async function openUser(username: string) {
    await search(username);
    await userRow(username).locator('button', { hasText: 'Open' }).click();
    await page.locator('#detail-username', { hasText: username }).waitFor();
  }

  function usernamesShown() {
    return page.$$eval('#user-rows tr', (rows) =>
      rows.map((row) => (row as HTMLElement).dataset['username']),
    );
  }

  async function sessionOf(token: string): Promise<{ user: { roles: string[] } }> {
    const response = await fetch(`${stack.baseUrl}/api/auth/session`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { user: { roles: string[] } };
  }

  it('shows the console to an admin, with the password rule and no id field', async () => {
    await page.goto(stack.baseUrl);
    await logInOnPage(page, 'admin', ADMIN_PASSWORD);
    await page.locator('#admin').waitFor({ state: 'visible' });
    await userRow('admin').waitFor();
    expect(await page.textContent('#password-rule')).toContain('12 characters');
    // Users are picked from the list: no form anywhere asks for an id.
    expect(await page.locator('input[name=userId], input[name=id]').count()).toBe(0);
  });

  it('finds a user by search', async () => {
    await search('sought');
    await page.waitForFunction(
      () => document.querySelectorAll('#user-rows tr[data-username]').length === 1,
    );
    expect(await usernamesShown()).toEqual(['sought-after']);
    expect(await userRow('sought-after').textContent()).toContain('customer');

    // Wildcards and markup are plain text to the search and to the page.
    for (const text of ['%', '_', '<img src=x onerror="window.pwned=1">']) {
      await search(text);
      await page.locator('#user-rows', { hasText: 'No user matches.' }).waitFor();
    }
    expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
  });

  it('walks the user list to a second page and back', async () => {
    await search('walker');
    await page.locator('#users-next:not([disabled])').waitFor();
    const first = await usernamesShown();
    expect(first.length).toBeGreaterThan(1);
    await page.click('#users-next');
    await page.locator('#users-page', { hasText: 'Page 2' }).waitFor();
    await page.waitForFunction(
      (names) =>
        !names.includes(
          (document.querySelector('#user-rows tr') as HTMLElement)?.dataset['username'],
        ),
      first,
    );
    const second = await usernamesShown();
    expect(second.length).toBeGreaterThan(0);
    expect(second.filter((name) => first.includes(name))).toEqual([]);
    expect(second.every((name) => name?.startsWith('walker-'))).toBe(true);
    await page.click('#users-prev');
    await page.locator('#users-page', { hasText: 'Page 1' }).waitFor();
    await page.waitForFunction(
      (name) =>
        (document.querySelector('#user-rows tr') as HTMLElement)?.dataset['username'] === name,
      first[0],
    );
    expect(await usernamesShown()).toEqual(first);
  });

  it("opens a user's sessions and revokes one: that token is dead at once", async () => {
    const phone = await apiLogin(stack.baseUrl, 'carol', USER_PASSWORD, USER_AGENTS.iphoneSafari);
    const laptop = await apiLogin(stack.baseUrl, 'carol', USER_PASSWORD, USER_AGENTS.macFirefox);
    expect([phone.status, laptop.status]).toEqual([200, 200]);
    await openUser('carol');
    await page.waitForFunction(
      () => document.querySelectorAll('#detail-session-rows tr[data-session-id]').length === 2,
    );
    expect(await userRow('carol').locator('td').nth(3).textContent()).toBe('2');
    const phoneRow = page.locator(`#detail-session-rows tr[data-session-id="${phone.sessionId}"]`);
    const device = phoneRow.locator('td').first();
    expect(await device.textContent()).toContain('iOS');
    // The stack keeps only the device label (SESSION_KEEP_USER_AGENT is off): no raw string.
    expect(await device.getAttribute('title')).toBeNull();
    await screenshot(page, 'admin-01-console-desktop');

    await act(() => phoneRow.locator('button', { hasText: 'Revoke' }).click(), 'revoked');
    expect(await tokenStatus(stack.baseUrl, phone.token)).toBe(401);
    expect(await tokenStatus(stack.baseUrl, laptop.token)).toBe(200);
    await page.waitForFunction(
      () => document.querySelectorAll('#detail-session-rows tr[data-session-id]').length === 1,
    );
    await userRow('carol').locator('td', { hasText: /^1$/ }).waitFor();
  });

  it('asks for the password once the window has passed, then does the action', async () => {
    const laptop = await apiLogin(stack.baseUrl, 'carol', USER_PASSWORD, USER_AGENTS.macFirefox);
    expect(laptop.status).toBe(200);
    await openUser('carol');
    // Let the 2 s window of the last password entry pass: the prompt must come now.
    await page.waitForTimeout(2_500);

    // Cancelled: nothing happens.
    await page.click('#detail-disable');
    await page.locator('#reauth-dialog').waitFor({ state: 'visible' });
    await page.click('#reauth-cancel');
    await page.locator('#flash.error', { hasText: 'needs your password' }).waitFor();
    expect(await tokenStatus(stack.baseUrl, laptop.token)).toBe(200);

    // A wrong password is said so, the dialog stays; the right one does the action.
    await page.click('#detail-disable');
    await page.locator('#reauth-dialog').waitFor({ state: 'visible' });
    await page.fill('#reauth-form input[name=password]', 'not-the-password');
    await page.click('#reauth-form button[type=submit]');
    await page.locator('#reauth-error', { hasText: 'Wrong password.' }).waitFor();
    expect(await page.locator('#reauth-dialog').isVisible()).toBe(true);
    await screenshot(page, 'admin-02-reauth-desktop');
    await page.fill('#reauth-form input[name=password]', ADMIN_PASSWORD);
    await page.click('#reauth-form button[type=submit]');
    await page.locator('#reauth-dialog').waitFor({ state: 'hidden' });
    await page.locator('#flash', { hasText: 'carol is disabled' }).waitFor();
    expect(await tokenStatus(stack.baseUrl, laptop.token)).toBe(401);
  });

  it('disables and enables a user: logins fail, then work again', async () => {
    await openUser('carol');
    if ((await page.textContent('#detail-disable')) === 'Disable account') {
      await act(() => page.click('#detail-disable'), 'carol is disabled');
    }
    await userRow('carol').locator('.tag', { hasText: 'disabled' }).waitFor();
    expect((await apiLogin(stack.baseUrl, 'carol', USER_PASSWORD)).status).toBe(401);

    await act(() => page.click('#detail-disable'), 'carol is enabled');
    expect(await page.textContent('#detail-disable')).toBe('Disable account');
    await userRow('carol').locator('td', { hasText: 'active' }).waitFor();
    expect((await apiLogin(stack.baseUrl, 'carol', USER_PASSWORD)).status).toBe(200);
  });

  it("edits a user's roles: the user's live session carries them", async () => {
    const carol = await apiLogin(stack.baseUrl, 'carol', USER_PASSWORD);
    await openUser('carol');
    await page.check('#detail-roles input[value=admin]');
    await act(() => page.click('#detail-roles button[type=submit]'), 'Roles saved');
    expect((await sessionOf(carol.token)).user.roles.sort()).toEqual(['admin', 'customer']);
    await page.uncheck('#detail-roles input[value=admin]');
    await act(() => page.click('#detail-roles button[type=submit]'), 'Roles saved');
    expect((await sessionOf(carol.token)).user.roles).toEqual(['customer']);
  });

  it('shows the 409 when an admin would remove their own admin role', async () => {
    await openUser('admin');
    await page.uncheck('#detail-roles input[value=admin]');
    await act(() => page.click('#detail-roles button[type=submit]'), /409/);
    await page.locator('#detail-roles-error:not([hidden])').waitFor();
    expect(await page.textContent('#detail-roles-error')).toMatch(/409/);
    expect((await sessionOf(adminToken)).user.roles).toContain('admin');
    await screenshot(page, 'admin-03-self-demotion-refused-desktop');
  });

  it("lists a user's security activity, with the admin as actor", async () => {
    for (let round = 0; round < 50; round += 1) {
      await openUser('carol');
      const types = await page.$$eval('#detail-activity-rows tr', (rows) =>
        rows.map((row) => (row as HTMLElement).dataset['type']),
      );
      if (['login', 'session.revoked', 'user.disabled'].every((type) => types.includes(type))) {
        break;
      }
      await page.waitForTimeout(200);
    }
    const revoked = page.locator('#detail-activity-rows tr[data-type="session.revoked"]').first();
    expect(await revoked.textContent()).toContain('Session revoked');
    expect(await revoked.locator('td').nth(4).textContent()).toBe('admin');
    await screenshot(page, 'admin-04-activity-desktop');
  });

  it('creates a user from the console; a weak password is refused with the reason', async () => {
    await page.fill('#user-form input[name=username]', 'dave');
    await page.fill('#user-form input[name=password]', 'password1234');
    await act(() => page.click('#user-form button[type=submit]'), /400/);
    await page.locator('#user-form-error:not([hidden])').waitFor();

    await page.fill('#user-form input[name=password]', USER_PASSWORD);
    await act(() => page.click('#user-form button[type=submit]'), 'User dave created.');
    expect((await apiLogin(stack.baseUrl, 'dave', USER_PASSWORD)).status).toBe(200);
  });

  it('breaks no word of a table cell or button on a 390 px wide screen', async () => {
    await page.setViewportSize(PHONE);
    await openUser('carol');
    await page.locator('#detail-activity-rows tr').first().waitFor();
    const { broken, pageOverflow } = await layoutDefects(page);
    expect(broken).toEqual([]);
    expect(pageOverflow).toBeLessThanOrEqual(0);
    // Clicking "Open" scrolled the list sideways; the screenshot shows each table from its start.
    await page.$$eval('.table-wrap', (wrappers) => wrappers.forEach((w) => w.scrollTo(0, 0)));
    await screenshot(page, 'admin-05-console-mobile');
    await page.setViewportSize(DESKTOP);
  });

  it('revokes every session of every user after a confirmation, keeping its own', async () => {
    const carol = await apiLogin(stack.baseUrl, 'carol', USER_PASSWORD);
    page.once('dialog', (dialog) => void dialog.accept());
    await act(() => page.click('#revoke-everything'), 'Every other session');
    expect(await tokenStatus(stack.baseUrl, carol.token)).toBe(401);
    expect(await page.evaluate(async () => (await fetch('/api/auth/session')).status)).toBe(200);
  });

  it('says how long to wait when wrong passwords in the prompt are throttled', async () => {
    await openUser('carol');
    await page.waitForTimeout(2_500);
    await page.click('#detail-disable');
    await page.locator('#reauth-dialog').waitFor({ state: 'visible' });
    let said = '';
    for (let attempt = 0; attempt < 30 && !said.includes('Try again in'); attempt += 1) {
      await page.fill('#reauth-form input[name=password]', `wrong-${attempt}`);
      await page.click('#reauth-form button[type=submit]');
      await page.locator('#reauth-form button[type=submit]:not([disabled])').waitFor();
      said = (await page.textContent('#reauth-error')) ?? '';
    }
    expect(said).toMatch(/Too many attempts\. Try again in \d+ (seconds?|minutes)\./);
    await screenshot(page, 'admin-06-reauth-throttled-desktop');
    await page.click('#reauth-cancel');
    await page.locator('#flash.error', { hasText: 'needs your password' }).waitFor();
  });
});
