import { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { Redis } from 'ioredis';

import { BuiltApp, stopProcess, waitForStatus } from '@cloakroom/e2e-support';
import { sessionAclRules } from '@cloakroom/session';
import {
  AssertionKeyFiles,
  DevCertificates,
  freePort,
  makeAssertionKeys,
  makeDevCertificates,
  testKeyPrefix,
} from '@cloakroom/session/testing';

export const WORKSPACE_ROOT = resolve(__dirname, '../../../..');
export const ARTIFACTS = resolve(__dirname, '../../artifacts');

type App = 'auth' | 'orders' | 'catalog' | 'gateway';

const HEALTH_PATH: Record<App, string> = {
  auth: '/api/auth/health',
  orders: '/api/orders/health',
  catalog: '/api/catalog/health',
  gateway: '/api/gateway/health',
};

/** The four built apps running as child processes on free ports, with SQLite in a temp dir. */
export class Stack {
  readonly dir = mkdtempSync(join(tmpdir(), 'cloakroom-stack-'));
  private readonly children: ChildProcess[] = [];
  /** Each app's process and environment, as last started. */
  private readonly running = new Map<App, { child: ChildProcess; env: Record<string, string> }>();
  private readonly redisUsers: string[] = [];
  ports!: Record<App | 'rpc' | 'catalogRpc', number>;
  /** This run's CA and certificates (`clients.orders` is orders' for catalog's RPC). */
  certificates!: DevCertificates;
  /** Orders' session assertion keys, which catalog trusts under the id `orders-1`. */
  assertionKeys!: AssertionKeyFiles;

  /** `name` prefixes the log files written under the artifacts directory. */
  constructor(
    private readonly name: string,
    private readonly env: Record<string, string> = {},
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.ports.gateway}`;
  }

  url(app: App): string {
    return `http://127.0.0.1:${this.ports[app]}`;
  }

  /** Logs in through the gateway as a client that is not a browser: answers the bearer token. */
  async login(username: string, password: string): Promise<string> {
    const response = await fetch(`${this.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password, transport: 'bearer' }),
    });
    if (response.status !== 200) {
      throw new Error(`login as ${username} answered ${response.status}`);
    }
    return ((await response.json()) as { token: string }).token;
  }

  /** A bearer-authenticated request through the gateway, with a JSON body if given. */
  call(token: string, method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async start(): Promise<void> {
    for (const app of ['auth', 'orders', 'catalog', 'gateway'] as const) {
      const { main } = new BuiltApp(app);
      if (!existsSync(main)) {
        throw new Error(`${main} is missing: run "npx nx run-many -t build" first`);
      }
    }
    this.ports = {
      auth: await freePort(),
      orders: await freePort(),
      catalog: await freePort(),
      gateway: await freePort(),
      rpc: await freePort(),
      catalogRpc: await freePort(),
    };
    // The session RPC's and catalog RPC's mutual TLS, and orders' session assertion keys: of
    // this run's own, as `npm start` makes them.
    const certificates = makeDevCertificates(
      join(this.dir, 'certs'),
      ['catalog', 'orders'],
      ['catalog'],
    );
    const assertionKeys = makeAssertionKeys(join(this.dir, 'certs'), 'orders');
    this.certificates = certificates;
    this.assertionKeys = assertionKeys;
    const keyPrefix = testKeyPrefix('gateway-e2e');
    const env: Record<string, string> = {
      AUTH_RPC_CLIENT_CA: certificates.ca,
      AUTH_RPC_SERVER_CERT: certificates.server.cert,
      AUTH_RPC_SERVER_KEY: certificates.server.key,
      AUTH_RPC_CA: certificates.ca,
      AUTH_RPC_CLIENT_CERT: certificates.clients['catalog'].cert,
      AUTH_RPC_CLIENT_KEY: certificates.clients['catalog'].key,
      CATALOG_RPC_PORT: String(this.ports.catalogRpc),
      CATALOG_RPC_CLIENT_CA: certificates.ca,
      CATALOG_RPC_SERVER_CERT: certificates.servers['catalog'].cert,
      CATALOG_RPC_SERVER_KEY: certificates.servers['catalog'].key,
      CATALOG_RPC_CA: certificates.ca,
      CATALOG_RPC_CLIENT_CERT: certificates.clients['orders'].cert,
      CATALOG_RPC_CLIENT_KEY: certificates.clients['orders'].key,
      SESSION_ASSERTION_KEY: assertionKeys.privateKey,
      SESSION_ASSERTION_TRUST: `orders:orders-1:${assertionKeys.publicKey}`,
      NODE_ENV: 'development',
      // The suites log in as the demo users; a production stack turns this off.
      SEED_DEMO_USERS: 'true',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: keyPrefix,
      SESSION_ALLOWED_ORIGINS: this.baseUrl,
      AUTH_PORT: String(this.ports.auth),
      AUTH_RPC_HOST: '127.0.0.1',
      AUTH_RPC_PORT: String(this.ports.rpc),
      ORDERS_PORT: String(this.ports.orders),
      CATALOG_PORT: String(this.ports.catalog),
      PORT: String(this.ports.gateway),
      AUTH_URL: this.url('auth'),
      ORDERS_URL: this.url('orders'),
      CATALOG_URL: this.url('catalog'),
      AUTH_DATABASE_URL: `sqlite:${join(this.dir, 'auth.sqlite')}`,
      ORDERS_DATABASE_URL: `sqlite:${join(this.dir, 'orders.sqlite')}`,
      CATALOG_DATABASE_URL: `sqlite:${join(this.dir, 'catalog.sqlite')}`,
      ...this.env,
    };
    // Least privilege, as in production: on the default Redis, auth connects as the owner of
    // the sessions and orders as a validator (catalog asks auth over the RPC).
    const redisUrls = this.env['REDIS_URL'] ? {} : await this.createRedisUsers(keyPrefix);
    mkdirSync(ARTIFACTS, { recursive: true });
    for (const app of ['auth', 'orders', 'catalog', 'gateway'] as const) {
      const appEnv = redisUrls[app] ? { ...env, REDIS_URL: redisUrls[app] } : env;
      this.launch(app, appEnv);
    }
    await Promise.all(
      (['auth', 'orders', 'catalog', 'gateway'] as const).map((app) =>
        waitForStatus(`${this.url(app)}${HEALTH_PATH[app]}`, 200, 30_000),
      ),
    );
  }

  /** The environment `app` was last started with. */
  envOf(app: App): Record<string, string> {
    return { ...this.running.get(app)?.env };
  }

  /** Sends `app` SIGTERM (at once) and resolves with its exit code once it has exited. */
  stopApp(app: App): Promise<number | null> {
    const running = this.running.get(app);
    return running ? stopProcess(running.child) : Promise.resolve(null);
  }

  /** Kills `app` (SIGKILL): what a supervisor does to a process that did not stop. */
  killApp(app: App): void {
    this.running.get(app)?.child.kill('SIGKILL');
  }

  /**
   * Starts `app` again on its port, with its environment and `overrides` (another
   * `AUTH_RPC_PORT`, say), and waits until it is healthy. Its log goes on in the same file.
   */
  async startApp(app: App, overrides: Record<string, string> = {}): Promise<void> {
    this.launch(app, { ...this.envOf(app), ...overrides });
    await waitForStatus(`${this.url(app)}${HEALTH_PATH[app]}`, 200, 30_000);
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map(stopProcess));
    rmSync(this.dir, { recursive: true, force: true });
    if (this.redisUsers.length) {
      const admin = new Redis(6379, '127.0.0.1');
      await admin.acl('DELUSER', ...this.redisUsers).finally(() => admin.disconnect());
    }
  }

  private launch(app: App, env: Record<string, string>): void {
    const { child } = new BuiltApp(app).start(env, this.dir);
    const log = createWriteStream(join(ARTIFACTS, `${this.name}-${app}.log`), {
      flags: this.running.has(app) ? 'a' : 'w',
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.children.push(child);
    this.running.set(app, { child, env });
  }

  /** Redis ACL users of this run, with the library's rules; answers each app's REDIS_URL. */
  private async createRedisUsers(keyPrefix: string): Promise<Partial<Record<App, string>>> {
    const admin = new Redis(6379, '127.0.0.1');
    const urls: Partial<Record<App, string>> = {};
    try {
      for (const [app, role] of [
        ['auth', 'owner'],
        ['orders', 'validator'],
      ] as const) {
        // The prefix's colons would end the user name in the URL's user:password.
        const user = `${keyPrefix.replace(/:$/, '').replaceAll(':', '-')}-${app}`;
        const password = randomBytes(16).toString('hex');
        await admin.acl('SETUSER', user, 'on', `>${password}`, ...sessionAclRules(role, keyPrefix));
        this.redisUsers.push(user);
        urls[app] = `redis://${user}:${password}@127.0.0.1:6379`;
      }
    } finally {
      admin.disconnect();
    }
    return urls;
  }
}
