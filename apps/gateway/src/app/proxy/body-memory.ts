import { clientNetwork } from '@cloakroom/service-kit';

/** Why a body could not be held: its client's share is spent, or the gateway's whole budget. */
export type BodyMemoryRefusal = 'client' | 'gateway';

/**
 * The bytes of request bodies the gateway holds at once while it reads them whole (see
 * `bufferRequestBody`): at most `total`, and at most `perClient` for one client network (an
 * IPv4 address, an IPv6 /64, as the login throttle counts them). Without it, clients that send
 * bodies slowly, each just under its service's limit, make the gateway hold as many bodies as
 * they open connections, until it runs out of memory.
 *
 * @example
 * const memory = new BodyMemory({ total: 64 * MiB, perClient: 8 * MiB });
 * const hold = memory.holdFor('203.0.113.7');
 * hold.take(chunk.length); // undefined, 'client' or 'gateway'
 * hold.release(); // when the exchange is over
 */
export class BodyMemory {
  private held = 0;
  private readonly heldByClient = new Map<string, number>();

  constructor(private readonly limits: { total: number; perClient: number }) {}

  /** Bytes held now, in all and for one client address. */
  heldBytes(address?: string): number {
    return address === undefined ? this.held : (this.heldByClient.get(clientNetwork(address)) ?? 0);
  }

  /** What one request's body holds; released once, whatever happens to the request. */
  holdFor(address: string): BodyHold {
    const client = clientNetwork(address);
    let mine = 0;
    return {
      take: (bytes) => {
        const ofClient = this.heldByClient.get(client) ?? 0;
        if (ofClient + bytes > this.limits.perClient) return 'client';
        if (this.held + bytes > this.limits.total) return 'gateway';
        this.heldByClient.set(client, ofClient + bytes);
        this.held += bytes;
        mine += bytes;
        return undefined;
      },
      release: () => {
        if (mine === 0) return;
        const left = (this.heldByClient.get(client) ?? 0) - mine;
        if (left > 0) this.heldByClient.set(client, left);
        else this.heldByClient.delete(client);
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
