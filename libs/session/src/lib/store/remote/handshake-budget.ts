import { isIPv6 } from 'node:net';

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
 * How many addresses' budget the addresses of one IPv6 /64 share: a host is commonly given a
 * whole /64 and can connect from any address in it, so a budget per address alone gave it 2^64
 * of them. Hosts of one subnet share a /64 too: its budget is a few addresses' worth, so one of
 * them failing handshakes from its own address leaves the others most of it.
 */
const ADDRESSES_PER_NETWORK = 4;

/**
 * Per-address allowance of TLS handshakes, for a server that requires a client certificate:
 * every connection takes one unit when it is accepted, before any byte of it is read; a
 * handshake that completes gives its unit back, one that fails or times out keeps it until
 * `perSecond` forgives it. An address with no unit left has its connections closed at once, so
 * a host without a certificate holds at most `burst` handshakes of the server's and makes it
 * run at most `perSecond` key exchanges a second, while callers with certificates, whose
 * handshakes complete, are never short of one. An IPv6 address also takes a unit of its /64's
 * allowance, `ADDRESSES_PER_NETWORK` times an address's: a host rotating through its /64 gets
 * that many addresses' worth, not one per address. IPv4 (IPv4-mapped IPv6 included) is counted
 * per address only.
 */
export class HandshakeBudget {
  private readonly addresses: Allowance;
  private readonly networks: Allowance;

  constructor(options: HandshakeBudgetOptions, now: () => number = () => performance.now()) {
    this.addresses = new Allowance(options.burst, options.perSecond, now);
    this.networks = new Allowance(
      options.burst * ADDRESSES_PER_NETWORK,
      options.perSecond * ADDRESSES_PER_NETWORK,
      now,
    );
  }

  /** Takes a unit for a connection from `address`; false when it, or its /64, has none left. */
  take(address: string): boolean {
    const network = ipv6Network(address);
    if (network !== undefined && !this.networks.has(network)) {
      return false;
    }
    if (!this.addresses.take(address)) {
      return false;
    }
    if (network !== undefined) {
      this.networks.take(network);
    }
    return true;
  }

  /** Gives back the unit of a connection from `address` whose handshake completed. */
  giveBack(address: string): void {
    this.addresses.giveBack(address);
    const network = ipv6Network(address);
    if (network !== undefined) {
      this.networks.giveBack(network);
    }
  }

  /** Addresses and IPv6 /64s with units taken (for tests and metrics). */
  get size(): number {
    return this.addresses.size + this.networks.size;
  }
}

/** Units per key (an address, a /64), refilled at `perSecond` up to `burst`. */
class Allowance {
  private readonly units = new Map<string, { left: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {}

  /** True when `key` has a unit left; takes nothing. */
  has(key: string): boolean {
    const entry = this.units.get(key);
    return !entry || this.refill(entry) >= 1;
  }

  take(key: string): boolean {
    const entry = this.entry(key);
    if (entry.left < 1) {
      return false;
    }
    entry.left -= 1;
    return true;
  }

  giveBack(key: string): void {
    const entry = this.units.get(key);
    if (!entry) {
      return;
    }
    entry.left = Math.min(this.burst, entry.left + 1);
    if (entry.left === this.burst) {
      this.units.delete(key);
    }
  }

  get size(): number {
    return this.units.size;
  }

  /** Brings an entry's units up to now; answers them. */
  private refill(entry: { left: number; at: number }): number {
    const now = this.now();
    entry.left = Math.min(this.burst, entry.left + ((now - entry.at) / 1000) * this.perSecond);
    entry.at = now;
    return entry.left;
  }

  private entry(key: string): { left: number; at: number } {
    let entry = this.units.get(key);
    if (entry) {
      this.refill(entry);
      return entry;
    }
    if (this.units.size >= MAX_ADDRESSES) {
      this.forgetOne();
    }
    entry = { left: this.burst, at: this.now() };
    this.units.set(key, entry);
    return entry;
  }

  /** Forgets a whole key among the 16 oldest if there is one, else the oldest. */
  private forgetOne(): void {
    const now = this.now();
    let oldest: string | undefined;
    let checked = 0;
    for (const [key, entry] of this.units) {
      oldest ??= key;
      const left = entry.left + ((now - entry.at) / 1000) * this.perSecond;
      if (left >= this.burst) {
        this.units.delete(key);
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

/**
 * The /64 of an IPv6 address (`2001:db8:1:2::/64`, zone dropped); undefined for IPv4, an
 * IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, what a dual-stack socket reports for an
 * IPv4 peer) and anything else.
 */
function ipv6Network(address: string): string | undefined {
  const bare = address.split('%', 1)[0].toLowerCase();
  if (!isIPv6(bare)) {
    return undefined;
  }
  // A dotted tail holds the last 32 bits, which a /64 never reaches: any 16-bit value stands in.
  const text = bare.replace(/\d+\.\d+\.\d+\.\d+$/, '0:0');
  const [head, tail] = text.split('::');
  const parse = (part: string | undefined) =>
    part ? part.split(':').map((group) => parseInt(group, 16)) : [];
  const front = parse(head);
  const back = parse(tail);
  const groups =
    tail === undefined
      ? front
      : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return undefined;
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}
