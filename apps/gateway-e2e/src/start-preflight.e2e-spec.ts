import { spawn, spawnSync } from 'node:child_process';
import { AddressInfo, createServer, Socket } from 'node:net';
import { join } from 'node:path';

import { freePort } from '@cloakroom/session/testing';

import { WORKSPACE_ROOT } from './support/stack';

const PREFLIGHT = join(WORKSPACE_ROOT, 'tools', 'start', 'preflight.js');

/** The preflight run to its end, asynchronously: a server in this process must keep answering. */
function preflightAsync(env: Record<string, string>, timeoutMs = 20_000) {
  const child = spawn(process.execPath, [PREFLIGHT], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise<{ status: number | null; stderr: string }>((done) =>
    child.once('exit', (status) => {
      clearTimeout(killer);
      done({ status, stderr });
    }),
  );
}

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

  it('exits 1 with one line when something on the port accepts but never answers', async () => {
    // A Redis stopped with SIGSTOP, or a port held by something that waits for its client:
    // the connection opens, PING is never answered.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((listening) => silent.listen(0, '127.0.0.1', listening));
    const { port } = silent.address() as AddressInfo;
    try {
      // Killed after 20 s, it would exit with no status.
      const result = await preflightAsync({ REDIS_URL: `redis://127.0.0.1:${port}` });
      expect(result.status).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`127.0.0.1:${port}`);
      expect(lines[0]).toContain('redis-server');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((closed) => silent.close(closed));
    }
  });

  it('exits 1 with one line, not a stack trace, when REDIS_URL is not a URL', () => {
    const result = preflight({ REDIS_URL: 'not a url' });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('REDIS_URL');
    expect(lines[0]).not.toMatch(/\bat \S+ \(|TypeError/);
  });
});
