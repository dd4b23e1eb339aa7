import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { freePort } from '@cloakroom/session/testing';

import { WORKSPACE_ROOT } from './support/stack';

const PREFLIGHT = join(WORKSPACE_ROOT, 'tools', 'start', 'preflight.js');

function preflight(env: Record<string, string>) {
  return spawnSync(process.execPath, [PREFLIGHT], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
}

describe('npm start preflight', () => {
  it('passes silently when Redis answers', () => {
    const result = preflight({ REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
  });

  it('exits 1 with one line saying where it looked and how to start Redis', async () => {
    const port = await freePort();
    const result = preflight({ REDIS_URL: `redis://:hunter2@127.0.0.1:${port}` });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`127.0.0.1:${port}`);
    expect(lines[0]).toContain('redis-server');
    expect(lines[0]).not.toContain('hunter2');
  });
});
