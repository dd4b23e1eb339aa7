import { createServer, connect, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP relay on a loopback port to another loopback port, that a test can hold (bytes stay
 * with the relay, both ways: the link lags) and sever (held bytes are dropped and every
 * connection closes, as when a host dies with data in flight). Put between a Redis replica and
 * its primary, it makes replication lag, and makes writes the replica never received vanish.
 *
 * @example
 * const link = await startTcpRelay(primary.port);
 * await startRedisServer(undefined, ['--replicaof', '127.0.0.1', String(link.port)]);
 * link.hold(); // the replica stops receiving (and acknowledging) writes
 */
export class TcpRelay {
  private held: Array<{ to: Socket; data: Buffer }> | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly server: Server,
    readonly port: number,
    readonly targetPort: number,
  ) {
    server.on('connection', (client) => this.relay(client));
  }

  /** Stops forwarding: every byte that arrives from now on waits in the relay. */
  hold(): void {
    this.held ??= [];
  }

  /** Forwards what was held, then everything as it comes. */
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const { to, data } of held) {
      if (!to.destroyed) to.write(data);
    }
  }

  /**
   * Drops what was held and closes every connection, but goes on listening (and forwarding):
   * a network blip that loses what was in flight, after which clients reconnect.
   */
  cut(): void {
    this.held = null;
    for (const socket of this.sockets) socket.destroy();
  }

  /**
   * Strands the connections open now: nothing more is read from either side or passed on, and
   * neither side is closed — as when a host dies or a partition cuts it off, and no FIN or
   * reset reaches anyone. Connections made after are relayed as before (to a host that took
   * over the address).
   */
  strand(): void {
    for (const socket of this.sockets) {
      socket.removeAllListeners('data');
      socket.pause();
    }
  }

  /** Drops what was held, closes every connection and stops listening. */
  async sever(): Promise<void> {
    this.held = [];
    for (const socket of this.sockets) socket.destroy();
    await new Promise((closed) => this.server.close(closed));
  }

  private relay(client: Socket): void {
    const upstream = connect(this.targetPort, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ]) {
      this.sockets.add(from);
      from.on('data', (data: Buffer) => {
        if (this.held) this.held.push({ to, data });
        else to.write(data);
      });
      from.on('error', () => undefined);
      from.on('close', () => {
        this.sockets.delete(from);
        to.destroy();
      });
    }
  }
}

/** A {@link TcpRelay} from a free loopback port to `targetPort`. */
export async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  const server = createServer();
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(0, '127.0.0.1', listening);
  });
  return new TcpRelay(server, (server.address() as AddressInfo).port, targetPort);
}
