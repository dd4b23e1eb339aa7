import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

import { freePort } from './free-port';
import { RedisServerProcess } from './redis-server';

const run = promisify(execFile);

/** A Redis Cluster of child processes on loopback ports: three masters, maybe replicas. */
export class RedisClusterProcess {
  constructor(readonly nodes: RedisServerProcess[]) {}

  get addresses(): Array<{ host: string; port: number }> {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.dispose()));
  }
}

/**
 * Starts one `redis-server` per port in cluster mode (by default three masters on free
 * ports, each with a free cluster-bus port too) and joins them with `redis-cli`, giving each
 * master `replicas` replicas (then the default is three masters' worth of nodes more).
 *
 * @example
 * const cluster = await startRedisCluster();
 * SessionModule.forRoot({ redis: { cluster: cluster.addresses } });
 */
export async function startRedisCluster(
  ports?: number[],
  {
    replicas = 0,
    nodeEnv = () => ({}),
  }: {
    replicas?: number;
    /** Environment added for the process of the n-th node, in the order of the ports. */
    nodeEnv?: (node: number) => Record<string, string>;
  } = {},
): Promise<RedisClusterProcess> {
  const chosen = ports ?? (await freePorts(3 * (1 + replicas)));
  const busPorts = await freePorts(chosen.length, chosen);
  const nodes = chosen.map(
    (port, i) =>
      new RedisServerProcess(
        port,
        [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(busPorts[i]),
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '2000',
        ],
        nodeEnv(i),
      ),
  );
  const cluster = new RedisClusterProcess(nodes);
  try {
    // Every node settles before any is stopped: should one fail, the others that started (or
    // are still starting) are stopped too, rather than left holding their ports, and keeping
    // the test process from exiting, for the rest of the run.
    for (const started of await Promise.allSettled(nodes.map((node) => node.start()))) {
      if (started.status === 'rejected') throw started.reason;
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...chosen.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    await waitForClusterOk(chosen);
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

/** `count` distinct free ports, none of them in `taken`. */
async function freePorts(count: number, taken: number[] = []): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) {
    const port = await freePort();
    if (!taken.includes(port)) ports.add(port);
  }
  return [...ports];
}
