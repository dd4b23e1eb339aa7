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
  /** What starts a delay (see `delayFrom`), until it has. */
  private delayTrigger: ((data: Buffer) => boolean) | null = null;
  /**
   * The two sockets of the connection a delay holds (held bytes then reach their peer on
   * release even after the sender has closed); null when `hold()` holds every connection.
   */
  private delayed: Set<Socket> | null = null;
  /** Sockets whose closing waits for the release of what was held for them. */
  private readonly closeAfterRelease = new Set<Socket>();
  private readonly sockets = new Set<Socket>();
  /** What loses the next answer (see `loseAnswer`), until it has. */
  private losing: LostAnswer | null = null;
  /** How many answers `loseAnswer` made the relay lose. */
  lost = 0;

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

  /**
   * Holds everything on one connection from the first chunk its client sends that `starts`
   * matches, that chunk included (other connections, and new ones, pass as before); on
   * `release()` what was held is delivered even where the sender has closed its connection
   * meanwhile, then that connection is closed: a partition on one connection's path that begins
   * just as a command is sent and heals later, the sender's TCP stack retransmitting what it had
   * sent before it gave up and closed (as Linux does for a closed socket's unacknowledged data).
   *
   * @example
   * relay.delayFrom((bytes) => bytes.includes(setRolesSha)); // the script arrives on release()
   */
  delayFrom(starts: (data: Buffer) => boolean): void {
    this.delayTrigger = starts;
  }

  /** The bytes held so far, in the order they arrived; empty when nothing is held. */
  heldBytes(): Buffer {
    return Buffer.concat((this.held ?? []).map(({ data }) => data));
  }

  /**
   * Loses one answer with its connection, after the server ran the command: the first chunk a
   * client sends that `request` matches goes on, and its connection closes as soon as the
   * server answers; or the first chunk the server sends that `answer` matches is dropped and
   * its connection closed. The client never hears how its command went. Null: none is lost.
   *
   * @example
   * relay.loseAnswer({ request: (bytes) => bytes.includes('EVALSHA') });
   */
  loseAnswer(match: LostAnswer | null): void {
    this.losing = match;
  }

  /** Forwards what was held, then everything as it comes. */
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    this.delayTrigger = null;
    for (const { to, data } of held) {
      if (!to.destroyed) to.write(data);
    }
    for (const socket of this.closeAfterRelease) socket.end();
    this.closeAfterRelease.clear();
    this.delayed = null;
  }

  /**
   * Drops what was held and closes every connection, but goes on listening (and forwarding):
   * a network blip that loses what was in flight, after which clients reconnect.
   */
  cut(): void {
    this.held = null;
    this.delayTrigger = null;
    this.delayed = null;
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
    /** Whether this connection's next answer is lost (`loseAnswer`'s `request`). */
    let losingNext = false;
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ]) {
      this.sockets.add(from);
      from.on('data', (data: Buffer) => {
        if (from === client && this.losing?.request?.(data)) {
          this.losing = null;
          losingNext = true;
        } else if (from === upstream && (losingNext || this.losing?.answer?.(data))) {
          this.losing = losingNext ? this.losing : null;
          this.lost++;
          client.destroy();
          upstream.destroy();
          return;
        }
        if (!this.held && from === client && this.delayTrigger?.(data)) {
          this.held = [];
          this.delayed = new Set([client, upstream]);
          this.delayTrigger = null;
        }
        if (this.held && (this.delayed === null || this.delayed.has(from))) {
          this.held.push({ to, data });
        } else {
          to.write(data);
        }
      });
      from.on('error', () => undefined);
      from.on('close', () => {
        this.sockets.delete(from);
        if (this.delayed?.has(from) && this.held?.some((entry) => entry.to === to)) {
          this.closeAfterRelease.add(to);
        } else {
          to.destroy();
        }
      });
    }
  }
}

/** Which chunk `TcpRelay.loseAnswer` loses the answer of: one the client sends, or the answer. */
export interface LostAnswer {
  request?: (data: Buffer) => boolean;
  answer?: (data: Buffer) => boolean;
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
