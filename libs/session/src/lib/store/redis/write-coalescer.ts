import { Cluster, Redis } from 'ioredis';

type Socket = Redis['stream'];

/**
 * Sends the commands a client writes while the event loop handles one round of I/O as one
 * socket write per connection. `hold()` corks the client's connections (a single node's one,
 * or every node's of a Cluster) until the loop's check phase (`setImmediate`), which runs once
 * every request that arrived in that round has been handled: under load, the validations of
 * many requests leave in one system call instead of one each, and Redis reads them in one go.
 * A request that arrives alone waits for nothing but the rest of its own loop turn.
 *
 * ioredis' auto-pipelining batches on the same schedule, but builds a pipeline (its own
 * promise and reply array) per batch; this keeps each command as it was and only merges the
 * writes. A connection that is not ready is never held (its handshake writes are its own), and
 * one replaced while held is simply released: ioredis fails or resends the commands of a
 * closed connection as it always does.
 */
export class WriteCoalescer {
  private held: Socket[] | null = null;

  constructor(private readonly client: Redis | Cluster) {}

  /** Holds the connections' writes until the loop's check phase, if not held already. */
  hold(): void {
    if (this.held || this.client.status !== 'ready') {
      return;
    }
    const held: Socket[] = [];
    const connections = this.client instanceof Cluster ? this.client.nodes('all') : [this.client];
    for (const connection of connections) {
      const stream = connection.stream;
      if (connection.status === 'ready' && stream?.writable) {
        stream.cork();
        held.push(stream);
      }
    }
    if (held.length) {
      this.held = held;
      setImmediate(this.release);
    }
  }

  private readonly release = (): void => {
    const held = this.held;
    this.held = null;
    for (const stream of held ?? []) {
      stream.uncork();
    }
  };
}
