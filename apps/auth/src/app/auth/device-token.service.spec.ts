import { validateEnv } from '@cloakroom/service-kit';

import { AuthConfig } from '../config/auth.config';
import { AuthEnv } from '../config/auth.env';
import type { HttpRequest } from '../common/http.types';
import { DeviceTokenService } from './device-token.service';

function serviceFor(raw: Record<string, string>): DeviceTokenService {
  return new DeviceTokenService(new AuthConfig(validateEnv(AuthEnv, raw)));
}

const requestWith = (headers: Record<string, string>) => ({ headers }) as unknown as HttpRequest;

describe('DeviceTokenService', () => {
  it('verifies a token for the username it was issued to only, whatever its case', () => {
    const devices = serviceFor({});
    const token = devices.issue('Alice', 'epoch-1');
    expect(devices.verify(token, 'alice')).toEqual({ id: expect.any(String), epoch: 'epoch-1' });
    expect(devices.verify(token, 'bob')).toBeNull();
    expect(devices.verify(undefined, 'alice')).toBeNull();
  });

  it('refuses a token signed with another secret', () => {
    const token = serviceFor({
      LOGIN_DEVICE_SECRET: 'one-deployment-secret-of-32-characters-or-more',
    }).issue('alice', '1');
    const other = serviceFor({
      LOGIN_DEVICE_SECRET: 'another-deployment-secret-of-32-characters-or-more',
    });
    expect(other.verify(token, 'alice')).toBeNull();
  });

  it('refuses an expired token', () => {
    const devices = serviceFor({ LOGIN_KNOWN_NETWORK_TTL: '1' });
    const token = devices.issue('alice', '1');
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now + 2000);
    try {
      expect(devices.verify(token, 'alice')).toBeNull();
    } finally {
      clock.mockRestore();
    }
  });

  it('reads the header before the cookie', () => {
    const devices = serviceFor({});
    expect(devices.read(requestWith({ cookie: 'cr_session=x; cr_device=from-cookie' }))).toEqual([
      'from-cookie',
    ]);
    expect(
      devices.read(
        requestWith({ cookie: 'cr_device=from-cookie', 'x-device-token': 'from-header' }),
      ),
    ).toEqual(['from-header']);
    expect(devices.read(requestWith({}))).toEqual([]);
    expect(devices.read(requestWith({ cookie: 'cr_session=x' }))).toEqual([]);
  });

  it('reads every device cookie sent, and recognizes the owner’s behind one planted in front', () => {
    const devices = serviceFor({});
    const owners = devices.issue('alice', 'epoch-1');
    const strangers = devices.issue('mallory', 'epoch-1');
    // A sibling subdomain's cookie at a longer path comes first; malformed pieces are skipped.
    const sent = `cr_device=${strangers}; cr_device="x%ZZ"; junk; cr_device=${encodeURIComponent(owners)}`;
    const tokens = devices.read(requestWith({ cookie: sent }));
    expect(tokens).toEqual([strangers, expect.stringContaining('x%ZZ'), owners]);
    expect(devices.recognize(tokens, 'alice')).toEqual({
      id: expect.any(String),
      epoch: 'epoch-1',
    });
    expect(devices.recognize(tokens, 'bob')).toBeNull();
    expect(devices.recognize([], 'alice')).toBeNull();
  });

  it('sets a Secure cookie named with the __Secure- prefix when session cookies are secure', () => {
    const devices = serviceFor({ SESSION_COOKIE_SECURE: 'true' });
    expect(devices.cookieName).toBe('__Secure-cr_device');
    const cookie = devices.cookie(devices.issue('alice', '1'));
    expect(cookie).toMatch(/^__Secure-cr_device=cd1\./);
    expect(cookie).toMatch(/; Secure(;|$)/);
    expect(cookie).toMatch(/; HttpOnly(;|$)/);
    expect(cookie).toMatch(/; SameSite=Strict(;|$)/);
    expect(cookie).toMatch(/; Path=\/api\/auth(;|$)/);
    expect(cookie).not.toContain('Domain=');
    expect(
      devices.read(requestWith({ cookie: `__Secure-cr_device=abc; cr_device=planted` })),
    ).toEqual(['abc']);
  });
});
