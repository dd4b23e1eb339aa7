import { ChildProcess, execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { Redis } from 'ioredis';

import { stopProcess, waitForStatus } from '@cloakroom/e2e-support';
import { freePort } from '@cloakroom/session/testing';

const WORKSPACE_ROOT = resolve(__dirname, '../../..');
const PACKAGE_DIR = join(WORKSPACE_ROOT, 'dist/libs/session');
const FIXTURE = join(__dirname, '../fixtures/sample-app');
const REDIS_URL = 'redis://127.0.0.1:6379';
const KEY_PREFIX = `test:${process.pid}:package-e2e:`;

// What `nest new` would give, minus what the sample does not use. The session package's
// required peers are left to npm: a peer the package forgets to declare makes the app fail to
// start. Its optional peers (@nestjs/microservices, @nestjs/terminus, @nestjs/graphql,
// @nestjs/websockets) are not installed: a service in direct mode runs without them.
const SAMPLE_APP_MANIFEST = {
  name: 'cloakroom-sample-app',
  version: '0.0.0',
  private: true,
  scripts: { build: 'tsc -p tsconfig.json', start: 'node dist/main.js' },
  dependencies: {
    '@nestjs/common': '^11.0.0',
    '@nestjs/core': '^11.0.0',
    '@nestjs/platform-express': '^11.0.0',
    ioredis: '^5.0.0',
    'reflect-metadata': '^0.2.0',
    rxjs: '^7.8.0',
  },
  devDependencies: { '@types/node': '~20.19.0', typescript: '~5.9.3' },
};

const OPTIONAL_PEERS = [
  '@nestjs/graphql',
  '@nestjs/microservices',
  '@nestjs/terminus',
  '@nestjs/websockets',
];

const exec = promisify(execFile);

/** Runs a command to completion; a failure's message carries everything it printed. */
async function run(command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await exec(command, args, {
      cwd,
      env: childEnv(),
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`);
  }
}

/**
 * The environment of every child: this process's, without the `npm_*` variables `npm test`
 * sets (an inherited `npm_config_prefix` would send the sample's install into the workspace).
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^npm_/i.test(name) || /^npm_config_(cache|registry|userconfig)$/i.test(name),
    ),
  );
  return { ...env, ...extra };
}

/** The Redis keys the sample app wrote, found with SCAN (never KEYS on a shared server). */
async function keysUnderPrefix(redis: Redis): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of redis.scanStream({ match: `${KEY_PREFIX}*`, count: 1000 })) {
    keys.push(...(batch as string[]));
  }
  return keys;
}

function bearer(token: string) {
  return { authorization: `Bearer ${token}` };
}

describe('the @cloakroom/session package, installed into a fresh Nest app', () => {
  let work: string;
  let app: string;
  let packed: { filename: string; files: Array<{ path: string }> };
  let server: ChildProcess | undefined;
  let output = '';
  let base: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cloakroom-package-'));
    app = join(work, 'sample-app');
    [packed] = JSON.parse(
      await run('npm', ['pack', PACKAGE_DIR, '--json', '--pack-destination', work], work),
    );

    cpSync(FIXTURE, app, { recursive: true });
    writeFileSync(join(app, 'package.json'), `${JSON.stringify(SAMPLE_APP_MANIFEST, null, 2)}\n`);
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        join(work, packed.filename),
      ],
      app,
    );
    await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], app);

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, ['dist/main.js'], {
      cwd: app,
      env: childEnv({ PORT: String(port), REDIS_URL, SESSION_KEY_PREFIX: KEY_PREFIX }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout?.on('data', (chunk) => (output += chunk));
    server.stderr?.on('data', (chunk) => (output += chunk));
    try {
      // The guard is default-deny: a request without a token answers 401 once the app is up.
      await waitForStatus(`${base}/me`, 401, 30_000);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nsample app output:\n${output}`);
    }
  }, 300_000);

  afterAll(async () => {
    if (server) await stopProcess(server);
    const redis = new Redis(REDIS_URL);
    const keys = await keysUnderPrefix(redis);
    if (keys.length > 0) await redis.unlink(...keys);
    redis.disconnect();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function login(username: string): Promise<string> {
    const response = await fetch(`${base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { token: string }).token;
  }

  it('ships compiled JavaScript and type declarations for every entry point, no sources', () => {
    const files = packed.files.map((file) => file.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'src/index.js',
        'src/index.d.ts',
        'src/rpc.js',
        'src/rpc.d.ts',
        'src/health.js',
        'src/health.d.ts',
        'src/testing.js',
        'src/testing.d.ts',
      ]),
    );
    expect(files.filter((file) => /\.(ts|lua|map)$/.test(file) && !file.endsWith('.d.ts'))).toEqual(
      [],
    );
    expect(files.filter((file) => /spec/.test(file))).toEqual([]);
  });

  it('declares Nest, ioredis and rxjs as peers, the rest as optional ones, and needs Node 20.19', () => {
    const manifest = JSON.parse(
      readFileSync(join(app, 'node_modules/@cloakroom/session/package.json'), 'utf8'),
    );
    expect(Object.keys(manifest.peerDependencies)).toEqual(
      expect.arrayContaining(['@nestjs/common', '@nestjs/core', 'ioredis', 'rxjs']),
    );
    const optional = Object.keys(manifest.peerDependenciesMeta).filter(
      (name) => manifest.peerDependenciesMeta[name].optional,
    );
    expect(optional.sort()).toEqual(OPTIONAL_PEERS);
    // npm installs no optional peer: the sample app builds and serves (the cases below) without.
    for (const peer of OPTIONAL_PEERS) {
      expect(existsSync(join(app, 'node_modules', peer))).toBe(false);
    }
    expect(manifest.dependencies).not.toHaveProperty('@nestjs/common');
    expect(manifest.engines.node).toBe('>=20.19');
  });

  it('resolves every entry point through the exports map and refuses deep imports', async () => {
    const probe = [
      "require('reflect-metadata');",
      "const main = require('@cloakroom/session');",
      "const testing = require('@cloakroom/session/testing');",
      'let deep = "allowed";',
      "try { require('@cloakroom/session/src/lib/session.service'); } catch (e) { deep = e.code; }",
      // Exported, and each needs its optional peer, which this app does not have.
      'const needs = {};',
      "for (const entry of ['rpc', 'health']) {",
      '  require.resolve(`@cloakroom/session/${entry}`);',
      "  try { require(`@cloakroom/session/${entry}`); needs[entry] = 'nothing'; }",
      // The package's name, whichever of its files was asked for first.
      "  catch (e) { needs[entry] = /Cannot find module '(@[^/']+\\/[^/']+)/.exec(e.message)[1]; }",
      '}',
      'console.log(JSON.stringify({ guard: typeof main.SessionGuard, module: typeof main.SessionModule,',
      '  startRedisServer: typeof testing.startRedisServer, testingInMain: "startRedisServer" in main,',
      '  rpcInMain: "SessionRpcModule" in main, deep, needs }));',
    ].join('\n');
    const result = JSON.parse(await run(process.execPath, ['-e', probe], app));
    expect(result).toEqual({
      guard: 'function',
      module: 'function',
      startRedisServer: 'function',
      testingInMain: false,
      rpcInMain: false,
      deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      needs: { rpc: '@nestjs/microservices', health: '@nestjs/terminus' },
    });
  });

  it('has types for both entry points under the older moduleResolution node too', async () => {
    // Apps made before Nest CLI 11 resolve as node10: the exports map is not read there.
    mkdirSync(join(app, 'node10'), { recursive: true });
    writeFileSync(
      join(app, 'node10/check.ts'),
      [
        "import { SessionGuard } from '@cloakroom/session';",
        "import { freePort } from '@cloakroom/session/testing';",
        'export const checked: [unknown, () => Promise<number>] = [SessionGuard, freePort];',
        '',
      ].join('\n'),
    );
    const tsc = 'node_modules/typescript/bin/tsc';
    const options = ['--noEmit', '--strict', '--module', 'commonjs', '--moduleResolution', 'node'];
    await run(process.execPath, [tsc, ...options, '--types', 'node', 'node10/check.ts'], app);
  });

  it('answers 401 to a request without a token', async () => {
    const response = await fetch(`${base}/me`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ statusCode: 401 });
  });

  it('answers 200 with the user for a valid bearer token', async () => {
    const token = await login('alice');
    const response = await fetch(`${base}/me`, { headers: bearer(token) });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: 'alice', username: 'alice', roles: ['customer'] });
  });

  it('answers 403 when the session lacks the role the route asks for', async () => {
    const token = await login('bob');
    expect((await fetch(`${base}/admin`, { headers: bearer(token) })).status).toBe(403);
  });

  it('answers 401 once the session is revoked', async () => {
    const token = await login('carol');
    const logout = await fetch(`${base}/logout`, { method: 'POST', headers: bearer(token) });
    expect(logout.status).toBe(204);
    expect((await fetch(`${base}/me`, { headers: bearer(token) })).status).toBe(401);
  });

  it('keeps its sessions in Redis under the keyPrefix it was given', async () => {
    await login('dave');
    const redis = new Redis(REDIS_URL);
    try {
      expect((await keysUnderPrefix(redis)).length).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });

  it('is the first example of the library README, line for line', () => {
    const readme = readFileSync(join(WORKSPACE_ROOT, 'libs/session/README.md'), 'utf8');
    const firstExample = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(firstExample).toBe(readFileSync(join(FIXTURE, 'src/main.ts'), 'utf8'));
  });
});
