import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

import { Browser, BrowserContext, Page } from 'playwright-core';

import { eventually } from '@cloakroom/e2e-support';

import {
  DESKTOP,
  launchChromium,
  logInOnPage,
  recordWebSockets,
  tokenStatus,
} from './support/browser';
import { Stack } from './support/stack';

const PASSWORD = { alice: 'alice-password', bob: 'bob-password', admin: 'admin-password' };

/**
 * The stack as a web attacker sees it: a page on another port of the same host (same site,
 * another origin: what a sibling app or a compromised subdomain is) and a page on another site
 * (`localhost` against the gateway's `127.0.0.1`) drive the victim's browser at the gateway
 * with every kind of request a page can make; the victim's own page is checked for what it
 * shows after its session or roles change elsewhere.
 */
describe('the stack under web attacks, in Chromium, through the gateway', () => {
  const stack = new Stack('web-attacks', { SESSION_KEEP_USER_AGENT: 'true' });
  let browser: Browser;
  let attacker: Server;
  let attackerPort = 0;
  let sku = '';

  beforeAll(async () => {
    await stack.start();
    browser = await launchChromium();
    attacker = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>attacker</title><body></body>');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerPort = (attacker.address() as AddressInfo).port;
    const products = (await (await fetch(`${stack.baseUrl}/api/catalog/products`)).json()) as {
      sku: string;
    }[];
    sku = products[0].sku;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => attacker?.close(resolve));
    await stack.stop();
  });

  /** The attacker's page: same site as the gateway (another port), or another site. */
  function attackerUrl(site: 'same-site' | 'cross-site'): string {
    const host = site === 'same-site' ? '127.0.0.1' : 'localhost';
    return `http://${host}:${attackerPort}/`;
  }

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: DESKTOP });
    await recordWebSockets(context);
    return context;
  }

  async function sessionCookie(context: BrowserContext) {
    const cookies = await context.cookies(stack.baseUrl);
    return cookies.find((cookie) => cookie.name.endsWith('cr_session'));
  }

  async function orderCount(token: string): Promise<number> {
    const response = await stack.call(token, 'GET', '/api/orders?limit=200');
    return ((await response.json()) as unknown[]).length;
  }

  /** A cookie-mode login outside the browser: answers the cookie's name and value. */
  async function cookieLogin(username: string, password: string) {
    const response = await fetch(`${stack.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: stack.baseUrl },
      body: JSON.stringify({ username, password }),
    });
    expect(response.status).toBe(200);
    const [pair] = (response.headers.get('set-cookie') ?? '').split(';');
    const [name, value] = pair.split('=');
    return { name, value };
  }

  describe('session fixation', () => {
    it('replaces a token planted before login with a new one, and kills the planted one', async () => {
      const context = await newContext();
      const page = await context.newPage();
      // The attacker's own live session, planted in the victim's browser.
      const planted = await cookieLogin('bob', PASSWORD.bob);
      await context.addCookies([
        { name: planted.name, value: planted.value, url: stack.baseUrl, httpOnly: true },
      ]);
      await page.goto(stack.baseUrl);
      // The page shows the planted session for what it is: bob's; the victim logs out and in.
      await page.locator('#app-view').waitFor({ state: 'visible' });
      expect(await page.textContent('#me-user')).toBe('bob');
      await context.clearCookies();
      await context.addCookies([
        { name: planted.name, value: planted.value, url: stack.baseUrl, httpOnly: true },
      ]);
      const fresh = await context.newPage();
      await page.close();
      await fresh.goto(stack.baseUrl);
      await fresh.locator('#app-view').waitFor({ state: 'visible' });
      // A login over the planted session: the session after it is new.
      await fresh.evaluate(async () => {
        await fetch('/api/auth/login', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
        });
      });
      const after = await sessionCookie(context);
      expect(after?.value).toBeDefined();
      expect(after?.value).not.toBe(planted.value);
      expect(await tokenStatus(stack.baseUrl, planted.value)).toBe(401);
      await context.close();
    });
  });

  describe('CSRF from another origin of the same site, and from another site', () => {
    let context: BrowserContext;
    let victim: Page;
    let evil: Page;
    let aliceToken = '';

    beforeAll(async () => {
      context = await newContext();
      victim = await context.newPage();
      await victim.goto(stack.baseUrl);
      await logInOnPage(victim, 'alice', PASSWORD.alice);
      evil = await context.newPage();
      aliceToken = await stack.login('alice', PASSWORD.alice);
    }, 30_000);

    afterAll(() => context.close());

    async function aliceAlive(): Promise<boolean> {
      const cookie = await sessionCookie(context);
      return cookie !== undefined && (await tokenStatus(stack.baseUrl, cookie.value)) === 200;
    }

    /**
     * Submits a form from the attacker's page (a top-level navigation POST) and answers the
     * status of the gateway's answer; a 204 leaves the browser on the attacker's page.
     */
    async function formPost(
      site: 'same-site' | 'cross-site',
      path: string,
      enctype: string,
      fields: Record<string, string>,
      page = evil,
    ): Promise<number> {
      await page.goto(attackerUrl(site));
      const url = `${stack.baseUrl}${path}`;
      const answered = page.waitForResponse(url);
      // The navigation ends when the answer's page has loaded, or when a 204 cancelled it.
      const landed = Promise.race([
        page.waitForURL(url),
        page.waitForEvent('requestfailed', (request) => request.url() === url),
      ]);
      await page.evaluate(
        ({ action, enctype, fields }) => {
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = action;
          form.enctype = enctype;
          for (const [name, value] of Object.entries(fields)) {
            const input = document.createElement('input');
            input.name = name;
            input.value = value;
            form.append(input);
          }
          document.body.append(form);
          form.submit();
        },
        { action: url, enctype, fields },
      );
      await landed;
      return (await answered).status();
    }

    /** The attacker's page, loaded: what it evaluates runs with its origin and its `fetch`. */
    async function fromAttacker(site: 'same-site' | 'cross-site'): Promise<Page> {
      await evil.goto(attackerUrl(site));
      return evil;
    }

    /** A JSON body smuggled through a text/plain form: `name=value` reads as JSON. */
    function jsonForm(body: Record<string, unknown>): Record<string, string> {
      const json = JSON.stringify({ ...body, pad: '' });
      return { [json.slice(0, -2)]: '"}' };
    }

    it.each(['same-site', 'cross-site'] as const)(
      'refuses a %s text/plain form that would place an order',
      async (site) => {
        const before = await orderCount(aliceToken);
        const status = await formPost(
          site,
          '/api/orders',
          'text/plain',
          jsonForm({ items: [{ sku, quantity: 1 }] }),
        );
        expect(status).not.toBe(201);
        expect(await orderCount(aliceToken)).toBe(before);
      },
    );

    it.each(['same-site', 'cross-site'] as const)(
      'refuses a %s GraphQL mutation by form, fetch, beacon and GET navigation',
      async (site) => {
        const before = await orderCount(aliceToken);
        const mutation = `mutation { placeOrder(items: [{ sku: "${sku}", quantity: 1 }]) { id } }`;
        await formPost(site, '/api/orders/graphql', 'text/plain', jsonForm({ query: mutation }));
        await formPost(site, '/api/orders/graphql', 'application/x-www-form-urlencoded', {
          query: mutation,
        });
        await (
          await fromAttacker(site)
        ).evaluate(
          async ({ url, mutation }) => {
            await fetch(url, {
              method: 'POST',
              mode: 'no-cors',
              credentials: 'include',
              headers: { 'Content-Type': 'text/plain' },
              body: JSON.stringify({ query: mutation }),
            }).catch(() => undefined);
            navigator.sendBeacon(url, JSON.stringify({ query: mutation }));
            navigator.sendBeacon(
              url,
              new Blob([JSON.stringify({ query: mutation })], { type: 'text/plain' }),
            );
            await new Promise((resolve) => setTimeout(resolve, 300));
          },
          { url: `${stack.baseUrl}/api/orders/graphql`, mutation },
        );
        // A top-level GET navigation carries a Lax cookie across sites.
        await evil.goto(
          `${stack.baseUrl}/api/orders/graphql?query=${encodeURIComponent(mutation)}`,
        );
        expect(await orderCount(aliceToken)).toBe(before);
        expect(await aliceAlive()).toBe(true);
      },
    );

    it.each(['same-site', 'cross-site'] as const)(
      'refuses %s writes on every cookie route: nothing changes',
      async (site) => {
        const before = await orderCount(aliceToken);
        const writes: [string, string, unknown][] = [
          ['POST', '/api/orders', { items: [{ sku, quantity: 1 }] }],
          ['POST', '/api/orders/quote', { items: [{ sku, quantity: 1 }] }],
          ['DELETE', '/api/auth/sessions', undefined],
          ['POST', '/api/auth/password', { currentPassword: 'x', newPassword: 'y'.repeat(20) }],
          ['POST', '/api/auth/reauthenticate', { password: PASSWORD.alice }],
          ['POST', '/api/catalog/products', { sku: 'EVIL-1', name: 'x', priceCents: 1 }],
        ];
        const statuses = await (
          await fromAttacker(site)
        ).evaluate(
          async ({ base, writes }) => {
            const out: string[] = [];
            for (const [method, path, body] of writes) {
              for (const type of ['text/plain', 'application/json']) {
                const response = await fetch(`${base}${path}`, {
                  method,
                  credentials: 'include',
                  mode: type === 'text/plain' && method === 'POST' ? 'no-cors' : 'cors',
                  headers: { 'Content-Type': type },
                  body: body === undefined ? undefined : JSON.stringify(body),
                }).catch(() => null);
                out.push(`${method} ${path} ${type}: ${response ? response.status : 'blocked'}`);
              }
            }
            return out;
          },
          { base: stack.baseUrl, writes },
        );
        expect(statuses.length).toBeGreaterThan(0);
        expect(await orderCount(aliceToken)).toBe(before);
        expect(await aliceAlive()).toBe(true);
        // Alice's bearer session, on another device, was not revoked by `DELETE /sessions`.
        expect(await tokenStatus(stack.baseUrl, aliceToken)).toBe(200);
      },
    );

    it.each(['same-site', 'cross-site'] as const)(
      'refuses a %s login form, in any encoding: no session is planted',
      async (site) => {
        const other = await newContext();
        const page = await other.newPage();
        try {
          const statuses = [
            await formPost(
              site,
              '/api/auth/login',
              'text/plain',
              jsonForm({ username: 'bob', password: PASSWORD.bob }),
              page,
            ),
            await formPost(
              site,
              '/api/auth/login',
              'application/x-www-form-urlencoded',
              { username: 'bob', password: PASSWORD.bob },
              page,
            ),
          ];
          expect(statuses).not.toContain(200);
          await page.goto(attackerUrl(site));
          await page.evaluate(async (url) => {
            await fetch(url, {
              method: 'POST',
              mode: 'no-cors',
              credentials: 'include',
              headers: { 'Content-Type': 'text/plain' },
              body: JSON.stringify({ username: 'bob', password: 'bob-password' }),
            }).catch(() => undefined);
            navigator.sendBeacon(
              url,
              JSON.stringify({ username: 'bob', password: 'bob-password' }),
            );
            await new Promise((resolve) => setTimeout(resolve, 300));
          }, `${stack.baseUrl}/api/auth/login`);
          expect(await sessionCookie(other)).toBeUndefined();
        } finally {
          await other.close();
        }
      },
    );

    it.each(['same-site', 'cross-site'] as const)(
      "refuses a %s page's WebSocket to the live orders with the victim's cookie",
      async (site) => {
        const outcome = await (
          await fromAttacker(site)
        ).evaluate(
          (url) =>
            new Promise<string>((resolve) => {
              const socket = new WebSocket(url);
              const seen: string[] = [];
              socket.onopen = () => seen.push('open');
              socket.onmessage = (event) => seen.push(`message ${String(event.data)}`);
              socket.onclose = (event) => resolve([...seen, `close ${event.code}`].join(', '));
              setTimeout(() => resolve([...seen, 'still open'].join(', ')), 5000);
            }),
          `${stack.baseUrl.replace('http', 'ws')}/api/orders/ws`,
        );
        expect(outcome).toMatch(/close (1006|4401)$/);
        expect(outcome).not.toContain('message');
      },
    );

    it.each(['same-site', 'cross-site'] as const)(
      'refuses %s logouts by form, no-cors fetch and beacon: the cookie and session live on',
      async (site) => {
        const other = await newContext();
        const page = await other.newPage();
        try {
          await page.goto(stack.baseUrl);
          await logInOnPage(page, 'alice', PASSWORD.alice);
          const cookie = await sessionCookie(other);
          const statuses = [
            await formPost(site, '/api/auth/logout', 'text/plain', { a: 'b' }, page),
            await formPost(site, '/api/auth/logout', 'application/x-www-form-urlencoded', {}, page),
          ];
          await page.goto(attackerUrl(site));
          await page.evaluate(async (url) => {
            await fetch(url, { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(
              () => undefined,
            );
            navigator.sendBeacon(url);
          }, `${stack.baseUrl}/api/auth/logout`);
          expect(statuses).toEqual([403, 403]);
          expect((await sessionCookie(other))?.value).toBe(cookie?.value);
          expect(await tokenStatus(stack.baseUrl, cookie?.value ?? '')).toBe(200);
          await page.goto(stack.baseUrl);
          await page.locator('#app-view').waitFor({ state: 'visible' });
        } finally {
          await other.close();
        }
      },
    );

    it.each(['same-site', 'cross-site'] as const)(
      'keeps the signed-in console out of a %s frame',
      async (site) => {
        for (const path of ['/', '/index.html', '/no-such-page']) {
          const response = await fetch(`${stack.baseUrl}${path}`);
          expect([path, response.headers.get('x-frame-options')]).toEqual([path, 'DENY']);
          expect(response.headers.get('content-security-policy')).toContain(
            "frame-ancestors 'none'",
          );
        }
        // JSON answers are the services' own (same-origin framing only), never another origin's.
        const api = await fetch(`${stack.baseUrl}/api/auth/session`);
        expect(api.headers.get('x-frame-options')).toMatch(/^(DENY|SAMEORIGIN)$/);
        await (
          await fromAttacker(site)
        ).evaluate(
          (url) =>
            new Promise((resolve) => {
              const frame = document.createElement('iframe');
              frame.src = url;
              frame.addEventListener('load', resolve);
              document.body.append(frame);
            }),
          stack.baseUrl,
        );
        const frame = evil.frames().find((candidate) => candidate !== evil.mainFrame());
        expect(frame).toBeDefined();
        const shown = await frame
          ?.evaluate(() => document.querySelector('#app-view, #login-view') !== null)
          .catch(() => false);
        expect(shown).toBe(false);
      },
    );
  });

  describe('caching of authenticated answers', () => {
    it('sends no-store on every /api answer and keeps the page revalidated', async () => {
      const token = await stack.login('alice', PASSWORD.alice);
      const answers: [string, Response][] = [
        ['session 200', await stack.call(token, 'GET', '/api/auth/session')],
        ['sessions 200', await stack.call(token, 'GET', '/api/auth/sessions')],
        ['orders 200', await stack.call(token, 'GET', '/api/orders')],
        ['users 403', await stack.call(token, 'GET', '/api/auth/users')],
        ['session 401', await fetch(`${stack.baseUrl}/api/auth/session`)],
        ['unknown 404', await stack.call(token, 'GET', '/api/orders/nothing-here')],
        ['non-canonical 404', await fetch(`${stack.baseUrl}/api/auth//session`)],
        ['gateway 404', await fetch(`${stack.baseUrl}/api/nowhere`)],
        ['bad body 400', await stack.call(token, 'POST', '/api/orders', { items: 'x' })],
        ['products 200', await fetch(`${stack.baseUrl}/api/catalog/products`)],
      ];
      const bad = answers
        .filter(([, response]) => response.headers.get('cache-control') !== 'no-store')
        .map(([what, response]) => `${what}: ${response.headers.get('cache-control')}`);
      expect(bad).toEqual([]);
      for (const path of ['/', '/index.html', '/app.js', '/styles.css']) {
        const response = await fetch(`${stack.baseUrl}${path}`);
        expect([path, response.headers.get('cache-control')]).toEqual([path, 'no-cache']);
      }
    });
  });

  describe('a stolen cookie after logout', () => {
    it('opens nothing anywhere once the user has logged out on the page', async () => {
      const context = await newContext();
      const page = await context.newPage();
      await page.goto(stack.baseUrl);
      await logInOnPage(page, 'alice', PASSWORD.alice);
      const stolen = await sessionCookie(context);
      const cookie = `${stolen?.name}=${stolen?.value}`;
      await page.click('#logout');
      await page.locator('#login-view').waitFor({ state: 'visible' });
      const replay = (method: string, path: string, body?: unknown) =>
        fetch(`${stack.baseUrl}${path}`, {
          method,
          headers: { Cookie: cookie, Origin: stack.baseUrl, 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      expect((await replay('GET', '/api/auth/session')).status).toBe(401);
      expect((await replay('GET', '/api/orders')).status).toBe(401);
      expect((await replay('POST', '/api/orders', { items: [{ sku, quantity: 1 }] })).status).toBe(
        401,
      );
      const graphql = await replay('POST', '/api/orders/graphql', {
        query: '{ myOrders { id } }',
      });
      expect(JSON.stringify(await graphql.json())).toContain('UNAUTHENTICATED');
      await context.close();
    });
  });

  describe('the signed-in page when its session or roles change elsewhere', () => {
    /** A user's page, logged in, with its live orders socket open. */
    async function openPage(username: string, password: string) {
      const context = await newContext();
      const page = await context.newPage();
      await page.goto(stack.baseUrl);
      await logInOnPage(page, username, password);
      await page.locator('#orders-live[data-state=open]').waitFor({ timeout: 10_000 });
      return { context, page };
    }

    it("ends another browser's page and socket at once on 'log out everywhere else'", async () => {
      const here = await openPage('alice', PASSWORD.alice);
      const there = await openPage('alice', PASSWORD.alice);
      try {
        await here.page.click('#revoke-others');
        await here.page.locator('#flash', { hasText: 'Every other session' }).waitFor();
        // No click, no reload: the socket's 4401 takes the other page back to the login form.
        await there.page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
        expect(await there.page.evaluate(() => window.__cloakroomCloseCodes)).toContain(4401);
        expect(await there.page.locator('#app-view tbody tr').count()).toBe(0);
        expect(await there.page.textContent('#me-user')).toBe('');
        expect(await here.page.isVisible('#app-view')).toBe(true);
      } finally {
        await here.context.close();
        await there.context.close();
      }
    });

    it('stops showing the admin console once an admin loses the role, at the first refusal', async () => {
      const admin = await stack.login('admin', PASSWORD.admin);
      const username = `demoted-${Date.now()}`;
      const password = 'violet tram 51 under lanterns';
      const created = await stack.call(admin, 'POST', '/api/auth/users', {
        username,
        password,
        roles: ['admin', 'customer'],
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      const { context, page } = await openPage(username, password);
      try {
        await page.locator('#user-rows tr[data-username]').first().waitFor();
        const demoted = await stack.call(admin, 'PUT', `/api/auth/users/${id}/roles`, {
          roles: ['customer'],
        });
        expect(demoted.status).toBe(200);
        await page.click('#user-search button[type=submit]');
        // The refusal says why, and the console with other users' data is gone from the page.
        await page.locator('#flash', { hasText: 'Your roles have changed.' }).waitFor();
        expect(await page.isVisible('#admin')).toBe(false);
        expect(await page.locator('#user-rows tr').count()).toBe(0);
        expect(await page.textContent('#me-roles')).toBe('customer');
        expect(await page.textContent('#orders-title')).toBe('My orders');
      } finally {
        await context.close();
      }
    });

    it('shows no signed-in data when Back restores the page after the session ended', async () => {
      const { context, page } = await openPage('alice', PASSWORD.alice);
      try {
        const cookie = await sessionCookie(context);
        await page.goto(attackerUrl('cross-site'));
        const ended = await fetch(`${stack.baseUrl}/api/auth/logout`, {
          method: 'POST',
          headers: { Cookie: `${cookie?.name}=${cookie?.value}`, Origin: stack.baseUrl },
        });
        expect(ended.status).toBe(204);
        await page.goBack();
        await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
        expect(await page.locator('#app-view tbody tr').count()).toBe(0);
      } finally {
        await context.close();
      }
    });

    it('answers a store outage (503) with a message and no request loop', async () => {
      const context = await newContext();
      const page = await context.newPage();
      let reads = 0;
      await page.route(`${stack.baseUrl}/api/auth/session`, (route) => {
        reads += 1;
        return route.fulfill({
          status: 503,
          headers: { 'Content-Type': 'application/json', 'Retry-After': '7' },
          body: JSON.stringify({ statusCode: 503, message: 'Session store unavailable' }),
        });
      });
      try {
        await page.goto(stack.baseUrl);
        await page.locator('#flash', { hasText: 'Try again in 7 seconds' }).waitFor();
        const shown = reads;
        await page.waitForTimeout(1500);
        expect(reads).toBe(shown);
        expect(await page.isVisible('#app-view')).toBe(false);
      } finally {
        await context.close();
      }
    });

    it("never shows the next user of the browser the previous one's late answers", async () => {
      const context = await newContext();
      // How many answers the page is still reading: once none, their rows are drawn or dropped.
      await context.addInitScript(() => {
        const json = Response.prototype.json;
        let reading = 0;
        Object.defineProperty(window, '__reading', { get: () => reading });
        Response.prototype.json = function (this: Response) {
          reading += 1;
          return json.call(this).finally(() => (reading -= 1));
        };
      });
      const page = await context.newPage();
      let holding = false;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const held: Promise<void>[] = [];
      await page.route(`${stack.baseUrl}/api/auth/**`, async (route) => {
        const request = route.request();
        if (!holding || request.method() !== 'GET' || request.url().endsWith('/api/auth/session')) {
          return route.continue();
        }
        // Read while the admin's session lives; answered to the page only after the next login.
        const answer = route.fetch();
        const done = answer.then(async (response) => {
          await released;
          await route.fulfill({ response });
        });
        held.push(done);
        return done;
      });
      try {
        await page.goto(stack.baseUrl);
        await logInOnPage(page, 'admin', PASSWORD.admin);
        await page.locator('#user-rows tr[data-username]').first().waitFor();
        await page.locator('#user-rows tr button', { hasText: 'Open' }).first().click();
        await page.locator('#detail-session-rows tr').first().waitFor();
        holding = true;
        await page.click('#revoke-others');
        await page.click('#activity-refresh');
        await page.click('#user-search button[type=submit]');
        await page.locator('#user-rows tr button', { hasText: 'Open' }).first().click();
        // The admin's sessions, two activity reads, the user list, one user's sessions and activity.
        await eventually(() => held.length >= 6);
        holding = false;
        await page.click('#logout');
        await logInOnPage(page, 'bob', PASSWORD.bob);
        const tables = () =>
          page.$$eval('#app-view tbody', (bodies) => bodies.map((body) => body.innerHTML));
        const shown = await tables();
        release();
        await Promise.all(held);
        await page.waitForFunction(() => (window as { __reading?: number }).__reading === 0);
        await page.evaluate(() => new Promise((resolve) => setTimeout(resolve)));
        expect(await tables()).toEqual(shown);
        expect(await page.locator('#user-rows tr, #detail-session-rows tr').count()).toBe(0);
        expect(await page.textContent('#me-user')).toBe('bob');
      } finally {
        await context.close();
      }
    });
  });

  describe('every value the page renders, made hostile', () => {
    const MARKUP = '<img src=x id=pwn onerror="window.pwned=1"><b id=pwn2>';
    /** Fields whose values the page parses or compares rather than shows. */
    const KEPT = new Set(['roles', 'createdAt', 'lastSeenAt', 'expiresAt', 'at', 'next']);

    function poison(value: unknown, key = ''): unknown {
      if (typeof value === 'string') return KEPT.has(key) ? value : `${MARKUP}${value}`;
      if (Array.isArray(value)) return value.map((item) => poison(item, key));
      if (value && typeof value === 'object') {
        return Object.fromEntries(
          Object.entries(value).map(([name, item]) => [name, poison(item, name)]),
        );
      }
      return value;
    }

    it('shows every string of every answer as text, in the customer and admin views', async () => {
      const context = await newContext();
      const page = await context.newPage();
      await page.route(`${stack.baseUrl}/api/**`, async (route) => {
        const response = await route.fetch();
        const type = response.headers()['content-type'] ?? '';
        if (!type.includes('json')) return route.fulfill({ response });
        const body = poison(await response.json());
        return route.fulfill({ response, json: body });
      });
      try {
        await page.goto(stack.baseUrl);
        await page.locator('#demo-hint').waitFor({ state: 'visible' });
        // A refused login: its error message, poisoned, is shown too.
        await logInOnPage(page, 'admin', 'wrong-password', { waitForApp: false });
        await page.locator('#flash.error').waitFor();
        await logInOnPage(page, 'admin', PASSWORD.admin);
        await page.locator('#user-rows tr[data-username]').first().waitFor();
        await page.locator('#user-rows tr button', { hasText: 'Open' }).first().click();
        await page.locator('#detail-session-rows tr').first().waitFor();
        await page.locator('#product-rows input').first().fill('2');
        await page.locator('#order-total', { hasText: /\S/ }).waitFor();
        const text = await page.textContent('body');
        expect(text).toContain('<img src=x id=pwn');
        expect(await page.locator('img, #pwn, #pwn2').count()).toBe(0);
        expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
      } finally {
        await context.close();
      }
    });
  });
});
