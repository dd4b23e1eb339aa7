import type { IncomingMessage } from 'node:http';

import { TrustedProxies } from './trusted-proxies';

/** A request from `peer` with `X-Forwarded-For: forwardedFor`, as Node hands it over. */
function requestFrom(peer: string, forwardedFor?: string | string[]): IncomingMessage {
  const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

describe('TrustedProxies', () => {
  const proxies = new TrustedProxies('10.0.0.0/8, 2001:db8:ff::/48, loopback');

  it('trusts the listed addresses, IPv4 ones seen through a dual-stack socket too', () => {
    expect(proxies.trusts('10.1.2.3')).toBe(true);
    expect(proxies.trusts('::ffff:10.1.2.3')).toBe(true);
    expect(proxies.trusts('2001:db8:ff:1::9')).toBe(true);
    expect(proxies.trusts('::1')).toBe(true);
    expect(proxies.trusts('11.0.0.1')).toBe(false);
    expect(proxies.trusts('2001:db8:fe::1')).toBe(false);
    expect(proxies.trusts('')).toBe(false);
    expect(proxies.trusts(undefined)).toBe(false);
    expect(new TrustedProxies('').trusts('127.0.0.1')).toBe(false);
  });

  it('walks X-Forwarded-For from the right to the first address it does not trust', () => {
    expect(proxies.clientOf(requestFrom('10.0.0.1', '1.1.1.1, 2.2.2.2, 10.0.0.2'))).toBe('2.2.2.2');
    expect(proxies.clientOf(requestFrom('::ffff:10.0.0.1', '2001:db8::1'))).toBe('2001:db8::1');
    expect(proxies.clientOf(requestFrom('10.0.0.1', ['1.1.1.1', '2.2.2.2']))).toBe('2.2.2.2');
    // All trusted: the farthest of them.
    expect(proxies.clientOf(requestFrom('10.0.0.1', '10.0.0.3, 10.0.0.2'))).toBe('10.0.0.3');
  });

  it('stops at an entry that is no address, on the last trusted hop', () => {
    expect(proxies.clientOf(requestFrom('10.0.0.1', '1.1.1.1, x'))).toBe('10.0.0.1');
    expect(proxies.clientOf(requestFrom('10.0.0.1', '1.1.1.1, , 10.0.0.2'))).toBe('10.0.0.2');
    expect(proxies.clientOf(requestFrom('10.0.0.1', '1.1.1.1:443'))).toBe('10.0.0.1');
    expect(proxies.clientOf(requestFrom('10.0.0.1'))).toBe('10.0.0.1');
  });

  it('never reads X-Forwarded-For from a peer it does not trust', () => {
    expect(proxies.clientOf(requestFrom('203.0.113.7', '10.0.0.2'))).toBe('203.0.113.7');
    expect(new TrustedProxies('').clientOf(requestFrom('127.0.0.1', '1.1.1.1'))).toBe('127.0.0.1');
  });
});
