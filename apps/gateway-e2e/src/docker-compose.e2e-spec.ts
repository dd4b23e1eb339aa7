import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { sessionAclRules } from '@cloakroom/session';

import { WORKSPACE_ROOT } from './support/stack';

const COMPOSE_FILE = join(WORKSPACE_ROOT, 'docker', 'docker-compose.yml');
const APPS = ['auth', 'orders', 'catalog', 'gateway'];
/** The `node` user of the official Node images, which docker/Dockerfile's image runs as. */
const NODE_UID = 1000;

/** The passwords compose insists on (it has no defaults for them). */
const PASSWORDS = {
  POSTGRES_PASSWORD: 'pg-secret',
  AUTH_DATABASE_PASSWORD: 'auth-db-secret',
  ORDERS_DATABASE_PASSWORD: 'orders-db-secret',
  CATALOG_DATABASE_PASSWORD: 'catalog-db-secret',
  AUTH_REDIS_PASSWORD: 'auth-secret',
  ORDERS_REDIS_PASSWORD: 'orders-secret',
  LOGIN_DEVICE_SECRET: 'compose-check-device-secret-32-chars-long',
};

function compose(...args: string[]): string {
  return composeWith(PASSWORDS, ...args);
}

function composeWith(env: Record<string, string>, ...args: string[]): string {
  return execFileSync('docker-compose', ['-f', COMPOSE_FILE, ...args], {
    cwd: join(WORKSPACE_ROOT, 'docker'),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '', ...env },
  });
}

/**
 * Whether .dockerignore leaves `path` (relative to the build context) out of
 * the context: Docker's rules, the last matching pattern winning, a directory taking its files.
 */
function dockerIgnored(patterns: string[], path: string): boolean {
  const parts = path.split('/');
  const candidates = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
  let ignored = false;
  for (const line of patterns) {
    const negated = line.startsWith('!');
    const pattern = negated ? line.slice(1) : line;
    const source = pattern
      .split(/(\*\*\/|\*\*|\*|\?)/)
      .map((part) =>
        part === '**/'
          ? '(?:.*/)?'
          : part === '**'
            ? '.*'
            : part === '*'
              ? '[^/]*'
              : part === '?'
                ? '[^/]'
                : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
      )
      .join('');
    const regex = new RegExp(`^${source}$`);
    if (candidates.some((candidate) => regex.test(candidate))) ignored = !negated;
  }
  return ignored;
}

/** A directory holding a `chown` that does nothing, for a test run by a user who cannot chown. */
function shim(root: string): string {
  const bin = join(root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'chown'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return bin;
}

/** The lines of one service in `docker-compose config` output (two-space indented keys). */
function serviceBlock(config: string, name: string): string {
  const lines = config.split('\n');
  const start = lines.indexOf(`  ${name}:`);
  expect(start).toBeGreaterThan(-1);
  const end = lines.findIndex((line, index) => index > start && /^ {0,2}\S/.test(line));
  return lines.slice(start, end === -1 ? undefined : end).join('\n');
}

describe('docker/', () => {
  let config: string;

  beforeAll(() => {
    config = compose('config');
  });

  it('has a compose file that docker-compose accepts', () => {
    expect(() => compose('config', '--quiet')).not.toThrow();
  });

  it('declares redis, postgres, the development CA and the four apps', () => {
    const services = compose('config', '--services').trim().split('\n').sort();
    expect(services).toEqual([
      'auth',
      'catalog',
      'certs',
      'gateway',
      'orders',
      'postgres',
      'redis',
    ]);
  });

  it('gives auth, catalog and orders their RPC certificates and keys, each only its own', () => {
    expect(serviceBlock(config, 'certs')).toContain('make-dev-certs.sh');
    const services = ['auth', 'catalog', 'orders'];
    for (const service of services) {
      const block = serviceBlock(config, service);
      const others = services.filter((other) => other !== service).map((other) => `${other}-certs`);
      expect(block).toMatch(/\n\s+certs:\n\s+condition: service_completed_successfully/);
      expect(block).toContain(`- ${service}-certs:/certs:ro`);
      expect(block).not.toMatch(new RegExp(`dev-ca|${others.join('|')}`));
    }
    expect(serviceBlock(config, 'auth')).toContain('AUTH_RPC_SERVER_KEY: /certs/auth.key');
    expect(serviceBlock(config, 'catalog')).toContain('AUTH_RPC_CLIENT_KEY: /certs/catalog.key');
    expect(serviceBlock(config, 'catalog')).toContain(
      'SESSION_ASSERTION_TRUST: orders:orders-1:/certs/orders-assertion.pub',
    );
    expect(serviceBlock(config, 'orders')).toContain(
      'SESSION_ASSERTION_KEY: /certs/orders-assertion.key',
    );
    // Orders' signing key goes to orders alone: catalog gets the public half.
    const copies = serviceBlock(config, 'certs')
      .replace(/\n {6,}(?![ -])/g, ' ')
      .split('&&')
      .filter((step) => step.includes('orders-assertion'));
    expect(copies).toHaveLength(2);
    for (const copy of copies) {
      expect(copy.includes('orders-assertion.key')).toBe(copy.includes('/orders-certs/'));
    }
  });

  it.each(Object.keys(PASSWORDS))('refuses to start without %s, saying so', (name) => {
    const without: Record<string, string> = { ...PASSWORDS };
    delete without[name];
    let message = '';
    try {
      composeWith(without, 'config', '--quiet');
    } catch (error) {
      message = String((error as { stderr?: string }).stderr);
    }
    expect(message).toContain(`set ${name}`);
  });

  it('runs Redis with no default user, never evicting past a memory bound, and the ACL rules of the library', () => {
    // docker-compose folds long list items onto indented continuation lines: unfold them.
    const redis = serviceBlock(config, 'redis').replace(/\n {6}(?![ -])/g, ' ');
    expect(redis).toContain('- default off');
    expect(redis).toMatch(/- noeviction/);
    // Without a bound, noeviction never applies: Redis grows until the kernel kills it.
    expect(redis).toMatch(/- --maxmemory\n\s+- 256mb\n/);
    const users = [...redis.matchAll(/- (auth|orders) on >(\S+) (.*)/g)];
    expect(users.map(([, user, password]) => [user, password])).toEqual([
      ['auth', PASSWORDS.AUTH_REDIS_PASSWORD],
      ['orders', PASSWORDS.ORDERS_REDIS_PASSWORD],
    ]);
    expect(users[0][3].split(' ')).toEqual(sessionAclRules('owner', 'cr:'));
    expect(users[1][3].split(' ')).toEqual(sessionAclRules('validator', 'cr:'));
    expect(serviceBlock(config, 'auth')).toContain(
      `REDIS_URL: redis://auth:${PASSWORDS.AUTH_REDIS_PASSWORD}@redis:6379`,
    );
    expect(serviceBlock(config, 'orders')).toContain(
      `REDIS_URL: redis://orders:${PASSWORDS.ORDERS_REDIS_PASSWORD}@redis:6379`,
    );
    expect(serviceBlock(config, 'catalog')).not.toContain('REDIS_URL');
  });

  it("connects each app to PostgreSQL as its own role, and keeps the superuser's password in postgres", () => {
    const postgres = serviceBlock(config, 'postgres');
    expect(postgres).toContain(
      '/docker/postgres/service-databases.sh:/docker-entrypoint-initdb.d/service-databases.sh:ro',
    );
    for (const app of ['auth', 'orders', 'catalog']) {
      const password =
        PASSWORDS[`${app.toUpperCase()}_DATABASE_PASSWORD` as keyof typeof PASSWORDS];
      expect(postgres).toContain(`${app.toUpperCase()}_DATABASE_PASSWORD: ${password}`);
      expect(serviceBlock(config, app)).toContain(
        `${app.toUpperCase()}_DATABASE_URL: postgres://${app}:${password}@postgres:5432/${app}`,
      );
    }
    for (const app of APPS) {
      expect(serviceBlock(config, app)).not.toContain(PASSWORDS.POSTGRES_PASSWORD);
      expect(serviceBlock(config, app)).not.toContain('cloakroom:');
    }
  });

  it('keeps the gateway off the RPC and data networks, and each RPC on its own address', () => {
    const networksOf = (service: string) => {
      const block = serviceBlock(config, service);
      const section = block.slice(block.indexOf('\n    networks:'));
      return [...section.matchAll(/^ {6}([\w-]+):/gm)]
        .map(([, name]) => name)
        .filter((name) => ['edge', 'services', 'rpc', 'catalog-rpc', 'data'].includes(name))
        .sort();
    };
    expect(networksOf('gateway')).toEqual(['edge', 'services']);
    expect(networksOf('auth')).toEqual(['data', 'rpc', 'services']);
    expect(networksOf('catalog')).toEqual(['catalog-rpc', 'data', 'rpc', 'services']);
    expect(networksOf('orders')).toEqual(['catalog-rpc', 'data', 'services']);
    expect(networksOf('redis')).toEqual(['data']);
    expect(networksOf('postgres')).toEqual(['data']);
    expect(serviceBlock(config, 'auth')).toContain('AUTH_RPC_LISTEN_HOST: 172.30.40.10');
    expect(serviceBlock(config, 'catalog')).toContain('CATALOG_RPC_LISTEN_HOST: 172.30.41.10');
  });

  it("makes auth believe X-Forwarded-For from the gateway's address only", () => {
    const gateway = serviceBlock(config, 'gateway');
    const address = /\n {6}services:\n {8}ipv4_address: ([\d.]+)/.exec(gateway)?.[1];
    expect(address).toBe('172.30.42.10');
    expect(config).toMatch(/\n {2}services:\n(?: {4}.*\n)*? {6}- subnet: 172\.30\.42\.0\/24/);
    // Not a range: every other container on the services network would be believed too.
    expect(serviceBlock(config, 'auth')).toContain(`TRUST_PROXY: ${address}`);
  });

  it("gives the gateway its proxies under its own name, not auth's TRUST_PROXY", () => {
    const gateway = serviceBlock(config, 'gateway');
    expect(gateway).toMatch(/\n\s+GATEWAY_TRUST_PROXY: /);
    expect(gateway).not.toMatch(/\n\s+TRUST_PROXY: /);
  });

  it.each(['redis', 'postgres', ...APPS])('gives %s a healthcheck', (service) => {
    expect(serviceBlock(config, service)).toMatch(/healthcheck:\n\s+interval/);
  });

  it.each([
    ['auth', ['postgres', 'redis']],
    ['orders', ['postgres', 'redis']],
    ['catalog', ['auth', 'postgres']],
    ['gateway', ['auth', 'catalog', 'orders']],
  ])('starts %s only once %j are healthy', (service, dependencies) => {
    const block = serviceBlock(config, service as string);
    for (const dependency of dependencies) {
      expect(block).toMatch(new RegExp(`\\n\\s+${dependency}:\\n\\s+condition: service_healthy`));
    }
  });

  it('builds every app from one multi-stage Dockerfile, production deps only, as non-root', () => {
    const dockerfile = readFileSync(join(WORKSPACE_ROOT, 'docker', 'Dockerfile'), 'utf8');
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^ARG APP$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    for (const app of APPS) {
      expect(serviceBlock(config, app)).toMatch(new RegExp(`APP: ${app}`));
    }
  });

  it.each(['redis', 'postgres', ...APPS])('restarts %s when it dies', (service) => {
    expect(serviceBlock(config, service)).toMatch(/\n {4}restart: (unless-stopped|always)(\n|$)/);
  });

  it('publishes the gateway alone, runs production apps, and gives them no capability', () => {
    for (const service of ['redis', 'postgres', 'certs', 'auth', 'orders', 'catalog']) {
      expect(serviceBlock(config, service)).not.toMatch(/\n {4}(ports|expose):/);
    }
    expect(serviceBlock(config, 'gateway')).toMatch(/\n {4}ports:\n/);
    for (const app of APPS) {
      const block = serviceBlock(config, app);
      expect(block).toContain('NODE_ENV: production');
      expect(block).toMatch(/\n {4}cap_drop:\n {4}- ALL\n/);
      expect(block).toMatch(/\n {4}security_opt:\n {4}- no-new-privileges:true(\n|$)/);
    }
    for (const app of ['auth', 'orders', 'catalog']) {
      expect(serviceBlock(config, app)).toMatch(/SESSION_COOKIE_SECURE: "true"/);
    }
  });

  it('publishes the gateway on loopback alone unless told where', () => {
    expect(serviceBlock(config, 'gateway')).toMatch(
      /\n {4}ports:\n {4}- 127\.0\.0\.1:3000:3000\/tcp\n/,
    );
    const elsewhere = composeWith({ ...PASSWORDS, GATEWAY_PUBLISH: '0.0.0.0:8080' }, 'config');
    expect(serviceBlock(elsewhere, 'gateway')).toMatch(
      /\n {4}ports:\n {4}- 0\.0\.0\.0:8080:3000\/tcp\n/,
    );
  });

  it("leaves each private key readable by its service's user alone, restart after restart", () => {
    // Runs the certs one-shot here, its volumes as directories, openssl installed already.
    const certs = serviceBlock(config, 'certs').replace(/\n {6}(?![ -])/g, ' ');
    const command = /\n {4}- (.*make-dev-certs\.sh.*)/.exec(certs)?.[1] ?? '';
    expect(command).toMatch(/^apk add --no-cache openssl >\/dev\/null && /);
    const root = mkdtempSync(join(tmpdir(), 'cloakroom-certs-'));
    try {
      let script = command.replace(/^apk add [^&]*&& /, '');
      for (const [, source, target] of certs.matchAll(/\n {4}- ([^:\s]+):(\/[^:\s]+)(?::\w+)?/g)) {
        const host = source.startsWith('/') ? source : join(root, source);
        mkdirSync(host, { recursive: true });
        script = script.replace(new RegExp(`(^|\\s)${target}(?=/|\\s|$)`, 'g'), `$1${host}`);
      }
      const asRoot = process.getuid?.() === 0;
      // Another user cannot give files away: the ownership is checked where the test is root.
      const env = asRoot
        ? process.env
        : { ...process.env, PATH: `${shim(root)}:${process.env['PATH']}` };
      for (let run = 0; run < (asRoot ? 2 : 1); run++) {
        execFileSync('sh', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      }
      for (const service of ['auth', 'catalog', 'orders']) {
        const dir = join(root, `${service}-certs`);
        const keys = readdirSync(dir).filter((file) => file.endsWith('.key'));
        expect(keys).not.toContain('ca.key');
        for (const path of serviceBlock(config, service).match(/\/certs\/[\w-]+\.key/g) ?? []) {
          expect(keys).toContain(path.slice('/certs/'.length));
        }
        for (const key of keys) {
          const stat = statSync(join(dir, key));
          expect([`${service}/${key}`, stat.mode & 0o777]).toEqual([`${service}/${key}`, 0o400]);
          if (asRoot)
            expect([`${service}/${key}`, stat.uid]).toEqual([`${service}/${key}`, NODE_UID]);
        }
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('leaves .env files, keys, local state and node_modules out of the build context', () => {
    const patterns = readFileSync(join(WORKSPACE_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    const secret = [
      '.env',
      'docker/.env',
      'apps/auth/.env.local',
      '.data/certs/ca.key',
      '.data/auth.sqlite',
      'certs/auth.key',
      'docker/secrets/redis.pem',
      'node_modules/ioredis/package.json',
      'libs/session/node_modules/x/index.js',
      '.git/config',
    ];
    expect(secret.filter((path) => !dockerIgnored(patterns, path))).toEqual([]);
    // What the Dockerfile copies from the context must stay in it.
    const dockerfile = readFileSync(join(WORKSPACE_ROOT, 'docker', 'Dockerfile'), 'utf8');
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap(([, sources]) =>
      sources.split(' '),
    );
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'apps', 'libs', 'tools']));
    const needed = [...copied, 'apps/auth/src/main.ts', 'tools/dev-ca/make-dev-certs.sh'];
    expect(needed.filter((path) => dockerIgnored(patterns, path))).toEqual([]);
  });

  it("keeps docker/.env, where the README puts the stack's passwords, out of git", () => {
    expect(() =>
      execFileSync('git', ['check-ignore', '--no-index', '--quiet', 'docker/.env'], {
        cwd: WORKSPACE_ROOT,
      }),
    ).not.toThrow();
  });
});
