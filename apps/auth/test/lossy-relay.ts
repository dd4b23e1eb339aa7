import { connect, createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * What happens to a connection once its client sent the chunk a trigger picked:
 * - `strand`: the chunk reaches the server, then nothing more passes either way and neither side
 *   is closed, not even when the client closes its end (a partition, or the client's host dying
 *   just after the send: the server never hears of it);
 * - `lose-answer`: the chunk reaches the server, its answer (and whatever follows) is dropped,
 *   and both sides are closed `closeAfterMs` later (a connection that broke mid-answer);
 * - `cut`: the chunk never reaches the server, and both sides are closed at once.
 */
export type Loss =
  | { mode: 'strand' }
  | { mode: 'lose-answer'; closeAfterMs: number }
  | { mode: 'cut' };

/**
 * Picks the chunk a loss starts at. Made afresh for every connection once armed, so it can keep
 * per-connection state (the connection holds a lock, this is its second write).
 */
export type Trigger = () => (sent: string) => boolean;

interface Link {
  client: Socket;
  upstream: Socket;
  trigger?: (sent: string) => boolean;
  /** Nothing passes any more, either way. */
  dead: boolean;
}

/**
 * A TCP relay in front of PostgreSQL that loses one exchange the way networks do. Armed with a
 * trigger and a loss, it lets everything through until a client chunk the trigger picks, then
 * loses that connection as the loss says. With `blackout`, every other connection is stranded
 * too and new ones are refused from then on: the service's host lost the database altogether.
 */
export class LossyRelay {
  private readonly links = new Set<Link>();
  private armed: { trigger: Trigger; loss: Loss; blackout: boolean } | null = null;
  private refusing = false;
  /** Whether the loss last armed has begun: a test checks it happened where it meant it to. */
  fired = false;
  /**
   * The local port of the server-side socket the loss last armed struck: the lost connection's
   * `client_port` in `pg_stat_activity`, so a test can tell whether its server process lives.
   */
  lostPort?: number;

  constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (client) => this.relay(client));
  }

  arm(trigger: Trigger, loss: Loss, options: { blackout?: boolean } = {}): void {
    this.armed = { trigger, loss, blackout: options.blackout ?? false };
    this.fired = false;
    this.lostPort = undefined;
    for (const link of this.links) link.trigger = trigger();
  }

  /** Ends a blackout: the connections it stranded are closed, new ones pass again. */
  heal(): void {
    this.armed = null;
    this.refusing = false;
    for (const link of this.links) {
      if (link.dead) this.drop(link);
    }
  }

  /** Closes every connection and stops listening. */
  async close(): Promise<void> {
    for (const link of this.links) this.drop(link);
    await new Promise((closed) => this.server.close(closed));
  }

  private relay(client: Socket): void {
    const upstream = connect(5432, '127.0.0.1');
    const link: Link = { client, upstream, trigger: this.armed?.trigger(), dead: false };
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    if (this.refusing) {
      this.drop(link);
      return;
    }
    this.links.add(link);
    client.on('data', (data: Buffer) => {
      if (link.dead) return;
      if (this.armed && link.trigger?.(data.toString('latin1'))) {
        this.lose(link, data);
        return;
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => {
      if (!link.dead) client.write(data);
    });
    client.on('close', () => {
      // A stranded connection's server never hears that its client went.
      if (!link.dead) this.drop(link);
    });
    upstream.on('close', () => {
      if (!link.dead) this.drop(link);
    });
  }

  private lose(link: Link, chunk: Buffer): void {
    const { loss, blackout } = this.armed as NonNullable<LossyRelay['armed']>;
    this.armed = null;
    link.dead = true;
    this.lostPort = link.upstream.localPort;
    if (loss.mode === 'cut') {
      this.drop(link);
    } else {
      link.upstream.write(chunk);
      if (loss.mode === 'lose-answer') {
        setTimeout(() => this.drop(link), loss.closeAfterMs);
      }
    }
    if (blackout) {
      this.refusing = true;
      for (const other of this.links) other.dead = true;
    }
    this.fired = true;
  }

  private drop(link: Link): void {
    link.dead = true;
    link.client.destroy();
    link.upstream.destroy();
    this.links.delete(link);
  }
}

/** A {@link LossyRelay} on a free loopback port in front of PostgreSQL on 127.0.0.1:5432. */
export async function startLossyRelay(): Promise<LossyRelay> {
  const server = createServer();
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(0, '127.0.0.1', listening);
  });
  return new LossyRelay(server, (server.address() as AddressInfo).port);
}

/**
 * A trigger for the `nth` chunk containing every one of `parts` that a connection sends while it
 * holds the admin lock (after `pg_advisory_lock`, before `pg_advisory_unlock`); the count starts
 * again with every hold.
 */
export function underAdminLock(parts: string[], nth = 1): Trigger {
  return () => {
    let holding = false;
    let seen = 0;
    return (sent) => {
      if (sent.includes('pg_advisory_unlock')) {
        holding = false;
      } else if (sent.includes('pg_advisory_lock')) {
        holding = true;
        seen = 0;
        return false;
      }
      return holding && parts.every((part) => sent.includes(part)) && ++seen === nth;
    };
  };
}

/** A trigger for the `nth` chunk containing every one of `parts`, on any connection. */
export function containing(parts: string[], nth = 1): Trigger {
  let seen = 0;
  return () => (sent) => parts.every((part) => sent.includes(part)) && ++seen === nth;
}
