import { BadRequestException } from '@nestjs/common';

import { RequestToken, SessionCookieService } from '@cloakroom/session';

import type { HttpResponse } from '../common/http.types';

/**
 * The most distinct session tokens (cookie values and a bearer token) one login or logout may
 * present. Both end every token presented, at several Redis commands each, and neither needs a
 * session: unbounded, one anonymous request with ~220 random cookies in Node's 16 KB of
 * headers cost 1,760 Redis commands. Several are read on purpose (a cookie planted at a longer
 * path by a sibling subdomain is sent before the user's own), but a browser sends at most a few
 * cookies of one name along a path chain: 8 leaves room for that, and more is no browser's.
 */
export const MAX_PRESENTED_TOKENS = 8;

/**
 * Whether a request comes from a browser, which sends `Origin` or `Sec-Fetch-Site` on every
 * unsafe request: the origin rule applies to it even without a cookie (a cross-site form post
 * carries no `SameSite` cookie, yet what auth answers it reaches the browser).
 */
export function sentByBrowser(headers: Record<string, string | string[] | undefined>): boolean {
  return headers['origin'] !== undefined || headers['sec-fetch-site'] !== undefined;
}

/**
 * Tells the browser to drop what it kept for this origin: cached pages with the user's data,
 * cookies, and storage. Each directive is a quoted string (W3C Clear Site Data).
 */
const CLEAR_SITE_DATA = '"cache", "cookies", "storage"';

/**
 * A 400 when a request presents more than {@link MAX_PRESENTED_TOKENS} session tokens, thrown
 * before any of them reaches the store. It carries the headers of a logout (see
 * {@link clearClientState}): a browser stuck with planted cookies (while it sends two, every
 * authenticated request is a 401) drops them and can log in again. Call it after the CSRF
 * rule, so that no foreign page gets a site's cookies cleared.
 *
 * @example
 * const presented = readSessionTokens(request.headers, this.cookies.name);
 * refuseTooManyTokens(presented, response, this.cookies);
 */
export function refuseTooManyTokens(
  presented: readonly RequestToken[],
  response: HttpResponse,
  cookies: SessionCookieService,
): void {
  if (presented.length > MAX_PRESENTED_TOKENS) {
    // Set before the throw: the error filter answers on this same response, headers kept.
    clearClientState(response, cookies);
    throw new BadRequestException(
      `More than ${MAX_PRESENTED_TOKENS} session tokens presented: clear this site's cookies`,
    );
  }
}

/**
 * What a logout answers with: an expired session cookie, `Clear-Site-Data`, and no caching.
 *
 * @example
 * clearClientState(response, this.cookies);
 */
export function clearClientState(response: HttpResponse, cookies: SessionCookieService): void {
  response.setHeader('Cache-Control', 'no-store');
  response.setHeader('Clear-Site-Data', CLEAR_SITE_DATA);
  response.setHeader('Set-Cookie', cookies.clear());
}
