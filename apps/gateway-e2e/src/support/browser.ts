import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { Browser, BrowserContext, chromium, Page } from 'playwright-core';

import { WORKSPACE_ROOT } from './stack';

/** Screenshots a person looks at to judge the layout (gitignored with the rest of `dist`). */
export const SCREENSHOTS = join(WORKSPACE_ROOT, 'dist/screenshots');

export const DESKTOP = { width: 1280, height: 900 };

declare global {
  interface Window {
    /** Every WebSocket the page opened (`recordWebSockets`). */
    __cloakroomSockets?: WebSocket[];
    /** The close codes the page's sockets got, in order. */
    __cloakroomCloseCodes?: number[];
  }
}

/**
 * Has every page of `context` record the WebSockets it opens and the close code each gets, in
 * `window.__cloakroomSockets` and `window.__cloakroomCloseCodes`, so that a test can tell which
 * are open, closed or new, and why they closed.
 */
export async function recordWebSockets(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    const sockets: WebSocket[] = [];
    const closeCodes: number[] = [];
    window.__cloakroomSockets = sockets;
    window.__cloakroomCloseCodes = closeCodes;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
        this.addEventListener('close', (event) => closeCodes.push(event.code));
      }
    };
  });
}
export const PHONE = { width: 390, height: 844 };

/** Debian's Chromium, as DESIGN §5 asks: never a browser build downloaded by a tool. */
export function launchChromium(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export function screenshot(page: Page, name: string): Promise<Buffer> {
  return page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Fills the login form and submits it; waits for the signed-in page unless told otherwise. */
export async function logInOnPage(
  page: Page,
  username: string,
  password: string,
  { rememberMe = false, waitForApp = true } = {},
): Promise<void> {
  await page.locator('#login-view').waitFor({ state: 'visible' });
  await page.fill('#login-form input[name=username]', username);
  await page.fill('#login-form input[name=password]', password);
  await page.setChecked('#login-form input[name=rememberMe]', rememberMe);
  await page.click('#login-form button[type=submit]');
  if (waitForApp) await page.locator('#app-view').waitFor({ state: 'visible' });
}

/**
 * What a narrow screen does to the visible page: every word of a table cell or a button that
 * the browser laid out over more than one line (a word broken mid-letter, or a button label
 * wrapped), and whether the page itself is wider than the screen (tables must scroll inside
 * their own wrapper instead).
 */
export function layoutDefects(page: Page): Promise<{ broken: string[]; pageOverflow: number }> {
  return page.evaluate(() => {
    const lines = (range: Range) =>
      new Set(
        Array.from(range.getClientRects())
          .filter((rect) => rect.width > 0)
          .map((r) => Math.round(r.top)),
      ).size;
    const broken: string[] = [];
    for (const element of Array.from(document.querySelectorAll<HTMLElement>('td, th, button'))) {
      if (element.getClientRects().length === 0) continue; // not rendered
      const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode() as Text | null; node; node = walker.nextNode() as Text) {
        for (const word of node.data.matchAll(/\S+/g)) {
          const range = document.createRange();
          range.setStart(node, word.index ?? 0);
          range.setEnd(node, (word.index ?? 0) + word[0].length);
          if (lines(range) > 1) broken.push(`${element.tagName.toLowerCase()}: ${word[0]}`);
        }
      }
      if (element.tagName === 'BUTTON') {
        const label = document.createRange();
        label.selectNodeContents(element);
        if (lines(label) > 1) broken.push(`button label: ${element.textContent?.trim()}`);
      }
    }
    return {
      broken,
      pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    };
  });
}

/** A login from outside the page (another device); answers the bearer token and session id. */
export async function apiLogin(
  baseUrl: string,
  username: string,
  password: string,
  userAgent = 'cloakroom-e2e',
): Promise<{ status: number; token: string; sessionId: string }> {
  const response = await fetch(`${baseUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'User-Agent': userAgent, Origin: baseUrl },
    body: JSON.stringify({ username, password, transport: 'bearer' }),
  });
  const body = (await response.json().catch(() => ({}))) as {
    token?: string;
    session?: { id: string };
  };
  return { status: response.status, token: body.token ?? '', sessionId: body.session?.id ?? '' };
}

/** The status a bearer token gets on `GET /api/auth/session`: 200 alive, 401 dead. */
export async function tokenStatus(baseUrl: string, token: string): Promise<number> {
  const response = await fetch(`${baseUrl}/api/auth/session`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  return response.status;
}

export const USER_AGENTS = {
  windowsChrome:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  iphoneSafari:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  macFirefox: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:133.0) Gecko/20100101 Firefox/133.0',
};
