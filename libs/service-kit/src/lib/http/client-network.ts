import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The network a client address stands for when attempts are counted: an IPv4 address on its
 * own (/32), an IPv6 address by its /64 — a home or cloud customer gets a whole /64 and can
 * rotate through it at will, so one counter per address would not hold them back. An IPv4
 * client seen through a dual-stack socket (`::ffff:203.0.113.7`) is that IPv4 address.
 * Anything that is not an address (no socket address at all) gets a bucket of its own,
 * named by a digest so an odd value stays short and never reaches Redis in clear.
 *
 * @example
 * clientNetwork('2001:db8:1:2:aaaa::1'); // '2001:db8:1:2::/64'
 * clientNetwork('::ffff:198.51.100.4'); // '198.51.100.4'
 */
export function clientNetwork(address: string): string {
  if (isIPv4(address)) {
    return address;
  }
  // A zone (`fe80::1%eth0`) names the local interface, not a different network.
  const withoutZone = address.split('%', 1)[0];
  if (isIPv6(withoutZone)) {
    const groups = ipv6Groups(withoutZone);
    if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
      return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
    }
    return `${groups
      .slice(0, 4)
      .map((group) => group.toString(16))
      .join(':')}::/64`;
  }
  return `other:${createHash('sha256').update(address).digest('base64url').slice(0, 16)}`;
}

/**
 * How many client networks an IPv6 site ({@link clientSite}) counts for at most, wherever a
 * budget or a share is kept per network: a customer given a /48 (65,536 /64s) or a /56 gets four
 * networks' worth, not one per /64 it rotates through, while the /64s of one office still keep
 * a budget each within it.
 */
export const NETWORKS_PER_SITE = 4;

/**
 * The IPv6 site a client address belongs to: its /48, the largest block providers commonly
 * hand one customer (homes get a /56 or a /48, businesses a /48). Undefined for IPv4 (IPv4-mapped
 * IPv6 included) and anything that is not an address: an IPv4 customer has one address, and
 * {@link clientNetwork} already counts it alone.
 *
 * @example
 * clientSite('2001:db8:1:2:aaaa::1'); // '2001:db8:1::/48'
 * clientSite('203.0.113.7'); // undefined
 */
export function clientSite(address: string): string | undefined {
  const withoutZone = address.split('%', 1)[0];
  if (isIPv4(address) || !isIPv6(withoutZone)) {
    return undefined;
  }
  const groups = ipv6Groups(withoutZone);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return undefined;
  }
  return `${groups
    .slice(0, 3)
    .map((group) => group.toString(16))
    .join(':')}::/48`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail split). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (part: string | undefined) =>
    part ? part.split(':').map((group) => parseInt(group, 16)) : [];
  const front = parse(head);
  if (tail === undefined) {
    return front;
  }
  const back = parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}
