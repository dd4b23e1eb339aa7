import type { Redis } from 'ioredis';

type Socket = Redis['stream'];

/**
 * Sends the commands a single-node client writes while the event loop handles one round of I/O
 * as one socket write. `hold()` corks the connection until the loop's check phase
 * (`setImmediate`), which runs once every request that arrived in that round has been handled:
 * under load, the validations of many requests leave in one system call instead of one each,
 * and Redis reads them in one go. A request that arrives alone waits for nothing but the rest
 * of its own loop turn.
 *
 * ioredis' auto-pipelining batches on the same schedule, but builds a pipeline (its own
 * promise and reply array) per batch; this keeps each command as it was and only merges the
 * writes. Nothing is held while the client is not ready (its connection handshake writes are
 * its own), and a connection replaced while corked is simply released: ioredis fails or
 * resends the commands of a closed connection as it always does.
 */
export class WriteCoalescer {
  private held: Socket | null = null;

  constructor(private readonly client: Redis) {}

  /** Holds the connection's writes until the loop's check phase, if not held already. */
  hold(): void {
    if (this.held || this.client.status !== 'ready') {
      return;
    }
    const stream = this.client.stream;
    if (!stream || !stream.writable) {
      return;
    }
    stream.cork();
    this.held = stream;
    setImmediate(this.release);
  }

  private readonly release = (): void => {
    const stream = this.held;
    this.held = null;
    stream?.uncork();
  };
}
