import { spawn, spawnSync } from 'node:child_process';
import { AddressInfo, createServer, Socket } from 'node:net';
import { join } from 'node:path';

import {
  freePort,
  RedisSentinelProcess,
  RedisServerProcess,
  startRedisSentinels,
  startRedisServer,
} from '@cloakroom/session/testing';

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

  describe('with REDIS_SENTINELS', () => {
    let primary: RedisServerProcess;
    let sentinels: RedisSentinelProcess[];
    let sentinelsSetting: string;

    beforeAll(async () => {
      primary = await startRedisServer();
      sentinels = await startRedisSentinels({ name: 'sessions', port: primary.port, quorum: 1 }, 1);
      sentinelsSetting = `127.0.0.1:${sentinels[0].port}`;
    }, 30_000);

    afterAll(async () => {
      await Promise.all((sentinels ?? []).map((sentinel) => sentinel.dispose()));
      await primary?.dispose();
    });

    it('asks the Sentinels for the primary, as the services do, and not REDIS_URL', async () => {
      const nowhere = await freePort();
      const result = await preflightAsync({
        REDIS_SENTINELS: sentinelsSetting,
        REDIS_SENTINEL_NAME: 'sessions',
        REDIS_URL: `redis://127.0.0.1:${nowhere}`,
      });
      expect(result).toEqual({ status: 0, stderr: '' });
    });

    it('exits 1 with one line when the Sentinels know no primary of that name', async () => {
      // REDIS_URL answers (the machine's Redis): a check of it would pass where the services fail.
      const result = await preflightAsync({
        REDIS_SENTINELS: sentinelsSetting,
        REDIS_SENTINEL_NAME: 'elsewhere',
        REDIS_URL: 'redis://127.0.0.1:6379',
      });
      expect(result.status).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`primary "elsewhere" of sentinels ${sentinelsSetting}`);
    });

    it('exits 1 with one line when no Sentinel answers', async () => {
      const nowhere = `127.0.0.1:${await freePort()}`;
      const result = await preflightAsync({
        REDIS_SENTINELS: nowhere,
        REDIS_URL: 'redis://127.0.0.1:6379',
      });
      expect(result.status).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`sentinels ${nowhere}`);
    });

    it('exits 1 with one line for a setting the services would refuse', () => {
      const settings: Array<Record<string, string>> = [
        { REDIS_SENTINELS: 'not a list' },
        { REDIS_SENTINELS: sentinelsSetting, REDIS_CLUSTER_NODES: '127.0.0.1:7000' },
      ];
      for (const env of settings) {
        const result = preflight(env);
        expect(result.status).toBe(1);
        const lines = result.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain('REDIS_SENTINELS');
      }
    });
  });
});
