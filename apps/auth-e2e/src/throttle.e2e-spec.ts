import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BuiltApp, RunningApp, waitForStatus } from '@cloakroom/e2e-support';
import {
  DevCertificates,
  freePort,
  makeDevCertificates,
  testKeyPrefix,
} from '@cloakroom/session/testing';

const auth = new BuiltApp('auth');

interface Answer {
  status: number;
  retryAfter: string | null;
  body: unknown;
}

/**
 * The built auth service with demo users, behind a trusted loopback proxy: each request says
 * in X-Forwarded-For which client address it comes from.
 */
describe('login throttling of the built auth service', () => {
  let certsDir: string;
  let certificates: DevCertificates;

  beforeAll(() => {
    certsDir = mkdtempSync(join(tmpdir(), 'auth-e2e-throttle-certs-'));
    certificates = makeDevCertificates(certsDir, ['catalog']);
  });

  afterAll(() => {
    rmSync(certsDir, { recursive: true, force: true });
  });

  /** Starts auth in a directory of its own (SQLite, demo users); answers its login function. */
  async function start(name: string, extra: Record<string, string>) {
    const cwd = mkdtempSync(join(tmpdir(), `auth-e2e-${name}-`));
    const port = String(await freePort());
    const running: RunningApp = auth.start(
      {
        AUTH_PORT: port,
        AUTH_RPC_PORT: String(await freePort()),
        SESSION_KEY_PREFIX: testKeyPrefix(`auth-e2e-${name}`),
        AUTH_RPC_CLIENT_CA: certificates.ca,
        AUTH_RPC_SERVER_CERT: certificates.server.cert,
        AUTH_RPC_SERVER_KEY: certificates.server.key,
        SEED_DEMO_USERS: 'true',
        TRUST_PROXY: 'loopback',
        LOGIN_KNOWN_NETWORK_TTL: '600',
        ...extra,
      },
      cwd,
    );
    const base = `http://127.0.0.1:${port}/api/auth`;
    await waitForStatus(`${base}/health`);
    const login = async (username: string, password: string, ip: string): Promise<Answer> => {
      const response = await fetch(`${base}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
        body: JSON.stringify({ username, password, transport: 'bearer' }),
      });
      return {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: await response.json().catch(() => null),
      };
    };
    return {
      login,
      stop: async () => {
        await running.stop();
        rmSync(cwd, { recursive: true, force: true });
      },
    };
  }

  const count = (answers: Answer[], status: number) =>
    answers.filter((answer) => answer.status === status).length;

  describe('with 5 per username and network, a ceiling of 8 per username', () => {
    let app: Awaited<ReturnType<typeof start>>;

    beforeAll(async () => {
      app = await start('throttle', {
        LOGIN_MAX_FAILURES_PER_USER: '5',
        LOGIN_MAX_FAILURES_PER_IP: '1000',
        LOGIN_USER_CEILING: '8',
        LOGIN_DELAY_FIRST: '30',
        LOGIN_DELAY_MAX: '120',
      });
    });

    afterAll(async () => {
      await app?.stop();
    });

    it('lets exactly 5 of 30 parallel wrong guesses reach the password check', async () => {
      const answers = await Promise.all(
        Array.from({ length: 30 }, () => app.login('bob', 'wrong-password', '198.51.100.7')),
      );
      expect(count(answers, 401)).toBe(5);
      expect(count(answers, 429)).toBe(25);
      for (const answer of answers.filter(({ status }) => status === 429)) {
        expect(answer.body).toEqual({ statusCode: 429, message: expect.any(String) });
        expect(Number(answer.retryAfter)).toBeGreaterThan(0);
      }
      // The right password from that address waits too; from another one it works.
      expect((await app.login('bob', 'bob-password', '198.51.100.7')).status).toBe(429);
      expect((await app.login('bob', 'bob-password', '198.51.100.8')).status).toBe(200);
    });

    it('keeps the owner able to log in from a known network while strangers hammer the account', async () => {
      expect((await app.login('alice', 'alice-password', '2001:db8:a11:ce::1')).status).toBe(200);
      const hammer = Promise.all(
        Array.from({ length: 90 }, (_, i) =>
          app.login('alice', `guess-${i}`, `2001:db8:bad:${(i % 30).toString(16)}::${i + 1}`),
        ),
      );
      const [owner, attack] = await Promise.all([
        app.login('alice', 'alice-password', '2001:db8:a11:ce::2'),
        hammer,
      ]);
      expect(owner.status).toBe(200);
      expect(count(attack, 401)).toBeLessThanOrEqual(8);
      expect(count(attack, 401) + count(attack, 429)).toBe(90);
      // A new network of the owner waits like a stranger, never for good.
      const stranger = await app.login('alice', 'alice-password', '203.0.113.99');
      expect(stranger.status).toBe(429);
      expect(Number(stranger.retryAfter)).toBeGreaterThan(0);
      expect(Number(stranger.retryAfter)).toBeLessThanOrEqual(120);
      expect((await app.login('alice', 'alice-password', '2001:db8:a11:ce:ffff::9')).status).toBe(
        200,
      );
    });

    it('counts an IPv6 /64 as one client and another /64 as another', async () => {
      for (let host = 1; host <= 5; host++) {
        const answer = await app.login('admin', 'wrong-password', `2001:db8:64:1::${host}`);
        expect(answer.status).toBe(401);
      }
      const sameNetwork = await app.login('admin', 'admin-password', '2001:db8:64:1:abcd::1');
      expect(sameNetwork.status).toBe(429);
      expect((await app.login('admin', 'admin-password', '2001:db8:64:2::1')).status).toBe(200);
    });
  });

  describe('with one argon2 slot and two waiting places', () => {
    let app: Awaited<ReturnType<typeof start>>;

    beforeAll(async () => {
      app = await start('argon2', {
        PASSWORD_HASH_CONCURRENCY: '1',
        PASSWORD_HASH_QUEUE: '2',
        LOGIN_MAX_FAILURES_PER_IP: '1000',
        LOGIN_USER_CEILING: '1000',
      });
    });

    afterAll(async () => {
      await app?.stop();
    });

    it('answers a burst of logins 401, 429 or 503 with Retry-After: 1, never 500', async () => {
      const usernames = Array.from({ length: 40 }, (_, i) => (i % 2 ? 'bob' : `nobody-${i}`));
      const answers = await Promise.all(
        usernames.map((username, i) => app.login(username, 'wrong-password', `198.18.${i}.1`)),
      );
      expect(count(answers, 401) + count(answers, 429) + count(answers, 503)).toBe(40);
      expect(count(answers, 429) + count(answers, 503)).toBeGreaterThan(0);
      for (const [i, answer] of answers.entries()) {
        if (answer.status === 401) continue;
        expect(answer.retryAfter).toBe('1');
        expect(answer.body).toEqual({ statusCode: answer.status, message: expect.any(String) });
        // The hashing slots are shared fairly: only 'bob', asked for twenty times at once from
        // twenty networks, holds more than its share; each made-up name is asked for once.
        if (answer.status === 429) expect(usernames[i]).toBe('bob');
      }
      // Once the burst is over the service answers as before.
      expect((await app.login('bob', 'bob-password', '198.18.200.1')).status).toBe(200);
    });
  });
});
