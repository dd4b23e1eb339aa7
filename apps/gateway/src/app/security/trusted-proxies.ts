import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** The names Express's `trust proxy` (and so auth's `TRUST_PROXY`) takes for whole ranges. */
const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/**
 * The proxies in front of the gateway whose `X-Forwarded-For` it believes: `GATEWAY_TRUST_PROXY`, a
 * comma-separated list of addresses, subnets (`10.0.0.0/8`, `fd00::/8`) and the names
 * `loopback`, `linklocal` and `uniquelocal`, as in auth's `TRUST_PROXY`; empty trusts no one.
 * A hop count or `true` is not taken: either would believe whoever connects.
 *
 * A request's client ({@link clientOf}) is its socket's peer, unless that peer is trusted: then
 * it is the rightmost `X-Forwarded-For` address that is not itself trusted, walking right to
 * left (each trusted proxy appends the address it was reached from; what is left of the first
 * untrusted one, that client wrote itself). An entry that is not an address ends the walk at
 * the last trusted hop: that proxy is the client then, never a value a client chose.
 *
 * @example
 * const proxies = new TrustedProxies('10.0.0.7, loopback');
 * // From 10.0.0.7 with `X-Forwarded-For: 198.51.100.1, 203.0.113.9`:
 * proxies.clientOf(req); // '203.0.113.9'
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly none: boolean;

  /** Throws, naming the entry, on anything that is not an address, a subnet or a name. */
  constructor(setting: string) {
    const entries = parseTrustedProxies(setting);
    for (const entry of entries) {
      const [address, bits] = entry.split('/');
      const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(bits), type);
    }
    this.none = entries.length === 0;
  }

  /** Whether `address` (an IPv4-mapped IPv6 address as its IPv4 one) is a trusted proxy's. */
  trusts(address: string | undefined): boolean {
    if (this.none || !address) return false;
    const type = isIP(address);
    return type !== 0 && this.list.check(address, type === 4 ? 'ipv4' : 'ipv6');
  }

  /** The address of the client a request comes from, as the class describes it. */
  clientOf(req: IncomingMessage): string {
    let client = req.socket.remoteAddress ?? '';
    if (!this.trusts(client)) return client;
    // Node joins repeated `X-Forwarded-For` lines with commas, in the order they came.
    const forwarded = [req.headers['x-forwarded-for'] ?? []].flat().join(',');
    const hops = forwarded.split(',').map((hop) => hop.trim());
    for (const hop of hops.reverse()) {
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.trusts(hop)) break;
    }
    return client;
  }
}

/**
 * The entries of a `GATEWAY_TRUST_PROXY` value, named ranges expanded, each an address or an address
 * with a prefix length; throws an error naming the first entry that is neither.
 */
export function parseTrustedProxies(setting: string): string[] {
  const entries = setting
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return entries.flatMap((entry) => {
    const named = NAMED_RANGES[entry.toLowerCase()];
    if (named) return named;
    const [address, bits, ...rest] = entry.split('/');
    const type = isIP(address);
    const max = type === 4 ? 32 : 128;
    const prefixOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
    if (type === 0 || rest.length > 0 || !prefixOk) {
      throw new Error(
        `"${entry}" is not an address, a subnet (address/bits) or loopback, linklocal, uniquelocal`,
      );
    }
    return [entry];
  });
}
