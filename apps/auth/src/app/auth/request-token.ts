import { SessionCookieService } from '@cloakroom/session';

import type { HttpRequest } from '../common/http.types';

export type TokenSource = 'cookie' | 'bearer';

/** Every session token a request carries, in the order SessionGuard prefers them. */
export function requestTokens(
  request: HttpRequest,
  cookies: SessionCookieService,
): Array<{ token: string; source: TokenSource }> {
  const found: Array<{ token: string; source: TokenSource }> = [];
  const cookie = cookies.read(request.headers.cookie);
  if (cookie) {
    found.push({ token: cookie, source: 'cookie' });
  }
  const authorization = request.headers.authorization;
  if (authorization && /^bearer /i.test(authorization)) {
    found.push({ token: authorization.slice(7).trim(), source: 'bearer' });
  }
  return found;
}

/** The client address; `trust proxy` decides whether X-Forwarded-For is believed. */
export function clientIp(request: HttpRequest): string {
  const address = request.ip ?? request.socket.remoteAddress ?? 'unknown';
  // A dual-stack socket reports IPv4 clients as IPv4-mapped IPv6; show them as people know them.
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
