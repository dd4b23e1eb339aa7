import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

import { RedisServerProcess } from './redis-server';

const run = promisify(execFile);

/** A three-master Redis Cluster of child processes on loopback ports. */
export class RedisClusterProcess {
  constructor(readonly nodes: RedisServerProcess[]) {}

  get addresses(): Array<{ host: string; port: number }> {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.dispose()));
  }
}

/** Starts one `redis-server` per port in cluster mode and joins them with `redis-cli`. */
export async function startRedisCluster(ports: number[]): Promise<RedisClusterProcess> {
  const nodes = ports.map(
    (port) =>
      new RedisServerProcess(port, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '2000',
      ]),
  );
  await Promise.all(nodes.map((node) => node.start()));
  const cluster = new RedisClusterProcess(nodes);
  try {
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await waitForClusterOk(ports);
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
  return cluster;
}

async function waitForClusterOk(ports: number[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const port of ports) {
    const client = new Redis(port, '127.0.0.1');
    try {
      while (!(await client.cluster('INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`Cluster node ${port} never became ok`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      client.disconnect();
    }
  }
}
