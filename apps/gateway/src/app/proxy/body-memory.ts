import { clientNetwork, clientSite, NETWORKS_PER_SITE } from '@cloakroom/service-kit';

/** Why a body could not be held: its client's share is spent, or the gateway's whole budget. */
export type BodyMemoryRefusal = 'client' | 'gateway';

/**
 * The bytes of request bodies the gateway holds at once while it reads them whole (see
 * `bufferRequestBody`): at most `total`, and at most `perClient` for one client network (an
 * IPv4 address, an IPv6 /64, as the login throttle counts them), of which an IPv6 site (a /48,
 * the block one customer may be given: 65,536 /64s) holds at most `NETWORKS_PER_SITE` times
 * `perClient` across all its /64s. Without it, clients that send bodies slowly, each just under
 * its service's limit, make the gateway hold as many bodies as they open connections, until it
 * runs out of memory.
 *
 * @example
 * const memory = new BodyMemory({ total: 64 * MiB, perClient: 8 * MiB });
 * const hold = memory.holdFor('203.0.113.7');
 * hold.take(chunk.length); // undefined, 'client' or 'gateway'
 * hold.release(); // when the exchange is over
 */
export class BodyMemory {
  private held = 0;
  /** Bytes held by client network, and by IPv6 site (a /48 key never equals a network's). */
  private readonly heldByClient = new Map<string, number>();

  constructor(private readonly limits: { total: number; perClient: number }) {}

  /** Bytes held now, in all and for one client address (its network, not its site). */
  heldBytes(address?: string): number {
    return address === undefined ? this.held : (this.heldByClient.get(clientNetwork(address)) ?? 0);
  }

  /** What one request's body holds; released once, whatever happens to the request. */
  holdFor(address: string): BodyHold {
    const site = clientSite(address);
    const shares: { key: string; limit: number }[] = [
      { key: clientNetwork(address), limit: this.limits.perClient },
      ...(site === undefined
        ? []
        : [{ key: site, limit: this.limits.perClient * NETWORKS_PER_SITE }]),
    ];
    let mine = 0;
    return {
      take: (bytes) => {
        for (const { key, limit } of shares) {
          if ((this.heldByClient.get(key) ?? 0) + bytes > limit) return 'client';
        }
        if (this.held + bytes > this.limits.total) return 'gateway';
        for (const { key } of shares) {
          this.heldByClient.set(key, (this.heldByClient.get(key) ?? 0) + bytes);
        }
        this.held += bytes;
        mine += bytes;
        return undefined;
      },
      release: () => {
        if (mine === 0) return;
        for (const { key } of shares) {
          const left = (this.heldByClient.get(key) ?? 0) - mine;
          if (left > 0) this.heldByClient.set(key, left);
          else this.heldByClient.delete(key);
        }
        this.held -= mine;
        mine = 0;
      },
    };
  }
}

/** One request's share of {@link BodyMemory}. */
export interface BodyHold {
  /** Takes `bytes` more, or says whose budget refuses them (nothing is taken then). */
  take(bytes: number): BodyMemoryRefusal | undefined;
  /** Gives back all this request took. */
  release(): void;
}
