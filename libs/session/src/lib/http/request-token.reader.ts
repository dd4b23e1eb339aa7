import { parse } from 'cookie';

/** Where the token of a request came from: cookies get the CSRF rule, bearer tokens do not. */
export type TokenSource = 'cookie' | 'bearer';

/** A session token a request carries, and where it came from. */
export interface RequestToken {
  token: string;
  source: TokenSource;
}

/** The request headers a token is read from; Node's, Express's and Fastify's all fit. */
export interface TokenHeaders {
  cookie?: string | string[];
  authorization?: string | string[];
}

const BEARER = /^bearer /i;

/**
 * Every session token a request carries, in the order `SessionGuard` prefers them: the
 * session cookie first, then an `Authorization: Bearer` header (the scheme in any case,
 * RFC 9110). The guard validates the first; a login route, which has no session yet, can
 * revoke them all.
 *
 * @example
 * const held = readSessionTokens(request.headers, cookies.name).map(({ token }) => token);
 */
export function readSessionTokens(headers: TokenHeaders, cookieName: string): RequestToken[] {
  const found: RequestToken[] = [];
  const cookieHeader = Array.isArray(headers.cookie) ? headers.cookie.join('; ') : headers.cookie;
  if (cookieHeader?.includes(cookieName)) {
    const cookie = parse(cookieHeader)[cookieName];
    if (cookie) {
      found.push({ token: cookie, source: 'cookie' });
    }
  }
  const authorization = headers.authorization;
  if (typeof authorization === 'string' && BEARER.test(authorization)) {
    found.push({ token: authorization.slice(7).trim(), source: 'bearer' });
  }
  return found;
}
