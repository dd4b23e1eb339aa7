import { clientNetwork } from '@cloakroom/service-kit';

import type { HttpRequest } from '../common/http.types';
import { clientIp } from './client-ip';

const from = (ip: string) => ({ ip, socket: {} }) as unknown as HttpRequest;

describe('clientIp', () => {
  it('shows an IPv4 client seen through a dual-stack socket as its IPv4 address', () => {
    expect(clientIp(from('::ffff:198.51.100.4'))).toBe('198.51.100.4');
    expect(clientIp(from('2001:db8::1'))).toBe('2001:db8::1');
  });

  it('leaves the throttle one network per IPv4 client, whatever zone its mapped address names', () => {
    const networks = [
      '::ffff:198.51.100.4',
      '::ffff:198.51.100.4%eth0',
      '::ffff:198.51.100.4%x',
    ].map((ip) => clientNetwork(clientIp(from(ip))));
    expect(networks).toEqual(['198.51.100.4', '198.51.100.4', '198.51.100.4']);
  });
});
