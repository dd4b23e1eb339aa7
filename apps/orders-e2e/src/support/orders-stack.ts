import { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Redis } from 'ioredis';

import { BuiltApp, stopProcess, waitForStatus } from '@cloakroom/e2e-support';
import { sessionAclRules } from '@cloakroom/session';
import {
  freePort,
  makeAssertionKeys,
  makeDevCertificates,
  testKeyPrefix,
} from '@cloakroom/session/testing';

type App = 'auth' | 'orders' | 'gateway';

/**
 * The built auth, orders and gateway as child processes on free ports (SQLite in a temp dir,
 * demo users seeded), orders connected to Redis as a least-privilege `validator`, as in
 * production. Catalog is left out: nothing here needs it.
 */
export class OrdersStack {
  readonly dir = mkdtempSync(join(tmpdir(), 'orders-stack-'));
  private readonly children = new Map<App, ChildProcess>();
  private redisUser?: string;
  ports!: Record<App | 'rpc', number>;

  get baseUrl(): string {
    return `http://127.0.0.1:${this.ports.gateway}`;
  }

  url(app: App): string {
    return `http://127.0.0.1:${this.ports[app]}`;
  }

  async start(): Promise<void> {
    this.ports = {
      auth: await freePort(),
      orders: await freePort(),
      gateway: await freePort(),
      rpc: await freePort(),
    };
    const certificates = makeDevCertificates(join(this.dir, 'certs'), ['orders']);
    const assertionKeys = makeAssertionKeys(join(this.dir, 'certs'), 'orders');
    const keyPrefix = testKeyPrefix('orders-e2e');
    const env: Record<string, string> = {
      AUTH_RPC_CLIENT_CA: certificates.ca,
      AUTH_RPC_SERVER_CERT: certificates.server.cert,
      AUTH_RPC_SERVER_KEY: certificates.server.key,
      NODE_ENV: 'development',
      SEED_DEMO_USERS: 'true',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: keyPrefix,
      SESSION_ALLOWED_ORIGINS: this.baseUrl,
      AUTH_PORT: String(this.ports.auth),
      AUTH_RPC_HOST: '127.0.0.1',
      AUTH_RPC_PORT: String(this.ports.rpc),
      ORDERS_PORT: String(this.ports.orders),
      PORT: String(this.ports.gateway),
      PUBLIC_URL: this.baseUrl,
      AUTH_URL: this.url('auth'),
      ORDERS_URL: this.url('orders'),
      CATALOG_URL: 'http://127.0.0.1:9',
      AUTH_DATABASE_URL: `sqlite:${join(this.dir, 'auth.sqlite')}`,
      ORDERS_DATABASE_URL: `sqlite:${join(this.dir, 'orders.sqlite')}`,
      // Catalog is left out: its RPC port answers nothing, so quotes answer 503.
      CATALOG_RPC_PORT: String(await freePort()),
      CATALOG_RPC_CA: certificates.ca,
      CATALOG_RPC_CLIENT_CERT: certificates.clients['orders'].cert,
      CATALOG_RPC_CLIENT_KEY: certificates.clients['orders'].key,
      SESSION_ASSERTION_KEY: assertionKeys.privateKey,
    };
    const ordersRedis = await this.createValidator(keyPrefix);
    for (const app of ['auth', 'orders', 'gateway'] as const) {
      const appEnv = app === 'orders' ? { ...env, REDIS_URL: ordersRedis } : env;
      this.children.set(app, new BuiltApp(app).start(appEnv, this.dir).child);
    }
    await Promise.all([
      waitForStatus(`${this.url('auth')}/api/auth/health`, 200, 30_000),
      waitForStatus(`${this.url('orders')}/api/orders/health`, 200, 30_000),
      // Through the gateway: its own health reports the catalog, which this stack leaves out.
      waitForStatus(`${this.baseUrl}/api/orders/health`, 200, 30_000),
    ]);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.children.values()].map(stopProcess));
    rmSync(this.dir, { recursive: true, force: true });
    if (this.redisUser) {
      const admin = new Redis(6379, '127.0.0.1');
      await admin.acl('DELUSER', this.redisUser).finally(() => admin.disconnect());
    }
  }

  private async createValidator(keyPrefix: string): Promise<string> {
    const admin = new Redis(6379, '127.0.0.1');
    try {
      // The prefix's colons would end the user name in the URL's user:password.
      const user = `${keyPrefix.replace(/:$/, '').replaceAll(':', '-')}-orders`;
      const password = randomBytes(16).toString('hex');
      await admin.acl(
        'SETUSER',
        user,
        'on',
        `>${password}`,
        ...sessionAclRules('validator', keyPrefix),
      );
      this.redisUser = user;
      return `redis://${user}:${password}@127.0.0.1:6379`;
    } finally {
      admin.disconnect();
    }
  }
}
