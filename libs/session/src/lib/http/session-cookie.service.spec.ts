import { resolveSessionConfig } from '../config/session.config';
import { InMemorySessionStore } from '../store/in-memory/in-memory-session.store';
import { SessionCookieService } from './session-cookie.service';

describe('SessionCookieService', () => {
  const cookies = (secure = false) =>
    new SessionCookieService(
      resolveSessionConfig({ store: new InMemorySessionStore(), cookie: { secure } }),
    );

  it('writes a browser-session cookie when no expiry is given', () => {
    const value = cookies().serialize('cr1.token');
    expect(value).toBe('cr_session=cr1.token; Path=/; HttpOnly; SameSite=Lax');
    expect(value).not.toMatch(/Expires|Max-Age/i);
  });

  it('writes a persistent cookie until the given time, by Max-Age from now and by Expires', () => {
    const expiresAt = Date.UTC(2030, 0, 2, 3, 4, 5);
    jest.spyOn(Date, 'now').mockReturnValue(expiresAt - 86_400_500);
    try {
      expect(cookies(true).serialize('cr1.token', expiresAt)).toBe(
        '__Host-cr_session=cr1.token; Max-Age=86400; Path=/; ' +
          'Expires=Wed, 02 Jan 2030 03:04:05 GMT; HttpOnly; Secure; SameSite=Lax',
      );
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('writes a browser-session cookie, never throws, for an expiry that is no time', () => {
    for (const expiresAt of [NaN, Infinity]) {
      expect(cookies().serialize('cr1.token', expiresAt)).toBe(
        'cr_session=cr1.token; Path=/; HttpOnly; SameSite=Lax',
      );
    }
  });

  it('clears the cookie at once', () => {
    expect(cookies().clear()).toMatch(/^cr_session=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970/);
  });
});
