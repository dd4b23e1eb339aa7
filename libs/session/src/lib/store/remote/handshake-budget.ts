/** How many handshakes one address may start at once, and how fast its failures are forgiven. */
export interface HandshakeBudgetOptions {
  /** Handshakes one address may have under way, or failed and not yet forgiven. */
  burst: number;
  /** Failed handshakes forgiven per second. */
  perSecond: number;
}

/** Addresses remembered at most; past it the oldest is forgotten (it starts over with `burst`). */
const MAX_ADDRESSES = 10_000;

/**
 * Per-address allowance of TLS handshakes, for a server that requires a client certificate:
 * every connection takes one unit when it is accepted, before any byte of it is read; a
 * handshake that completes gives its unit back, one that fails or times out keeps it until
 * `perSecond` forgives it. An address with no unit left has its connections closed at once, so
 * a host without a certificate holds at most `burst` handshakes of the server's and makes it
 * run at most `perSecond` key exchanges a second, while callers with certificates, whose
 * handshakes complete, are never short of one.
 */
export class HandshakeBudget {
  private readonly units = new Map<string, { left: number; at: number }>();

  constructor(
    private readonly options: HandshakeBudgetOptions,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes a unit for a connection from `address`; false when it has none left. */
  take(address: string): boolean {
    const entry = this.refilled(address);
    if (entry.left < 1) {
      return false;
    }
    entry.left -= 1;
    return true;
  }

  /** Gives back the unit of a connection from `address` whose handshake completed. */
  giveBack(address: string): void {
    const entry = this.units.get(address);
    if (!entry) {
      return;
    }
    entry.left = Math.min(this.options.burst, entry.left + 1);
    if (entry.left === this.options.burst) {
      this.units.delete(address);
    }
  }

  /** Addresses with units taken (for tests and metrics). */
  get size(): number {
    return this.units.size;
  }

  private refilled(address: string): { left: number; at: number } {
    const now = this.now();
    let entry = this.units.get(address);
    if (entry) {
      entry.left = Math.min(
        this.options.burst,
        entry.left + ((now - entry.at) / 1000) * this.options.perSecond,
      );
      entry.at = now;
      return entry;
    }
    if (this.units.size >= MAX_ADDRESSES) {
      this.forgetOne();
    }
    entry = { left: this.options.burst, at: now };
    this.units.set(address, entry);
    return entry;
  }

  /** Forgets a whole address among the 16 oldest if there is one, else the oldest. */
  private forgetOne(): void {
    const now = this.now();
    let oldest: string | undefined;
    let checked = 0;
    for (const [address, entry] of this.units) {
      oldest ??= address;
      const left = entry.left + ((now - entry.at) / 1000) * this.options.perSecond;
      if (left >= this.options.burst) {
        this.units.delete(address);
        return;
      }
      if (++checked >= 16) {
        break;
      }
    }
    if (oldest !== undefined) {
      this.units.delete(oldest);
    }
  }
}
