import { Cluster, Redis } from 'ioredis';

/** What ioredis rejects a command with once its `commandTimeout` has passed. */
const COMMAND_TIMED_OUT = 'Command timed out';

/**
 * Ends a Redis connection that has gone silent, so that ioredis connects again. A Redis whose
 * host died, or that a network partition or a NAT cut off, closes nothing: no FIN, no reset
 * reaches the client, whose commands time out one after another (503) while the kernel
 * retransmits into the void for up to about 15 minutes before it gives up on the connection —
 * and a Sentinel client goes on writing to the old primary all that time, however soon a
 * replica was promoted.
 *
 * The store reports each failed call (`failed`); a command that timed out on a connection that
 * has received nothing for `silentMs` (twice the store timeout, at least 1 s: longer than a
 * command that is merely slow) destroys the connection's socket, and ioredis reconnects as it
 * does after any lost connection (to the primary the sentinels name now). Commands sent on
 * the old connection fail as on any lost connection; an abandoned create's undo is sent
 * again (`RedisSessionStore.abandon`). A Cluster client's node connections are watched one by
 * one (`SilentNodeWatch`).
 */
export interface SilentConnectionWatch {
  /** A store call on the watched client failed with `error`. */
  failed(error: unknown): void;
}

/**
 * A watch on `client`'s connection, or on each of a Cluster's node connections; `report` hears
 * how long the connection it ends was silent, and which node's it was on a Cluster.
 */
export function watchSilentConnections(
  client: Redis | Cluster,
  storeTimeoutMs: number,
  report: (silentMs: number, node?: string) => void,
): SilentConnectionWatch {
  const silentMs = Math.max(2 * storeTimeoutMs, 1000);
  return client instanceof Cluster
    ? new SilentNodeWatch(client, silentMs, report)
    : new SilentClientWatch(client, silentMs, report);
}

function timedOut(error: unknown): boolean {
  return error instanceof Error && error.message === COMMAND_TIMED_OUT;
}

/**
 * Destroyed, not ended with `disconnect()`, which ends the connection politely (a FIN a host
 * that is gone never answers) and destroys it only after `disconnectTimeout`: destroyed, the
 * socket closes at once and ioredis reconnects after its back-off.
 */
function replace(connection: Redis): void {
  connection.stream?.destroy();
}

class SilentClientWatch implements SilentConnectionWatch {
  private heardAt = performance.now();
  private readonly heard = (): void => {
    this.heardAt = performance.now();
  };

  constructor(
    private readonly client: Redis,
    private readonly silentMs: number,
    private readonly report: (silentMs: number) => void,
  ) {
    client.on('connect', () => this.listen());
    if (client.stream) {
      this.listen();
    }
  }

  failed(error: unknown): void {
    if (!timedOut(error)) {
      return;
    }
    const silentMs = performance.now() - this.heardAt;
    if (silentMs < this.silentMs || this.client.status !== 'ready' || !this.client.stream) {
      return;
    }
    this.report(silentMs);
    replace(this.client);
  }

  private listen(): void {
    this.heardAt = performance.now();
    this.client.stream.on('data', this.heard);
  }
}

/**
 * A Cluster keeps one connection per node, and one of them can go silent on its own (a NAT or
 * a middlebox that forgot that connection): the node itself is well and still named by the
 * slots, so neither a slot refresh nor a failover replaces the connection, and every command
 * for the node's slots times out until the kernel gives it up. A timed-out command does not
 * say which node it was sent to, so each ready node connection not probed already is sent a
 * PING, and one that has received nothing, that PING's answer included, `silentMs` later is
 * destroyed; it connects again (`clusterNodeRetryStrategy`, which the store's Cluster clients
 * always have; without one the pool drops the node and the next MOVED connects to it again).
 * A command that succeeds costs nothing; while commands time out, each node gets at most one
 * PING per `silentMs`.
 */
class SilentNodeWatch implements SilentConnectionWatch {
  private readonly probing = new WeakSet<Redis>();

  constructor(
    private readonly cluster: Cluster,
    private readonly silentMs: number,
    private readonly report: (silentMs: number, node: string) => void,
  ) {}

  failed(error: unknown): void {
    if (!timedOut(error)) {
      return;
    }
    for (const node of this.cluster.nodes('all')) {
      this.probe(node);
    }
  }

  private probe(node: Redis): void {
    const stream = node.stream;
    if (node.status !== 'ready' || !stream || this.probing.has(node)) {
      return;
    }
    this.probing.add(node);
    const sentAt = performance.now();
    let heard = false;
    const listener = () => (heard = true);
    stream.on('data', listener);
    // Its rejection (a timeout, the connection lost) says nothing the silence does not.
    node.ping().catch(() => undefined);
    setTimeout(() => {
      stream.off('data', listener);
      this.probing.delete(node);
      // A connection made again meanwhile is not the one that was silent.
      if (heard || node.stream !== stream || node.status !== 'ready') {
        return;
      }
      this.report(performance.now() - sentAt, `${node.options.host}:${node.options.port}`);
      replace(node);
    }, this.silentMs).unref();
  }
}
