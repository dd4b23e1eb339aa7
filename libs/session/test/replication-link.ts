import { connect, createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP relay between a Redis replica and its primary that fails one direction at a time, as
 * a half-broken network does. Made deaf, it drops what the replica sends (its `REPLCONF ACK`s)
 * while the primary's writes still reach the replica: the primary's WAIT counts the replica no
 * more, yet the replica holds every write. Cut from a chunk of the primary's stream, it passes
 * nothing more either way from that chunk on (that chunk included) and closes nothing, and it
 * closes any new connection at once: the replica never receives that write or any after, and
 * never learns that its link is gone.
 *
 * @example
 * const link = await startReplicationLink(primary.port);
 * const replica = await startReplica(link.port);
 * link.deafen();
 * link.cutFrom((bytes) => bytes.includes('RENAME'));
 */
export class ReplicationLink {
  private deaf = false;
  private cutTrigger: ((data: Buffer) => boolean) | null = null;
  private readonly sockets = new Set<Socket>();
  /** Whether the cut has happened: a chunk of the primary's matched, and nothing passes. */
  isCut = false;

  constructor(
    private readonly server: Server,
    readonly port: number,
    readonly targetPort: number,
  ) {
    server.on('connection', (replica) => this.relay(replica));
  }

  /** Drops everything the replica sends from now on. */
  deafen(): void {
    this.deaf = true;
  }

  /** Cuts the link at the first chunk of the primary's stream that `starts` matches. */
  cutFrom(starts: (data: Buffer) => boolean): void {
    this.cutTrigger = starts;
  }

  /** Closes every connection and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((closed) => this.server.close(closed));
  }

  private relay(replica: Socket): void {
    if (this.isCut) {
      replica.destroy();
      return;
    }
    const primary = connect(this.targetPort, '127.0.0.1');
    for (const socket of [replica, primary]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    }
    replica.on('data', (data: Buffer) => {
      if (!this.deaf && !this.isCut) primary.write(data);
    });
    primary.on('data', (data: Buffer) => {
      if (!this.isCut && this.cutTrigger?.(data)) {
        this.isCut = true;
      }
      if (!this.isCut) replica.write(data);
    });
    // Until the cut, a side that closes closes the other; after it, nobody hears of anything.
    replica.on('close', () => {
      if (!this.isCut) primary.destroy();
    });
    primary.on('close', () => {
      if (!this.isCut) replica.destroy();
    });
  }
}

/** A {@link ReplicationLink} from a free loopback port to a primary on `targetPort`. */
export async function startReplicationLink(targetPort: number): Promise<ReplicationLink> {
  const server = createServer();
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(0, '127.0.0.1', listening);
  });
  return new ReplicationLink(server, (server.address() as AddressInfo).port, targetPort);
}
