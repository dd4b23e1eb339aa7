import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { WORKSPACE_ROOT } from './support/stack';

const COMPOSE_FILE = join(WORKSPACE_ROOT, 'docker', 'docker-compose.yml');
const APPS = ['auth', 'orders', 'catalog', 'gateway'];

function compose(...args: string[]): string {
  return execFileSync('docker-compose', ['-f', COMPOSE_FILE, ...args], {
    cwd: join(WORKSPACE_ROOT, 'docker'),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

  it('declares redis, postgres and the four apps', () => {
    const services = compose('config', '--services').trim().split('\n').sort();
    expect(services).toEqual(['auth', 'catalog', 'gateway', 'orders', 'postgres', 'redis']);
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
});
