import { parse } from 'cookie';

/**
 * Where the token of a request came from: cookies get the CSRF rule, bearer tokens do not.
 *
 * @example
 * if (found.source === 'cookie' && !originPolicy.allows(request)) throw new ForbiddenException();
 */
export type TokenSource = 'cookie' | 'bearer';

/**
 * A session token a request carries, and where it came from.
 *
 * @example
 * const presented: RequestToken | undefined = request[REQUEST_TOKEN_PROPERTY];
 * // a rotated token goes back the way the old one came
 * if (presented?.source === 'cookie') response.setHeader('Set-Cookie', cookies.serialize(token));
 */
export interface RequestToken {
  token: string;
  source: TokenSource;
}

/**
 * The request headers a token is read from; Node's, Express's and Fastify's all fit.
 *
 * @example
 * readSessionToken({ authorization: `Bearer ${token}` }, cookies.name); // source 'bearer'
 */
export interface TokenHeaders {
  cookie?: string | string[];
  authorization?: string | string[];
}

/**
 * Where a request keeps its header lines as received (`IncomingMessage.rawHeaders`, names and
 * values in turn): on an Express request itself, on a Fastify request's `raw`.
 */
interface RawHeadersCarrier {
  rawHeaders?: readonly string[];
  raw?: { rawHeaders?: readonly string[] };
}

const BEARER = /^bearer /i;

/**
 * Every session token a request carries: each distinct value of the session cookie, in the
 * order the client sent them, then an `Authorization: Bearer` header (the scheme in any case,
 * RFC 9110). For a route that ends what the client holds — a login revoking the tokens it had,
 * a logout. To authenticate a request, use `readSessionToken`, never the first of these: the
 * first cookie a browser sends is the one set at the longest path, which any page of the same
 * host (another port) can plant.
 *
 * @example
 * const held = readSessionTokens(request.headers, cookies.name).map(({ token }) => token);
 */
export function readSessionTokens(headers: TokenHeaders, cookieName: string): RequestToken[] {
  return tokensOf(headers, cookieName, Infinity);
}

/** `readSessionTokens`, reading no further than `cookieLimit` distinct values of the cookie. */
function tokensOf(headers: TokenHeaders, cookieName: string, cookieLimit: number): RequestToken[] {
  const found: RequestToken[] = sessionCookies(headers.cookie, cookieName, cookieLimit).map(
    (token) => ({ token, source: 'cookie' }),
  );
  const authorization = headers.authorization;
  if (typeof authorization === 'string' && BEARER.test(authorization)) {
    found.push({ token: authorization.slice(7).trim(), source: 'bearer' });
  }
  return found;
}

/**
 * The token a request authenticates with, as `SessionGuard` and `SessionSockets` read it: the
 * session cookie, else the bearer token. Null when there is none, or when the request carries
 * several different tokens (two session cookies, or a cookie and a bearer token that differ):
 * which one the user meant cannot be told, and picking one would let a cookie planted at a
 * longer path, or next to a client's bearer token, put the user's requests on another session.
 * Given the request's header lines as received (`rawHeaders`), also null when they hold more
 * than one `Authorization` header: Node keeps only the first in `headers`, and a proxy or cache
 * in front may have judged the request by another.
 *
 * @example
 * const found = readSessionToken(request.headers, cookies.name, request.rawHeaders);
 * if (!found) throw new UnauthorizedException();
 */
export function readSessionToken(
  headers: TokenHeaders,
  cookieName: string,
  rawHeaders?: readonly string[],
): RequestToken | null {
  if (rawHeaders && repeatsAuthorization(rawHeaders)) {
    return null;
  }
  // Two different values settle it: a header packed with them costs no more than two.
  const [first, second] = tokensOf(headers, cookieName, 2);
  return second && second.token !== first.token ? null : (first ?? null);
}

/** A request's header lines as received, from an Express or a Fastify request; undefined without. */
export function rawHeadersOf(request: object): readonly string[] | undefined {
  const carrier = request as RawHeadersCarrier;
  return carrier.rawHeaders ?? carrier.raw?.rawHeaders;
}

/** Whether header lines (names and values in turn) name `Authorization` more than once. */
function repeatsAuthorization(rawHeaders: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    // The length first: most lines are other headers, and need no lower-cased copy.
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      if (seen) {
        return true;
      }
      seen = true;
    }
  }
  return false;
}

/**
 * The distinct non-empty values of the cookie `name`, in header order, the first `limit` of
 * them. A set, not a list searched for each value: a 16 KiB header holds a thousand values.
 */
function sessionCookies(
  header: string | string[] | undefined,
  name: string,
  limit: number,
): string[] {
  const joined = Array.isArray(header) ? header.join('; ') : header;
  if (!joined?.includes(name)) {
    return [];
  }
  const values = new Set<string>();
  // Pair by pair: `parse` keeps only the first value of a name, and every one matters here.
  for (const pair of joined.split(';')) {
    const value = pair.includes(name) ? parse(pair)[name] : undefined;
    if (value) {
      values.add(value);
      if (values.size >= limit) {
        break;
      }
    }
  }
  return [...values];
}
