import { clientNetwork, clientSite } from './client-network';

describe('clientNetwork', () => {
  it('keeps an IPv4 address whole (/32)', () => {
    expect(clientNetwork('203.0.113.7')).toBe('203.0.113.7');
    expect(clientNetwork('203.0.113.8')).not.toBe(clientNetwork('203.0.113.7'));
  });

  it('reads an IPv4-mapped IPv6 address as the IPv4 address, in either notation', () => {
    expect(clientNetwork('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(clientNetwork('::FFFF:c633:6404')).toBe('198.51.100.4');
    expect(clientNetwork('0:0:0:0:0:ffff:198.51.100.4')).toBe('198.51.100.4');
  });

  it('keys IPv6 by its /64, whatever the notation', () => {
    const network = '2001:db8:1:2::/64';
    for (const address of [
      '2001:db8:1:2::1',
      '2001:db8:1:2:ffff:ffff:ffff:ffff',
      '2001:0DB8:0001:0002:0000:0000:0000:0099',
      '2001:db8:1:2:aaaa::1%eth0',
      '2001:db8:1:2::198.51.100.4',
    ]) {
      expect(clientNetwork(address)).toBe(network);
    }
    expect(clientNetwork('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientNetwork('::1')).toBe('0:0:0:0::/64');
    expect(clientNetwork('fe80::1')).toBe('fe80:0:0:0::/64');
  });

  it('gives a value that is no address a short bucket of its own, never the value in clear', () => {
    const odd = clientNetwork('unknown');
    expect(odd).toMatch(/^other:[\w-]{16}$/);
    expect(clientNetwork('x'.repeat(10_000))).toMatch(/^other:[\w-]{16}$/);
    expect(clientNetwork('unknown')).toBe(odd);
    expect(clientNetwork('1.2.3.4.5')).not.toBe(clientNetwork('1.2.3.4'));
  });
});

describe('clientSite', () => {
  it('keys IPv6 by its /48, whatever the notation and the /64 within it', () => {
    const site = '2001:db8:1::/48';
    for (const address of [
      '2001:db8:1::1',
      '2001:db8:1:2::1',
      '2001:db8:1:ffff:ffff:ffff:ffff:ffff',
      '2001:0DB8:0001:00ff:0000:0000:0000:0099',
      '2001:db8:1:2:aaaa::1%eth0',
      '2001:db8:1:2::198.51.100.4',
    ]) {
      expect(clientSite(address)).toBe(site);
    }
    expect(clientSite('2001:db8:2::1')).toBe('2001:db8:2::/48');
    expect(clientSite('::1')).toBe('0:0:0::/48');
  });

  it('gives IPv4, IPv4-mapped IPv6 and what is no address no site', () => {
    for (const address of [
      '203.0.113.7',
      '::ffff:198.51.100.4',
      '::FFFF:c633:6404',
      'unknown',
      '',
    ]) {
      expect(clientSite(address)).toBeUndefined();
    }
  });
});
